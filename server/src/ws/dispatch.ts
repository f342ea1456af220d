/**
 * One switch from decoded client messages to room operations, shared by both framings. Awareness is
 * checked here, before any room or peer sees it: a state too large or too deeply nested is refused
 * (other clients re-encode states with JSON.stringify, and a deep one overflows their stack), and a
 * connection's presence reaches the room at most once per `awarenessIntervalMs`.
 *
 * A large update is decoded in the macrotask that received it, cut into slices in the next (see
 * rooms/sliced-apply.ts) and checked and applied after that, in one piece or one slice per turn, so the
 * server's other rooms and sockets get their turns in between. Until it is all applied, that
 * connection's later messages to the room wait behind it: acknowledgements and refusals still leave in
 * message order.
 */
import { decodeAwarenessUpdate, encodeAwarenessUpdate, type AwarenessEntry, type Message } from '@tandem/client/protocol'
import type { Config } from '../config.js'
import type { Room, StagedUpdate } from '../rooms/room.js'
import type { SocketPeer } from './peer.js'
import { CLOSE_CODE, assertNever } from '../errors.js'
import { nestingExceeds } from '../json-nesting.js'
import { afterNextPoll } from '../next-poll.js'
import { STAGED_UPDATE_BYTES, decodeWellFormedUpdate } from '../rooms/update-check.js'
import { planSlices } from '../rooms/sliced-apply.js'

export type AwarenessLimits = Pick<Config['ws'], 'maxAwarenessBytes' | 'maxAwarenessDepth' | 'awarenessIntervalMs'>

/**
 * Client ids one connection's queued awareness may hold between two deliveries. A provider owns one
 * (the room accepts 32 per connection); y-websocket clients also re-send the states they heard from
 * others, which the room ignores, so beyond this new ids are dropped rather than kept in memory.
 */
const MAX_QUEUED_CLIENTS = 1_024

export function dispatch(room: Room, peer: SocketPeer, message: Message, limits: AwarenessLimits): void {
  if (peer.closed) return
  if (peer.behindStagedUpdate !== null) {
    peer.behindStagedUpdate.push(message)
    return
  }
  switch (message.type) {
    case 'sync-step-1':
      return room.answerSyncStep1(peer, message.stateVector)
    case 'sync-step-2':
    case 'update':
      if (message.update.byteLength >= STAGED_UPDATE_BYTES) return stageUpdate(room, peer, message.update, limits)
      room.applyClientUpdate(peer, message.update)
      return
    case 'awareness': {
      const decoded = decodeAwarenessUpdate(message.update)
      if (!decoded.ok) return peer.close(CLOSE_CODE.invalid_payload, `awareness update ${decoded.reason}`)
      const problem = checkAwareness(decoded.value, limits)
      if (problem !== null) return peer.close(problem.code, problem.reason)
      return relayAwareness(room, peer, decoded.value, message.update, limits.awarenessIntervalMs)
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

function stageUpdate(room: Room, peer: SocketPeer, update: Uint8Array, limits: AwarenessLimits): void {
  const decoded = decodeWellFormedUpdate(update)
  const staged: StagedUpdate = { decoded, canWrite: peer.canWrite, slices: null }
  const behind: Message[] = []
  peer.behindStagedUpdate = behind
  const release = (): void => {
    peer.behindStagedUpdate = null
    // In order; one of them may stage again, and the rest then queue behind it.
    for (const message of behind) dispatch(room, peer, message, limits)
  }
  afterNextPoll(() => {
    if (decoded !== null && staged.canWrite && !peer.closed) staged.slices = planSlices(decoded)
    afterNextPoll(() => {
      // A connection gone meanwhile gets no acknowledgement, so its client sends the update again.
      if (peer.closed || room.state !== 'active') {
        peer.behindStagedUpdate = null
        return
      }
      room.applyClientUpdate(peer, update, staged)
      const applying = room.slicingFor(peer)
      if (applying === null) release()
      else void applying.then(release)
    })
  })
}

/** Why an awareness update is refused (PROTOCOL.md §6), or null when every state is acceptable. */
export function checkAwareness(entries: readonly AwarenessEntry[], limits: AwarenessLimits): { code: number; reason: string } | null {
  for (const { state } of entries) {
    if (state === 'null') continue
    // UTF-16 length is a lower bound of the UTF-8 length: count bytes only when it could matter.
    if (state.length * 3 > limits.maxAwarenessBytes && Buffer.byteLength(state, 'utf8') > limits.maxAwarenessBytes) {
      return { code: CLOSE_CODE.policy, reason: `awareness state over ${limits.maxAwarenessBytes} bytes` }
    }
    if (nestingExceeds(state, limits.maxAwarenessDepth)) {
      return { code: CLOSE_CODE.policy, reason: `awareness state nested deeper than ${limits.maxAwarenessDepth}` }
    }
    try {
      JSON.parse(state)
    } catch {
      return { code: CLOSE_CODE.invalid_payload, reason: 'awareness state is not JSON' }
    }
  }
  return null
}

/**
 * Hands a connection's awareness to the room at most once per interval. The first update of a quiet
 * connection goes through at once; updates during the interval are merged (newest entry per client id)
 * and delivered when it ends, so the last state always goes out, only later. A peer that leaves drops
 * what is queued (SocketPeer.markLeft): the room then broadcasts the removal of its states.
 */
function relayAwareness(room: Room, peer: SocketPeer, entries: readonly AwarenessEntry[], raw: Uint8Array, intervalMs: number): void {
  if (intervalMs === 0) return room.applyAwareness(peer, entries, raw)
  const open = peer.awarenessWindow
  if (open === null) {
    room.applyAwareness(peer, entries, raw)
    if (!peer.closed) peer.awarenessWindow = { timer: setTimeout(() => flushAwareness(room, peer, intervalMs), intervalMs), queued: null }
    return
  }
  const queued = (open.queued ??= new Map())
  for (const entry of entries) {
    const previous = queued.get(entry.clientId)
    if (previous === undefined) {
      if (queued.size < MAX_QUEUED_CLIENTS) queued.set(entry.clientId, entry)
    } else if (entry.clock > previous.clock || (entry.clock === previous.clock && entry.state === 'null')) {
      queued.set(entry.clientId, entry)
    }
  }
}

function flushAwareness(room: Room, peer: SocketPeer, intervalMs: number): void {
  const window = peer.awarenessWindow
  if (window === null) return
  if (window.queued === null || peer.closed || room.state !== 'active') {
    peer.awarenessWindow = null // a quiet interval: the next update goes through at once
    return
  }
  const entries = [...window.queued.values()]
  window.queued = null
  window.timer = setTimeout(() => flushAwareness(room, peer, intervalMs), intervalMs)
  room.applyAwareness(peer, entries, encodeAwarenessUpdate(entries))
}
