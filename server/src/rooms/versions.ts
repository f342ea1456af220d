/**
 * Version history over the registry and the store: automatic versions (rooms call takeAuto when they
 * go quiet), named versions on request, reading and deleting versions, and restores. HTTP-free: REST
 * handlers map requests to these calls and AppErrors to responses.
 *
 * A restore moves forward: it stores a `before-restore` version of the document, then applies ONE
 * ordinary Yjs update (restore.ts) through the room, which broadcasts, stores and acknowledges it like
 * any edit. The update is computed from the very state the before-restore version holds, so edits that
 * clients make while the before-restore version is being stored are not in its delete set: they survive
 * the restore, merged as Yjs merges any concurrent edit.
 */
import { randomBytes } from 'node:crypto'
import * as Y from 'yjs'
import type { Logger } from 'pino'
import { replayLog } from '../persistence/compaction.js'
import type { DocumentLog } from '../persistence/document-log.js'
import type { RoomRecords } from '../persistence/room-records.js'
import type { VersionInfo, VersionKind, Versions } from '../persistence/versions.js'
import { AppError, isValidRoomName } from '../errors.js'
import type { RoomEvents } from './events.js'
import type { Broadcast } from './peer.js'
import type { RoomRegistry } from './registry.js'
import type { Room } from './room.js'
import { snapshotOf, snapshotOfUpdate, type DocSnapshot } from './restore.js'
import { RestoreThread } from './restore-thread.js'
import { KeyedQueue } from '../keyed-queue.js'
import { docToJson } from './service.js'

export interface VersionSettings {
  /** An automatic version is taken once a room has been quiet this long after an edit (ms). */
  readonly quietMs: number
  /** ...and at least this often while edits continue (ms). */
  readonly maxIntervalMs: number
  /** Automatic versions kept per room (older ones are pruned); 0 turns automatic versions off. */
  readonly keepAuto: number
}

export interface VersionServiceDeps {
  store: Versions & Pick<RoomRecords, 'getRoom'> & Pick<DocumentLog, 'loadUpdates'>
  registry: RoomRegistry
  events: RoomEvents
  broadcast: Broadcast
  log: Logger
  settings: VersionSettings
}

export interface VersionPage {
  readonly versions: VersionInfo[]
  /** Pass as `before` for the next (older) page; null on the last page. */
  readonly nextCursor: string | null
}

export interface RestoreResult {
  readonly restored: VersionInfo
  readonly beforeRestore: VersionInfo
}

/** `ver_` + 10 base-36 digits of milliseconds + 4 of a counter + 8 random: sortable by creation. */
export const VERSION_ID_PATTERN = /^ver_[0-9a-z]{22}$/

/** What multiplexed clients receive (a stateless message, JSON) when their room was restored. */
export interface RestoredNotice {
  readonly type: 'room.restored'
  readonly room: string
  readonly version: string
  readonly beforeRestore: string
  readonly restoredBy: string | null
}

export class VersionService {
  #lastMs = 0
  #counter = 0
  /** Restores per room run one at a time: two computed from the same state would insert both versions. */
  readonly #restores = new KeyedQueue()
  /** Computes restore updates off the event loop (hundreds of ms for a MiB-sized document). */
  readonly #thread = new RestoreThread()

  constructor(private readonly deps: VersionServiceDeps) {}

  get settings(): VersionSettings {
    return this.deps.settings
  }

  /** Stops the restore thread (restores in flight fail). */
  close(): Promise<void> {
    return this.#thread.close()
  }

  async list(room: string, opts: { limit: number; before?: string }): Promise<VersionPage> {
    await this.#assertRoom(room)
    // One extra row tells whether another page exists without a count query.
    const rows = await this.deps.store.listVersions(room, { limit: opts.limit + 1, ...(opts.before !== undefined && { before: opts.before }) })
    const page = rows.slice(0, opts.limit)
    const last = page[page.length - 1]
    return { versions: page, nextCursor: rows.length > opts.limit && last ? last.id : null }
  }

  /** A named version of the document as it is now (loaded or not). */
  async create(room: string, opts: { label: string | null; author: string | null }): Promise<VersionInfo> {
    const snapshot = await this.#snapshotNow(room)
    return this.#save(room, 'named', opts.label, opts.author, snapshot)
  }

  async get(room: string, id: string): Promise<VersionInfo> {
    await this.#assertRoom(room)
    const info = await this.deps.store.getVersion(room, id)
    if (info === null) throw versionNotFound(room, id)
    return info
  }

  async readDoc(room: string, id: string): Promise<Uint8Array> {
    await this.#assertRoom(room)
    const update = await this.deps.store.getVersionUpdate(room, id)
    if (update === null) throw versionNotFound(room, id)
    return update
  }

  /** The version's document shaped like GET /v1/rooms/:room/doc?format=json. */
  async readDocJson(room: string, id: string): Promise<Record<string, unknown>> {
    const update = await this.readDoc(room, id)
    const doc = new Y.Doc({ gc: true })
    try {
      Y.applyUpdate(doc, update)
      return docToJson(doc)
    } finally {
      doc.destroy()
    }
  }

  async delete(room: string, id: string): Promise<void> {
    await this.#assertRoom(room)
    if (!(await this.deps.store.deleteVersion(room, id))) throw versionNotFound(room, id)
  }

