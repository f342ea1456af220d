/**
 * Pure codec for Tandem's two framings (see PROTOCOL.md). No DOM or Node imports: the server and the
 * browser SDK share this file. Decoders never throw; they return a result union.
 *
 * Decoded `Uint8Array` fields (`stateVector`, `update`) are `subarray` views into the input frame, not
 * copies. A caller that keeps one beyond the input's lifetime (uWS reuses its message buffer once the
 * handler returns) must copy the input first or `slice()` the field.
 *
 * Encoders size the output exactly and write into one preallocated `Uint8Array`. They throw only on
 * programmer error (a message that the framing cannot carry, a non-integer where a varUint goes).
 */

/** Top-level message types (y-websocket uses 0–3; the multiplexed framing uses all). */
export const MESSAGE_TYPE = {
  sync: 0,
  awareness: 1,
  auth: 2,
  queryAwareness: 3,
  syncReply: 4,
  stateless: 5,
  broadcastStateless: 6,
  close: 7,
  syncStatus: 8,
  ping: 9,
  pong: 10,
} as const

/** Sub-types of `MESSAGE_TYPE.sync` (y-protocols/sync). PROTOCOL.md §2.4. */
export const SYNC_TYPE = { step1: 0, step2: 1, update: 2 } as const

/**
 * Sub-types of `MESSAGE_TYPE.auth`. The single framing only knows `permissionDenied`, which is 0 there
 * (y-protocols/auth); the multiplexed framing uses the Hocuspocus numbering. PROTOCOL.md §3.5, §4.4.
 */
export const AUTH_TYPE = {
  single: { permissionDenied: 0 },
  multiplexed: { token: 0, permissionDenied: 1, authenticated: 2 },
} as const

/** The WebSocket subprotocol the server selects (echoes) at the upgrade. PROTOCOL.md §5.2. */
export const SUBPROTOCOL = 'tandem'
/** A client may offer `tandem-auth.<jwt>` beside `tandem`; the server never echoes it. PROTOCOL.md §5.2. */
export const AUTH_SUBPROTOCOL_PREFIX = 'tandem-auth.'

export type Scope = 'read-write' | 'readonly'

export type Message =
  | { type: 'sync-step-1'; stateVector: Uint8Array }
  | { type: 'sync-step-2'; update: Uint8Array }
  | { type: 'update'; update: Uint8Array }
  | { type: 'awareness'; update: Uint8Array }
  | { type: 'query-awareness' }
  /** Multiplexed only, client -> server: the per-room token ("" when the client has none). */
  | { type: 'auth-token'; token: string; providerVersion: string | null }
  /** Multiplexed only, server -> client: ask the client to send its token again. */
  | { type: 'auth-token-request' }
  /** Both framings, server -> client. */
  | { type: 'permission-denied'; reason: string }
  /** Multiplexed only, server -> client. */
  | { type: 'authenticated'; scope: Scope }
  /** Multiplexed only, both directions. */
  | { type: 'stateless'; payload: string }
  /** Multiplexed only: client -> server has no reason (null); server -> client carries one. */
  | { type: 'close'; reason: string | null }
  /** Multiplexed only, server -> client: an update was applied (and, on Tandem, durably stored) or rejected. */
  | { type: 'sync-status'; applied: boolean }

export type DecodeError = 'empty' | 'unknown-type' | 'malformed' | 'trailing-bytes'
export type DecodeResult<T> = { ok: true; value: T } | { ok: false; reason: DecodeError }

export type MultiplexedFrame =
  | { kind: 'message'; address: string; message: Message }
  | { kind: 'ping' }
  | { kind: 'pong' }

export interface AwarenessEntry {
  clientId: number
  clock: number
  /** The state as JSON text exactly as sent; "null" marks a removal. */
  state: string
}

/** Server -> client keepalive `[0x09]` (multiplexed framing, v4 providers only). Shared: do not mutate. */
export const PING_FRAME: Uint8Array = Uint8Array.of(MESSAGE_TYPE.ping)
/** Client -> server answer `[0x0A]` to `PING_FRAME`. Shared: do not mutate. */
export const PONG_FRAME: Uint8Array = Uint8Array.of(MESSAGE_TYPE.pong)

// ---------------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------------

// fatal: invalid UTF-8 is a decode error, not U+FFFD. ignoreBOM: a leading U+FEFF stays in the string,
// so addresses round-trip verbatim (lib0 uses the same options).
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const utf8Encoder = new TextEncoder()

