/**
 * The HTTP upgrade, before a socket exists: judge the request (size, handshake fields), admit it
 * (per-address and server-wide caps), then authenticate. Copies everything out of the request
 * synchronously (uWS frees it on return), guards aborts, and corks the async answer.
 */
import type { HttpRequest, HttpResponse, us_socket_context_t } from 'uWebSockets.js'
import type { Logger } from 'pino'
import type { Principal, TokenVerifier } from '../auth/verify.js'
import { accessFor } from '../auth/access.js'
import type { RoomRegistry } from '../rooms/registry.js'
import { AppError, HTTP_STATUS, isValidRoomName, toAppError } from '../errors.js'
import type { MultiplexedSocket, SingleSocket, SocketData } from './socket.js'
import type { Admission, Refusal } from './admission.js'
import type { RatePenalties } from './penalties.js'

/** The subprotocol we answer with; the token travels as `tandem-auth.<jwt>` beside it and never comes back. */
export const SUBPROTOCOL = 'tandem'
const TOKEN_PROTOCOL_PREFIX = 'tandem-auth.'

/**
 * Most bytes of request line and headers an upgrade may carry. It is uWS's own limit for a request head
 * that arrives in more than one read (it closes those without an answer), so it is applied to every
 * request alike: one that arrives whole but is larger gets 431 instead of depending on TCP segmentation.
 */
export const MAX_HEAD_BYTES = 4096
/** Refusal log lines per reason are summarised at most this often (a flood would otherwise flood the log). */
const REFUSAL_LOG_INTERVAL_MS = 10_000

export interface UpgradeContext {
  verifier: TokenVerifier
  log: Logger
  isDraining: () => boolean
  admission: Admission
  penalties: RatePenalties
  /** Origins whose pages may connect (TANDEM_ALLOWED_ORIGINS); null allows any. */
  allowedOrigins: readonly string[] | null
  /** Loaded rooms, to refuse a removed user's old token before the upgrade. */
  registry: Pick<RoomRegistry, 'get' | 'assertAdmits'>
}

interface Handshake {
  url: string
  queryToken: string | undefined
  key: string
  protocols: string
  extensions: string
  version: string
  upgrade: string
  connection: string
  /** The Origin header a browser sends ('' from other clients). */
  origin: string
  /** Every X-Forwarded-For header, joined as one list. */
  forwardedFor: string
  headBytes: number
}

export type UpgradeHandler = (res: HttpResponse, req: HttpRequest, context: us_socket_context_t) => void

export function upgradeHandler(ctx: UpgradeContext, kind: SocketData['kind']): UpgradeHandler {
  const refusals = new RefusalLog(ctx.log)
  return (res, req, context) => {
    // req and its strings die when this function returns: copy everything now.
    const hs = readHandshake(req)
    // Everything below until authorize() is synchronous and cheap: refused requests cost no token check.
    if (hs.headBytes > MAX_HEAD_BYTES) return refuse(res, headTooLarge())
    const problem = handshakeProblem(hs)
    if (problem !== null) return refuse(res, new AppError('bad_request', problem), VERSION_HEADER)
    if (ctx.isDraining()) return refuse(res, new AppError('unavailable', 'server is shutting down'))
    // Browsers always send Origin; other clients need not, and cannot be told apart by it anyway.
    if (hs.origin !== '' && ctx.allowedOrigins !== null && !ctx.allowedOrigins.includes('*') && !ctx.allowedOrigins.includes(hs.origin)) {
      return refuse(res, new AppError('forbidden', `pages from ${hs.origin} may not connect (TANDEM_ALLOWED_ORIGINS)`))
    }
    const clientKey = ctx.admission.clientKey(res.getRemoteAddress(), hs.forwardedFor)
    const ticket = ctx.admission.admit(clientKey)
    if (typeof ticket === 'string') {
      refusals.note(ticket, clientKey, hs.forwardedFor !== '')
      return refuse(res, refusalError(ticket))
    }
    let aborted = false
    res.onAborted(() => {
      aborted = true
      ticket.release()
    })
    const offered = parseProtocols(hs.protocols)
    const protocol = offered.includes(SUBPROTOCOL) ? SUBPROTOCOL : ''
    authorize(ctx, kind, hs, offered).then(
      (data) => {
        if (aborted) return
        const waitMs = data.principal === null ? 0 : ctx.penalties.remainingMs(data.principal.userId)
        if (waitMs > 0) {
          ticket.release()
          res.cork(() => refuse(res, rateLimited(waitMs), ['retry-after', String(Math.ceil(waitMs / 1000))]))
          return
        }
        // uWS 20.30 flaw on this (async) path: after upgrade() inside cork(), cork() may read the HTTP
        // request's state from memory the WebSocket now occupies (the socket shrinks in place) and, if it
        // says "Connection: close", shuts the new socket down right after its 101 (the client sees 1006).
        // uWS sets that flag for a Connection header of exactly 5 bytes; handshakeProblem() refuses those.
        // uWS work inside `open` (subscribe, send, publish) can also leave bytes there that read as the
        // flag (about 1 upgrade in 500 on a bare uWS app), so the open handlers must not touch the socket
        // synchronously: they subscribe and send from a later microtask, after cork() has returned.
        // Upgrading uncorked avoids the read but prints a uWS warning per upgrade, so the cork stays.
        res.cork(() => ctx.admission.upgrade(ticket, () => res.upgrade(data, hs.key, protocol, hs.extensions, context)))
      },
      (err: unknown) => {
        if (aborted) return
        ticket.release()
        const appError = toAppError(err)
        if (appError.code === 'internal') ctx.log.error({ err }, 'upgrade failed')
        res.cork(() => writeError(res, appError))
      },
    )
  }
}

