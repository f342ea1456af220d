/**
 * The only thread that touches the SQLite file. better-sqlite3 is synchronous (and `synchronous = FULL`
 * fsyncs on every commit), so running it here keeps the main event loop free for fan-out.
 *
 * Protocol: the main thread sends `WorkerRequest`s with ids; this thread handles them one at a time, in
 * arrival order, and answers each with a `WorkerResponse` carrying the same id. Startup ends with one
 * `WorkerStartup` message: ready, or the reason the database could not be opened.
 */
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { parentPort, workerData } from 'node:worker_threads'
import Database from 'better-sqlite3'
import * as Y from 'yjs'
import { mergeStateVectors } from './state-vector.js'
import type { DeliveryOutcome, DeliveryStatus, NewWebhookDelivery, WebhookDelivery } from './store.js'

export interface WorkerInit {
  path: string
}

/**
 * A batch of appends packed into one transferable buffer: row i belongs to `rooms[i]` and is the next
 * `lengths[i]` bytes. One buffer posts several times faster than thousands of small ones.
 */
export interface PackedRows {
  rooms: string[]
  lengths: number[]
  packed: ArrayBuffer
}

/** A room's rows packed into one transferable buffer; row i is `lengths[i]` bytes, in id order. */
export interface LoadResult {
  packed: ArrayBuffer
  lengths: number[]
  tombstone: Uint8Array | null
}

export interface CompactResult {
  rowsMerged: number
  bytesAfter: number
}

/** A `rooms` row as the worker sends it; metadata stays JSON text until the main thread parses it. */
export interface RoomRow {
  name: string
  createdAt: number
  updatedAt: number
  metadata: string
  sizeBytes: number
}

/** A `webhook_endpoints` row; `events` is a JSON array or null. */
export interface EndpointRow {
  id: string
  url: string
  secret: string
  events: string | null
  createdAt: number
  disabledAt: number | null
}

/** Arguments of each operation, keyed by its name. Every operation is one message and one answer. */
export interface WorkerCalls {
  append: PackedRows
  load: { room: string }
  compact: { room: string }
  deleteRoom: { room: string; tombstone: Uint8Array | null }
  createRoom: { name: string; metadata: string }
  ensureRoom: { name: string }
  getRoom: { name: string }
  listRooms: { prefix: string | null; after: string | null; limit: number }
  updateRoomMetadata: { name: string; metadata: string }
  saveEndpoint: { endpoint: EndpointRow }
  listEndpoints: Record<string, never>
  deleteEndpoint: { id: string }
  disableEndpoint: { id: string; at: number }
  enqueueDeliveries: { deliveries: NewWebhookDelivery[] }
  claimDeliveries: { now: number; limit: number; leaseMs: number }
  completeDelivery: { id: string; outcome: DeliveryOutcome; at: number }
  getDelivery: { id: string }
  listDeliveries: { status: DeliveryStatus | null; after: string | null; limit: number }
  replayDelivery: { id: string; now: number }
  countPending: Record<string, never>
  nextDueAt: Record<string, never>
  ping: Record<string, never>
  close: Record<string, never>
}

/** What each operation answers with. */
export interface WorkerResults {
  append: undefined
  load: LoadResult
  compact: CompactResult
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
  enqueueDeliveries: undefined
  claimDeliveries: WebhookDelivery[]
  completeDelivery: undefined
  getDelivery: WebhookDelivery | null
  listDeliveries: WebhookDelivery[]
  replayDelivery: WebhookDelivery | null
  countPending: number
  nextDueAt: number | null
  ping: undefined
  close: undefined
}

export type WorkerOp = keyof WorkerCalls

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

/** Busy wait for another connection's lock (e.g. a backup tool), in milliseconds. */
const BUSY_TIMEOUT_MS = 5_000

/**
 * Schema history, applied in order; `PRAGMA user_version` records how many have run. Append new
 * migrations at the end; never edit one that has shipped.
 */