/** 8 × 7 = 56 bits hold every safe integer; a longer varUint is malformed even if its value is small. */
const MAX_VARUINT_BYTES = 8
/** Short pure-ASCII strings (every address, most tokens) skip TextDecoder, which has a fixed call cost. */
const ASCII_FAST_PATH_BYTES = 64

const BAD = -1

/** A bounds-checked cursor. Every read returns a sentinel (BAD / null) instead of throwing. */
class Reader {
  pos = 0
  constructor(readonly buf: Uint8Array) {}

  get remaining(): number {
    return this.buf.length - this.pos
  }

  /** LEB128 unsigned; BAD when truncated, longer than 8 bytes, or above Number.MAX_SAFE_INTEGER. */
  varUint(): number {
    const buf = this.buf
    const first = buf[this.pos]
    if (first === undefined) return BAD
    if (first < 0x80) {
      this.pos++
      return first
    }
    let num = 0
    let mult = 1
    for (let i = 0; i < MAX_VARUINT_BYTES; i++) {
      const b = buf[this.pos + i]
      if (b === undefined) return BAD
      num += (b & 0x7f) * mult
      if (b < 0x80) {
        if (num > Number.MAX_SAFE_INTEGER) return BAD
        this.pos += i + 1
        return num
      }
      mult *= 128
    }
    return BAD
  }

  /** `varUint8Array`: a view into the input, or null. */
  bytes(): Uint8Array | null {
    const len = this.varUint()
    if (len === BAD || len > this.remaining) return null
    const start = this.pos
    this.pos += len
    return this.buf.subarray(start, this.pos)
  }

  /** `varString`: strict UTF-8, or null. */
  string(): string | null {
    const len = this.varUint()
    if (len === BAD || len > this.remaining) return null
    const start = this.pos
    this.pos += len
    return decodeUtf8(this.buf, start, this.pos)
  }
}

function decodeUtf8(buf: Uint8Array, start: number, end: number): string | null {
  if (end - start <= ASCII_FAST_PATH_BYTES) {
    let s = ''
    let i = start
    for (; i < end; i++) {
      const b = buf[i] as number
      if (b >= 0x80) break
      s += String.fromCharCode(b)
    }
    if (i === end) return s
  }
  try {
    return utf8Decoder.decode(buf.subarray(start, end))
  } catch {
    return null
  }
}

type Step = Message | 'malformed' | 'unknown-type'

function readSync(r: Reader): Step {
  const sub = r.varUint()
  if (sub === BAD) return 'malformed'
  if (sub > SYNC_TYPE.update) return 'unknown-type'
  const bytes = r.bytes()
  if (bytes === null) return 'malformed'
  if (sub === SYNC_TYPE.step1) return { type: 'sync-step-1', stateVector: bytes }
  if (sub === SYNC_TYPE.step2) return { type: 'sync-step-2', update: bytes }
  return { type: 'update', update: bytes }
}

function readAwareness(r: Reader): Step {
  const update = r.bytes()
  return update === null ? 'malformed' : { type: 'awareness', update }
}

function readStringMessage<M extends Message>(r: Reader, make: (s: string) => M): Step {
  const s = r.string()
  return s === null ? 'malformed' : make(s)
}

/** One message of the single framing (PROTOCOL.md §3). */
function readSingleMessage(r: Reader): Step {
  const type = r.varUint()
  if (type === BAD) return 'malformed'
  switch (type) {
    case MESSAGE_TYPE.sync:
      return readSync(r)
    case MESSAGE_TYPE.awareness:
      return readAwareness(r)
    case MESSAGE_TYPE.auth: {
      const sub = r.varUint()
      if (sub === BAD) return 'malformed'
      if (sub !== AUTH_TYPE.single.permissionDenied) return 'unknown-type'
      return readStringMessage(r, (reason) => ({ type: 'permission-denied', reason }))
    }
    case MESSAGE_TYPE.queryAwareness:
      return { type: 'query-awareness' }
    default:
      return 'unknown-type'
  }
}

