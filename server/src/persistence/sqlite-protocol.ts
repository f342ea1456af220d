/**
 * Messages between the SQLite adapter (main thread) and its worker threads. Types only: both sides import
 * this module, and nothing in it runs.
 *
 * Protocol: the main thread sends `WorkerRequest`s with ids; a worker handles them one at a time, in
 * arrival order, and answers each with a `WorkerResponse` carrying the same id. Startup ends with one
 * `WorkerStartup` message: ready, or the reason the database could not be opened.
 */
import type {
  CompactionResult,
  DeliveryOutcome,
  DeliveryStatus,
  NewVersion,
  NewWebhookDelivery,
  RecordedRoomEvent,
  RoomChange,
  SettledRoomChange,
  SettledRoomEvent,
  WebhookDelivery,
} from './store.js'

/**
 * `writer`: the only connection that writes; it creates and migrates the file and serves every operation.
 * `reader`: a read-only connection to the same WAL database that serves `ReaderOp`s only, so reads do not
 * queue behind the writer's commits.
 */
export type WorkerRole = 'writer' | 'reader'

export interface WorkerInit {
  path: string
  role: WorkerRole
}

/**
 * A batch of appends packed into one transferable buffer: row i belongs to `rooms[i]` and is the next
 * `lengths[i]` bytes. One buffer posts several times faster than thousands of small ones.
 */
export interface PackedRows {
  rooms: string[]
  lengths: number[]
  packed: ArrayBuffer
  /** ClientID bindings queued with these rows, committed in the same transaction (Store.bindClients). */
  bindings: PackedBinding[]
  /** Recorded as the rooms' latest change (room_changes), in the same transaction. */
  changedAt: number
}

/** One clientID -> owner binding for a room. */
export interface PackedBinding {
  room: string
  clientId: number
  owner: string
}

/** A room's rows packed into one transferable buffer; row i is `lengths[i]` bytes, in id order. */
export interface LoadResult {
  packed: ArrayBuffer
  lengths: number[]
  tombstone: Uint8Array | null
  /** [clientId, owner] pairs, from the same snapshot as the rows. */
  clientOwners: [number, string][]
}

/** A `rooms` row as the worker sends it; metadata stays JSON text until the main thread parses it. */
export interface RoomRow {
  name: string
  createdAt: number
  updatedAt: number
  metadata: string
  sizeBytes: number
}

/** A `room_versions` row without its document; `kind` as stored (checked by the table). */
export interface VersionRow {
  id: string
  room: string
  createdAt: number
  kind: string
  label: string | null
  author: string | null
  sizeBytes: number
  fingerprint: Uint8Array
}

/** A `webhook_endpoints` row; `events` is a JSON array or null. */
export interface EndpointRow {
  id: string
  url: string
  secret: string
  events: string | null
  createdAt: number
  disabledAt: number | null
  previousSecret: string | null
  previousSecretExpiresAt: number | null
}

/** Operations that only read, each in one statement or one read transaction: the reader serves these. */
export interface ReadCalls {
  load: { room: string }
  getRoom: { name: string }
  listRooms: { prefix: string | null; after: string | null; limit: number }
  listEndpoints: Record<string, never>
  getDelivery: { id: string }
  listDeliveries: { status: DeliveryStatus | null; after: string | null; limit: number }
  countPending: Record<string, never>
  nextDueAt: Record<string, never>
  dueRoomChanges: { now: number; quietMs: number; maxWaitMs: number; limit: number }
  nextRoomChangeDueAt: { quietMs: number; maxWaitMs: number }
  roomEvents: { limit: number }
  listVersions: { room: string; before: string | null; limit: number }
  getVersion: { room: string; id: string }
  getVersionUpdate: { room: string; id: string }
  loadRemovals: { room: string }
  ping: Record<string, never>
}

/** Arguments of each operation, keyed by its name. Every operation is one message and one answer. */
export interface WorkerCalls extends ReadCalls {
  append: PackedRows
  compact: { room: string }
  deleteRoom: { room: string; tombstone: Uint8Array | null }
  createRoom: { name: string; metadata: string }
  ensureRoom: { name: string }
  updateRoomMetadata: { name: string; metadata: string }
  saveEndpoint: { endpoint: EndpointRow }
  deleteEndpoint: { id: string }
  disableEndpoint: { id: string; at: number }
  rotateEndpointSecret: { id: string; secret: string; previousExpiresAt: number | null }
  enqueueDeliveries: { deliveries: NewWebhookDelivery[] }
  claimDeliveries: { now: number; limit: number; leaseMs: number }
  completeDelivery: { id: string; outcome: DeliveryOutcome; at: number }
  replayDelivery: { id: string; now: number }
  settleRoomChanges: { changes: SettledRoomChange[]; now: number }
  settleRoomEvents: { events: SettledRoomEvent[] }
  probeWrite: { at: number }
  saveVersion: { version: NewVersion; keepAuto: number | null }
  deleteVersion: { room: string; id: string }
  recordRemoval: { room: string; userId: string; at: number }
  close: Record<string, never>
}

/** What each operation answers with. */
export interface WorkerResults {
  append: undefined
  load: LoadResult
  compact: CompactionResult
  deleteRoom: boolean
  createRoom: RoomRow | null
  ensureRoom: { row: RoomRow; created: boolean }
  getRoom: RoomRow | null
  listRooms: RoomRow[]
  updateRoomMetadata: RoomRow | null
  saveEndpoint: undefined
  listEndpoints: EndpointRow[]
  deleteEndpoint: boolean
  disableEndpoint: undefined
  rotateEndpointSecret: EndpointRow | null
  enqueueDeliveries: undefined
  claimDeliveries: WebhookDelivery[]
  completeDelivery: undefined
  getDelivery: WebhookDelivery | null
  listDeliveries: WebhookDelivery[]
  replayDelivery: WebhookDelivery | null
  countPending: number
  nextDueAt: number | null
  dueRoomChanges: RoomChange[]
  nextRoomChangeDueAt: number | null
  settleRoomChanges: undefined
  roomEvents: RecordedRoomEvent[]
  settleRoomEvents: undefined
  probeWrite: undefined
  listVersions: VersionRow[]
  getVersion: VersionRow | null
  getVersionUpdate: Uint8Array | null
  saveVersion: VersionRow | null
  deleteVersion: boolean
  recordRemoval: undefined
  loadRemovals: [string, number][]
  ping: undefined
  close: undefined
}

export type WorkerOp = keyof WorkerCalls
export type ReadOp = keyof ReadCalls
/** What the reader worker accepts. */
export type ReaderOp = ReadOp | 'close'

/** One request. Arguments sit apart from the request id, so an argument may be called `id` too. */
export type WorkerRequest = { [K in WorkerOp]: { id: number; op: K; args: WorkerCalls[K] } }[WorkerOp]

export interface SerializedError {
  name: string
  message: string
  code?: string
  stack?: string
}

export type WorkerResponse =
  | { id: number; ok: true; result?: WorkerResults[WorkerOp] }
  | { id: number; ok: false; error: SerializedError }

export type WorkerStartup = { type: 'ready'; journalMode: string } | { type: 'failed'; error: SerializedError }
