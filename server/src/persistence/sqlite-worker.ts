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

export type WorkerCall =
  | ({ op: 'append' } & PackedRows)
  | { op: 'load'; room: string }
  | { op: 'compact'; room: string }
  | { op: 'delete'; room: string }
  | { op: 'ping' }
  | { op: 'close' }

export type WorkerRequest = WorkerCall & { id: number }

/** A room's rows packed into one transferable buffer; row i is `lengths[i]` bytes, in id order. */
export interface LoadResult {
  packed: ArrayBuffer
  lengths: number[]
}

export interface CompactResult {
  rowsMerged: number
  bytesAfter: number
}

export interface SerializedError {
  name: string
  message: string
  code?: string
  stack?: string
}

export type WorkerResponse =
  | { id: number; ok: true; result?: LoadResult | CompactResult }
  | { id: number; ok: false; error: SerializedError }

export type WorkerStartup = { type: 'ready'; journalMode: string } | { type: 'failed'; error: SerializedError }

/** Busy wait for another connection's lock (e.g. a backup tool), in milliseconds. */
const BUSY_TIMEOUT_MS = 5_000

/**
 * Schema history, applied in order; `PRAGMA user_version` records how many have run. Append new
 * migrations (rooms table, webhook outbox, …) at the end; never edit one that has shipped.
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

type Handler = (req: WorkerRequest) => LoadResult | CompactResult | undefined

function createHandler(db: Database.Database): Handler {
  const insert = db.prepare<[string, Uint8Array, number]>(
    'INSERT INTO updates (room, data, created_at) VALUES (?, ?, ?)',
  )
  const selectData = db.prepare<[string], Buffer>('SELECT data FROM updates WHERE room = ? ORDER BY id').pluck()
  const selectRows = db.prepare<[string], { id: number; data: Buffer }>(
    'SELECT id, data FROM updates WHERE room = ? ORDER BY id',
  )
  const deleteUpTo = db.prepare<[string, number]>('DELETE FROM updates WHERE room = ? AND id <= ?')
  const deleteAll = db.prepare<[string]>('DELETE FROM updates WHERE room = ?')
  const ping = db.prepare('SELECT 1').pluck()

  const appendBatch = db.transaction(({ rooms, lengths, packed }: PackedRows) => {
    const now = Date.now()
    let offset = 0
    for (let i = 0; i < rooms.length; i++) {
      const len = lengths[i] ?? 0
      insert.run(rooms[i] ?? '', new Uint8Array(packed, offset, len), now)
      offset += len
    }
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

  return (req) => {
    switch (req.op) {
      case 'append':
        appendBatch(req)
        return undefined
      case 'load':
        return packLoad(selectData.all(req.room))
      case 'compact':
        return compact(req.room)
      case 'delete':
        deleteAll.run(req.room)
        return undefined
      case 'ping':
        ping.get()
        return undefined
      case 'close':
        // Closing the last connection checkpoints the WAL into the main file and removes the -wal file.
        db.close()
        return undefined
    }
  }
}

function packLoad(rows: Buffer[]): LoadResult {
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

  const handle = createHandler(db)
  port.on('message', (req: WorkerRequest) => {
    let response: WorkerResponse
    const transfer: ArrayBuffer[] = []
    try {
      const result = handle(req)
      if (result && 'packed' in result) transfer.push(result.packed)
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
