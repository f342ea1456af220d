/**
 * A room has a Y.Doc, a presence table and its peers; it never is a Y.Doc. It speaks protocol
 * Messages to Peers and leaves framing, sockets and SQL to the edges.
 */
import * as Y from 'yjs'
import { decodeAwarenessUpdate, encodeAwarenessUpdate, type AwarenessEntry } from '@tandem/client/protocol'
import type { Logger } from 'pino'
import type { DocumentLog } from '../persistence/document-log.js'
import type { Envelope, Replication, ReplicationSignal, RoomChannel } from './replication.js'
import type { RoomEvents } from './events.js'
import type { ClusterUsers } from './users.js'
import type { Broadcast, Peer } from './peer.js'
import type { RoomMetrics } from '../metrics.js'
import { Presence, type Owner } from './presence.js'
import { afterQuiet, type QuietWait } from '../quiet-wait.js'
import { afterNextPoll, nextPoll } from '../next-poll.js'
import { monotonicNow } from '../clock.js'
import { applyUpdateIntegratingPending, integrateUnblockedPending } from '../pending-structs.js'
import { AppError, CLOSE_CODE, assertNever } from '../errors.js'
import {
  allNew,
  clientsWithNewContent,
  conflictsWithDoc,
  decodeWellFormedUpdate,
  extendsContiguously,
  heldAsPending,
  withoutClients,
  pendingBytes,
  wouldPend,
  STAGED_UPDATE_BYTES,
  type DecodedStruct,
  type DecodedUpdate,
} from './update-check.js'
import { encodeSlice, sliceStarts, withoutMerging, type SlicePlan } from './sliced-apply.js'

const FROM_STORE = Symbol('from-store')
/** Content another instance relayed (its log entries, sync replies, or the store on a resync). */
const FROM_BUS = Symbol('from-bus')
const FROM_SERVER = Symbol('from-server')

/** What a room broken by a failed commit held (see Room.unsavedState). */
export interface UnsavedState {
  /** The whole document as one update. */
  readonly update: Uint8Array
  /** clientID -> the user who first wrote under it. */
  readonly owners: ReadonlyMap<number, string>
}

/** ...or, however busy it is, once it has this many times compactAfterRows. */
const BUSY_ROOM_COMPACTION_FACTOR = 10
const EMPTY_AWARENESS = encodeAwarenessUpdate([])
/** Shared by every room: a per-room copy would cost each loaded room an object. */
const PRESENCE_LIMITS = { maxClientsPerOwner: 32, maxTombstones: 2_000 } as const
/** Replicated messages a loading room holds back; past it the room reloads the store once it has loaded. */
const MAX_BUFFERED_WHILE_LOADING = 10_000
/**
 * How long a room's own edits must have stopped before it confirms their commits in an entry of its own
 * (ms). While edits keep coming, each carries the confirmation of the commits before it. Typing comes in
 * bursts a fraction of a second apart: a shorter wait would add an entry after nearly every burst, while
 * the others only need the confirmation before their replicaConfirmTimeoutMs (see #scheduleConfirmation).
 */
const CONFIRM_WHEN_QUIET_MS = 1_000

/**
 * Numbers the updates this process publishes (see Room#persist). Starting from the clock keeps the
 * numbers growing across restarts under a fixed instance id, so a receiver never takes a new update for
 * one a confirmation of the previous process already covered.
 */
let lastPublishedSeq = Date.now() * 1000

/** An update another instance published before its commit, held until the commit is confirmed. */
interface Unconfirmed {
  readonly seq: number
  readonly update: Uint8Array
  /** monotonicNow() when it arrived. */
  readonly at: number
}

/** A user's connections on another instance, as this room's presence table sees them. */
interface RemoteOwner extends Owner {
  readonly origin: string
  readonly userId: string
}

export interface RoomDeps {
  /** A room reads and writes only its own log; records belong to the registry and REST, webhooks to the outbox. */
  store: DocumentLog
  replication: Replication
  broadcast: Broadcast
  events: RoomEvents
  /** Who is in the room across instances; emits user.entered/user.left (see rooms/users.ts). */
  users: ClusterUsers
  log: Logger
  metrics: RoomMetrics
  /** Compact once the room has this many rows and has been quiet for compactQuietMs... */
  compactAfterRows: number
  compactQuietMs: number
  /** Largest encoded document; an update that would grow it past this is refused (4413 / 413). */
  maxDocBytes: number
  /** Most bytes of pending content (waiting for updates the server never received) the room holds. */
  maxPendingBytes: number
  /** How long an update relayed from another instance may stay unconfirmed before this room stores it (ms). */
  replicaConfirmTimeoutMs: number
  /** Called when the last peer leaves (the registry schedules the unload). */
  onEmpty: (room: Room) => void
  /** Called when the room can no longer persist (the registry drops it without flushing). */
  onBroken: (room: Room) => void
  /** Called when another instance deleted the room (the registry closes its peers with 4404 and drops it). */
  onDeletedElsewhere: (room: Room) => void
  /** Automatic versions (rooms/versions.ts); null when they are off. */
  autoVersions: AutoVersions | null
}

/**
 * When a room takes automatic versions: `take` once the room has been quiet for quietMs after an edit of
 * its own, or maxIntervalMs after the first edit since the last one, whichever comes first; and on unload
 * when edits are waiting for one. `take` must not throw.
 */
export interface AutoVersions {
  readonly quietMs: number
  readonly maxIntervalMs: number
  take(room: Room): Promise<void>
}

export type RoomState = 'active' | 'closing' | 'closed'

export type UpdateOutcome = 'applied' | 'refused' | 'malformed'

/**
 * A large update decoded when it arrived and applied a turn later (see ws/dispatch.ts). Decoding depends
 * on the update alone; the sender's write access is the one it had when the update arrived, so a token
 * refresh handled in between applies only to what it sends after.
 */
export interface StagedUpdate {
  decoded: DecodedUpdate | null
  canWrite: boolean
  /** How to apply it in slices, one per turn, when it is large enough (see sliced-apply.ts). */
  slices: SlicePlan | null
}

/** Why a room refused a client's update without applying it (a metric label). */
export type RefusalReason = 'read_only' | 'document_too_large' | 'pending_overflow' | 'conflicting_content' | 'foreign_client'

/** Re-measure the document's real size at most this often while it is near the limit (ms). */
const SIZE_REMEASURE_MS = 1_000

