/**
 * Owns every loaded room. Loading is single-flight; unloading happens a grace period after the last
 * peer leaves and flushes and compacts on the way out. A join that arrives mid-unload waits for the
 * flush and then loads fresh rather than reviving a half-closed room.
 */
import * as Y from 'yjs'
import { Room, type RoomDeps, type UnsavedState } from './room.js'
import type { Peer } from './peer.js'
import { AppError, CLOSE_CODE } from '../errors.js'
import type { DocumentLog } from '../persistence/document-log.js'
import type { RoomRecords } from '../persistence/room-records.js'
import { StoreUnavailableError } from '../persistence/unavailable.js'

/** Most bytes of unsaved content kept for rooms broken by failed commits, in all (see #keepUnsaved). */
const MAX_UNSAVED_BYTES = 64 * 1024 * 1024

export type RegistryDeps = Omit<RoomDeps, 'onEmpty' | 'onBroken' | 'onDeletedElsewhere' | 'store' | 'autoVersions'> & {
  /** Automatic versions; absent or null when they are off. */
  autoVersions?: RoomDeps['autoVersions']
  /** The rooms' logs, plus the records a join creates or requires and deleteRoom. */
  store: DocumentLog & Pick<RoomRecords, 'ensureRoom' | 'getRoom' | 'deleteRoom' | 'recordRemoval' | 'loadRemovals'>
  /**
   * How long a token may still be accepted after the moment it was last checked, in ms: the longest
   * token lifetime admitted plus twice the clock tolerance (TANDEM_JWT_MAX_LIFETIME_SEC,
   * TANDEM_JWT_CLOCK_TOLERANCE_SEC); 0 when lifetimes are unlimited. See admitsAfterRemoval.
   */
  maxTokenLifetimeMs: number
  idleUnloadMs: number
  /** How often every room with peers gets an empty awareness update (Room.keepalive). */
  keepaliveMs: number
  /** Joining a room that has no record creates it (y-websocket users expect this); else 4404. */
  autoCreate: boolean
}

export interface LoadOptions {
  /** Create the room's record when missing (emitting room.created) instead of failing with room_not_found. */
  create: boolean
}

export class RoomRegistry {
  readonly #live = new Map<string, Room>()
  /** What rooms broken by a failed commit held, until they load again (see #keepUnsaved); oldest first. */
  readonly #unsaved = new Map<string, UnsavedState>()
  /** Loads and unloads in progress, keyed by room id. */
  readonly #pending = new Map<string, Promise<Room | null>>()
  readonly #unloadTimers = new Map<string, NodeJS.Timeout>()
  readonly #roomDeps: RoomDeps
  /** One timer for every room's keepalive rather than one per room (each costs a loaded room memory). */
  readonly #keepalive: NodeJS.Timeout
  #closed = false