/** The message part (after the address) of a multiplexed frame (PROTOCOL.md §4). */
function readMultiplexedMessage(r: Reader): Step {
  const type = r.varUint()
  if (type === BAD) return 'malformed'
  switch (type) {
    case MESSAGE_TYPE.sync:
      return readSync(r)
    case MESSAGE_TYPE.awareness:
      return readAwareness(r)
    case MESSAGE_TYPE.auth:
      return readMultiplexedAuth(r)
    case MESSAGE_TYPE.queryAwareness:
      return { type: 'query-awareness' }
    case MESSAGE_TYPE.stateless:
      return readStringMessage(r, (payload) => ({ type: 'stateless', payload }))
    case MESSAGE_TYPE.close:
      if (r.remaining === 0) return { type: 'close', reason: null }
      return readStringMessage(r, (reason) => ({ type: 'close', reason }))
    case MESSAGE_TYPE.syncStatus: {
      const v = r.varUint()
      if (v !== 0 && v !== 1) return 'malformed'
      return { type: 'sync-status', applied: v === 1 }
    }
    default:
      // 4 SyncReply and 6 BroadcastStateless are Hocuspocus server-internal; 9/10 only exist unaddressed.
      return 'unknown-type'
  }
}

function readMultiplexedAuth(r: Reader): Step {
  const sub = r.varUint()
  if (sub === BAD) return 'malformed'
  switch (sub) {
    case AUTH_TYPE.multiplexed.token: {
      if (r.remaining === 0) return { type: 'auth-token-request' }
      const token = r.string()
      if (token === null) return 'malformed'
      if (r.remaining === 0) return { type: 'auth-token', token, providerVersion: null }
      const providerVersion = r.string()
      if (providerVersion === null) return 'malformed'
      return { type: 'auth-token', token, providerVersion }
    }
    case AUTH_TYPE.multiplexed.permissionDenied:
      return readStringMessage(r, (reason) => ({ type: 'permission-denied', reason }))
    case AUTH_TYPE.multiplexed.authenticated: {
      const scope = r.string()
      if (scope !== 'read-write' && scope !== 'readonly') return 'malformed'
      return { type: 'authenticated', scope }
    }
    default:
      return 'unknown-type'
  }
}

const fail = <T>(reason: DecodeError): DecodeResult<T> => ({ ok: false, reason })

/**
 * Decodes a single-framing (y-websocket) frame: every message in it, in order (PROTOCOL.md §3.1).
 * v1–v3 peers send one message per frame; v4 peers may concatenate. Never throws.
 */
export function decodeSingleFrame(frame: Uint8Array): DecodeResult<Message[]> {
  if (frame.length === 0) return fail('empty')
  try {
    const r = new Reader(frame)
    const messages: Message[] = []
    while (r.remaining > 0) {
      const step = readSingleMessage(r)
      if (typeof step === 'string') return fail(step)
      messages.push(step)
    }
    return { ok: true, value: messages }
  } catch {
    // Unreachable by construction (Reader never throws); kept so a codec bug cannot crash a socket handler.
    return fail('malformed')
  }
}

/**
 * Decodes a multiplexed (Hocuspocus-compatible) frame (PROTOCOL.md §4.1). The 1-byte frames `[0x09]` and
 * `[0x0A]` are ping and pong; everything else is `varString(address) varUint(type) payload` and must be
 * consumed exactly. Never throws.
 */
export function decodeMultiplexedFrame(frame: Uint8Array): DecodeResult<MultiplexedFrame> {
  if (frame.length === 0) return fail('empty')
  if (frame.length === 1) {
    if (frame[0] === MESSAGE_TYPE.ping) return { ok: true, value: PING }
    if (frame[0] === MESSAGE_TYPE.pong) return { ok: true, value: PONG }
  }
  try {
    const r = new Reader(frame)
    const address = r.string()
    if (address === null) return fail('malformed')
    const step = readMultiplexedMessage(r)
    if (typeof step === 'string') return fail(step)
    if (r.remaining !== 0) return fail('trailing-bytes')
    return { ok: true, value: { kind: 'message', address, message: step } }
  } catch {
    return fail('malformed')
  }
}

const PING: MultiplexedFrame = Object.freeze({ kind: 'ping' })
const PONG: MultiplexedFrame = Object.freeze({ kind: 'pong' })

/**
 * Validates the structure of an awareness update (the bytes inside an awareness message) and returns
 * its entries (PROTOCOL.md §2.5). State JSON is not parsed. Never throws.
 */
export function decodeAwarenessUpdate(update: Uint8Array): DecodeResult<AwarenessEntry[]> {
  if (update.length === 0) return fail('empty')
  try {
    const r = new Reader(update)
    const n = r.varUint()
    // Each entry takes at least 3 bytes; reject absurd counts before looping.
    if (n === BAD || n > r.remaining / 3) return fail('malformed')
    const entries: AwarenessEntry[] = []
    for (let i = 0; i < n; i++) {
      const clientId = r.varUint()
      const clock = r.varUint()
      if (clientId === BAD || clock === BAD) return fail('malformed')
      const state = r.string()
      if (state === null) return fail('malformed')
      entries.push({ clientId, clock, state })
    }
    if (r.remaining !== 0) return fail('trailing-bytes')
    return { ok: true, value: entries }
  } catch {
    return fail('malformed')
  }
}

