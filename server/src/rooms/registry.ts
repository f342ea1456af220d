/**
 * Owns every loaded room. Loading is single-flight; unloading happens a grace period after the last
 * peer leaves and flushes and compacts on the way out. A join that arrives mid-unload waits for the
 * flush and then loads fresh rather than reviving a half-closed room.
 */
import type { Logger } from 'pino'
import { Room, type RoomDeps } from './room.js'
import type { Peer } from './peer.js'

export type RegistryDeps = Omit<RoomDeps, 'onEmpty' | 'onBroken'> & { idleUnloadMs: number }

export class RoomRegistry {
  readonly #live = new Map<string, Room>()
  /** Loads and unloads in progress, keyed by room id. */
  readonly #pending = new Map<string, Promise<Room | null>>()
  readonly #unloadTimers = new Map<string, NodeJS.Timeout>()
  readonly #roomDeps: RoomDeps
  #closed = false

  constructor(private readonly deps: RegistryDeps) {
    this.#roomDeps = {
      ...deps,
      onEmpty: (room) => this.#scheduleUnload(room),
      onBroken: (room) => this.#drop(room),
    }
  }

  get log(): Logger {
    return this.deps.log
  }

  /** Loaded rooms (active ones only). */
  get size(): number {
    return this.#live.size
  }

  /** Pending unload timers; zero once every room has unloaded. */
  get timerCount(): number {
    return this.#unloadTimers.size
  }

  get(id: string): Room | undefined {
    const room = this.#live.get(id)
    return room?.state === 'active' ? room : undefined
  }

  rooms(): IterableIterator<Room> {
    return this.#live.values()
  }

  /** Returns the loaded room, loading it once however many callers ask at the same time. */
  async getOrLoad(id: string): Promise<Room> {
    for (;;) {
      if (this.#closed) throw new Error('registry is closed')
      const live = this.#live.get(id)
      if (live?.state === 'active') return live
      const pending = this.#pending.get(id)
      if (pending) {
        const room = await pending
        if (room?.state === 'active') return room
        continue // it was an unload; load fresh
      }
      const load = this.#load(id)
      this.#pending.set(id, load)
      void load.finally(() => {
        if (this.#pending.get(id) === load) this.#pending.delete(id)
      }).catch(() => {})
      const room = await load
      if (room) return room
    }
  }

  /** Loads (if needed) and adds the peer; cancels a scheduled unload. Null if the peer left meanwhile. */
  async join(id: string, peer: Peer): Promise<Room | null> {
    for (;;) {
      const room = await this.getOrLoad(id)
      if (peer.closed) return null
      if (room.state !== 'active') continue
      this.#cancelUnload(id)
      room.join(peer)
      return room
    }
  }

  /** Waits until every room's applied updates are committed. */
  async flushAll(): Promise<void> {
    await Promise.all([...this.#live.values()].map((room) => room.flush().catch(() => {})))
  }

  /** Unloads every room (flush + compact). Used by shutdown; peers must already be closed. */
  async closeAll(): Promise<void> {
    this.#closed = true
    for (const timer of this.#unloadTimers.values()) clearTimeout(timer)
    this.#unloadTimers.clear()
    await Promise.allSettled([...this.#pending.values()])
    await Promise.all([...this.#live.values()].map((room) => this.#unload(room)))
  }

  async #load(id: string): Promise<Room> {
    const room = await Room.load(id, this.#roomDeps)
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

  async #unload(room: Room): Promise<void> {
    try {
      await room.close()
    } finally {
      if (this.#live.get(room.id) === room) this.#live.delete(room.id)
      this.deps.events.emit({ type: 'room.unloaded', roomId: room.id })
    }
  }

  #drop(room: Room): void {
    this.#cancelUnload(room.id)
    if (this.#live.get(room.id) === room) this.#live.delete(room.id)
    room.abandon()
    this.deps.events.emit({ type: 'room.unloaded', roomId: room.id })
  }
}