export class Room {
  readonly #doc = new Y.Doc({ gc: true })
  readonly #presence = new Presence(PRESENCE_LIMITS)
  readonly #peers = new Set<Peer>()
  #state: RoomState = 'active'
  /** Resolves when every update applied so far is committed (commits happen in call order). */
  #lastWrite: Promise<void> = Promise.resolve()
  #rowsStored: number
  /**
   * After a compaction that kept the rows or failed, the next one waits until this many rows are stored
   * (another compactAfterRows on top): retrying at once would replay the same rows to the same end.
   */
  #compactRetryAtRows = 0
  #compacting: Promise<void> | null = null
  /** monotonicNow() of the last append, and the wait for the room to go quiet (see #considerCompaction). */
  #lastAppendAt = 0
  #compactWait: QuietWait | null = null
  /** Armed by the first edit since the last automatic version (see #considerVersion). */
  #versionWait: QuietWait | null = null
  #takingVersion: Promise<void> | null = null
  /** Full-state encoding shared by joiners until the next change, so a join wave encodes the doc once. */
  #fullState: Uint8Array | null = null
  /** The last transaction that changed the doc, set by #afterTransaction (see #apply). */
  #lastChange: Y.Transaction | null = null
  readonly #channel: RoomChannel
  /** Presence owners standing for other instances' connections, by origin and user. */
  readonly #remoteOwners = new Map<string, RemoteOwner>()
  /** A store reload in progress (see #resync), and whether another was asked for meanwhile. */
  #resyncing: Promise<void> | null = null
  #resyncAgain = false
  /** Connections per user id, for per-user (not per-socket) enter/leave events. */
  readonly #users = new Map<string, { name: string | null; connections: number }>()
  /** State vector of a deleted earlier incarnation: content it covers must not come back. */
  /** Clock per client up to which content belonged to a deleted incarnation of this room. */
  readonly #tombstone: Map<number, number> | null
  /**
   * Upper bound of the encoded document's size: the last measured size plus every byte accepted since.
   * Measuring means encoding the whole document, so it happens only near the limit (see #wouldExceedLimit).
   */
  #sizeEstimate: number
  #sizeMeasured = 0
  #sizeMeasuredAt = -Infinity
  /**
   * Which user (JWT sub) first wrote under each Yjs clientID. Nobody else may add content under it: a
   * writer using another user's clientID with a far-future clock would make Yjs drop that user's edits.
   */
  readonly #clientOwners: Map<number, string>
  /** Users removed from the room (REST kick) → when, ms since the epoch: seeded from the store at load. */
  readonly #removals = new Map<string, number>()
  /** Peers already asked to resync because their content was left waiting; the next time they are closed. */
  readonly #askedToResync = new WeakSet<Peer>()
  /** Highest seq of this room's own updates known committed, and the highest told to the others. */
  #committedSeq = 0
  #announcedSeq = 0
  /** Armed by a commit no later update has carried the confirmation of yet (see #scheduleConfirmation). */
  #confirmWait: QuietWait | null = null
  /** Updates other instances relayed and have not yet confirmed as committed, by origin, in seq order. */
  readonly #unconfirmed = new Map<string, Unconfirmed[]>()
  #unconfirmedTimer: NodeJS.Timeout | null = null
  /** Settles (never rejects) once every update this room stored on another instance's behalf is committed. */
  #storedForOthers: Promise<void> = Promise.resolve()
  /** Reads of the committed state waiting for relayed updates to leave #unconfirmed (see committedState). */
  readonly #relayedWaiters: { upTo: ReadonlyMap<string, number>; resolve: () => void }[] = []
  /**
   * Non-null while a large relayed update waits for its turn (see STAGED_UPDATE_BYTES): what the
   * replication delivered after it, handled in order once it is applied.
   */
  #behindStagedReplica: (() => void)[] | null = null
  /** The large update being applied in slices, one per turn (see #applyInSlices). */
  #slicing: { peer: Peer; done: Promise<void> } | null = null

  private constructor(
    readonly id: string,
    private readonly deps: RoomDeps,
    storedRows: number,
    storedBytes: number,
    tombstone: Uint8Array | null,
    clientOwners: ReadonlyMap<number, string>,
    channel: RoomChannel,
  ) {
    this.#clientOwners = new Map(clientOwners)
    this.#rowsStored = storedRows
    this.#sizeEstimate = storedBytes
    this.#tombstone = tombstone === null ? null : Y.decodeStateVector(tombstone)
    this.#doc.on('afterTransaction', (tr: Y.Transaction) => this.#afterTransaction(tr))
    this.#channel = channel
  }

