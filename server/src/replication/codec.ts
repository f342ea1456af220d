/**
 * Binary form of an envelope on the Redis wire: varUint version, varString origin, varUint type, then the
 * type's fields (lib0 encoding). Decoding is total: anything that does not parse is null, never a throw,
 * so a stray or foreign entry under our prefix cannot take a reader loop down.
 */
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import type { ReplicatedMessage, ReplicatedMessageType } from '../rooms/replication.js'

const VERSION = 1

const TYPE_CODES: Record<ReplicatedMessageType, number> = {
  update: 0,
  awareness: 1,
  'sync-request': 2,
  'sync-reply': 3,
  'room-deleted': 4,
  stateless: 5,
  kick: 6,
  committed: 7,
}

export interface WireEnvelope {
  origin: string
  message: ReplicatedMessage
}

export function encodeEnvelope(origin: string, message: ReplicatedMessage): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, VERSION)
  encoding.writeVarString(e, origin)
  encoding.writeVarUint(e, TYPE_CODES[message.type])
  switch (message.type) {
    case 'update':
      encoding.writeVarUint8Array(e, message.update)
      // 0 = no user (a server-side edit), 1 + string otherwise.
      if (message.userId === null) encoding.writeVarUint(e, 0)
      else {
        encoding.writeVarUint(e, 1)
        encoding.writeVarString(e, message.userId)
      }
      // Optional tail: seq + 1 (0: none), then committedUpTo + 1 (0: none).
      if (message.seq !== undefined || message.committedUpTo !== undefined) {
        encoding.writeVarUint(e, message.seq === undefined ? 0 : message.seq + 1)
        encoding.writeVarUint(e, message.committedUpTo === undefined ? 0 : message.committedUpTo + 1)
      }
      break
    case 'committed':
      encoding.writeVarUint(e, message.upTo)
      break
    case 'awareness':
      encoding.writeVarUint8Array(e, message.update)
      encoding.writeVarString(e, message.userId)
      break
    case 'sync-request':
      encoding.writeVarUint8Array(e, message.stateVector)
      break
    case 'sync-reply':
      encoding.writeVarString(e, message.to)
      encoding.writeVarUint8Array(e, message.update)
      break
    case 'room-deleted':
      break
    case 'stateless':
      encoding.writeVarString(e, message.payload)
      break
    case 'kick':
      encoding.writeVarString(e, message.userId)
      encoding.writeVarUint(e, message.code)
      encoding.writeVarString(e, message.reason)
      encoding.writeVarUint(e, message.at)
      break
  }
  return encoding.toUint8Array(e)
}

export function decodeEnvelope(bytes: Uint8Array): WireEnvelope | null {
  try {
    const d = decoding.createDecoder(bytes)
    if (decoding.readVarUint(d) !== VERSION) return null
    const origin = decoding.readVarString(d)
    const message = readMessage(d, decoding.readVarUint(d))
    if (message === null || decoding.hasContent(d)) return null
    return { origin, message }
  } catch {
    return null
  }
}

function readMessage(d: decoding.Decoder, code: number): ReplicatedMessage | null {
  switch (code) {
    case TYPE_CODES.update: {
      const update = decoding.readVarUint8Array(d)
      const hasUser = decoding.readVarUint(d)
      const message: Extract<ReplicatedMessage, { type: 'update' }> = { type: 'update', update, userId: hasUser === 1 ? decoding.readVarString(d) : null }
      if (!decoding.hasContent(d)) return message
      const seq = decoding.readVarUint(d)
      const committedUpTo = decoding.readVarUint(d)
      if (seq > 0) message.seq = seq - 1
      if (committedUpTo > 0) message.committedUpTo = committedUpTo - 1
      return message
    }
    case TYPE_CODES.committed:
      return { type: 'committed', upTo: decoding.readVarUint(d) }
    case TYPE_CODES.awareness: {
      const update = decoding.readVarUint8Array(d)
      return { type: 'awareness', update, userId: decoding.readVarString(d) }
    }
    case TYPE_CODES['sync-request']:
      return { type: 'sync-request', stateVector: decoding.readVarUint8Array(d) }
    case TYPE_CODES['sync-reply']: {
      const to = decoding.readVarString(d)
      return { type: 'sync-reply', to, update: decoding.readVarUint8Array(d) }
    }
    case TYPE_CODES['room-deleted']:
      return { type: 'room-deleted' }
    case TYPE_CODES.stateless:
      return { type: 'stateless', payload: decoding.readVarString(d) }
    case TYPE_CODES.kick: {
      const userId = decoding.readVarString(d)
      const closeCode = decoding.readVarUint(d)
      const reason = decoding.readVarString(d)
      // An instance running an older Tandem sends no time: the removal counts from now.
      const at = decoding.hasContent(d) ? decoding.readVarUint(d) : Date.now()
      return { type: 'kick', userId, code: closeCode, reason, at }
    }
    default:
      return null
  }
}
