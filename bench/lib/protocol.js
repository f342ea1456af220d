/**
 * Wire helpers for the load generator: just enough of the y-protocols sync framing (single, as y-websocket
 * speaks it, and multiplexed, as Hocuspocus speaks it) to build frames once and to read the few header
 * bytes a receiver needs. Hot-path readers are hand-rolled and allocation-free.
 */

export const MSG_SYNC = 0
export const MSG_AWARENESS = 1
export const MSG_AUTH = 2
export const MSG_SYNC_STATUS = 8
export const SYNC_STEP1 = 0
export const SYNC_STEP2 = 1
export const SYNC_UPDATE = 2

/** An empty Yjs v1 update (no structs, empty delete set). */
export const EMPTY_UPDATE = Uint8Array.of(0, 0)
/** An empty state vector. */
export const EMPTY_STATE_VECTOR = Uint8Array.of(0)

/** @param {number} n */
export function varUintSize(n) {
  let size = 1
  while (n > 0x7f) {
    n = Math.floor(n / 128)
    size++
  }
  return size
}

/**
 * @param {Uint8Array} buf
 * @param {number} pos
 * @param {number} n
 * @returns {number} the position after the written number
 */
export function writeVarUint(buf, pos, n) {
  while (n > 0x7f) {
    buf[pos++] = 0x80 | (n & 0x7f)
    n = Math.floor(n / 128)
  }
  buf[pos++] = n
  return pos
}

/**
 * Reads a varUint at `pos`. Returns the value; the next position is left in `cursor.pos`.
 * @param {Uint8Array} buf
 * @param {{pos: number}} cursor
 */
export function readVarUint(buf, cursor) {
  let n = 0
  let mult = 1
  let pos = cursor.pos
  for (;;) {
    if (pos >= buf.length) throw new RangeError('varUint runs past the end of the frame')
    const b = buf[pos++]
    n += (b & 0x7f) * mult
    if (b < 0x80) break
    mult *= 128
    if (mult > 2 ** 53) throw new RangeError('varUint too large')
  }
  cursor.pos = pos
  return n
}

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder()

/** `varString(room)` as bytes: the multiplexed (Hocuspocus) address prefix. */
export function encodeAddress(room) {
  const utf8 = textEncoder.encode(room)
  const out = new Uint8Array(varUintSize(utf8.length) + utf8.length)
  const pos = writeVarUint(out, 0, utf8.length)
  out.set(utf8, pos)
  return out
}

/**
 * One frame: optional address prefix, then the given header bytes, then optionally a varUint8Array payload.
 * @param {Uint8Array | null} prefix
 * @param {number[]} header
 * @param {Uint8Array | null} [payload]
 * @param {boolean} [payloadIsString] payload is a varString (same layout as varUint8Array)
 */
export function encodeFrame(prefix, header, payload = null) {
  const prefixLen = prefix ? prefix.length : 0
  const payloadLen = payload ? varUintSize(payload.length) + payload.length : 0
  const out = Buffer.allocUnsafe(prefixLen + header.length + payloadLen)
  let pos = 0
  if (prefix) {
    out.set(prefix, 0)
    pos = prefixLen
  }
  for (const b of header) out[pos++] = b
  if (payload) {
    pos = writeVarUint(out, pos, payload.length)
    out.set(payload, pos)
  }
  return out
}

/** Multiplexed auth with an empty token: `[room][2][0][varString ""]`. */
export function authFrame(prefix) {
  return encodeFrame(prefix, [MSG_AUTH, 0, 0])
}

/** `[prefix][0][0][sv]`. */
export function syncStep1Frame(prefix, stateVector = EMPTY_STATE_VECTOR) {
  return encodeFrame(prefix, [MSG_SYNC, SYNC_STEP1], stateVector)
}

/** `[prefix][0][1][update]`. */
export function syncStep2Frame(prefix, update = EMPTY_UPDATE) {
  return encodeFrame(prefix, [MSG_SYNC, SYNC_STEP2], update)
}

/** `[prefix][0][2][update]`. */
export function updateFrame(prefix, update) {
  return encodeFrame(prefix, [MSG_SYNC, SYNC_UPDATE], update)
}

/**
 * Where the message starts in a received frame: 0 for the single framing, after the address for the
 * multiplexed one (Hocuspocus's 1-byte ping `[9]` returns -1).
 * @param {Uint8Array} frame
 * @param {boolean} multiplexed
 */
export function messageStart(frame, multiplexed) {
  if (!multiplexed) return 0
  if (frame.length === 1) return -1
  const cursor = { pos: 0 }
  const len = readVarUint(frame, cursor)
  return cursor.pos + len
}

/**
 * Reads the first struct group header of a v1 update: the client id and clock of the first struct.
 * That is enough to identify a single-insert update after a server has re-encoded it (the client and the
 * clock survive re-encoding; the bytes might not). Returns false for an update without structs.
 * Leaves `out.pos` at the first struct's info byte (see readFirstInsertLength).
 * @param {Uint8Array} buf
 * @param {number} pos start of the update bytes
 * @param {{client: number, clock: number, groups: number, structs: number, pos: number}} out
 */
export function readFirstStruct(buf, pos, out) {
  out.pos = pos
  const groups = readVarUint(buf, out)
  out.groups = groups
  if (groups === 0) return false
  out.structs = readVarUint(buf, out) // structs in this group
  out.client = readVarUint(buf, out)
  out.clock = readVarUint(buf, out)
  return true
}

/**
 * After readFirstStruct: how many characters the first struct inserts if it is a string item (its
 * UTF-8 byte length, which is its length for the bench's ASCII text), or -1 for any other struct. An
 * update with one group of one struct of exactly one insert's length is a single insert; anything else
 * (several updates a server merged into one message) needs a full parse to be counted update by update.
 * Follows Yjs's v1 item encoding: info byte (content ref in the low 5 bits, 0x80 origin, 0x40 right
 * origin, 0x20 parentSub), the origins, the parent when neither origin is set, then the content.
 * @param {Uint8Array} buf
 * @param {{pos: number}} out
 */
export function readFirstInsertLength(buf, out) {
  const info = buf[out.pos++]
  if ((info & 0x1f) !== 4) return -1 // not ContentString
  if (info & 0x80) {
    readVarUint(buf, out)
    readVarUint(buf, out)
  }
  if (info & 0x40) {
    readVarUint(buf, out)
    readVarUint(buf, out)
  }
  if ((info & 0xc0) === 0) {
    if (readVarUint(buf, out) === 1) {
      skipVarString(buf, out) // the root type's name
    } else {
      readVarUint(buf, out) // the parent item's id
      readVarUint(buf, out)
    }
    if (info & 0x20) skipVarString(buf, out)
  }
  return readVarUint(buf, out)
}

/** @param {Uint8Array} buf @param {{pos:number}} cursor */
function skipVarString(buf, cursor) {
  const len = readVarUint(buf, cursor)
  cursor.pos += len
}

/** @param {Uint8Array} buf @param {{pos:number}} cursor */
export function readVarString(buf, cursor) {
  const len = readVarUint(buf, cursor)
  const s = textDecoder.decode(buf.subarray(cursor.pos, cursor.pos + len))
  cursor.pos += len
  return s
}