/** Splits a multiplexed address into room name and optional session id (`room\0session`, PROTOCOL.md §4.2). */
export function parseAddress(address: string): { room: string; sessionId: string | null } {
  const i = address.indexOf('\0')
  return i === -1 ? { room: address, sessionId: null } : { room: address.slice(0, i), sessionId: address.slice(i + 1) }
}

// ---------------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------------

/** Bytes `writeVarUint` uses for `n`. */
export function varUintLength(n: number): number {
  let len = 1
  while (n > 0x7f) {
    n = Math.floor(n / 128)
    len++
  }
  return len
}

function checkUint(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what} must be a non-negative safe integer, got ${n}`)
}

function writeVarUint(buf: Uint8Array, pos: number, n: number): number {
  while (n > 0x7f) {
    buf[pos++] = 0x80 | n % 128
    n = Math.floor(n / 128)
  }
  buf[pos++] = n
  return pos
}

/** UTF-8 byte length, counting a lone surrogate as U+FFFD (3 bytes), as TextEncoder writes it. */
function utf8Length(s: string): number {
  const n = s.length
  let len = n
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) continue
    if (c < 0x800) {
      len += 1
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const d = s.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) {
        len += 2 // 2 UTF-16 units -> 4 bytes
        i++
      } else {
        len += 2
      }
    } else {
      len += 2
    }
  }
  return len
}

/** Writes the UTF-8 bytes of `s`, known to be `byteLength` long. */
function writeUtf8(buf: Uint8Array, pos: number, s: string, byteLength: number): number {
  if (byteLength === s.length && byteLength <= ASCII_FAST_PATH_BYTES) {
    for (let i = 0; i < byteLength; i++) buf[pos + i] = s.charCodeAt(i)
  } else if (byteLength > 0) {
    utf8Encoder.encodeInto(s, buf.subarray(pos, pos + byteLength))
  }
  return pos + byteLength
}

/**
 * The shape every message of both framings reduces to:
 * `[address] varUint(type) [varUint(sub)] [varUint8Array(bytes)] [varString(s1)] [varString(s2)]`.
 * `sub` also carries the SyncStatus value.
 */
function encodeParts(
  address: string | null,
  type: number,
  sub: number | null,
  bytes: Uint8Array | null,
  s1: string | null,
  s2: string | null,
): Uint8Array {
  const aLen = address === null ? 0 : utf8Length(address)
  const s1Len = s1 === null ? 0 : utf8Length(s1)
  const s2Len = s2 === null ? 0 : utf8Length(s2)
  let size = varUintLength(type)
  if (address !== null) size += varUintLength(aLen) + aLen
  if (sub !== null) size += varUintLength(sub)
  if (bytes !== null) size += varUintLength(bytes.length) + bytes.length
  if (s1 !== null) size += varUintLength(s1Len) + s1Len
  if (s2 !== null) size += varUintLength(s2Len) + s2Len

  const out = new Uint8Array(size)
  let pos = 0
  if (address !== null) pos = writeUtf8(out, writeVarUint(out, pos, aLen), address, aLen)
  pos = writeVarUint(out, pos, type)
  if (sub !== null) pos = writeVarUint(out, pos, sub)
  if (bytes !== null) {
    pos = writeVarUint(out, pos, bytes.length)
    out.set(bytes, pos)
    pos += bytes.length
  }
  if (s1 !== null) pos = writeUtf8(out, writeVarUint(out, pos, s1Len), s1, s1Len)
  if (s2 !== null) writeUtf8(out, writeVarUint(out, pos, s2Len), s2, s2Len)
  return out
}

function assertNever(value: never): never {
  throw new Error(`unexpected message: ${JSON.stringify(value)}`)
}

/** Messages both framings carry with the same layout; only the address prefix differs. */
type SharedMessage = Extract<Message, { type: 'sync-step-1' | 'sync-step-2' | 'update' | 'awareness' | 'query-awareness' }>

function encodeShared(address: string | null, message: SharedMessage): Uint8Array {
  switch (message.type) {
    case 'sync-step-1':
      return encodeParts(address, MESSAGE_TYPE.sync, SYNC_TYPE.step1, message.stateVector, null, null)
    case 'sync-step-2':
      return encodeParts(address, MESSAGE_TYPE.sync, SYNC_TYPE.step2, message.update, null, null)
    case 'update':
      return encodeParts(address, MESSAGE_TYPE.sync, SYNC_TYPE.update, message.update, null, null)
    case 'awareness':
      return encodeParts(address, MESSAGE_TYPE.awareness, null, message.update, null, null)
    case 'query-awareness':
      return encodeParts(address, MESSAGE_TYPE.queryAwareness, null, null, null, null)
    default:
      return assertNever(message)
  }
}

/**
 * Encodes one message in the single framing (PROTOCOL.md §3). Throws for messages that framing cannot
 * carry (auth-token, auth-token-request, authenticated, stateless, close, sync-status).
 */
export function encodeSingleFrame(message: Message): Uint8Array {
  switch (message.type) {
    case 'sync-step-1':
    case 'sync-step-2':
    case 'update':
    case 'awareness':
    case 'query-awareness':
      return encodeShared(null, message)
    case 'permission-denied':
      return encodeParts(null, MESSAGE_TYPE.auth, AUTH_TYPE.single.permissionDenied, null, message.reason, null)
    case 'auth-token':
    case 'auth-token-request':
    case 'authenticated':
    case 'stateless':
    case 'close':
    case 'sync-status':
      throw new Error(`'${message.type}' cannot be sent in the single framing`)
    default:
      return assertNever(message)
  }
}

/** Encodes one message in the multiplexed framing, addressed to `address` verbatim (PROTOCOL.md §4). */
export function encodeMultiplexedFrame(address: string, message: Message): Uint8Array {
  const a = address
  switch (message.type) {
    case 'sync-step-1':
    case 'sync-step-2':
    case 'update':
    case 'awareness':
    case 'query-awareness':
      return encodeShared(a, message)
    case 'auth-token':
      return encodeParts(a, MESSAGE_TYPE.auth, AUTH_TYPE.multiplexed.token, null, message.token, message.providerVersion)
    case 'auth-token-request':
      return encodeParts(a, MESSAGE_TYPE.auth, AUTH_TYPE.multiplexed.token, null, null, null)
    case 'permission-denied':
      return encodeParts(a, MESSAGE_TYPE.auth, AUTH_TYPE.multiplexed.permissionDenied, null, message.reason, null)
    case 'authenticated':
      if (message.scope !== 'read-write' && message.scope !== 'readonly') {
        throw new Error(`invalid scope: ${String(message.scope)}`)
      }
      return encodeParts(a, MESSAGE_TYPE.auth, AUTH_TYPE.multiplexed.authenticated, null, message.scope, null)
    case 'stateless':
      return encodeParts(a, MESSAGE_TYPE.stateless, null, null, message.payload, null)
    case 'close':
      return encodeParts(a, MESSAGE_TYPE.close, null, null, message.reason, null)
    case 'sync-status':
      return encodeParts(a, MESSAGE_TYPE.syncStatus, message.applied ? 1 : 0, null, null, null)
    default:
      return assertNever(message)
  }
}

/**
 * Encodes an awareness update (PROTOCOL.md §2.5), byte-identical to y-protocols' `encodeAwarenessUpdate`
 * for the same entries. Throws if a clientId or clock is not a non-negative safe integer.
 */
export function encodeAwarenessUpdate(entries: readonly AwarenessEntry[]): Uint8Array {
  const n = entries.length
  const stateLens = new Array<number>(n)
  let size = varUintLength(n)
  for (let i = 0; i < n; i++) {
    const e = entries[i] as AwarenessEntry
    checkUint(e.clientId, 'clientId')
    checkUint(e.clock, 'clock')
    const sLen = utf8Length(e.state)
    stateLens[i] = sLen
    size += varUintLength(e.clientId) + varUintLength(e.clock) + varUintLength(sLen) + sLen
  }
  const out = new Uint8Array(size)
  let pos = writeVarUint(out, 0, n)
  for (let i = 0; i < n; i++) {
    const e = entries[i] as AwarenessEntry
    const sLen = stateLens[i] as number
    pos = writeVarUint(out, pos, e.clientId)
    pos = writeVarUint(out, pos, e.clock)
    pos = writeUtf8(out, writeVarUint(out, pos, sLen), e.state, sLen)
  }
  return out
}
