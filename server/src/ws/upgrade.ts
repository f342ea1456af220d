/**
 * Authentication at the HTTP upgrade, before a socket exists. Copies everything out of the request
 * synchronously (uWS frees it on return), guards aborts, and corks the async answer.
 */
import type { HttpRequest, HttpResponse, us_socket_context_t } from 'uWebSockets.js'
import type { Logger } from 'pino'
import type { Principal, TokenVerifier } from '../auth/verify.js'
import { accessFor } from '../auth/access.js'
import { AppError, HTTP_STATUS, isValidRoomName, toAppError } from '../errors.js'
import type { MultiplexedSocket, SingleSocket, SocketData } from './socket.js'

/** The subprotocol we answer with; the token travels as `tandem-auth.<jwt>` beside it and never comes back. */
export const SUBPROTOCOL = 'tandem'
const TOKEN_PROTOCOL_PREFIX = 'tandem-auth.'

export interface UpgradeContext {
  verifier: TokenVerifier
  log: Logger
  isDraining: () => boolean
}

interface Handshake {
  url: string
  queryToken: string | undefined
  key: string
  protocols: string
  extensions: string
}

export type UpgradeHandler = (res: HttpResponse, req: HttpRequest, context: us_socket_context_t) => void

export function upgradeHandler(ctx: UpgradeContext, kind: SocketData['kind']): UpgradeHandler {
  return (res, req, context) => {
    // req and its strings die when this function returns: copy everything now.
    const hs: Handshake = {
      url: req.getUrl(),
      queryToken: req.getQuery('token'),
      key: req.getHeader('sec-websocket-key'),
      protocols: req.getHeader('sec-websocket-protocol'),
      extensions: req.getHeader('sec-websocket-extensions'),
    }
    let aborted = false
    res.onAborted(() => {
      aborted = true
    })
    const offered = parseProtocols(hs.protocols)
    const protocol = offered.includes(SUBPROTOCOL) ? SUBPROTOCOL : ''
    authorize(ctx, kind, hs, offered).then(
      (data) => {
        if (aborted) return
        res.cork(() => res.upgrade(data, hs.key, protocol, hs.extensions, context))
      },
      (err: unknown) => {
        if (aborted) return
        const appError = toAppError(err)
        if (appError.code === 'internal') ctx.log.error({ err }, 'upgrade failed')
        res.cork(() => writeError(res, appError))
      },
    )
  }
}

async function authorize(ctx: UpgradeContext, kind: SocketData['kind'], hs: Handshake, offered: string[]): Promise<SocketData> {
  if (ctx.isDraining()) throw new AppError('unavailable', 'server is shutting down')
  const token = hs.queryToken || offered.find((p) => p.startsWith(TOKEN_PROTOCOL_PREFIX))?.slice(TOKEN_PROTOCOL_PREFIX.length) || null
  const common = { closed: false, expiry: null }

  if (kind === 'multiplexed') {
    // Hocuspocus providers send their token per room; a token here is optional but must be valid.
    const principal = token === null ? null : await ctx.verifier.verify(token)
    const data: MultiplexedSocket = {
      ...common,
      kind,
      principal,
      bindings: new Map(),
      queuedMessages: 0,
      queuedBytes: 0,
      authTimer: null,
      providerVersion: null,
    }
    return data
  }

  // Percent-decoded like REST path parameters, so both sides judge the same name (`a%3Ab` is `a:b`).
  const roomId = hs.url.startsWith('/ws/') ? intern(safeDecode(hs.url.slice(4))) : ''
  if (!isValidRoomName(roomId)) throw new AppError('invalid_room_name', 'room names match ^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$')
  const principal = await principalFor(ctx.verifier, token)
  const access = accessFor(principal, roomId)
  if (access === null) throw new AppError('forbidden', 'the token does not grant access to this room')
  const data: SingleSocket = {
    ...common,
    kind,
    roomId,
    principal,
    canWrite: access === 'write',
    peer: null,
    room: null,
    pending: { messages: [], bytes: 0 },
  }
  return data
}

/** The verified principal for a token, the anonymous one when allowed, else token_missing. */
export async function principalFor(verifier: TokenVerifier, token: string | null): Promise<Principal> {
  if (token !== null && token !== '') return verifier.verify(token)
  if (verifier.anonymous) return verifier.anonymous
  throw new AppError('token_missing', 'a token is required (?token= or the tandem-auth.<jwt> subprotocol)')
}

/**
 * The engine's canonical copy of `text` (property keys are internalized), so the sockets of one room
 * share one room-id string instead of each keeping its own slice of its upgrade URL. V8's string table
 * is weak: nothing is kept alive by this.
 */
function intern(text: string): string {
  return Object.keys({ [text]: 0 })[0] ?? text
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return '' // malformed escape: refused as an invalid room name
  }
}

function parseProtocols(header: string): string[] {
  if (header === '') return []
  return header
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')
}

export function writeError(res: HttpResponse, err: AppError): void {
  res
    .writeStatus(HTTP_STATUS[err.code])
    .writeHeader('content-type', 'application/json')
    .end(JSON.stringify({ error: { code: err.code, message: err.message } }))
}