/**
 * Any other request on a WebSocket path (no Sec-WebSocket-Key, not a GET, a plain page load): 400, the
 * way RFC 6455 §4.2.1 asks, instead of falling through to the REST API's 404.
 */
export function notAnUpgrade(res: HttpResponse, req: HttpRequest): void {
  if (readHandshake(req).headBytes > MAX_HEAD_BYTES) return refuse(res, headTooLarge())
  refuse(
    res,
    new AppError(
      'bad_request',
      'this is a WebSocket endpoint: send a GET with Upgrade: websocket, Connection: Upgrade, Sec-WebSocket-Key and Sec-WebSocket-Version: 13',
    ),
    VERSION_HEADER,
  )
}

const VERSION_HEADER: readonly [string, string] = ['sec-websocket-version', '13']

function readHandshake(req: HttpRequest): Handshake {
  const url = req.getUrl()
  const query = req.getQuery()
  const hs: Handshake = {
    url,
    queryToken: req.getQuery('token'),
    key: '',
    protocols: '',
    extensions: '',
    version: '',
    upgrade: '',
    connection: '',
    origin: '',
    forwardedFor: '',
    // "GET " + target + " HTTP/1.1\r\n" and the blank line that ends the head.
    headBytes: req.getMethod().length + 1 + url.length + (query ? query.length + 1 : 0) + 11 + 2,
  }
  req.forEach((name, value) => {
    hs.headBytes += name.length + value.length + 4
    switch (name) {
      case 'sec-websocket-key':
        hs.key ||= value
        break
      case 'sec-websocket-protocol':
        hs.protocols = hs.protocols === '' ? value : `${hs.protocols},${value}`
        break
      case 'sec-websocket-extensions':
        hs.extensions ||= value
        break
      case 'sec-websocket-version':
        hs.version ||= value
        break
      case 'upgrade':
        hs.upgrade ||= value
        break
      case 'connection':
        hs.connection ||= value
        break
      case 'origin':
        hs.origin ||= value
        break
      case 'x-forwarded-for':
        hs.forwardedFor = hs.forwardedFor === '' ? value : `${hs.forwardedFor},${value}`
        break
    }
  })
  return hs
}

/**
 * What makes this an invalid WebSocket handshake (RFC 6455 §4.2.1), or null. uWS checks only the key's
 * length. The Connection check also keeps uWS 20.30's cork() flaw (see upgradeHandler) unreachable: the
 * first Connection header must hold the `upgrade` token, so it is never the 5 bytes uWS reads as close.
 */
function handshakeProblem(hs: Handshake): string | null {
  if (!hasToken(hs.upgrade, 'websocket')) return 'missing Upgrade: websocket'
  if (!hasToken(hs.connection, 'upgrade')) return 'missing Connection: Upgrade'
  if (!/^[A-Za-z0-9+/]{22}==$/.test(hs.key)) return 'Sec-WebSocket-Key must be 16 bytes in base64'
  if (hs.version.trim() !== '13') return 'unsupported Sec-WebSocket-Version (this server speaks 13)'
  return null
}

function hasToken(header: string, token: string): boolean {
  return header.split(',').some((t) => t.trim().toLowerCase() === token)
}

/** An upgrade by a user whose connection was closed with 4429 moments ago. */
export function rateLimited(waitMs: number): AppError {
  return new AppError('rate_limited', `this user's connection was closed for sending too fast; retry in ${Math.ceil(waitMs / 1000)} s`)
}

function headTooLarge(): AppError {
  return new AppError('header_fields_too_large', `request line and headers must fit in ${MAX_HEAD_BYTES} bytes`)
}

function refusalError(reason: Refusal): AppError {
  return reason === 'server_full'
    ? new AppError('unavailable', 'the server is at its connection limit; retry later')
    : new AppError('too_many_connections', 'too many connections from this address')
}

/** Answers synchronously (uWS corks the request handler) and closes, so a refused client frees its descriptor now. */
function refuse(res: HttpResponse, err: AppError, header?: readonly [string, string]): void {
  res.writeStatus(HTTP_STATUS[err.code]).writeHeader('content-type', 'application/json')
  if (header) res.writeHeader(header[0], header[1])
  res.end(JSON.stringify({ error: { code: err.code, message: err.message } }), true)
}

/** One warn line per reason and interval, with how many were refused and an example client. */
class RefusalLog {
  readonly #log: Logger
  readonly #counts = new Map<Refusal, { count: number; since: number }>()

  constructor(log: Logger) {
    this.#log = log
  }

  note(reason: Refusal, clientKey: string, sentForwardedFor: boolean): void {
    const now = performance.now()
    const entry = this.#counts.get(reason)
    if (entry !== undefined && now - entry.since < REFUSAL_LOG_INTERVAL_MS) {
      entry.count++
      return
    }
    const earlier = entry?.count ?? 0
    this.#counts.set(reason, { count: 0, since: now })
    this.#log.warn(
      {
        reason,
        client: clientKey,
        refusedSinceLastLine: earlier,
        ...(reason === 'too_many_connections' &&
          sentForwardedFor && { hint: 'requests carry X-Forwarded-For: if this is your proxy, list it in TANDEM_TRUSTED_PROXIES' }),
      },
      'refused WebSocket upgrades',
    )
  }
}

async function authorize(ctx: UpgradeContext, kind: SocketData['kind'], hs: Handshake, offered: string[]): Promise<SocketData> {
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
  // A user removed from a loaded room is refused here, before any socket exists (else at join, 4403).
  const live = ctx.registry.get(roomId)
  if (live) ctx.registry.assertAdmits(live, { userId: principal.userId, tokenIssuedAtMs: principal.issuedAtMs })
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