  /**
   * Turns the room's document into the version's content (see the module comment); resolves once the
   * restoring update is durably stored. `author`: who asked (recorded on the before-restore version).
   */
  restore(room: string, id: string, author: string | null): Promise<RestoreResult> {
    assertRoomName(room)
    // Queued here first, so one process holds at most one of the store's restore locks per room.
    return this.#restores.run(room, () => this.deps.store.exclusiveRestore(room, (opts) => this.#restore(room, id, author, opts.shared)))
  }

  /**
   * Called by a room that went quiet after edits (or edited for maxIntervalMs, or is unloading): stores an
   * automatic version unless the document equals the newest version. Never throws.
   */
  async takeAuto(room: Room): Promise<void> {
    try {
      if (this.deps.settings.keepAuto === 0) return
      const snapshot = snapshotOf(room.doc)
      const [latest] = await this.deps.store.listVersions(room.id, { limit: 1 })
      if (latest && bytesEqual(latest.fingerprint, snapshot.fingerprint)) return
      await this.#save(room.id, 'auto', null, null, snapshot)
    } catch (err) {
      this.deps.log.warn({ err, roomId: room.id }, 'taking an automatic version failed')
    }
  }

  async #restore(name: string, id: string, author: string | null, sharedStore: boolean): Promise<RestoreResult> {
    let room = await this.deps.registry.getOrLoad(name, { create: false })
    const target = await this.deps.store.getVersion(name, id)
    const targetUpdate = target === null ? null : await this.deps.store.getVersionUpdate(name, id)
    if (target === null || targetUpdate === null) throw versionNotFound(name, id)
    if (room.state !== 'active') room = await this.deps.registry.getOrLoad(name, { create: false })
    // A restore another instance committed just before may not have reached this room yet: computed
    // without it, this one would leave that version's content in place.
    if (sharedStore) await room.catchUpWithStore()
    if (room.state !== 'active') room = await this.deps.registry.getOrLoad(name, { create: false })
    // From one state: what the before-restore version holds, and the update that turns it into the
    // version. Edits arriving meanwhile are not in that update's delete set, so they survive it.
    const current = snapshotOf(room.doc)
    const [update, beforeRestore] = await Promise.all([
      this.#thread.compute(current.update, targetUpdate),
      this.#save(name, 'before-restore', null, author, current),
    ])
    if (update !== null) {
      // Unloaded meanwhile: the stored log holds at least `current`, so the update applies to a fresh load.
      if (room.state !== 'active') room = await this.deps.registry.getOrLoad(name, { create: false })
      await room.applyServerUpdate(update)
    }
    const at = Date.now()
    this.deps.events.emit({ type: 'room.restored', roomId: name, versionId: id, beforeRestoreId: beforeRestore.id, restoredBy: author, at })
    const notice: RestoredNotice = { type: 'room.restored', room: name, version: id, beforeRestore: beforeRestore.id, restoredBy: author }
    const payload = JSON.stringify(notice)
    this.deps.broadcast(name, { type: 'stateless', payload })
    // The room's clients on other instances hear it through the replication, like a REST broadcast.
    room.publishToOthers({ type: 'stateless', payload })
    this.deps.log.info({ roomId: name, versionId: id, beforeRestoreId: beforeRestore.id, updateBytes: update?.byteLength ?? 0 }, 'room restored')
    return { restored: target, beforeRestore }
  }

  /** The document now: the live room's, else the stored log replayed (integrated content, as a load). */
  async #snapshotNow(name: string): Promise<DocSnapshot> {
    assertRoomName(name)
    const live = this.deps.registry.get(name)
    if (live) return snapshotOf(live.doc)
    await this.#assertRoom(name)
    const { updates } = await this.deps.store.loadUpdates(name)
    const fresh = this.deps.registry.get(name)
    if (fresh) return snapshotOf(fresh.doc)
    return snapshotOfUpdate(replayLog(updates).integrated)
  }

  async #save(room: string, kind: VersionKind, label: string | null, author: string | null, snapshot: DocSnapshot): Promise<VersionInfo> {
    const { id, createdAt } = this.#nextId()
    const saved = await this.deps.store.saveVersion(
      { id, room, createdAt, kind, label, author, update: snapshot.update, fingerprint: snapshot.fingerprint },
      kind === 'auto' ? this.deps.settings.keepAuto : undefined,
    )
    if (saved === null) throw roomNotFound(room)
    return saved
  }

  /** Ids grow strictly within this process even when the wall clock steps back. */
  #nextId(): { id: string; createdAt: number } {
    const now = Date.now()
    if (now > this.#lastMs) {
      this.#lastMs = now
      this.#counter = 0
    } else {
      this.#counter += 1
    }
    const ms = this.#lastMs.toString(36).padStart(10, '0')
    const counter = this.#counter.toString(36).padStart(4, '0')
    const random = BigInt(`0x${randomBytes(6).toString('hex')}`).toString(36).padStart(8, '0').slice(-8)
    return { id: `ver_${ms}${counter}${random}`, createdAt: this.#lastMs }
  }

  async #assertRoom(name: string): Promise<void> {
    assertRoomName(name)
    if (this.deps.registry.get(name)) return
    if ((await this.deps.store.getRoom(name)) === null) throw roomNotFound(name)
  }
}

function assertRoomName(name: string): void {
  if (!isValidRoomName(name)) throw new AppError('invalid_room_name', 'room names match ^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$')
}

function roomNotFound(name: string): AppError {
  return new AppError('room_not_found', `room ${name} does not exist`)
}

function versionNotFound(room: string, id: string): AppError {
  return new AppError('version_not_found', `room ${room} has no version ${id}`)
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}
