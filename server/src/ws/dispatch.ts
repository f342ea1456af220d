/**
 * One switch from decoded client messages to room operations, shared by both framings.
 */
import { decodeAwarenessUpdate, type Message } from '@tandem/client/protocol'
import type { Room } from '../rooms/room.js'
import type { SocketPeer } from './peer.js'
import { CLOSE_CODE, assertNever } from '../errors.js'

export function dispatch(room: Room, peer: SocketPeer, message: Message): void {
  if (peer.closed) return
  switch (message.type) {
    case 'sync-step-1':
      return room.answerSyncStep1(peer, message.stateVector)
    case 'sync-step-2':
    case 'update':
      room.applyClientUpdate(peer, message.update)
      return
    case 'awareness': {
      const decoded = decodeAwarenessUpdate(message.update)
      if (!decoded.ok) return peer.close(CLOSE_CODE.bad_frame, `awareness update ${decoded.reason}`)
      return room.applyAwareness(peer, decoded.value, message.update)
    }
    case 'query-awareness':
      return room.sendPresence(peer)
    case 'stateless':
      // Stateless messages from clients have no server-side consumer yet; accept and ignore them.
      return
    case 'auth-token':
    case 'close':
      // Handled by the multiplexed framing before a room is involved.
      return
    case 'auth-token-request':
    case 'permission-denied':
    case 'authenticated':
    case 'sync-status':
      return peer.close(CLOSE_CODE.bad_frame, `unexpected ${message.type} from a client`)
    default:
      return assertNever(message)
  }
}
