/**
 * The SQLite schema and how each worker opens its connection. Runs inside the workers only.
 */
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'

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
  // 3: which user first wrote under each Yjs clientID of a room (Store.bindClients).
  (db) =>
    db.exec(`
      CREATE TABLE room_clients (
        room TEXT NOT NULL,
        client INTEGER NOT NULL, -- Yjs clientID
        owner TEXT NOT NULL, -- the JWT sub that first wrote under it
        PRIMARY KEY (room, client)
      ) WITHOUT ROWID;
    `),
  // 4: the store-side debounce of room.changed, coalescing and leases of deliveries, the write probe.
  (db) =>
    db.exec(`
      CREATE TABLE room_changes (
        room TEXT PRIMARY KEY,
        first_at INTEGER NOT NULL, -- first unannounced change committed (process clock, ms since the epoch)
        last_at INTEGER NOT NULL
      );
      ALTER TABLE webhook_deliveries ADD COLUMN room TEXT; -- set for room.changed, which coalesces per room
      ALTER TABLE webhook_deliveries ADD COLUMN leased_until INTEGER; -- set while an attempt is in flight
      CREATE INDEX webhook_deliveries_room_pending ON webhook_deliveries (room, endpoint_id)
        WHERE status = 'pending' AND room IS NOT NULL;
      -- One row, rewritten by the readiness check to learn whether writes succeed again after a failure.
      CREATE TABLE store_probe (id INTEGER PRIMARY KEY CHECK (id = 1), at INTEGER NOT NULL);
    `),
  // 5: secret rotation: the replaced secret keeps signing until it expires (Store.rotateWebhookSecret).
  (db) =>
    db.exec(`
      ALTER TABLE webhook_endpoints ADD COLUMN previous_secret TEXT;
      ALTER TABLE webhook_endpoints ADD COLUMN previous_secret_expires_at INTEGER; -- wall clock; NULL: while set
    `),
  // 6: room.created / room.deleted recorded with the record change, until they become deliveries.
  (db) =>
    db.exec(`
      CREATE TABLE room_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        type TEXT NOT NULL CHECK (type IN ('room.created', 'room.deleted')),
        room TEXT NOT NULL,
        at INTEGER NOT NULL -- wall clock, ms since the epoch
      );
    `),
  // 7: version history: immutable snapshots of rooms' documents (Store.saveVersion).
  (db) =>
    db.exec(`
      CREATE TABLE room_versions (
        id TEXT PRIMARY KEY, -- ver_…, sortable: newer versions have greater ids
        room TEXT NOT NULL,
        created_at INTEGER NOT NULL, -- ms since the Unix epoch
        kind TEXT NOT NULL CHECK (kind IN ('auto', 'named', 'before-restore')),
        label TEXT,
        author TEXT, -- the JWT sub of who asked; NULL for automatic versions
        fingerprint BLOB NOT NULL, -- encoded Yjs snapshot (state vector and delete set)
        data BLOB NOT NULL -- the document as one Yjs update
      );
      CREATE INDEX room_versions_room_id ON room_versions (room, id);
    `),
  // 8: users removed from a room (REST kick): tokens issued before the removal no longer admit them.
  (db) =>
    db.exec(`
      CREATE TABLE room_removals (
        room TEXT NOT NULL,
        user_id TEXT NOT NULL,
        at INTEGER NOT NULL, -- ms since the Unix epoch, the latest removal
        PRIMARY KEY (room, user_id)
      ) WITHOUT ROWID;
    `),
]

function schemaVersion(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number
}

function migrate(db: Database.Database): void {
  const current = schemaVersion(db)
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

/** True for paths whose database exists only inside one connection, so no second one can share it. */
function isPrivateDatabase(path: string): boolean {
  return path === ':memory:' || path === ''
}

/** The writer's connection: creates the file (and its directories) if needed, turns on WAL, migrates. */
export function openWriter(path: string): Database.Database {
  if (!isPrivateDatabase(path)) mkdirSync(dirname(path), { recursive: true })
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

/**
 * The reader's connection to a file the writer has already created and migrated. Read-only twice over
 * (the open flag and `query_only`), so a statement that writes fails instead of taking the write lock.
 * In WAL mode it reads the last committed state without waiting for the writer or blocking it.
 */
export function openReader(path: string): Database.Database {
  const db = new Database(path, { readonly: true, fileMustExist: true })
  try {
    db.pragma('query_only = ON')
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`)
    const version = schemaVersion(db)
    if (version !== MIGRATIONS.length) {
      throw new Error(`read-only connection sees schema version ${version}, expected ${MIGRATIONS.length}`)
    }
    return db
  } catch (err) {
    db.close()
    throw err
  }
}
