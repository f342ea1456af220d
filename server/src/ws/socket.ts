/**
 * Per-socket state and the one send path. Every send is a backpressure decision: a frame uWS drops
 * would leave a CRDT client diverged, so the socket is closed (1013) and the client resyncs.
 */
import type { WebSocket } from 'uWebSockets.js'
import type { Message } from '@tandem/client/protocol'
import type { Principal } from '../auth/verify.js'
import type { Room } from '../rooms/room.js'
import type { SocketPeer } from './peer.js'
import type { Config } from '../config.js'
import { CLOSE_CODE } from '../errors.js'

const SEND_DROPPED = 2
/** setTimeout's ceiling; longer token lifetimes re-arm. */
const MAX_TIMER_MS = 2_147_483_647

export interface Pending {
  messages: Message[]
  bytes: number
}

/** The 4401 timer of a socket whose tokens expire; sockets without an expiry hold none. */
export interface Expiry {
  atMs: number
  timer: NodeJS.Timeout | null
}

/*
 * uWS copies these fields onto its per-socket WebSocket object (out-of-object properties, 8 bytes
 * each, grown 3 at a time), so every field costs every idle socket: keep them few and allocation-free
 * (a number field set to Infinity would box a HeapNumber per socket).
 */
interface SocketCommon {
  closed: boolean
  expiry: Expiry | null
  /** Rate-limit state, created by the socket's first message (see `overRateLimit`). */
  rate?: RateBucket
}

/** Token buckets kept as debt: what the socket sent beyond its refill, in messages and bytes. */
export interface RateBucket {
  /** performance.now() of the last charge (monotonic: a wall-clock step must not refill or freeze it). */
  at: number
  messages: number
  bytes: number
}

export type RateLimits = Pick<Config['ws'], 'messagesPerSec' | 'messageBurst' | 'bytesPerSec' | 'byteBurst'>

export interface SingleSocket extends SocketCommon {
  readonly kind: 'single'
  readonly roomId: string
  readonly principal: Principal
  readonly canWrite: boolean
  peer: SocketPeer | null
  room: Room | null
  /** Frames that arrived before the room finished loading. */
  pending: Pending | null
}

export interface Binding {
  readonly address: string
  readonly roomId: string
  state: 'awaiting-auth' | 'authorizing' | 'loading' | 'joined' | 'denied'
  /** Whose token authorised this room (null until authorised). */
  principal: Principal | null
  peer: SocketPeer | null
  room: Room | null
  pending: Pending
}

export interface MultiplexedSocket extends SocketCommon {
  readonly kind: 'multiplexed'
  /** Principal from a token given at the upgrade, used for rooms whose auth message carries none. */
  readonly principal: Principal | null
  readonly bindings: Map<string, Binding>
  /** Frames queued across all not-yet-joined rooms of this socket. */
  queuedMessages: number
  queuedBytes: number
  authTimer: NodeJS.Timeout | null
  providerVersion: string | null
}

export type SocketData = SingleSocket | MultiplexedSocket
export type Socket = WebSocket<SocketData>

/** Sends one encoded frame; closes the socket instead of silently dropping it. */
export function sendFrame(ws: Socket, frame: Uint8Array): void {
  const data = ws.getUserData()
  if (data.closed) return
  if (ws.send(frame, true, false) === SEND_DROPPED) closeSocket(ws, CLOSE_CODE.slow_consumer, 'slow consumer')
}

/**
 * Charges `messages` incoming messages of `bytes` in all to the socket's buckets; true when either is past its burst
 * (the caller closes with 4429). A rate of 0 disables that bucket.
 */
export function overRateLimit(data: SocketData, bytes: number, limits: RateLimits, messages = 1): boolean {
  const now = performance.now()
  const bucket = (data.rate ??= { at: now, messages: 0, bytes: 0 })
  const elapsedSec = (now - bucket.at) / 1000
  bucket.at = now
  if (limits.messagesPerSec > 0) {
    bucket.messages = Math.max(0, bucket.messages - elapsedSec * limits.messagesPerSec) + messages
    if (bucket.messages > limits.messageBurst) return true
  }
  if (limits.bytesPerSec > 0) {
    bucket.bytes = Math.max(0, bucket.bytes - elapsedSec * limits.bytesPerSec) + bytes
    if (bucket.bytes > limits.byteBurst) return true
  }
  return false
}

/** Closes the socket once; later calls (and calls after the client went away) do nothing. */
export function closeSocket(ws: Socket, code: number, reason: string): void {
  const data = ws.getUserData()
  if (data.closed) return
  data.closed = true
  ws.end(code, reason)
}

/**
 * (Re)arms the 4401 timer at the earliest expiry among the tokens the socket relies on: the upgrade
 * token and, multiplexed, each authorised room's token. Call it whenever one of those changes.
 */
export function updateExpiry(ws: Socket): void {
  const data = ws.getUserData()
  const next = earliestExpiry(data)
  if (next === (data.expiry?.atMs ?? Infinity)) return
  if (data.expiry?.timer != null) clearTimeout(data.expiry.timer)
  if (next === Infinity) {
    data.expiry = null
    return
  }
  const expiry: Expiry = { atMs: next, timer: null }
  data.expiry = expiry
  const arm = (): void => {
    const remaining = expiry.atMs - Date.now()
    if (remaining <= 0) {
      expiry.timer = null
      closeSocket(ws, CLOSE_CODE.token_expired, 'token expired')
      return
    }
    expiry.timer = setTimeout(arm, Math.min(remaining, MAX_TIMER_MS))
  }
  arm()
}

function earliestExpiry(data: SocketData): number {
  if (data.kind === 'single') return data.principal.expiresAtMs ?? Infinity
  let earliest = data.principal?.expiresAtMs ?? Infinity
  for (const binding of data.bindings.values()) {
    const exp = binding.principal?.expiresAtMs
    if (exp != null && exp < earliest) earliest = exp
  }
  return earliest
}

export function clearSocketTimers(data: SocketData): void {
  if (data.expiry?.timer != null) clearTimeout(data.expiry.timer)
  data.expiry = null
  if (data.kind === 'multiplexed' && data.authTimer !== null) {
    clearTimeout(data.authTimer)
    data.authTimer = null
  }
}

export function singleTopic(roomId: string): string {
  return `s/${roomId}`
}

export function multiplexedTopic(roomId: string): string {
  return `m/${roomId}`
}
