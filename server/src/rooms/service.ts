/**
 * Room operations for the REST API: records, documents, users and messages, over the registry and the
 * store. HTTP-free: handlers map requests to these calls and AppErrors to responses.
 */
import * as Y from 'yjs'
import { replayLog } from '../persistence/compaction.js'
import type { DocumentLog } from '../persistence/document-log.js'
import type { ListRoomsOptions, RoomMetadata, RoomRecord, RoomRecords } from '../persistence/room-records.js'
import type { RoomRegistry } from './registry.js'
import type { RoomEvents } from './events.js'
import type { Broadcast } from './peer.js'
import type { Replication } from './replication.js'
import type { ActiveUser, ClusterUsers } from './users.js'
import type { Logger } from 'pino'
import { AppError, CLOSE_CODE, isValidRoomName } from '../errors.js'

export interface RoomStats {
  /** Open connections (sockets, or multiplexed room bindings) in the room on this instance. */
  readonly connections: number
  /** Distinct users among them. */
  readonly users: number
  /** Whether the room is loaded in memory right now. */
  readonly loaded: boolean
}

export interface RoomInfo extends RoomRecord {
  readonly stats: RoomStats
}

export type { ActiveUser } from './users.js'

export interface RoomPage {
  readonly rooms: RoomInfo[]
  /** Pass as `after` to get the next page; null on the last page. */
  readonly nextCursor: string | null
}

export interface RoomServiceDeps {
  /** Records for the REST resource; the log only to describe a room that is not loaded. */
  store: RoomRecords & Pick<DocumentLog, 'loadUpdates'>
  registry: RoomRegistry
  events: RoomEvents
  broadcast: Broadcast
  replication: Replication
  /** Users across instances (GET …/users). */
  users: ClusterUsers
  log: Logger
}

export class RoomService {
  constructor(private readonly deps: RoomServiceDeps) {}

  async create(name: string, metadata: RoomMetadata): Promise<RoomInfo> {
    assertRoomName(name)
    const record = await this.deps.store.createRoom(name, metadata)
    if (record === null) throw new AppError('room_exists', `room ${name} already exists`)
    this.deps.events.emit({ type: 'room.created', roomId: name, at: record.createdAt })
    return this.#withStats(record)
  }

  /** The room's record; its connection and user counts cover every instance (see users()). */
  async get(name: string): Promise<RoomInfo> {
    assertRoomName(name)
    const record = await this.deps.store.getRoom(name)
    if (record === null) throw notFound(name)
    const info = this.#withStats(record)
    const users = await this.#usersEverywhere(name)
    return { ...info, stats: { ...info.stats, connections: users.reduce((n, u) => n + u.connections, 0), users: users.length } }
  }