const MIGRATIONS: readonly ((db: Database.Database) => void)[] = [
  (db) =>
    db.exec(`
      CREATE TABLE updates (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        room TEXT NOT NULL,
        data BLOB NOT NULL,
        created_at INTEGER NOT NULL -- milliseconds since the Unix epoch
      );
      CREATE INDEX updates_room_id ON updates (room, id);
    `),
  // 2: room records, tombstones of deleted rooms, webhook endpoints and the delivery outbox.
  (db) =>
    db.exec(`
      CREATE TABLE rooms (
        name TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL, -- ms since the Unix epoch, as every *_at column
        updated_at INTEGER NOT NULL,
        metadata TEXT NOT NULL DEFAULT '{}' -- JSON object
      );
      CREATE TABLE room_tombstones (
        name TEXT PRIMARY KEY,
        state_vector BLOB NOT NULL -- encoded Yjs state vector, merged across deletions
      );
      CREATE TABLE webhook_endpoints (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        secret TEXT NOT NULL,
        events TEXT, -- JSON array of event types, or NULL for every event
        created_at INTEGER NOT NULL,
        disabled_at INTEGER
      );
      CREATE TABLE webhook_deliveries (
        id TEXT PRIMARY KEY,
        endpoint_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        last_error TEXT,
        last_status_code INTEGER,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
      CREATE INDEX webhook_deliveries_status_id ON webhook_deliveries (status, id);
      CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id);
      -- Rooms written before records existed keep existing.
      INSERT INTO rooms (name, created_at, updated_at, metadata)
        SELECT room, MIN(created_at), MAX(created_at), '{}' FROM updates GROUP BY room;
    `),
]

function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number
  if (current > MIGRATIONS.length) {
    throw new Error(`database schema version ${current} is newer than this server supports (${MIGRATIONS.length})`)
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    const step = MIGRATIONS[v]
    if (!step) continue
    db.transaction(() => {
      step(db)
      // PRAGMA takes no bound parameters; v is a loop integer, not input.
      db.pragma(`user_version = ${v + 1}`)
    })()
  }
}

