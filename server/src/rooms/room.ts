/**
 * A room has a Y.Doc, a presence table and its peers; it never is a Y.Doc. It speaks protocol
 * Messages to Peers and leaves framing, sockets and SQL to the edges.
 */
import * as Y from 'yjs'
import { encodeAwarenessUpdate, type AwarenessEntry } from '@tandem/client/protocol'
import type { Logger } from 'pino'
import type { Store } from '../persistence/store.js'
import type { Bus } from '../fanout/bus.js'
import type { RoomEvents } from './events.js'
import type { Broadcast, Peer } from './peer.js'
import type { RoomMetrics } from '../metrics.js'
import { Presence } from './presence.js'
import { afterQuiet, type QuietWait } from '../quiet-wait.js'
import { AppError, CLOSE_CODE } from '../errors.js'

const FROM_STORE = Symbol('from-store')
const FROM_BUS = Symbol('from-bus')
const FROM_SERVER = Symbol('from-server')

/** ...or, however busy it is, once it has this many times compactAfterRows. */
const BUSY_ROOM_COMPACTION_FACTOR = 10
const EMPTY_AWARENESS = encodeAwarenessUpdate([])
/** Shared by every room: a per-room copy would cost each loaded room an object. */
const PRESENCE_LIMITS = { maxClientsPerOwner: 32, maxTombstones: 2_000 } as const

export interface RoomDeps {
  store: Store
  bus: Bus
  broadcast: Broadcast
  events: RoomEvents
  log: Logger
  metrics: RoomMetrics
  /** Compact once the room has this many rows and has been quiet for compactQuietMs... */
  compactAfterRows: number
  compactQuietMs: number
  /** Called when the last peer leaves (the registry schedules the unload). */
  onEmpty: (room: Room) => void
  /** Called when the room can no longer persist (the registry drops it without flushing). */
  onBroken: (room: Room) => void
}

export type RoomState = 'active' | 'closing' | 'closed'

export type UpdateOutcome = 'applied' | 'refused' | 'malformed'

export class Room {
  readonly #doc = new Y.Doc({ gc: true })
  readonly #presence = new Presence(PRESENCE_LIMITS)
  readonly #peers = new Set<Peer>()
  #state: RoomState = 'active'
  /** Resolves when every update applied so far is committed (commits happen in call order). */
  #lastWrite: Promise<void> = Promise.resolve()
  #rowsStored: number
  #compacting: Promise<void> | null = null
  /** Date.now() of the last append, and the wait for the room to go quiet (see #considerCompaction). */
  #lastAppendAt = 0
  #compactWait: QuietWait | null = null
  /** Full-state encoding shared by joiners until the next change, so a join wave encodes the doc once. */
  #fullState: Uint8Array | null = null
  /** The last transaction that changed the doc, set by #afterTransaction (see #apply). */
  #lastChange: Y.Transaction | null = null
  readonly #unsubscribeBus: () => void
  /** Connections per user id, for per-user (not per-socket) enter/leave events. */
  readonly #users = new Map<string, { name: string | null; connections: number }>()
  /** State vector of a deleted earlier incarnation: content it covers must not come back. */
  /** Clock per client up to which content belonged to a deleted incarnation of this room. */
  readonly #tombstone: Map<number, number> | null

  private constructor(
    readonly id: string,
    private readonly deps: RoomDeps,
    storedRows: number,
    tombstone: Uint8Array | null,
  ) {
    this.#rowsStored = storedRows
    this.#tombstone = tombstone === null ? null : Y.decodeStateVector(tombstone)
    this.#doc.on('afterTransaction', (tr: Y.Transaction) => this.#afterTransaction(tr))
    this.#unsubscribeBus = deps.bus.subscribe(id, (update) => this.#applyFromBus(update))
  }

  /** Loads the room's stored log into a fresh doc. */
  static async load(id: string, deps: RoomDeps): Promise<Room> {
    const stored = await deps.store.loadUpdates(id)
    const room = new Room(id, deps, stored.rowCount, stored.tombstone)
    room.#doc.transact(() => {
      for (const update of stored.updates) {
        try {
          Y.applyUpdate(room.#doc, update, FROM_STORE)
        } catch (err) {
          // Only validated updates are ever stored; a row that fails here means disk corruption.
          deps.log.error({ err, roomId: id }, 'skipping a stored update that does not decode')
        }
      }
    }, FROM_STORE)
    room.#lastChange = null
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
      const at = Date.now()
      this.deps.events.emit({ type: 'user.entered', roomId: this.id, userId: peer.userId, name: peer.userName, activeUsers: this.#users.size, at })
    }
  }