  async list(opts: ListRoomsOptions): Promise<RoomPage> {
    // One extra row tells whether another page exists without a count query.
    const records = await this.deps.store.listRooms({ ...opts, limit: opts.limit + 1 })
    const page = records.slice(0, opts.limit)
    const last = page[page.length - 1]
    return { rooms: page.map((r) => this.#withStats(r)), nextCursor: records.length > opts.limit && last ? last.name : null }
  }

  async updateMetadata(name: string, metadata: RoomMetadata): Promise<RoomInfo> {
    assertRoomName(name)
    const record = await this.deps.store.updateRoomMetadata(name, metadata)
    if (record === null) throw notFound(name)
    return this.#withStats(record)
  }

  /** Deletes the room; its peers are disconnected with 4404. */
  async delete(name: string): Promise<void> {
    assertRoomName(name)
    if (!(await this.deps.registry.delete(name))) throw notFound(name)
  }

  /** The whole document as one binary Yjs update: the latest state whose every edit is committed. */
  async readDoc(name: string): Promise<Uint8Array> {
    const room = await this.#load(name)
    return room.committedState()
  }

  /** Every top-level shared type as JSON (Y.Text/XML as strings, Y.Map as objects, Y.Array as arrays). */
  async readDocJson(name: string): Promise<Record<string, unknown>> {
    const room = await this.#load(name)
    const doc = new Y.Doc()
    try {
      Y.applyUpdate(doc, await room.committedState())
      return docToJson(doc)
    } finally {
      doc.destroy()
    }
  }

  /** Applies a Yjs update as a server-side edit; resolves after its storage commit. */
  async applyUpdate(name: string, update: Uint8Array): Promise<void> {
    const room = await this.#load(name)
    await room.applyServerUpdate(update)
  }

  /** Users connected to the room on every instance (this instance's alone while the directory is unreachable). */
  async users(name: string): Promise<ActiveUser[]> {
    assertRoomName(name)
    if (!this.deps.registry.get(name) && (await this.deps.store.getRoom(name)) === null) throw notFound(name)
    return this.#usersEverywhere(name)
  }

  /** The directory's list for a room known to exist; this instance's own users while it is unreachable. */
  async #usersEverywhere(name: string): Promise<ActiveUser[]> {
    try {
      return await this.deps.users.list(name)
    } catch (err) {
      this.deps.log.warn({ err, roomId: name }, 'user directory unreachable; listing this instance\'s users only')
      return this.deps.registry.get(name)?.users() ?? []
    }
  }

  /**
   * Closes every connection of `userId` in the room on every instance with 4403 (forbidden: clients do not
   * retry). Returns how many were closed on this instance.
   */
  async kickUser(name: string, userId: string): Promise<number> {
    assertRoomName(name)
    if (!this.deps.registry.get(name) && (await this.deps.store.getRoom(name)) === null) throw notFound(name)
    return this.deps.registry.kick(name, userId, CLOSE_CODE.forbidden, 'removed from the room')
  }

  /**
   * Sends a stateless message to the room's multiplexed clients on every instance; returns how many
   * connections are in the room on this instance.
   */
  async broadcast(name: string, payload: string): Promise<number> {
    assertRoomName(name)
    const live = this.deps.registry.get(name)
    if (!live && (await this.deps.store.getRoom(name)) === null) throw notFound(name)
    // Other instances may hold the room even when this one does not.
    this.deps.replication.publish(name, { type: 'stateless', payload })
    if (!live) return 0
    this.deps.broadcast(name, { type: 'stateless', payload })
    return live.peerCount
  }

  /** Stored size and current state vector, for thin room.changed webhooks; null once deleted. */
  async describe(name: string): Promise<{ sizeBytes: number; stateVector: Uint8Array } | null> {
    const record = await this.deps.store.getRoom(name)
    if (record === null) return null
    const live = this.deps.registry.get(name)
    if (live) return { sizeBytes: record.sizeBytes, stateVector: Y.encodeStateVector(live.doc) }
    // Unloaded meanwhile (e.g. during a drain): replay the stored log, as loading the room would, so the
    // state vector counts only integrated content (Y.mergeUpdates would count pending structs too).
    const { updates } = await this.deps.store.loadUpdates(name)
    return { sizeBytes: record.sizeBytes, stateVector: replayLog(updates).stateVector }
  }

  #load(name: string) {
    assertRoomName(name)
    return this.deps.registry.getOrLoad(name, { create: false })
  }

  #withStats(record: RoomRecord): RoomInfo {
    const live = this.deps.registry.get(record.name)
    return {
      ...record,
      stats: live ? { connections: live.peerCount, users: live.users().length, loaded: true } : { connections: 0, users: 0, loaded: false },
    }
  }
}

function assertRoomName(name: string): void {
  if (!isValidRoomName(name)) throw new AppError('invalid_room_name', 'room names match ^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$')
}

function notFound(name: string): AppError {
  return new AppError('room_not_found', `room ${name} does not exist`)
}

/** Reads each top-level type by the kind it was defined as; unknown kinds come back as their JSON. */
export function docToJson(doc: Y.Doc): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, type] of doc.share) {
    if (type instanceof Y.Text) out[key] = type.toString()
    else if (type instanceof Y.XmlFragment) out[key] = type.toString()
    else if (type instanceof Y.Map) out[key] = type.toJSON()
    else if (type instanceof Y.Array) out[key] = type.toJSON()
    else out[key] = guessJson(doc, key)
  }
  return out
}

/**
 * A type nobody has accessed through a typed getter on the server is a generic AbstractType: guess
 * from its content (a map has `_map` entries, a sequence has `_start`).
 */
function guessJson(doc: Y.Doc, key: string): unknown {
  const type = doc.share.get(key)
  if (!type) return null
  if (type._map.size > 0) return doc.getMap(key).toJSON()
  // The first live item tells the kind: deleted ones (possibly garbage-collected) carry no content.
  let item = type._start
  while (item !== null && item.deleted) item = item.right
  if (item !== null) {
    const first = item.content
    if (first instanceof Y.ContentString || first instanceof Y.ContentFormat || first instanceof Y.ContentEmbed) return doc.getText(key).toString()
    if (first instanceof Y.ContentType && (first.type instanceof Y.XmlElement || first.type instanceof Y.XmlText)) return doc.getXmlFragment(key).toString()
    return doc.getArray(key).toJSON()
  }
  return type._start === null ? null : doc.getArray(key).toJSON()
}