function openDatabase(path: string): Database.Database {
  const inMemory = path === ':memory:' || path === ''
  if (!inMemory) mkdirSync(dirname(path), { recursive: true })
  const db = new Database(path)
  try {
    db.pragma('journal_mode = WAL')
    // FULL fsyncs the WAL on every commit: an acknowledged update survives power loss, not only SIGKILL.
    db.pragma('synchronous = FULL')
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`)
    db.pragma('foreign_keys = ON')
    migrate(db)
    return db
  } catch (err) {
    db.close()
    throw err
  }
}

function serializeError(err: unknown): SerializedError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    return {
      name: err.name,
      message: err.message,
      ...(typeof code === 'string' ? { code } : {}),
      ...(err.stack !== undefined ? { stack: err.stack } : {}),
    }
  }
  return { name: 'Error', message: String(err) }
}

/** Named parameters of the room listing; only those its statement uses may be present. */
interface ListParams {
  limit: number
  prefix?: string
  upper?: string
  after?: string
}

type Handlers = { [K in WorkerOp]: (args: WorkerCalls[K]) => WorkerResults[K] }

/** Size of a room's log, computed per returned row (a page at most), never for the whole table. */
const ROOM_COLUMNS = `
  r.name AS name, r.created_at AS createdAt, r.updated_at AS updatedAt, r.metadata AS metadata,
  (SELECT COALESCE(SUM(length(u.data)), 0) FROM updates u WHERE u.room = r.name) AS sizeBytes`

const DELIVERY_COLUMNS = `
  id, endpoint_id AS endpointId, event_type AS eventType, payload, created_at AS createdAt, status, attempts,
  next_attempt_at AS nextAttemptAt, last_error AS lastError, last_status_code AS lastStatusCode,
  updated_at AS updatedAt`

/** SQL limits: a negative LIMIT means "no limit" to SQLite, so clamp to a non-negative integer. */
function sqlLimit(limit: number): number {
  return Number.isFinite(limit) ? Math.max(0, Math.floor(limit)) : 0
}

/**
 * Smallest string above every string that starts with `prefix` (in code point order, which is SQLite's
 * BINARY order over UTF-8), or null when there is none. Lets a prefix filter use the primary-key index
 * as a range instead of scanning every later name.
 */
function prefixUpperBound(prefix: string): string | null {
  // Lone surrogates become U+FFFD in SQLite, so no bound computed here would be exact: scan instead.
  if (/\p{Cs}/u.test(prefix)) return null
  const points = Array.from(prefix)
  while (points.length > 0) {
    const last = (points.pop() ?? '').codePointAt(0) ?? 0
    if (last < 0x10ffff) {
      const next = last + 1 === 0xd800 ? 0xe000 : last + 1
      points.push(String.fromCodePoint(next))
      return points.join('')
    }
  }
  return null
}

function createHandlers(db: Database.Database): Handlers {
  // ---- document log ------------------------------------------------------------------------------
  const insert = db.prepare<[string, Uint8Array, number]>(
    'INSERT INTO updates (room, data, created_at) VALUES (?, ?, ?)',
  )
  const selectData = db.prepare<[string], Buffer>('SELECT data FROM updates WHERE room = ? ORDER BY id').pluck()
  const selectRows = db.prepare<[string], { id: number; data: Buffer }>(
    'SELECT id, data FROM updates WHERE room = ? ORDER BY id',
  )
  const deleteUpTo = db.prepare<[string, number]>('DELETE FROM updates WHERE room = ? AND id <= ?')
  const deleteAll = db.prepare<[string]>('DELETE FROM updates WHERE room = ?')
  const selectTombstone = db
    .prepare<[string], Buffer>('SELECT state_vector FROM room_tombstones WHERE name = ?')
    .pluck()
  const upsertTombstone = db.prepare<[string, Uint8Array]>(
    `INSERT INTO room_tombstones (name, state_vector) VALUES (?, ?)
     ON CONFLICT (name) DO UPDATE SET state_vector = excluded.state_vector`,
  )
  const touchRoom = db.prepare<[number, string]>('UPDATE rooms SET updated_at = ? WHERE name = ?')
  const ping = db.prepare('SELECT 1').pluck()

  const appendBatch = db.transaction(({ rooms, lengths, packed }: PackedRows) => {
    const now = Date.now()
    let offset = 0
    for (let i = 0; i < rooms.length; i++) {
      const len = lengths[i] ?? 0
      insert.run(rooms[i] ?? '', new Uint8Array(packed, offset, len), now)
      offset += len
    }
    // Rooms without a record stay without one: only ensureRoom/createRoom create records.
    for (const room of new Set(rooms)) touchRoom.run(now, room)
  })

  const load = db.transaction((room: string): LoadResult => {
    const tombstone = selectTombstone.get(room)
    return { ...packLoad(selectData.all(room)), tombstone: tombstone ? new Uint8Array(tombstone) : null }
  })

  const compact = db.transaction((room: string): CompactResult => {
    const rows = selectRows.all(room)
    const last = rows[rows.length - 1]
    if (rows.length < 2 || !last) return { rowsMerged: 0, bytesAfter: 0 }
    const merged = Y.mergeUpdates(rows.map((r) => r.data))
    insert.run(room, merged, Date.now())
    // Exactly the rows read above: the merged row has a higher id, and nothing else can write meanwhile.
    deleteUpTo.run(room, last.id)
    return { rowsMerged: rows.length, bytesAfter: merged.byteLength }
  })

  // ---- room records ------------------------------------------------------------------------------
  const selectRoom = db.prepare<[string], RoomRow>(`SELECT ${ROOM_COLUMNS} FROM rooms r WHERE r.name = ?`)
  const insertRoom = db.prepare<[string, number, number, string]>(
    `INSERT INTO rooms (name, created_at, updated_at, metadata) VALUES (?, ?, ?, ?)
     ON CONFLICT (name) DO NOTHING`,
  )
  const setMetadata = db.prepare<[string, number, string]>(
    'UPDATE rooms SET metadata = ?, updated_at = ? WHERE name = ?',
  )
  const deleteRoomRecord = db.prepare<[string]>('DELETE FROM rooms WHERE name = ?')

  /** One statement per filter combination, so each keeps its index range (an `? IS NULL OR` would not). */
  const listStatements = new Map<string, Database.Statement<[ListParams], RoomRow>>()
  const listStatement = (lower: 'none' | 'after' | 'prefix', hasPrefix: boolean, hasUpper: boolean) => {
    const key = `${lower}/${hasPrefix}/${hasUpper}`
    let stmt = listStatements.get(key)
    if (!stmt) {
      const where: string[] = []
      if (lower === 'after') where.push('r.name > :after')
      if (lower === 'prefix') where.push('r.name >= :prefix')
      // substr/length compare characters literally: '%' and '_' are not wildcards here.
      if (hasPrefix) where.push('substr(r.name, 1, length(:prefix)) = :prefix')
      if (hasUpper) where.push('r.name < :upper')
      const filter = where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''
      stmt = db.prepare<ListParams, RoomRow>(`SELECT ${ROOM_COLUMNS} FROM rooms r ${filter} ORDER BY r.name LIMIT :limit`)
      listStatements.set(key, stmt)
    }
    return stmt
  }

  const listRooms = ({ prefix, after, limit }: WorkerCalls['listRooms']): RoomRow[] => {
    // Only the tighter lower bound goes into the query (the other one is implied), so the index range
    // starts where the page does. Buffer.compare on UTF-8 is exactly SQLite's BINARY collation.
    const afterIsTighter = after !== null && (prefix === null || Buffer.compare(Buffer.from(after), Buffer.from(prefix)) >= 0)
    const lower = afterIsTighter ? 'after' : prefix !== null ? 'prefix' : 'none'
    const upper = prefix === null ? null : prefixUpperBound(prefix)
    const params: ListParams = { limit: sqlLimit(limit) }
    if (prefix !== null) params.prefix = prefix
    if (upper !== null) params.upper = upper
    if (afterIsTighter && after !== null) params.after = after
    return listStatement(lower, prefix !== null, upper !== null).all(params)
  }

  const createRoom = db.transaction((name: string, metadata: string): RoomRow | null => {
    const now = Date.now()
    if (insertRoom.run(name, now, now, metadata).changes === 0) return null
    return selectRoom.get(name) ?? null
  })

  const ensureRoom = db.transaction((name: string): { row: RoomRow; created: boolean } => {
    const now = Date.now()
    const created = insertRoom.run(name, now, now, '{}').changes > 0
    const row = selectRoom.get(name)
    if (!row) throw new Error(`room ${name} vanished while being ensured`)
    return { row, created }
  })

  const updateRoomMetadata = db.transaction((name: string, metadata: string): RoomRow | null => {
    if (setMetadata.run(metadata, Date.now(), name).changes === 0) return null
    return selectRoom.get(name) ?? null
  })

  const deleteRoom = db.transaction((room: string, tombstone: Uint8Array | null): boolean => {
    const existed = deleteRoomRecord.run(room).changes + deleteAll.run(room).changes > 0
    if (tombstone) {
      // A malformed vector throws here and rolls the whole deletion back.
      const merged = mergeStateVectors(selectTombstone.get(room) ?? null, tombstone)
      if (merged) upsertTombstone.run(room, merged)
    }
    return existed
  })

  // ---- webhook endpoints -------------------------------------------------------------------------
  const upsertEndpoint = db.prepare<[string, string, string, string | null, number, number | null]>(
    `INSERT INTO webhook_endpoints (id, url, secret, events, created_at, disabled_at) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (id) DO UPDATE SET url = excluded.url, secret = excluded.secret, events = excluded.events,
       created_at = excluded.created_at, disabled_at = excluded.disabled_at`,
  )
  const selectEndpoints = db.prepare<[], EndpointRow>(
    `SELECT id, url, secret, events, created_at AS createdAt, disabled_at AS disabledAt
     FROM webhook_endpoints ORDER BY created_at, id`,
  )
  const deleteEndpointRow = db.prepare<[string]>('DELETE FROM webhook_endpoints WHERE id = ?')
  const deletePendingOf = db.prepare<[string]>(
    "DELETE FROM webhook_deliveries WHERE endpoint_id = ? AND status = 'pending'",
  )
  const disableEndpoint = db.prepare<[number, string]>('UPDATE webhook_endpoints SET disabled_at = ? WHERE id = ?')

  const deleteEndpoint = db.transaction((id: string): boolean => {
    deletePendingOf.run(id)
    return deleteEndpointRow.run(id).changes > 0
  })

  // ---- delivery outbox ---------------------------------------------------------------------------
  const insertDelivery = db.prepare<[string, string, string, string, number, number, number]>(
    `INSERT INTO webhook_deliveries
       (id, endpoint_id, event_type, payload, status, attempts, next_attempt_at, created_at, updated_at)
     VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?)`,
  )
  const selectDue = db.prepare<[number, number], WebhookDelivery>(
    `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries
     WHERE status = 'pending' AND next_attempt_at <= ?
     ORDER BY next_attempt_at, created_at, id LIMIT ?`,
  )
  const lease = db.prepare<[number, string]>('UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id = ?')
  const markDelivered = db.prepare<[number, number, string]>(
    `UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, last_status_code = ?,
       updated_at = ? WHERE id = ?`,
  )
  const markRetry = db.prepare<[number, string, number | null, number, string]>(
    `UPDATE webhook_deliveries SET status = 'pending', attempts = attempts + 1, next_attempt_at = ?,
       last_error = ?, last_status_code = ?, updated_at = ? WHERE id = ?`,
  )
  const markFailed = db.prepare<[string, number | null, number, string]>(
    `UPDATE webhook_deliveries SET status = 'failed', attempts = attempts + 1, last_error = ?,
       last_status_code = ?, updated_at = ? WHERE id = ?`,
  )
  const selectDelivery = db.prepare<[string], WebhookDelivery>(
    `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = ?`,
  )
  const listAll = db.prepare<[string, number], WebhookDelivery>(
    `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id > ? ORDER BY id LIMIT ?`,
  )
  const listByStatus = db.prepare<[string, string, number], WebhookDelivery>(
    `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE status = ? AND id > ? ORDER BY id LIMIT ?`,
  )
  const replay = db.prepare<[number, number, string]>(
    `UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ?
     WHERE id = ?`,
  )
  const countPending = db
    .prepare<[], number>("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'")
    .pluck()
  const nextDueAt = db
    .prepare<[], number | null>("SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE status = 'pending'")
    .pluck()

  const enqueue = db.transaction((deliveries: readonly NewWebhookDelivery[]) => {
    for (const d of deliveries) {
      insertDelivery.run(d.id, d.endpointId, d.eventType, d.payload, d.createdAt, d.createdAt, d.createdAt)
    }
  })

  const claim = db.transaction((now: number, limit: number, leaseMs: number): WebhookDelivery[] => {
    const due = selectDue.all(now, sqlLimit(limit))
    const until = now + leaseMs
    for (const d of due) lease.run(until, d.id)
    return due.map((d) => ({ ...d, nextAttemptAt: until }))
  })

  const replayDelivery = db.transaction((id: string, now: number): WebhookDelivery | null => {
    if (replay.run(now, now, id).changes === 0) return null
    return selectDelivery.get(id) ?? null
  })

  return {
    append: (batch) => void appendBatch(batch),
    load: ({ room }) => load(room),
    compact: ({ room }) => compact(room),
    deleteRoom: ({ room, tombstone }) => deleteRoom(room, tombstone),
    createRoom: ({ name, metadata }) => createRoom(name, metadata),
    ensureRoom: ({ name }) => ensureRoom(name),
    getRoom: ({ name }) => selectRoom.get(name) ?? null,
    listRooms,
    updateRoomMetadata: ({ name, metadata }) => updateRoomMetadata(name, metadata),
    saveEndpoint: ({ endpoint: e }) => void upsertEndpoint.run(e.id, e.url, e.secret, e.events, e.createdAt, e.disabledAt),
    listEndpoints: () => selectEndpoints.all(),
    deleteEndpoint: ({ id }) => deleteEndpoint(id),
    disableEndpoint: ({ id, at }) => void disableEndpoint.run(at, id),
    enqueueDeliveries: ({ deliveries }) => void enqueue(deliveries),
    claimDeliveries: ({ now, limit, leaseMs }) => claim(now, limit, leaseMs),
    completeDelivery: ({ id, outcome, at }) => {
      switch (outcome.status) {
        case 'delivered':
          markDelivered.run(outcome.statusCode, at, id)
          return undefined
        case 'pending':
          markRetry.run(outcome.nextAttemptAt, outcome.error, outcome.statusCode, at, id)
          return undefined
        case 'failed':
          markFailed.run(outcome.error, outcome.statusCode, at, id)
          return undefined
      }
    },
    getDelivery: ({ id }) => selectDelivery.get(id) ?? null,
    // '' sorts before every id, so it stands for "no cursor".
    listDeliveries: ({ status, after, limit }) =>
      status === null ? listAll.all(after ?? '', sqlLimit(limit)) : listByStatus.all(status, after ?? '', sqlLimit(limit)),
    replayDelivery: ({ id, now }) => replayDelivery(id, now),
    countPending: () => countPending.get() ?? 0,
    nextDueAt: () => nextDueAt.get() ?? null,
    ping: () => void ping.get(),
    // Closing the last connection checkpoints the WAL into the main file and removes the -wal file.
    close: () => void db.close(),
  }
}

function packLoad(rows: Buffer[]): Omit<LoadResult, 'tombstone'> {
  let total = 0
  for (const r of rows) total += r.byteLength
  const packed = new Uint8Array(total)
  const lengths: number[] = []
  let offset = 0
  for (const r of rows) {
    packed.set(r, offset)
    offset += r.byteLength
    lengths.push(r.byteLength)
  }
  return { packed: packed.buffer, lengths }
}

function dispatch(handlers: Handlers, req: WorkerRequest): WorkerResults[WorkerOp] {
  // TypeScript cannot correlate `op` and `args` through the union; the request type pairs them.
  const handler = handlers[req.op] as (args: WorkerRequest['args']) => WorkerResults[WorkerOp]
  return handler(req.args)
}

function main(): void {
  const port = parentPort
  if (!port) throw new Error('sqlite-worker must run inside a worker thread')
  const { path } = workerData as WorkerInit

  let db: Database.Database
  try {
    db = openDatabase(path)
  } catch (err) {
    // No listener is installed, so the thread exits after this message.
    port.postMessage({ type: 'failed', error: serializeError(err) } satisfies WorkerStartup)
    return
  }

  const handlers = createHandlers(db)
  port.on('message', (req: WorkerRequest) => {
    let response: WorkerResponse
    const transfer: ArrayBuffer[] = []
    try {
      const result = dispatch(handlers, req)
      if (req.op === 'load') transfer.push((result as LoadResult).packed)
      response = result === undefined ? { id: req.id, ok: true } : { id: req.id, ok: true, result }
    } catch (err) {
      response = { id: req.id, ok: false, error: serializeError(err) }
    }
    port.postMessage(response, transfer)
  })
  const journalMode = String(db.pragma('journal_mode', { simple: true }))
  port.postMessage({ type: 'ready', journalMode } satisfies WorkerStartup)
}

main()