  /** Removes a peer and the presence it introduced. Idempotent. */
  leave(peer: Peer): void {
    if (!this.#peers.delete(peer)) return
    const removals = this.#presence.removeOwner(peer)
    if (removals.length > 0) this.deps.broadcast(this.id, { type: 'awareness', update: encodeAwarenessUpdate(removals) })
    this.deps.events.emit({ type: 'peer.left', roomId: this.id, peerId: peer.id, userId: peer.userId })
    const user = this.#users.get(peer.userId)
    if (user && --user.connections === 0) {
      this.#users.delete(peer.userId)
      this.deps.events.emit({ type: 'user.left', roomId: this.id, userId: peer.userId, activeUsers: this.#users.size, at: Date.now() })
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
      peer.close(CLOSE_CODE.bad_frame, 'malformed state vector')
      return
    }
    peer.send({ type: 'sync-step-2', update })
  }

  /**
   * Applies a client's sync step 2 or update. Validates the whole update before touching the doc, so a
   * malformed one changes nothing; acknowledges it as saved once the commit covering it is done.
   */
  applyClientUpdate(peer: Peer, update: Uint8Array): UpdateOutcome {
    const startedAt = performance.now()
    const structs = decodeWellFormedUpdate(update)
    if (structs === null) {
      peer.close(CLOSE_CODE.bad_frame, 'malformed Yjs update')
      return 'malformed'
    }
    if (this.#holdsDeletedContent(structs)) {
      // A client still holding the deleted room's content: applying its new edits would leave them
      // pending on content that no longer exists. Tell it the room it knew is gone.
      peer.close(CLOSE_CODE.room_not_found, 'room was deleted; discard this copy')
      return 'refused'
    }
    if (!peer.canWrite) {
      // Read-only peers still send sync step 2 during the handshake; refuse only what is new.
      if (Y.snapshotContainsUpdate(Y.snapshot(this.#doc), update)) {
        // The content may be applied but not yet committed: acknowledge it only once it is durable.
        this.#lastWrite.then(
          () => peer.acknowledgeSaved(update),
          () => {},
        )
        return 'applied'
      }
      peer.refuseUpdate()
      return 'refused'
    }
    try {
      this.#apply(update, structs, peer)
    } catch (err) {
      this.deps.log.warn({ err, roomId: this.id, peerId: peer.id }, 'update failed to apply')
      peer.close(CLOSE_CODE.bad_frame, 'update failed to apply')
      return 'malformed'
    }
    const { metrics } = this.deps
    metrics.updateApplied((performance.now() - startedAt) / 1000)
    // Covers this update (if it changed anything) and every earlier one, in commit order.
    this.#lastWrite.then(
      () => {
        peer.acknowledgeSaved(update)
        metrics.savedAcknowledged((performance.now() - startedAt) / 1000)
      },
      () => {}, // the room is broken; its peers are being closed
    )
    return 'applied'
  }

  /** Applies a server-side update (REST) as if a peer had sent it; resolves after its commit. */
  async applyServerUpdate(update: Uint8Array): Promise<void> {
    if (this.#state !== 'active') throw new AppError('room_not_found', 'the room was deleted or unloaded')
    const structs = decodeWellFormedUpdate(update)
    if (structs === null) throw new AppError('bad_request', 'the body is not a valid Yjs update')
    if (this.#holdsDeletedContent(structs)) throw new AppError('bad_request', 'the update holds content of a deleted incarnation of this room')
    this.#apply(update, structs, FROM_SERVER)
    await this.#lastWrite
  }

  /** Relays a presence update from `peer` to everyone, sender included. */
  applyAwareness(peer: Peer, entries: readonly AwarenessEntry[], raw: Uint8Array): void {
    const result = this.#presence.apply(peer, entries)
    if (!result.ok) {
      peer.close(CLOSE_CODE.bad_frame, 'awareness state is not JSON')
      return
    }
    if (result.corrections.length > 0) peer.send({ type: 'awareness', update: encodeAwarenessUpdate(result.corrections) })
    if (result.accepted.length === 0) return
    const update = result.all ? raw : encodeAwarenessUpdate(result.accepted)
    this.deps.broadcast(this.id, { type: 'awareness', update })
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
    this.#unsubscribeBus()
    try {
      await this.#lastWrite
      await this.#compacting
      if (this.#rowsStored > 1) await this.deps.store.compact(this.id)
    } finally {
      this.#doc.destroy()
      this.#state = 'closed'
    }
  }

  /** Releases the doc without flushing (the store failed). */
  abandon(): void {
    this.#clearCompactWait()
    this.#unsubscribeBus()
    this.#doc.destroy()
    this.#state = 'closed'
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
        Y.applyUpdate(doc, update, origin)
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
      Y.applyUpdate(doc, update, origin)
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
    if (origin !== FROM_BUS) {
      this.deps.bus.publish(this.id, update) // only this instance's edits leave it
      this.#persist(update) // and the instance whose client made an edit persists it, once
    }
    this.deps.events.emit({ type: 'room.changed', roomId: this.id, at: Date.now() })
  }

  #persist(update: Uint8Array): void {
    const startedAt = performance.now()
    this.#lastAppendAt = Date.now()
    const write = this.deps.store.appendUpdate(this.id, update)
    this.#lastWrite = write
    write.then(
      () => {
        this.deps.metrics.storageCommitted((performance.now() - startedAt) / 1000)
        this.#rowsStored += 1
        this.#considerCompaction()
      },
      (err: unknown) => {
        this.#fail(err)
      },
    )
  }

  #fail(err: unknown): void {
    if (this.#state !== 'active') return
    this.deps.log.error({ err, roomId: this.id }, 'storage commit failed; disconnecting the room so clients resync')
    // Clients keep their unacknowledged edits and resend them when they reconnect.
    this.closePeers(CLOSE_CODE.internal, 'storage failure')
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
    if (this.#rowsStored < threshold) return
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

  #clearCompactWait(): void {
    this.#compactWait?.cancel()
    this.#compactWait = null
  }

  #compactInBackground(): void {
    this.#clearCompactWait()
    this.#compacting = this.deps.store
      .compact(this.id)
      .then((result) => {
        // N rows became one; rows appended while compacting stay separate.
        if (result.rowsMerged > 0) this.#rowsStored -= result.rowsMerged - 1
      })
      .catch((err: unknown) => this.deps.log.warn({ err, roomId: this.id }, 'compaction failed; will retry later'))
      .finally(() => {
        this.#compacting = null
        this.#considerCompaction() // rows appended meanwhile may already call for the next one
      })
  }

  #applyFromBus(update: Uint8Array): void {
    if (this.#state !== 'active') return
    const structs = decodeWellFormedUpdate(update)
    if (structs === null) {
      this.deps.log.warn({ roomId: this.id }, 'ignoring a malformed bus update')
      return
    }
    try {
      this.#apply(update, structs, FROM_BUS)
    } catch (err) {
      this.deps.log.warn({ err, roomId: this.id }, 'ignoring a bus update that does not apply')
    }
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

/**
 * Parses the whole update (structs and delete set) without applying it, and rejects items that point
 * at their own client's later (or same) clock as origin, right origin or parent. Real clients never
 * produce those; Yjs throws half-way through integrating them, after emitting what it had applied.
 */
type DecodedStruct = ReturnType<typeof Y.decodeUpdate>['structs'][number]

/** The update's structs, or null when it is malformed (see above). */
function decodeWellFormedUpdate(update: Uint8Array): DecodedStruct[] | null {
  let structs: DecodedStruct[]
  try {
    structs = Y.decodeUpdate(update).structs
  } catch {
    return null
  }
  for (const struct of structs) {
    if (!(struct instanceof Y.Item)) continue
    const { id } = struct
    if (pointsForward(id, struct.origin) || pointsForward(id, struct.rightOrigin)) return null
    if (struct.parent instanceof Y.ID && pointsForward(id, struct.parent)) return null
  }
  return structs
}

/** True when every struct lies beyond what the doc holds for its client: nothing in it is a repeat. */
function allNew(structs: readonly DecodedStruct[], doc: Y.Doc): boolean {
  for (const struct of structs) if (struct.id.clock < Y.getState(doc.store, struct.id.client)) return false
  return true
}

/** What Yjs checks before emitting 'update': a deletion, or a client's clock moved. */
function changedDoc(tr: Y.Transaction): boolean {
  if (tr.deleteSet.clients.size > 0) return true
  for (const [client, clock] of tr.afterState) if (tr.beforeState.get(client) !== clock) return true
  return false
}

function pointsForward(id: Y.ID, ref: Y.ID | null): boolean {
  return ref !== null && ref.client === id.client && ref.clock >= id.clock
}