  constructor(private readonly deps: RegistryDeps) {
    this.#roomDeps = {
      ...deps,
      autoVersions: deps.autoVersions ?? null,
      onEmpty: (room) => this.#scheduleUnload(room),
      onBroken: (room) => this.#drop(room),
      onDeletedElsewhere: (room) => this.#forgetDeleted(room),
    }
    this.#keepalive = setInterval(() => {
      for (const room of this.#live.values()) if (room.state === 'active') room.keepalive()
    }, deps.keepaliveMs)
    this.#keepalive.unref()
  }

  /** Loaded rooms (active ones only). */
  get size(): number {
    return this.#live.size
  }

  /** Pending content over every loaded room (see Room.pendingBytes). */
  get pendingBytes(): number {
    let total = 0
    for (const room of this.#live.values()) total += room.pendingBytes
    return total
  }

  /** Pending unload timers; zero once every room has unloaded. */
  get timerCount(): number {
    return this.#unloadTimers.size
  }

  get(id: string): Room | undefined {
    const room = this.#live.get(id)
    return room?.state === 'active' ? room : undefined
  }

  /** Returns the loaded room, loading it once however many callers ask at the same time. */
  async getOrLoad(id: string, opts: LoadOptions): Promise<Room> {
    for (;;) {
      if (this.#closed) throw new AppError('unavailable', 'server is shutting down')
      const live = this.#live.get(id)
      if (live?.state === 'active') return live
      const pending = this.#pending.get(id)
      if (pending) {
        // Another caller's failure (e.g. not found without create) says nothing about this one: retry.
        const room = await pending.catch(() => null)
        if (room?.state === 'active') return room
        if (this.#pending.get(id) === pending) this.#pending.delete(id) // settled: never spin on it
        continue // it was an unload, a delete or a failed load; load fresh
      }
      const load = this.#load(id, opts)
      this.#pending.set(id, load)
      void load.finally(() => {
        if (this.#pending.get(id) === load) this.#pending.delete(id)
      }).catch(() => {})
      const room = await load
      if (room) return room
    }
  }

  /** Loads a room the way a join would (creating it when auto-create is on), without joining. */
  prepareJoin(id: string): Promise<Room> {
    return this.getOrLoad(id, { create: this.deps.autoCreate })
  }

  /**
   * Loads (if needed) and adds the peer; cancels a scheduled unload. Null if the peer left meanwhile.
   * `beforeJoin` runs synchronously right before the room sends the peer its snapshot, so the edge can
   * subscribe the peer to the room's broadcasts in the same step: nothing said in between is missed.
   */
  async join(id: string, peer: Peer, beforeJoin?: (room: Room) => void): Promise<Room | null> {
    for (;;) {
      const room = await this.getOrLoad(id, { create: this.deps.autoCreate })
      if (peer.closed) return null
      if (room.state !== 'active') continue
      this.assertAdmits(room, peer)
      this.#cancelUnload(id)
      beforeJoin?.(room)
      room.join(peer)
      return room
    }
  }

  /** Throws AppError `forbidden` when the peer's user was removed from the room after its token was issued. */
  assertAdmits(room: Room, peer: Pick<Peer, 'userId' | 'tokenIssuedAtMs'>): void {
    const removedAt = room.removedAt(peer.userId)
    if (removedAt !== null && !admitsAfterRemoval(removedAt, peer.tokenIssuedAtMs, Date.now(), this.deps.maxTokenLifetimeMs)) {
      throw new AppError('forbidden', 'removed from the room: connect with a token issued after the removal')
    }
  }

  /** Waits until every room's applied updates are committed. */
  async flushAll(): Promise<void> {
    await Promise.all([...this.#live.values()].map((room) => room.flush().catch(() => {})))
  }

  /** Unloads every room (flush + compact). Used by shutdown; peers must already be closed. */
  async closeAll(): Promise<void> {
    this.#closed = true
    clearInterval(this.#keepalive)
    for (const timer of this.#unloadTimers.values()) clearTimeout(timer)
    this.#unloadTimers.clear()
    await Promise.allSettled([...this.#pending.values()])
    await Promise.all([...this.#live.values()].map((room) => this.#unload(room)))
  }

  /**
   * Deletes a room: its peers are closed with 4404, its stored log and record removed, and its state
   * vector kept as a tombstone so a client holding old content cannot resurrect it. Joins that arrive
   * meanwhile wait and then find the room gone (or re-created empty). Returns false if nothing existed.
   */
  async delete(id: string): Promise<boolean> {
    for (;;) {
      const pending = this.#pending.get(id)
      if (!pending) break
      await pending.catch(() => null)
    }
    const op = this.#delete(id)
    const marker = op.then(
      () => null,
      () => null,
    )
    this.#pending.set(id, marker)
    try {
      return await op
    } finally {
      if (this.#pending.get(id) === marker) this.#pending.delete(id)
    }
  }

  async #delete(id: string): Promise<boolean> {
    this.#unsaved.delete(id)
    const live = this.#live.get(id)
    let tombstone: Uint8Array | null
    if (live?.state === 'active') {
      this.#live.delete(id)
      tombstone = Y.encodeStateVector(live.doc)
      live.closePeers(CLOSE_CODE.room_not_found, 'room deleted')
      this.#cancelUnload(id)
      live.abandon()
      this.deps.events.emit({ type: 'room.unloaded', roomId: id })
    } else {
      // Wider than the live path's state vector on purpose: it also covers stored pending content, which
      // must not come back either once the room is gone.
      const stored = await this.deps.store.loadUpdates(id)
      tombstone = stored.updates.length > 0 ? Y.encodeStateVectorFromUpdate(Y.mergeUpdates(stored.updates)) : null
    }
    const existed = await this.deps.store.deleteRoom(id, tombstone)
    if (existed) this.deps.events.emit({ type: 'room.deleted', roomId: id, at: Date.now() })
    // After the store forgot it, so an instance that reloads on hearing this finds it gone.
    if (existed || live !== undefined) this.deps.replication.publish(id, { type: 'room-deleted' })
    return existed || live !== undefined
  }

  /**
   * Closes every connection of `userId` in the room, on every instance, and keeps the user out until it
   * comes back with a token issued after now (see admitsAfterRemoval). The removal is stored first, so no
   * instance that loads the room later forgets it. Returns how many connections were closed here; the
   * others close theirs when the message reaches them.
   */
  async kick(id: string, userId: string, code: number, reason: string): Promise<number> {
    const at = Date.now()
    await this.deps.store.recordRemoval(id, userId, at)
    this.deps.replication.publish(id, { type: 'kick', userId, code, reason, at })
    const room = this.get(id)
    if (!room) return 0
    room.rememberRemoval(userId, at)
    return room.kickUser(userId, code, reason)
  }

  async #load(id: string, opts: LoadOptions): Promise<Room> {
    try {
      return await this.#loadOnce(id, opts)
    } catch (err) {
      // An unreachable store is an outage the client waits out (1013 / 503), not a broken room (1011).
      // Either way the room is not served: an empty document in its place would be taken for the truth.
      if (err instanceof StoreUnavailableError) throw new AppError('unavailable', 'storage unavailable; retry later', { cause: err })
      throw err
    }
  }

  async #loadOnce(id: string, opts: LoadOptions): Promise<Room> {
    if (opts.create) {
      const { created } = await this.deps.store.ensureRoom(id)
      if (created) this.deps.events.emit({ type: 'room.created', roomId: id, at: Date.now() })
    } else if ((await this.deps.store.getRoom(id)) === null) {
      throw new AppError('room_not_found', `room ${id} does not exist`)
    }
    const [room, removals] = await Promise.all([Room.load(id, this.#roomDeps), this.deps.store.loadRemovals(id)])
    for (const [userId, at] of removals) room.rememberRemoval(userId, at)
    const unsaved = this.#unsaved.get(id)
    if (unsaved !== undefined) {
      this.#unsaved.delete(id)
      try {
        await room.adoptUnsaved(unsaved)
      } catch (err) {
        // The store failed again: keep the carry-over for the next load, and fail this one.
        if (!this.#unsaved.has(id)) this.#unsaved.set(id, unsaved)
        if (room.state === 'active') room.abandon()
        this.deps.log.warn({ err, roomId: id }, 'storing the unsaved content of a broken room failed')
        throw new AppError('unavailable', 'storage unavailable; retry later')
      }
    }
    this.#live.set(id, room)
    this.deps.events.emit({ type: 'room.loaded', roomId: id })
    // A room loaded for a join that was abandoned (client left mid-load) must still unload.
    queueMicrotask(() => {
      if (room.peerCount === 0 && room.state === 'active') this.#scheduleUnload(room)
    })
    return room
  }

  #scheduleUnload(room: Room): void {
    if (this.#closed || room.state !== 'active') return
    this.#cancelUnload(room.id)
    const timer = setTimeout(() => {
      this.#unloadTimers.delete(room.id)
      if (room.peerCount > 0 || this.#live.get(room.id) !== room) return
      const unload = this.#unload(room).then(
        () => null,
        (err: unknown) => {
          this.deps.log.error({ err, roomId: room.id }, 'room unload failed')
          return null
        },
      )
      this.#pending.set(room.id, unload)
      void unload.finally(() => {
        if (this.#pending.get(room.id) === unload) this.#pending.delete(room.id)
      })
    }, this.deps.idleUnloadMs)
    timer.unref()
    this.#unloadTimers.set(room.id, timer)
  }

  #cancelUnload(id: string): void {
    const timer = this.#unloadTimers.get(id)
    if (timer === undefined) return
    clearTimeout(timer)
    this.#unloadTimers.delete(id)
  }

  /** Forgets what rooms broken by failed commits held, as a restart does (tests of the crash case). */
  forgetUnsaved(): void {
    this.#unsaved.clear()
  }

  /**
   * A room broken by a failed commit had relayed edits that may never have been stored; the next load
   * adopts them (Room.adoptUnsaved), so clients that received them can resync. Bounded: past
   * MAX_UNSAVED_BYTES in all, the oldest carry-overs are forgotten (their authors still resend them).
   */
  #keepUnsaved(room: Room): void {
    const unsaved = room.unsavedState()
    this.#unsaved.delete(room.id)
    this.#unsaved.set(room.id, unsaved)
    let total = 0
    for (const kept of this.#unsaved.values()) total += kept.update.byteLength
    for (const [id, kept] of this.#unsaved) {
      if (total <= MAX_UNSAVED_BYTES) break
      this.#unsaved.delete(id)
      total -= kept.update.byteLength
      this.deps.log.warn({ roomId: id }, 'forgetting the unsaved content of a broken room: too much is held')
    }
  }

  async #unload(room: Room): Promise<void> {
    try {
      await room.close()
    } finally {
      if (this.#live.get(room.id) === room) this.#live.delete(room.id)
      this.deps.events.emit({ type: 'room.unloaded', roomId: room.id })
    }
  }

  /** Another instance deleted the room: the store already forgot it, so nothing of it is kept here either. */
  #forgetDeleted(room: Room): void {
    this.#cancelUnload(room.id)
    if (this.#live.get(room.id) === room) this.#live.delete(room.id)
    this.#unsaved.delete(room.id)
    room.closePeers(CLOSE_CODE.room_not_found, 'room deleted')
    room.abandon()
    this.deps.events.emit({ type: 'room.unloaded', roomId: room.id })
  }

  #drop(room: Room): void {
    this.#cancelUnload(room.id)
    if (this.#live.get(room.id) === room) this.#live.delete(room.id)
    this.#keepUnsaved(room)
    room.abandon()
    this.deps.events.emit({ type: 'room.unloaded', roomId: room.id })
  }
}

/**
 * Whether a token admits a user removed from a room at `removedAtMs`: only a token issued after the
 * removal does. `iat` has whole seconds, so a token issued within the removal's second is admitted (an
 * app that mints a fresh token right after removing someone must not be refused). A token without
 * `iat` cannot tell when it was issued: it is refused until every token issued before the removal has
 * expired (`maxTokenLifetimeMs`), or for good when lifetimes are unlimited.
 */
export function admitsAfterRemoval(removedAtMs: number, issuedAtMs: number | null, nowMs: number, maxTokenLifetimeMs: number): boolean {
  if (issuedAtMs !== null) return issuedAtMs >= Math.floor(removedAtMs / 1000) * 1000
  return maxTokenLifetimeMs > 0 && nowMs > removedAtMs + maxTokenLifetimeMs
}