  /**
   * Loads the room's stored log into a fresh doc. Subscribe, then load, then catch up: the room joins the
   * replication before it reads the store, holds back what other instances publish meanwhile, and applies
   * it after the stored log (Yjs updates are idempotent, so what both contain is harmless).
   */
  static async load(id: string, deps: RoomDeps): Promise<Room> {
    let room: Room | null = null
    const held: Envelope[] = []
    const heldSignals: ReplicationSignal[] = []
    let overflowed = false
    const channel = await deps.replication.join(id, {
      message(envelope) {
        if (room) room.#onReplicated(envelope)
        else if (held.length < MAX_BUFFERED_WHILE_LOADING) held.push(envelope)
        else overflowed = true
      },
      signal(signal) {
        if (room) room.#onSignal(signal)
        else heldSignals.push(signal)
      },
    })
    let stored: Awaited<ReturnType<DocumentLog['loadUpdates']>>
    try {
      stored = await deps.store.loadUpdates(id)
    } catch (err) {
      channel.leave()
      throw err
    }
    room = new Room(id, deps, stored.rowCount, stored.byteSize, stored.tombstone, stored.clientOwners, channel)
    room.#doc.transact((tr) => {
      for (const update of stored.updates) {
        try {
          Y.applyUpdate(room.#doc, update, FROM_STORE)
        } catch (err) {
          // Only validated updates are ever stored; a row that fails here means disk corruption.
          deps.log.error({ err, roomId: id }, 'skipping a stored update that does not decode')
        }
      }
      integrateUnblockedPending(tr)
    }, FROM_STORE)
    room.#lastChange = null
    for (const envelope of held) room.#onReplicated(envelope)
    for (const signal of heldSignals) room.#onSignal(signal)
    if (overflowed) room.#resync()
    // Other instances holding the room answer with their clients' presence (and content we lack).
    channel.publish({ type: 'sync-request', stateVector: Y.encodeStateVector(room.#doc) })
    if (stored.rowCount >= deps.compactAfterRows) room.#compactInBackground()
    return room
  }

  get state(): RoomState {
    return this.#state
  }

  get peerCount(): number {
    return this.#peers.size
  }

  get presenceCount(): number {
    return this.#presence.size
  }

  /** Bytes of content waiting for updates the room never received (a metric). */
  get pendingBytes(): number {
    return this.#state === 'active' ? pendingBytes(this.#doc) : 0
  }

  /** Active users: one entry per user id across its connections. */
  users(): { userId: string; name: string | null; connections: number }[] {
    return [...this.#users].map(([userId, u]) => ({ userId, name: u.name, connections: u.connections }))
  }

  /** Adds a peer and starts its handshake: our state vector, then everyone's presence. */
  join(peer: Peer): void {
    if (this.#state !== 'active') throw new Error(`room ${this.id} is ${this.#state}`)
    this.#peers.add(peer)
    peer.send({ type: 'sync-step-1', stateVector: Y.encodeStateVector(this.#doc) })
    const states = this.#presence.snapshot()
    if (states.length > 0) peer.send({ type: 'awareness', update: encodeAwarenessUpdate(states) })
    this.deps.events.emit({ type: 'peer.joined', roomId: this.id, peerId: peer.id, userId: peer.userId })
    const user = this.#users.get(peer.userId)
    if (user) {
      user.connections += 1
    } else {
      this.#users.set(peer.userId, { name: peer.userName, connections: 1 })
    }
    this.deps.users.set(this.id, peer.userId, user?.name ?? peer.userName, user?.connections ?? 1)
  }

  /** Removes a peer and the presence it introduced. Idempotent. */
  leave(peer: Peer): void {
    if (!this.#peers.delete(peer)) return
    const removals = this.#presence.removeOwner(peer)
    if (removals.length > 0) {
      const update = encodeAwarenessUpdate(removals)
      this.deps.broadcast(this.id, { type: 'awareness', update })
      this.#channel.publish({ type: 'awareness', update, userId: peer.userId })
    }
    this.deps.events.emit({ type: 'peer.left', roomId: this.id, peerId: peer.id, userId: peer.userId })
    const user = this.#users.get(peer.userId)
    if (user) {
      if (--user.connections === 0) this.#users.delete(peer.userId)
      this.deps.users.set(this.id, peer.userId, user.name, user.connections)
    }
    if (this.#peers.size === 0) {
      this.#fullState = null // nobody left to join from it; a loaded, empty room keeps only its doc
      this.deps.onEmpty(this)
    }
  }

  /** Answers a client's sync step 1 with the diff it lacks. */
  answerSyncStep1(peer: Peer, stateVector: Uint8Array): void {
    let update: Uint8Array
    try {
      update = this.#knowsNoneOf(stateVector) ? this.#encodeFullState() : Y.encodeStateAsUpdate(this.#doc, stateVector)
    } catch {
      peer.close(CLOSE_CODE.invalid_payload, 'malformed state vector')
      return
    }
    peer.send({ type: 'sync-step-2', update })
  }

  /**
   * Applies a client's sync step 2 or update. Validates the whole update before touching the doc, so a
   * malformed or refused one changes nothing; acknowledges it as saved once the commit covering it is done.
   * Acknowledgements and refusals leave in the order the updates arrived (both wait for the same commit
   * chain), so a client that counts them in order never takes a refusal for an earlier update's ack.
   */
  applyClientUpdate(peer: Peer, received: Uint8Array, staged?: StagedUpdate): UpdateOutcome {
    const startedAt = performance.now()
    let update = received
    // Every check below reads the doc, and runs in the same macrotask as the apply.
    let decoded = staged === undefined ? decodeWellFormedUpdate(update) : staged.decoded
    if (decoded === null) {
      peer.close(CLOSE_CODE.invalid_payload, 'malformed Yjs update')
      return 'malformed'
    }
    let { structs } = decoded
    if (this.#holdsDeletedContent(structs)) {
      // A client still holding the deleted room's content: applying its new edits would leave them
      // pending on content that no longer exists. Tell it the room it knew is gone.
      peer.close(CLOSE_CODE.room_not_found, 'room was deleted; discard this copy')
      return 'refused'
    }
    if (!(staged?.canWrite ?? peer.canWrite)) {
      // Read-only peers still send sync step 2 during the handshake; refuse only what is new.
      if (Y.snapshotContainsUpdate(Y.snapshot(this.#doc), update)) {
        // The content may be applied but not yet committed: acknowledge it only once it is durable.
        this.#afterCommits(() => peer.acknowledgeSaved(update))
        return 'applied'
      }
      this.#refuse(peer, 'read_only')
      return 'refused'
    }
    if (conflictsWithDoc(structs, this.#doc)) {
      // The doc keeps what it holds for an id; acknowledging this would promise content that was dropped.
      this.deps.metrics.updateRefused('conflicting_content')
      peer.close(CLOSE_CODE.policy, 'update repeats stored ids with different content')
      return 'refused'
    }
    const foreign = this.#foreignClients(peer, decoded)
    if (foreign.length > 0) {
      this.deps.metrics.updateRefused('foreign_client')
      if (!foreign.every((client) => extendsContiguously(structs, client, this.#doc))) {
        // Jumping ahead of another user's clock is how their later edits would be made to vanish.
        peer.close(CLOSE_CODE.policy, 'update under a Yjs clientID that belongs to another user')
        return 'refused'
      }
      // Another user's edits that this client holds and the server lacks: relayed before a commit that
      // was lost (a crash, an outage), or brought from elsewhere (IndexedDB, another provider). Only their
      // author may store them, so they are left out; the rest is this client's to save.
      const stripped = withoutClients(update, foreign)
      decoded = decodeWellFormedUpdate(stripped)
      if (decoded === null) {
        peer.close(CLOSE_CODE.invalid_payload, 'malformed Yjs update')
        return 'malformed'
      }
      update = stripped
      structs = decoded.structs
    }
    const claims = this.#unclaimedClients(structs)
    if (this.#wouldExceedLimit(update, structs)) {
      this.deps.metrics.updateRefused('document_too_large')
      peer.close(CLOSE_CODE.document_too_large, `the document would exceed ${this.deps.maxDocBytes} bytes`)
      return 'refused'
    }
    if (this.#pendingWouldOverflow(update, decoded)) {
      this.#refuse(peer, 'pending_overflow')
      this.#askToResync(peer)
      return 'refused'
    }
    const pendingBefore = pendingBytes(this.#doc)
    if (claims.length > 0) this.#bindClients(claims, peer.userId)
    const plan = staged?.slices ?? null
    if (plan !== null && this.#slicing === null && update === received && allNew(structs, this.#doc) && !wouldPend(decoded, this.#doc)) {
      // All new and integrating completely: the slices can go in one per turn (see sliced-apply.ts).
      this.#applyInSlices(peer, received, plan, startedAt)
      return 'applied'
    }
    try {
      this.#apply(update, structs, peer)
    } catch (err) {
      this.deps.log.warn({ err, roomId: this.id, peerId: peer.id }, 'update failed to apply')
      peer.close(CLOSE_CODE.invalid_payload, 'update failed to apply')
      return 'malformed'
    }
    const { metrics } = this.deps
    metrics.updateApplied((performance.now() - startedAt) / 1000)
    // Covers this update (if it changed anything) and every earlier one, in commit order.
    this.#afterCommits(() => {
      peer.acknowledgeSaved(received)
      metrics.savedAcknowledged((performance.now() - startedAt) / 1000)
    })
    const pendingAfter = pendingBytes(this.#doc)
    // Stored and acknowledged (pending content survives restarts), but the sender may hold what it waits for.
    if (pendingAfter > pendingBefore && pendingAfter > this.deps.maxPendingBytes) this.#askToResync(peer)
    return 'applied'
  }

  /** Settles once the update `peer` sent that is being applied in slices is all in the doc; null when there is none. */
  slicingFor(peer: Peer): Promise<void> | null {
    return this.#slicing?.peer === peer ? this.#slicing.done : null
  }

  /**
   * Applies a checked update slice by slice, one per event-loop turn, and acknowledges it once the last
   * is committed. Until then the sender's later messages wait (ws/dispatch.ts), and a second large update
   * in this room is applied in one piece. Others' updates go in between, which Yjs integrates in any
   * order; only someone writing under this update's clientIDs meanwhile (the same user, elsewhere: the
   * clientIDs are bound to it) could make a slice not fit, and then the sender is closed unacknowledged.
   */
  #applyInSlices(peer: Peer, received: Uint8Array, plan: SlicePlan, startedAt: number): void {
    let finish = (): void => {}
    const done = new Promise<void>((resolve) => (finish = resolve))
    const slicing = { peer, done }
    this.#slicing = slicing
    const end = (): void => {
      if (this.#slicing === slicing) this.#slicing = null
      finish()
    }
    const step = (index: number): void => {
      if (this.#state !== 'active') return end()
      for (const [client, clock] of sliceStarts(plan, index)) {
        if (Y.getState(this.#doc.store, client) === clock) continue
        peer.close(CLOSE_CODE.policy, "another connection wrote under this update's clientIDs while it was applied")
        return end()
      }
      try {
        // All new by construction: #applyAndPublish needs no structs to tell what changed.
        withoutMerging(() => this.#apply(encodeSlice(plan, index), [], peer))
      } catch (err) {
        this.deps.log.warn({ err, roomId: this.id, peerId: peer.id }, 'update failed to apply')
        peer.close(CLOSE_CODE.invalid_payload, 'update failed to apply')
        return end()
      }
      if (index + 1 < plan.slices.length) return afterNextPoll(() => step(index + 1))
      const { metrics } = this.deps
      metrics.updateApplied((performance.now() - startedAt) / 1000)
      this.#afterCommits(() => {
        peer.acknowledgeSaved(received)
        metrics.savedAcknowledged((performance.now() - startedAt) / 1000)
      })
      end()
    }
    step(0)
  }

  /** Applies a server-side update (REST) as if a peer had sent it; resolves after its commit. */
  async applyServerUpdate(update: Uint8Array): Promise<void> {
    if (this.#state !== 'active') throw new AppError('room_not_found', 'the room was deleted or unloaded')
    const decoded = decodeWellFormedUpdate(update)
    if (decoded === null) throw new AppError('bad_request', 'the body is not a valid Yjs update')
    if (update.byteLength >= STAGED_UPDATE_BYTES) {
      await nextPoll() // the checks below read the doc, so they run with the apply
      if (this.#state !== 'active') throw new AppError('room_not_found', 'the room was deleted or unloaded')
    }
    const { structs } = decoded
    if (this.#holdsDeletedContent(structs)) throw new AppError('bad_request', 'the update holds content of a deleted incarnation of this room')
    if (conflictsWithDoc(structs, this.#doc)) throw new AppError('bad_request', 'the update repeats stored ids with different content')
    if (this.#wouldExceedLimit(update, structs)) {
      this.deps.metrics.updateRefused('document_too_large')
      throw new AppError('document_too_large', `the document would exceed TANDEM_MAX_DOC_BYTES (${this.deps.maxDocBytes} bytes)`)
    }
    if (this.#pendingWouldOverflow(update, decoded)) {
      this.deps.metrics.updateRefused('pending_overflow')
      throw new AppError('bad_request', 'the update depends on content the room does not have, and too much such content is waiting already')
    }
    this.#apply(update, structs, FROM_SERVER)
    await this.#lastWrite
  }

  /** Relays a presence update from `peer` to everyone, sender included. */
  applyAwareness(peer: Peer, entries: readonly AwarenessEntry[], raw: Uint8Array): void {
    const result = this.#presence.apply(peer, entries)
    if (!result.ok) {
      peer.close(CLOSE_CODE.invalid_payload, 'awareness state is not JSON')
      return
    }
    if (result.corrections.length > 0) peer.send({ type: 'awareness', update: encodeAwarenessUpdate(result.corrections) })
    if (result.accepted.length === 0) return
    const update = result.all ? raw : encodeAwarenessUpdate(result.accepted)
    this.deps.broadcast(this.id, { type: 'awareness', update })
    this.#channel.publish({ type: 'awareness', update, userId: peer.userId })
  }

  /** Remembers that `userId` was removed from the room at `atMs`; the registry admits it again only with a newer token. */
  rememberRemoval(userId: string, atMs: number): void {
    this.#removals.set(userId, Math.max(this.#removals.get(userId) ?? atMs, atMs))
  }

  /** When `userId` was last removed from the room (ms since the epoch), or null. */
  removedAt(userId: string): number | null {
    return this.#removals.get(userId) ?? null
  }

  /** Closes every connection of `userId` in this room (on this instance; the registry tells the others). */
  kickUser(userId: string, code: number, reason: string): number {
    let closed = 0
    for (const peer of [...this.#peers]) {
      if (peer.userId !== userId) continue
      peer.close(code, reason)
      closed += 1
    }
    return closed
  }

  /** Publishes to the other instances holding this room (a REST broadcast, a kick). */
  publishToOthers(message: Parameters<RoomChannel['publish']>[0]): void {
    this.#channel.publish(message)
  }

  /**
   * An empty awareness update to every peer: y-websocket and Hocuspocus clients reconnect after 30 s
   * without a message (pings do not count). The registry calls this for all rooms on one timer.
   */
  keepalive(): void {
    if (this.#peers.size > 0) this.deps.broadcast(this.id, { type: 'awareness', update: EMPTY_AWARENESS })
  }

  /** Sends every live presence state to one peer (answer to query-awareness). */
  sendPresence(peer: Peer): void {
    const states = this.#presence.snapshot()
    if (states.length > 0) peer.send({ type: 'awareness', update: encodeAwarenessUpdate(states) })
  }

  /** The whole document as one update (REST reads, tests). */
  encodeState(): Uint8Array {
    return this.#encodeFullState()
  }

  get doc(): Y.Doc {
    return this.#doc
  }

  /**
   * The document as it is now, returned once all of it is committed: this room's own commits under way,
   * and what other instances relayed before committing it (until their confirmation comes, or this room
   * stored it itself). Edits applied meanwhile are not in it. Rejects with `unavailable` when a commit of
   * this room fails.
   */
  async committedState(): Promise<Uint8Array> {
    const state = this.#encodeFullState()
    const upTo = new Map<string, number>()
    for (const [origin, held] of this.#unconfirmed) upTo.set(origin, (held[held.length - 1] as Unconfirmed).seq)
    try {
      await this.#lastWrite
    } catch (err) {
      throw new AppError('unavailable', 'storage unavailable; the room could not commit its edits', { cause: err })
    }
    if (!this.#relayedSettled(upTo)) await new Promise<void>((resolve) => this.#relayedWaiters.push({ upTo, resolve }))
    await this.#storedForOthers
    return state
  }

  /** True when no update relayed by an origin up to its seq in `upTo` is still waiting for confirmation. */
  #relayedSettled(upTo: ReadonlyMap<string, number>): boolean {
    for (const [origin, seq] of upTo) {
      const first = this.#unconfirmed.get(origin)?.[0]
      if (first !== undefined && first.seq <= seq) return false
    }
    return true
  }

  /** Called whenever updates leave #unconfirmed (confirmed, or handed to #storeForOthers). */
  #wakeRelayedWaiters(): void {
    for (let i = this.#relayedWaiters.length - 1; i >= 0; i--) {
      const waiter = this.#relayedWaiters[i] as { upTo: ReadonlyMap<string, number>; resolve: () => void }
      if (!this.#relayedSettled(waiter.upTo)) continue
      this.#relayedWaiters.splice(i, 1)
      waiter.resolve()
    }
  }

  /** Applies what the store holds and the room lacks (what other instances committed); resolves when done. */
  async catchUpWithStore(): Promise<void> {
    this.#resync()
    while (this.#resyncing !== null) await this.#resyncing
  }

  /** Resolves when everything applied so far is committed. */
  flush(): Promise<void> {
    return this.#lastWrite
  }

  /** Disconnects every peer with `code` (they may still be mid-handshake). */
  closePeers(code: number, reason: string): void {
    for (const peer of [...this.#peers]) peer.close(code, reason)
  }

  /** Flushes, compacts and releases the doc. The registry calls this once, with no peers left. */
  async close(): Promise<void> {
    if (this.#state !== 'active') return
    this.#state = 'closing'
    this.#clearCompactWait()
    const versionDue = this.#versionWait !== null
    this.#clearVersionWait()
    // What is published below (confirmations of commits still under way) still goes out; nothing comes in.
    this.#channel.leave()
    // Nobody here will hear the confirmations still to come: store what is unconfirmed ourselves.
    if (this.#unconfirmedTimer !== null) clearTimeout(this.#unconfirmedTimer)
    this.#unconfirmedTimer = null
    this.#storeAllUnconfirmed(null, 'the room unloaded before the commit was confirmed')
    try {
      await this.#lastWrite.finally(() => {
        this.#clearConfirmWait()
        this.#announceCommitted()
      })
      await this.#storedForOthers
      await this.#takingVersion
      // Edits since the last automatic version would otherwise get none: rooms often unload before going quiet.
      if (versionDue && this.deps.autoVersions) await this.deps.autoVersions.take(this)
      await this.#compacting
      if (this.#rowsStored > 1) {
        const result = await this.deps.store.compact(this.id)
        if (result.outcome === 'kept') this.#compactionKept(result.reason)
      }
    } finally {
      this.#doc.destroy()
      this.#state = 'closed'
    }
  }

  /**
   * Everything the room holds, with its clientID owners, for the registry to carry over when the room
   * breaks on a failed commit: its edits were relayed to peers before the commit, so other clients hold
   * them, and without the carry-over their resync would look like content under someone else's clientID.
   */
  unsavedState(): UnsavedState {
    return { update: Y.encodeStateAsUpdate(this.#doc), owners: new Map(this.#clientOwners) }
  }

  /**
   * Takes over what a broken incarnation of this room held and the store lacks: applied like a server
   * update (relayed to peers, stored, owners bound as they were), so the room again holds everything it
   * relayed. Content that conflicts with what was stored meanwhile is dropped, with a warning.
   */
  async adoptUnsaved(unsaved: UnsavedState): Promise<void> {
    if (this.#state !== 'active') return
    const missing = Y.diffUpdate(unsaved.update, Y.encodeStateVector(this.#doc))
    const decoded = decodeWellFormedUpdate(missing)
    if (decoded === null || conflictsWithDoc(decoded.structs, this.#doc)) {
      this.deps.log.warn({ roomId: this.id }, 'dropping unsaved content of a broken room: it no longer fits the stored document')
      return
    }
    if (Y.snapshotContainsUpdate(Y.snapshot(this.#doc), missing)) return
    const claims = [...clientsWithNewContent(decoded.structs, this.#doc)].filter((client) => !this.#clientOwners.has(client))
    const byOwner = new Map<string, number[]>()
    for (const client of claims) {
      const owner = unsaved.owners.get(client)
      if (owner !== undefined) byOwner.set(owner, [...(byOwner.get(owner) ?? []), client])
    }
    for (const [owner, clients] of byOwner) this.#bindClients(clients, owner)
    this.#apply(missing, decoded.structs, FROM_SERVER)
    this.deps.log.info({ roomId: this.id, bytes: missing.byteLength }, 'stored content a broken incarnation of the room had relayed')
    await this.#lastWrite
  }

  /** Releases the doc without flushing (the store failed). */
  abandon(): void {
    this.#clearCompactWait()
    this.#clearVersionWait()
    this.#clearConfirmWait()
    if (this.#unconfirmedTimer !== null) clearTimeout(this.#unconfirmedTimer)
    this.#unconfirmedTimer = null
    this.#storeAllUnconfirmed(null, 'the room was dropped before the commit was confirmed')
    this.#channel.leave()
    this.#doc.destroy()
    this.#state = 'closed'
  }

  /** Runs `fn` once every update applied so far is committed; never if a commit failed (the room is closing). */
  #afterCommits(fn: () => void): void {
    this.#lastWrite.then(fn, () => {})
  }

  #refuse(peer: Peer, reason: RefusalReason): void {
    this.deps.metrics.updateRefused(reason)
    this.#afterCommits(() => peer.refuseUpdate())
  }

  /**
   * Content left waiting for updates the server never received is kept (it is acknowledged like any
   * other), but bounded: the sender is asked once to resync (our state vector, so it sends what we lack,
   * which fills the gap if it has it), and closed with 4409 the next time it leaves content waiting.
   */
  #askToResync(peer: Peer): void {
    if (this.#askedToResync.has(peer)) {
      peer.close(CLOSE_CODE.pending_overflow, 'content waits for updates this client did not send')
      return
    }
    this.#askedToResync.add(peer)
    peer.send({ type: 'sync-step-1', stateVector: Y.encodeStateVector(this.#doc) })
  }

  /**
   * The clientIDs under which the update adds content and that nobody owns yet, or null when one of them
   * belongs to another user. Content the room already holds may come from anyone (a reconnecting client's
   * sync step 2 repeats everyone's edits); only new content is checked.
   */
  /** Clients under which the update adds content the doc lacks, bound to nobody yet (the sender claims them). */
  #unclaimedClients(structs: readonly DecodedStruct[]): number[] {
    return [...clientsWithNewContent(structs, this.#doc)].filter((client) => !this.#clientOwners.has(client))
  }

  /**
   * Clients bound to another user under which the update adds content the doc lacks. Content the doc
   * already holds as pending, with the same content, is not new: the room relays edits to peers before
   * they integrate, and their resync carries them back.
   */
  #foreignClients(peer: Peer, decoded: DecodedUpdate): number[] {
    const foreign: number[] = []
    for (const client of clientsWithNewContent(decoded.structs, this.#doc)) {
      const owner = this.#clientOwners.get(client)
      if (owner !== undefined && owner !== peer.userId && !heldAsPending(decoded.structs, client, this.#doc)) foreign.push(client)
    }
    return foreign
  }

  /** Remembers the owner now and durably: the store commits the binding no later than the append after it. */
  #bindClients(clients: readonly number[], owner: string): void {
    for (const client of clients) this.#clientOwners.set(client, owner)
    this.deps.store.bindClients(this.id, clients.map((client) => [client, owner] as const)).catch((err: unknown) => this.#fail(err))
  }

  #pendingWouldOverflow(update: Uint8Array, decoded: DecodedUpdate): boolean {
    if (pendingBytes(this.#doc) + update.byteLength <= this.deps.maxPendingBytes) return false
    return wouldPend(decoded, this.#doc)
  }

  /**
   * True when the update would grow the document past maxDocBytes. The estimate only grows (deletions
   * shrink the real size), so near the limit the real size is measured again, at most once a second or
   * after the estimate grew by 1/64 of the limit.
   */
  #wouldExceedLimit(update: Uint8Array, structs: readonly DecodedStruct[]): boolean {
    const max = this.deps.maxDocBytes
    // A repeat of content the doc holds (a reconnecting client's sync step 2) adds only its new part.
    const added = allNew(structs, this.#doc) ? update.byteLength : Y.diffUpdate(update, Y.encodeStateVector(this.#doc)).byteLength
    if (this.#sizeEstimate + added <= max) {
      this.#sizeEstimate += added
      return false
    }
    const stale = performance.now() - this.#sizeMeasuredAt > SIZE_REMEASURE_MS || this.#sizeEstimate - this.#sizeMeasured > max / 64
    if (stale) {
      this.#sizeMeasured = this.#encodeFullState().byteLength
      this.#sizeMeasuredAt = performance.now()
      this.#sizeEstimate = this.#sizeMeasured
    }
    if (this.#sizeEstimate + added > max) return true
    this.#sizeEstimate += added
    return false
  }

  #afterTransaction(tr: Y.Transaction): void {
    if (!changedDoc(tr)) return
    this.#fullState = null
    this.#lastChange = tr
  }

  /**
   * Applies an update and tells everyone what changed. An update made only of content the doc lacks (every
   * live edit) is relayed and stored as the sender's own bytes: asking Yjs to re-encode it would cost more
   * than applying it, and grows with the length of the typed run it extends. An update overlapping what the
   * doc holds (a reconnecting client's sync step 2 carries the whole document) is cut down to what was new,
   * as Yjs encodes it, so others and the log do not receive the document again.
   */
  #apply(update: Uint8Array, structs: readonly DecodedStruct[], origin: Peer | typeof FROM_SERVER | typeof FROM_BUS): void {
    this.#lastChange = null
    try {
      this.#applyAndPublish(update, structs, origin)
    } finally {
      this.#lastChange = null // a transaction holds maps of the doc's types: do not keep it past its use
    }
  }

  #applyAndPublish(update: Uint8Array, structs: readonly DecodedStruct[], origin: Peer | typeof FROM_SERVER | typeof FROM_BUS): void {
    const doc = this.#doc
    if (!allNew(structs, doc)) {
      let diff: Uint8Array | null = null
      const capture = (u: Uint8Array): void => {
        diff = u
      }
      doc.on('update', capture)
      try {
        applyUpdateIntegratingPending(doc, update, origin)
      } finally {
        doc.off('update', capture)
        // Yjs emits what it applied even when it throws half-way; everyone must still hear about that.
        if (diff !== null) this.#publish(diff, origin)
      }
      return
    }
    const pendingStructsBefore = doc.store.pendingStructs?.update ?? null
    const pendingDsBefore = doc.store.pendingDs
    try {
      applyUpdateIntegratingPending(doc, update, origin)
    } catch (err) {
      // Not reached for updates decodeWellFormedUpdate accepted; if it is, relay what did change.
      const applied = this.#lastChange as Y.Transaction | null // set by the listener during applyUpdate
      if (applied !== null) this.#publish(Y.encodeStateAsUpdate(doc, Y.encodeStateVector(applied.beforeState)), origin)
      throw err
    }
    // Content waiting for its dependencies changes nothing yet, but the others and the log need it too:
    // whoever sends the dependencies may be somewhere else.
    // (Yjs replaces these buffers whenever more content starts waiting.)
    const morePending = (doc.store.pendingStructs?.update ?? null) !== pendingStructsBefore || doc.store.pendingDs !== pendingDsBefore
    if ((this.#lastChange as Y.Transaction | null) !== null || morePending) this.#publish(update, origin)
  }

  #publish(update: Uint8Array, origin: Peer | typeof FROM_SERVER | typeof FROM_BUS): void {
    const except = origin !== FROM_SERVER && origin !== FROM_BUS && this.#peers.has(origin) ? origin : undefined
    // The sender gets its own update back only after the commit, as its saved acknowledgement.
    this.deps.broadcast(this.id, { type: 'update', update }, except)
    // Only this instance's edits are stored and published by it, once; what came from others is theirs.
    if (origin === FROM_BUS) return
    this.#persist(update, origin === FROM_SERVER ? null : origin.userId)
    // Once per cluster: the instance that commits an edit reports the change, the others stay quiet.
    this.deps.events.emit({ type: 'room.changed', roomId: this.id, at: Date.now() })
  }

  /**
   * Publishes the update to the other instances and commits it. Publishing does not wait for the commit,
   * so clients elsewhere see the edit as soon as this instance's own clients do; the author's saved
   * acknowledgement still waits for it. The others hold the update until this room confirms the commit
   * (on its next update, or shortly after it goes quiet), and store it themselves if no confirmation
   * comes (see #holdUnconfirmed): an update relayed before a commit that then failed, or before this
   * instance died, still reaches the store. Commits finish in call order, so confirming a seq confirms
   * every earlier one.
   */
  #persist(update: Uint8Array, userId: string | null): void {
    const startedAt = performance.now()
    this.#lastAppendAt = monotonicNow()
    const seq = ++lastPublishedSeq
    this.#channel.publish(
      this.#committedSeq > 0 ? { type: 'update', update, userId, seq, committedUpTo: this.#committedSeq } : { type: 'update', update, userId, seq },
    )
    this.#announcedSeq = this.#committedSeq
    const write = this.deps.store.appendUpdate(this.id, update)
    this.#lastWrite = write
    write.then(
      () => {
        this.#committedSeq = seq
        this.#scheduleConfirmation()
        this.deps.metrics.storageCommitted((performance.now() - startedAt) / 1000)
        this.#rowsStored += 1
        this.#considerCompaction()
        this.#considerVersion()
      },
      (err: unknown) => {
        this.#fail(err)
      },
    )
  }

  /**
   * Tells the others about commits no later update of this room carried a confirmation for, once this
   * room's edits have stopped: a busy room's next update carries it anyway, and an entry of its own per
   * commit would add a log entry (and a read on every other instance) for every few edits. Half the
   * holders' timeout at the latest, so a confirmation never arrives after they stored the update.
   */
  #scheduleConfirmation(): void {
    if (this.#confirmWait !== null) return
    this.#confirmWait = afterQuiet({
      quietMs: Math.min(CONFIRM_WHEN_QUIET_MS, this.deps.replicaConfirmTimeoutMs / 4),
      maxWaitMs: this.deps.replicaConfirmTimeoutMs / 2,
      lastActivityAt: () => this.#lastAppendAt,
      fire: () => {
        this.#confirmWait = null
        this.#announceCommitted()
      },
    })
  }

  #clearConfirmWait(): void {
    this.#confirmWait?.cancel()
    this.#confirmWait = null
  }

  #announceCommitted(): void {
    if (this.#committedSeq <= this.#announcedSeq) return
    this.#announcedSeq = this.#committedSeq
    this.#channel.publish({ type: 'committed', upTo: this.#committedSeq })
  }

  /**
   * Holds an update another instance relayed before its commit, until that instance confirms the commit.
   * If the confirmation does not come within replicaConfirmTimeoutMs, or the origin is declared dead,
   * this room stores the update itself (see #storeForOthers): our clients may already have built on it.
   */
  #holdUnconfirmed(origin: string, seq: number, update: Uint8Array): void {
    let held = this.#unconfirmed.get(origin)
    if (!held) {
      held = []
      this.#unconfirmed.set(origin, held)
    }
    held.push({ seq, update, at: monotonicNow() })
    this.#armUnconfirmedTimer()
  }

  #confirm(origin: string, upTo: number): void {
    const held = this.#unconfirmed.get(origin)
    if (!held) return
    let confirmed = 0
    while (confirmed < held.length && (held[confirmed] as Unconfirmed).seq <= upTo) confirmed += 1
    if (confirmed === held.length) this.#unconfirmed.delete(origin)
    else if (confirmed > 0) held.splice(0, confirmed)
    if (confirmed > 0) this.#wakeRelayedWaiters()
  }

  #armUnconfirmedTimer(): void {
    if (this.#unconfirmedTimer !== null || this.#unconfirmed.size === 0) return
    let oldest = Infinity
    for (const held of this.#unconfirmed.values()) oldest = Math.min(oldest, (held[0] as Unconfirmed).at)
    const due = Math.max(0, oldest + this.deps.replicaConfirmTimeoutMs - monotonicNow())
    this.#unconfirmedTimer = setTimeout(() => {
      this.#unconfirmedTimer = null
      this.#storeOverdue()
      this.#armUnconfirmedTimer()
    }, due)
    this.#unconfirmedTimer.unref()
  }

  #storeOverdue(): void {
    const cutoff = monotonicNow() - this.deps.replicaConfirmTimeoutMs
    for (const [origin, held] of this.#unconfirmed) {
      let overdue = 0
      while (overdue < held.length && (held[overdue] as Unconfirmed).at <= cutoff) overdue += 1
      if (overdue === 0) continue
      this.#storeForOthers(origin, held.splice(0, overdue), 'no commit confirmation in time')
      if (held.length === 0) this.#unconfirmed.delete(origin)
    }
  }

  /** Everything still unconfirmed from `origin` (every origin when null) is stored by this room now. */
  #storeAllUnconfirmed(origin: string | null, why: string): void {
    for (const [from, held] of [...this.#unconfirmed]) {
      if (origin !== null && from !== origin) continue
      this.#unconfirmed.delete(from)
      this.#storeForOthers(from, held, why)
    }
  }

  /**
   * Stores updates another instance relayed but may never have committed, with the clientID owners this
   * room learned for them. Harmless when the origin did commit them too: Yjs updates are idempotent and
   * compaction merges the duplicate rows. Not this room's edits, so no acknowledgement and no event.
   */
  #storeForOthers(origin: string, held: readonly Unconfirmed[], why: string): void {
    if (held.length === 0) return
    this.deps.log.warn({ roomId: this.id, origin, updates: held.length, why }, 'storing updates another instance relayed without confirming their commit')
    this.deps.metrics.replicaUpdatesStored(held.length)
    const writes: Promise<void>[] = []
    for (const { update } of held) {
      const decoded = decodeWellFormedUpdate(update)
      const byOwner = new Map<string, Set<number>>()
      for (const { id } of decoded?.structs ?? []) {
        const owner = this.#clientOwners.get(id.client)
        if (owner === undefined) continue
        const clients = byOwner.get(owner) ?? new Set<number>()
        clients.add(id.client)
        byOwner.set(owner, clients)
      }
      // Bound before the append (the store keeps the two in call order), first binding winning as always.
      for (const [owner, clients] of byOwner) {
        writes.push(this.deps.store.bindClients(this.id, [...clients].map((client) => [client, owner] as const)))
      }
      writes.push(this.deps.store.appendUpdate(this.id, update).then(() => void (this.#rowsStored += 1)))
    }
    const stored = Promise.all(writes).then(
      () => undefined,
      (err: unknown) => this.deps.log.error({ err, roomId: this.id, origin }, 'could not store updates relayed by another instance'),
    )
    this.#storedForOthers = this.#storedForOthers.then(() => stored)
    this.#wakeRelayedWaiters()
  }

  #fail(err: unknown): void {
    if (this.#state !== 'active') return
    this.deps.log.error({ err, roomId: this.id }, 'storage commit failed; disconnecting the room so clients resync')
    // Clients keep their unacknowledged edits and resend them when they reconnect: "try again later".
    this.closePeers(CLOSE_CODE.storage_unavailable, 'storage unavailable; retry later')
    this.deps.onBroken(this)
  }

  /**
   * Merging the log costs the writer thread time in proportion to its rows, and a busy server's rooms
   * cross the threshold together: compacting each the moment it did made the writer thread compete with
   * fan-out for the CPU exactly under load. So a room is compacted when it goes quiet, and a room that
   * never does is compacted at BUSY_ROOM_COMPACTION_FACTOR times the threshold (and on unload, always).
   */
  #considerCompaction(): void {
    if (this.#compacting !== null || this.#state !== 'active') return
    const threshold = this.deps.compactAfterRows
    if (this.#rowsStored < threshold || this.#rowsStored < this.#compactRetryAtRows) return
    if (this.#rowsStored >= threshold * BUSY_ROOM_COMPACTION_FACTOR) return this.#compactInBackground()
    this.#compactWait ??= afterQuiet({
      quietMs: this.deps.compactQuietMs,
      lastActivityAt: () => this.#lastAppendAt,
      fire: () => {
        this.#compactWait = null
        if (this.#compacting === null && this.#state === 'active') this.#compactInBackground()
      },
    })
  }

  /**
   * Arms the one wait for the next automatic version, after a committed edit of this instance's (edits
   * relayed from other instances are versioned where they were made). The version itself is encoded on
   * this thread when the wait fires: once per quiet period, never per update.
   */
  #considerVersion(): void {
    const auto = this.deps.autoVersions
    if (auto === null || this.#versionWait !== null || this.#state !== 'active') return
    this.#versionWait = afterQuiet({
      quietMs: auto.quietMs,
      maxWaitMs: auto.maxIntervalMs,
      lastActivityAt: () => this.#lastAppendAt,
      fire: () => {
        this.#versionWait = null
        if (this.#state !== 'active' || this.#takingVersion !== null) return
        this.#takingVersion = auto.take(this).finally(() => {
          this.#takingVersion = null
        })
      },
    })
  }

  #clearVersionWait(): void {
    this.#versionWait?.cancel()
    this.#versionWait = null
  }

  #clearCompactWait(): void {
    this.#compactWait?.cancel()
    this.#compactWait = null
  }

  #compactInBackground(): void {
    this.#clearCompactWait()
    this.#compacting = this.deps.store
      .compact(this.id)
      .then((result) => {
        // The rows read became rowsWritten; rows appended while compacting stay separate.
        if (result.outcome === 'compacted') this.#rowsStored += result.rowsWritten - result.rowsMerged
        if (result.outcome === 'kept') {
          this.#compactionKept(result.reason)
          this.#compactRetryAtRows = this.#rowsStored + this.deps.compactAfterRows
        }
      })
      .catch((err: unknown) => {
        this.#compactRetryAtRows = this.#rowsStored + this.deps.compactAfterRows
        this.deps.log.warn({ err, roomId: this.id }, 'compaction failed; will retry after more edits')
      })
      .finally(() => {
        this.#compacting = null
        this.#considerCompaction() // rows appended meanwhile may already call for the next one
      })
  }

  #compactionKept(reason: string | undefined): void {
    this.deps.metrics.compactionKept()
    this.deps.log.error({ roomId: this.id, reason }, 'compaction would have changed the document; kept the rows as they are')
  }

  #onReplicated(envelope: Envelope): void {
    if (this.#state !== 'active') return
    if (this.#behindStagedReplica !== null) {
      this.#behindStagedReplica.push(() => this.#onReplicated(envelope))
      return
    }
    const { origin, message } = envelope
    switch (message.type) {
      case 'update': {
        if (message.committedUpTo !== undefined) this.#confirm(origin, message.committedUpTo)
        const { update, userId, seq } = message
        const hold = (): void => {
          if (seq !== undefined) this.#holdUnconfirmed(origin, seq, update)
        }
        if (update.byteLength >= STAGED_UPDATE_BYTES) return this.#stageReplicatedUpdate(update, userId, hold)
        this.#applyReplicatedUpdate(update, userId)
        return hold()
      }
      case 'committed':
        return this.#confirm(origin, message.upTo)
      case 'awareness':
        return this.#applyRemoteAwareness(origin, message.userId, message.update)
      case 'sync-request':
        return this.#answerSyncRequest(origin, message.stateVector)
      case 'sync-reply':
        if (message.to !== this.deps.replication.instanceId) return
        if (message.update.byteLength >= STAGED_UPDATE_BYTES) return this.#stageReplicatedUpdate(message.update, null, () => {})
        return this.#applyReplicatedUpdate(message.update, null)
      case 'room-deleted':
        return this.deps.onDeletedElsewhere(this)
      case 'stateless':
        return this.deps.broadcast(this.id, { type: 'stateless', payload: message.payload })
      case 'kick':
        this.rememberRemoval(message.userId, message.at)
        this.kickUser(message.userId, message.code, message.reason)
        return
      default:
        return assertNever(message)
    }
  }

  #onSignal(signal: ReplicationSignal): void {
    if (this.#state !== 'active') return
    if (this.#behindStagedReplica !== null) {
      this.#behindStagedReplica.push(() => this.#onSignal(signal))
      return
    }
    switch (signal.type) {
      case 'resync':
        this.deps.log.info({ roomId: this.id, reason: signal.reason }, 'room may have missed updates from other instances; reloading the store')
        return this.#resync()
      case 'instance-down':
        this.#dropInstancePresence(signal.instanceId)
        // What it relayed but never confirmed may have died with it: store it. And it may have committed
        // edits whose publication was lost (queued while Redis was away): the store has those.
        this.#storeAllUnconfirmed(signal.instanceId, 'its instance stopped')
        return this.#resync()
      case 'reconnected':
        // Others may have dropped our clients' presence while we were away, and published what we missed
        // on the perishable channel: re-announce, and ask for content we lack.
        this.#announcePresence()
        this.#channel.publish({ type: 'sync-request', stateVector: Y.encodeStateVector(this.#doc) })
        return
      default:
        return assertNever(signal)
    }
  }

  /**
   * Decodes a large relayed update now and applies it on a later turn of the event loop, as a client's
   * (ws/dispatch.ts); the replication's later messages and signals for this room wait behind it.
   */
  #stageReplicatedUpdate(update: Uint8Array, userId: string | null, afterApply: () => void): void {
    const decoded = decodeWellFormedUpdate(update)
    const behind: (() => void)[] = []
    this.#behindStagedReplica = behind
    afterNextPoll(() => {
      this.#behindStagedReplica = null
      if (this.#state !== 'active') return
      this.#applyReplicatedUpdate(update, userId, decoded)
      afterApply()
      for (const next of behind) next() // in order; one of them may stage again, and the rest queue behind it
    })
  }

  /** Applies an update another instance relayed; its writer (when known) now owns the clientIDs it introduced. */
  #applyReplicatedUpdate(update: Uint8Array, userId: string | null, decoded = decodeWellFormedUpdate(update)): void {
    if (decoded === null) {
      this.deps.log.warn({ roomId: this.id }, 'ignoring a malformed replicated update')
      return
    }
    if (userId !== null) {
      for (const client of clientsWithNewContent(decoded.structs, this.#doc)) {
        if (!this.#clientOwners.has(client)) this.#clientOwners.set(client, userId)
      }
    }
    this.#sizeEstimate += update.byteLength
    try {
      this.#apply(update, decoded.structs, FROM_BUS)
    } catch (err) {
      this.deps.log.warn({ err, roomId: this.id }, 'ignoring a replicated update that does not apply')
    }
  }

  /**
   * Presence from a connection on another instance. That instance checked the connection's ownership; here
   * the entries belong to one owner per (instance, user), so neither side can set or remove the other's
   * states. A removal frees the client id: its connection is gone, and it may come back anywhere.
   */
  #applyRemoteAwareness(origin: string, userId: string, update: Uint8Array): void {
    const decoded = decodeAwarenessUpdate(update)
    if (!decoded.ok) return
    const key = `${origin}\n${userId}`
    let owner = this.#remoteOwners.get(key)
    if (!owner) {
      owner = { origin, userId }
      this.#remoteOwners.set(key, owner)
    }
    const result = this.#presence.apply(owner, decoded.value)
    if (result.ok && result.accepted.length > 0) {
      const removed = result.accepted.filter((e) => e.state === 'null').map((e) => e.clientId)
      if (removed.length > 0) this.#presence.disown(owner, removed)
      this.deps.broadcast(this.id, { type: 'awareness', update: result.all ? update : encodeAwarenessUpdate(result.accepted) })
    }
    if (!this.#presence.owns(owner)) this.#remoteOwners.delete(key)
  }

  #dropInstancePresence(instanceId: string): void {
    const removals: AwarenessEntry[] = []
    for (const [key, owner] of this.#remoteOwners) {
      if (owner.origin !== instanceId) continue
      removals.push(...this.#presence.removeOwner(owner, { bump: false }))
      this.#remoteOwners.delete(key)
    }
    if (removals.length > 0) this.deps.broadcast(this.id, { type: 'awareness', update: encodeAwarenessUpdate(removals) })
  }

  /** Publishes the presence of this instance's own connections (never what it relays for others). */
  #announcePresence(): void {
    for (const peer of this.#peers) {
      const entries = this.#presence.entriesOf(peer)
      if (entries.length > 0) this.#channel.publish({ type: 'awareness', update: encodeAwarenessUpdate(entries), userId: peer.userId })
    }
  }

  /**
   * Answers another instance that loaded the room or came back: our clients' presence, and the content it
   * lacks, once our own edits in it are committed (everything applied so far is, when #lastWrite resolves).
   * Content relayed from a third instance may still await its confirmation; we hold it until then (see
   * #holdUnconfirmed), so the asker need not.
   */
  #answerSyncRequest(origin: string, stateVector: Uint8Array): void {
    this.#announcePresence()
    let diff: Uint8Array
    try {
      diff = Y.encodeStateAsUpdate(this.#doc, stateVector)
    } catch {
      return // a malformed state vector from a foreign publisher
    }
    if (diff.byteLength <= 2) return // the empty update: nothing to send
    this.#lastWrite.then(
      () => {
        if (this.#state === 'active') this.#channel.publish({ type: 'sync-reply', to: origin, update: diff })
      },
      () => {},
    )
  }

  /**
   * Reloads the stored log and applies what the doc lacks, telling this instance's peers. One reload at a
   * time per room; requests that arrive during one cause one more afterwards.
   */
  #resync(): void {
    if (this.#resyncing) {
      this.#resyncAgain = true
      return
    }
    this.#resyncing = (async () => {
      do {
        this.#resyncAgain = false
        const stored = await this.deps.store.loadUpdates(this.id)
        if (this.#state !== 'active') return
        for (const [client, user] of stored.clientOwners) if (!this.#clientOwners.has(client)) this.#clientOwners.set(client, user)
        let diff: Uint8Array | null = null
        const capture = (u: Uint8Array): void => {
          diff = u
        }
        this.#doc.on('update', capture)
        try {
          this.#doc.transact((tr) => {
            for (const row of stored.updates) {
              try {
                Y.applyUpdate(this.#doc, row, FROM_BUS)
              } catch (err) {
                this.deps.log.error({ err, roomId: this.id }, 'skipping a stored update that does not decode')
              }
            }
            integrateUnblockedPending(tr)
          }, FROM_BUS)
        } finally {
          this.#doc.off('update', capture)
          this.#lastChange = null
        }
        if (diff !== null) {
          this.#sizeEstimate += (diff as Uint8Array).byteLength
          this.deps.broadcast(this.id, { type: 'update', update: diff })
        }
      } while (this.#resyncAgain && this.#state === 'active')
    })()
      .catch((err: unknown) => this.deps.log.warn({ err, roomId: this.id }, 'reloading the store for a resync failed'))
      .finally(() => {
        this.#resyncing = null
      })
  }

  /** Drops content that belonged to a deleted incarnation of this room, so a stale client cannot revive it. */
  #holdsDeletedContent(structs: readonly DecodedStruct[]): boolean {
    const tombstone = this.#tombstone
    if (tombstone === null) return false
    return structs.some((struct) => struct.id.clock < (tombstone.get(struct.id.client) ?? 0))
  }

  /** True when none of the state vector's clients appear in the doc: the diff is the full state. */
  #knowsNoneOf(stateVector: Uint8Array): boolean {
    const remote = Y.decodeStateVector(stateVector)
    const local = this.#doc.store.clients
    for (const client of remote.keys()) if (local.has(client)) return false
    return true
  }

  #encodeFullState(): Uint8Array {
    this.#fullState ??= Y.encodeStateAsUpdate(this.#doc)
    return this.#fullState
  }
}

/** What Yjs checks before emitting 'update': a deletion, or a client's clock moved. */
function changedDoc(tr: Y.Transaction): boolean {
  if (tr.deleteSet.clients.size > 0) return true
  for (const [client, clock] of tr.afterState) if (tr.beforeState.get(client) !== clock) return true
  return false
}
