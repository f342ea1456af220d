/**
 * The PostgreSQL store: the shared, durable store several Tandem instances run on (DESIGN §7).
 *
 * - Appends and clientID bindings go through ONE ordered writer connection (retrying-writer.ts): many
 *   items, one transaction, commits in call order, `synchronous_commit = on`. While Postgres cannot be
 *   reached the writer keeps the waiting items and retries on a new connection with capped backoff, so
 *   no append resolves before its commit and the waiting ones commit in order once Postgres answers; past
 *   `maxWaitingBytes` new appends are refused (the room closes its peers with 1013, as for a full disk).
 * - Everything else runs on a pg.Pool. Compaction plans on a worker thread (compaction-thread.ts); the
 *   event loop does nothing heavier than the driver's parsing.
 *
 * Concurrency between instances is settled in the database, not in any one process's memory:
 *
 * - Compaction holds `pg_advisory_xact_lock(compact, room)` (two compactions of a room never overlap) and
 *   deletes exactly the row ids it read (`id = ANY($1)`): a row whose id was allocated before the read but
 *   that committed after it survives. Such a row can sit before the compacted rows in id order; Yjs
 *   updates commute, so a load still rebuilds the same document.
 * - Deletion. Each room has a generation, the number of times it was deleted (`room_tombstones`). This
 *   adapter remembers the generation it saw when it last loaded a room (or deleted it), and every append
 *   or binding carries it. The append's transaction takes the room's lifetime lock shared, then reads the
 *   generation; deleteRoom takes the same lock exclusively, deletes and bumps the generation. So the two
 *   are ordered, and an append from an instance that loaded the room before a deletion that committed
 *   first is refused (`StaleRoomError`; the room closes its peers with 1013 and they rejoin, loading the
 *   room as it is now, tombstone included). Nothing loaded before a deletion is written after it. Within
 *   one process the registry already orders deletes after the room's appends (as with SQLite), so this
 *   adapter's own deleteRoom moves its remembered generation forward.
 */
import pg from 'pg'
import type { Logger } from 'pino'
import { checkedBindings } from './client-owners.js'
import { compactionResult, planCompaction, type CompactionPlan } from './compaction.js'
import { CompactionThread } from './compaction-thread.js'
import { processNow, type Now } from '../clock.js'
import { Listeners } from './listeners.js'
import {
  LOCK,
  PostgresOpenError,
  clientConfig,
  describePgError,
  isValidSchemaName,
  migrateDatabase,
  quoteSchema,
  redactUrl,
} from './postgres-schema.js'
import { RetryingWriter, WriterUnavailableError } from './retrying-writer.js'
import { mergeStateVectors } from './state-vector.js'
import { StoreUnavailableError } from './unavailable.js'
import type {
  ClientBinding,
  CompactionResult,
  DeliveryOutcome,
  ListDeliveriesOptions,
  ListRoomsOptions,
  NewWebhookDelivery,
  RecordedRoomEvent,
  RoomChange,
  RoomMetadata,
  RoomRecord,
  SettledRoomChange,
  SettledRoomEvent,
  Store,
  StoredDocument,
  WebhookDelivery,
  WebhookEndpoint,
} from './store.js'
import type { ListVersionsOptions, NewVersion, VersionInfo, VersionKind } from './versions.js'

export { PostgresOpenError, redactUrl } from './postgres-schema.js'

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database`. Never logged with its password. */
  url: string
  /** Schema holding the tables; created if missing. @default 'public' */
  schema?: string
  /** Most pooled connections for reads and non-append writes (the writer has its own). @default 10 */
  poolSize?: number
  /** Connect and query timeout, ms: a stalled connection is given up after this. @default 10_000 */
  timeoutMs?: number
  /** Bytes of appends that may wait for an unreachable database before new ones are refused. @default 64 MiB */
  maxWaitingBytes?: number
  /** Writer reconnect backoff. @default 50 and 2_000 */
  retryBaseMs?: number
  retryMaxMs?: number
  /** Times recorded for room changes. @default processNow (clock.ts) */
  now?: Now
}

/** An append or binding for a room that was deleted after this instance loaded it. */
export class StaleRoomError extends Error {
  constructor(room: string) {
    super(`room ${room} was deleted after it was loaded here; reload it before writing`)
    this.name = 'StaleRoomError'
  }
}

/** What goes through the writer, in call order; `generation` is the room's as this adapter last saw it. */
type PendingWrite =
  | { kind: 'append'; room: string; generation: number; data: Uint8Array }
  | { kind: 'bind'; room: string; generation: number; bindings: ClientBinding[] }

const MIB = 1024 * 1024
/**
 * Commits start at least this many ms apart: a round trip and a transaction per commit is what a cluster
 * instance's writer costs, and without the spacing faster commits only meant more of them (the same
 * spacing as the SQLite store's). A saved acknowledgement waits at most this much longer.
 */
const COMMIT_SPACING_MS = 5
/** ...unless this many items are waiting (closed-loop writers must not wait). */
const COMMIT_ENOUGH_ITEMS = 64

/**
 * Connects, migrates the schema (see postgres-schema.ts) and resolves with the store. Rejects with a
 * PostgresOpenError naming the setting to fix (never the password) when the URL is bad, the server
 * unreachable or the migration fails, so a bad configuration stops the process at boot.
 */
export async function createPostgresStore(opts: PostgresStoreOptions, log: Logger): Promise<Store> {
  const schema = opts.schema ?? 'public'
  if (!isValidSchemaName(schema)) {
    throw new PostgresOpenError('TANDEM_DATABASE_SCHEMA', `${JSON.stringify(schema)} is not a schema name (lowercase letters, digits, _; at most 63)`)
  }
  let parsed: URL
  try {
    parsed = new URL(opts.url)
  } catch {
    throw new PostgresOpenError('TANDEM_DATABASE_URL', 'not a valid URL (expected postgres://user:password@host:port/database)')
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new PostgresOpenError('TANDEM_DATABASE_URL', `expected a postgres:// URL, got ${parsed.protocol}//…`)
  }
  const timeoutMs = opts.timeoutMs ?? 10_000
  const storeLog = log.child({ component: 'store', store: 'postgres' })
  const migrated = await migrateDatabase({ url: opts.url, timeoutMs, schema })
  const pool = new pg.Pool({ ...clientConfig({ url: opts.url, timeoutMs }), max: opts.poolSize ?? 10, idleTimeoutMillis: 30_000 })
  // Idle pooled clients whose connection dies emit 'error' on the pool; the next checkout reconnects.
  pool.on('error', (err) => storeLog.warn({ err: { message: describePgError(err) } }, 'idle postgres connection lost'))
  storeLog.info({ url: redactUrl(opts.url), schema, schemaVersion: migrated.to, migratedFrom: migrated.from }, 'postgres store opened')
  return new PostgresStore(opts, schema, timeoutMs, pool, storeLog)
}

/** True for failures a retry on a new connection may fix: the connection, not the data, was the problem. */
export function isTransientPgError(err: unknown): boolean {
  if (err instanceof AggregateError) return err.errors.some(isTransientPgError)
  if (!(err instanceof Error)) return false
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string') {
    if (/^08/.test(code)) return true // connection exception
    if (TRANSIENT_SQLSTATES.has(code) || TRANSIENT_ERRNOS.has(code)) return true
  }
  return TRANSIENT_MESSAGES.test(err.message)
}

const TRANSIENT_SQLSTATES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, in recovery)
  '53300', // too_many_connections
])
const TRANSIENT_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'])
/**
 * pg's own wording for a connection that died, stalled or never came up (these carry no code). `timeout
 * expired` is pg.Client's connect timeout (a server that accepts the TCP connection and then says nothing):
 * without it a stalled Postgres failed the writer's reconnect for good and broke the rooms waiting on it.
 */
const TRANSIENT_MESSAGES =
  /Connection terminated|connection timeout|Query read timeout|not queryable|Client was closed|timeout exceeded when trying to connect|timeout expired/i

class PostgresStore implements Store {
  readonly #s: string
  readonly #pool: pg.Pool
  readonly #writer: RetryingWriter<PendingWrite>
  readonly #log: Logger
  readonly #now: Now
  readonly #url: string
  readonly #timeoutMs: number
  readonly #changeListeners: Listeners
  readonly #planner = new CompactionThread()
  /** Rooms whose generation (deletion count) is above 0, as last loaded or deleted here; absent means 0. */
  readonly #generations = new Map<string, number>()
  #writerClient: pg.Client | null = null
  #connecting: Promise<pg.Client> | null = null
  /** Settles when the last compaction asked for has finished: one at a time, as the other adapters. */
  #compactions: Promise<void> = Promise.resolve()
  /** The last commit that failed for good (not a connection problem); readiness probes until a write works. */
  #writeFailure: Error | null = null
  #closed = false
  #closing: Promise<void> | null = null

  constructor(opts: PostgresStoreOptions, schema: string, timeoutMs: number, pool: pg.Pool, log: Logger) {
    this.#s = quoteSchema(schema)
    this.#pool = pool
    this.#log = log
    this.#now = opts.now ?? processNow
    this.#url = opts.url
    this.#timeoutMs = timeoutMs
    this.#changeListeners = new Listeners(log)
    this.#writer = new RetryingWriter<PendingWrite>({
      commit: (items) => this.#commitBatch(items),
      isTransient: isTransientPgError,
      sizeOf: (item) => (item.kind === 'append' ? item.data.byteLength : 64),
      minIntervalMs: COMMIT_SPACING_MS,
      enoughItems: COMMIT_ENOUGH_ITEMS,
      maxWaitingBytes: opts.maxWaitingBytes ?? 64 * MIB,
      ...(opts.retryBaseMs !== undefined && { retryBaseMs: opts.retryBaseMs }),
      ...(opts.retryMaxMs !== undefined && { retryMaxMs: opts.retryMaxMs }),
      onRetry: (err, attempt, delayMs) => {
        // The first failure, then every tenth: an outage of minutes is a few lines, not thousands.
        if (attempt === 1 || attempt % 10 === 0) {
          log.warn(
            { err: { message: describePgError(err) }, attempt, retryInMs: delayMs, waitingBytes: this.#writer.waitingBytes },
            'postgres unreachable; appends wait and are retried',
          )
        }
      },
      onRecovered: (attempts) => log.info({ attempts }, 'postgres reachable again; waiting appends committed'),
    })
  }

  // ---- document log -------------------------------------------------------------------------------

  async loadUpdates(room: string): Promise<StoredDocument> {
    this.#assertOpen()
    // One statement, one snapshot: rows, tombstone, generation and owners agree with each other.
    const { rows } = await this.#query<{
      tombstone: Buffer | null
      generation: number | null
      updates: Buffer[]
      clients: number[]
      owners: string[]
    }>(
      `SELECT
         (SELECT state_vector FROM ${this.#s}.room_tombstones WHERE name = $1) AS tombstone,
         (SELECT generation FROM ${this.#s}.room_tombstones WHERE name = $1) AS generation,
         (SELECT coalesce(array_agg(data ORDER BY id), '{}') FROM ${this.#s}.updates WHERE room = $1) AS updates,
         (SELECT coalesce(array_agg(client::float8 ORDER BY client), '{}') FROM ${this.#s}.room_clients WHERE room = $1) AS clients,
         (SELECT coalesce(array_agg(owner ORDER BY client), '{}') FROM ${this.#s}.room_clients WHERE room = $1) AS owners`,
      [room],
    )
    const row = rows[0]
    if (!row) throw new Error('postgres returned no row for a load')
    this.#rememberGeneration(room, row.generation ?? 0)
    const updates = row.updates.map((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength))
    let byteSize = 0
    for (const u of updates) byteSize += u.byteLength
    const clientOwners = new Map<number, string>()
    row.clients.forEach((client, i) => clientOwners.set(client, row.owners[i] ?? ''))
    return {
      updates,
      rowCount: updates.length,
      byteSize,
      tombstone: row.tombstone === null ? null : new Uint8Array(row.tombstone),
      clientOwners,
    }
  }

  appendUpdate(room: string, update: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(closedError())
    // Copy now: callers may reuse their buffer (uWS does) before the batch is sent.
    return this.#writer.enqueue({ kind: 'append', room, generation: this.#generationOf(room), data: new Uint8Array(update) })
  }

  bindClients(room: string, bindings: readonly ClientBinding[]): Promise<void> {
    if (this.#closed) return Promise.reject(closedError())
    let checked: ClientBinding[]
    try {
      checked = checkedBindings(bindings)
    } catch (err) {
      return Promise.reject(err)
    }
    // Through the writer: appends issued after this commit in the same transaction or a later one.
    return this.#writer.enqueue({ kind: 'bind', room, generation: this.#generationOf(room), bindings: checked })
  }

  compact(room: string): Promise<CompactionResult> {
    const run = this.#compactions.then(async () => {
      this.#assertOpen()
      const result = await this.#compactNow(room)
      if (result.outcome === 'kept') this.#log.error({ roomId: room, rows: result.rowsRead, reason: result.reason }, 'compaction kept the rows')
      return result
    })
    this.#compactions = run.then(noop, noop)
    return run
  }

  async #compactNow(room: string): Promise<CompactionResult> {
    return this.#transaction(async (client) => {
      // Another instance's compaction of this room waits here; appends do not (they share the second lock).
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK.compact, room])
      // Shared with appends, exclusive for deleteRoom: the room cannot be deleted under the compaction.
      // A statement of its own, so that the next one's snapshot is taken after the locks are held.
      await client.query('SELECT pg_advisory_xact_lock_shared($1, hashtext($2))', [LOCK.room, room])
      const { rows } = await client.query<{ id: number; data: Buffer }>(
        `SELECT id, data FROM ${this.#s}.updates WHERE room = $1 ORDER BY id`,
        [room],
      )
      const data = rows.map((r) => r.data)
      // Fewer than two rows needs no replay at all; anything else is replayed off the event loop.
      const plan: CompactionPlan = data.length < 2 ? planCompaction(data) : await this.#planner.plan(data)
      if (plan.outcome === 'compacted') {
        await client.query(
          `INSERT INTO ${this.#s}.updates (room, data, created_at)
           SELECT $1, d, $3::bigint FROM unnest($2::bytea[]) WITH ORDINALITY AS t(d, n) ORDER BY n`,
          [room, plan.rows.map(toBuffer), Date.now()],
        )
        // Exactly the rows read: never `id <= max`, which would take a row allocated earlier but committed later.
        await client.query(`DELETE FROM ${this.#s}.updates WHERE id = ANY($1::bigint[])`, [rows.map((r) => r.id)])
      }
      return compactionResult(rows.length, plan)
    })
  }

  // ---- room records -------------------------------------------------------------------------------

  async createRoom(name: string, metadata: RoomMetadata): Promise<RoomRecord | null> {
    this.#assertOpen()
    const now = Date.now()
    // One statement, so the room.created event commits with the record (a data-modifying CTE always runs).
    const { rows } = await this.#query<RoomRow>(
      `WITH ins AS (
         INSERT INTO ${this.#s}.rooms (name, created_at, updated_at, metadata) VALUES ($1, $2, $2, $3)
         ON CONFLICT (name) DO NOTHING RETURNING name, created_at, updated_at, metadata
       ), ev AS (
         INSERT INTO ${this.#s}.room_events (type, room, at) SELECT 'room.created', name, created_at FROM ins
       )
       SELECT ${this.#roomColumns('ins')} FROM ins`,
      [name, now, JSON.stringify(metadata)],
    )
    return rows[0] ? toRoomRecord(rows[0]) : null
  }

  async ensureRoom(name: string): Promise<{ record: RoomRecord; created: boolean }> {
    this.#assertOpen()
    // A record created by another transaction after this statement's snapshot is neither inserted nor
    // seen: then the next attempt, with a new snapshot, sees it.
    for (let attempt = 0; attempt < 5; attempt++) {
      const { rows } = await this.#query<RoomRow & { created: boolean }>(
        `WITH ins AS (
           INSERT INTO ${this.#s}.rooms (name, created_at, updated_at, metadata) VALUES ($1, $2, $2, '{}')
           ON CONFLICT (name) DO NOTHING RETURNING name, created_at, updated_at, metadata
         ), ev AS (
           INSERT INTO ${this.#s}.room_events (type, room, at) SELECT 'room.created', name, created_at FROM ins
         )
         SELECT ${this.#roomColumns('ins')}, true AS created FROM ins
         UNION ALL
         SELECT ${this.#roomColumns('r')}, false AS created FROM ${this.#s}.rooms r
         WHERE r.name = $1 AND NOT EXISTS (SELECT 1 FROM ins)`,
        [name, Date.now()],
      )
      const row = rows[0]
      if (row) return { record: toRoomRecord(row), created: row.created }
    }
    throw new Error(`room ${name} vanished while being ensured`)
  }

  async getRoom(name: string): Promise<RoomRecord | null> {
    this.#assertOpen()
    const { rows } = await this.#query<RoomRow>(`SELECT ${this.#roomColumns('r')} FROM ${this.#s}.rooms r WHERE r.name = $1`, [name])
    return rows[0] ? toRoomRecord(rows[0]) : null
  }

  async listRooms(opts: ListRoomsOptions): Promise<RoomRecord[]> {
    this.#assertOpen()
    const where: string[] = []
    const params: unknown[] = []
    const param = (value: unknown): string => {
      params.push(value)
      return `$${params.length}`
    }
    if (opts.after !== undefined) where.push(`r.name > ${param(opts.after)}`)
    if (opts.prefix !== undefined) {
      const p = param(opts.prefix)
      // left() compares characters literally ('%' and '_' are no wildcards); the range keeps the index.
      where.push(`r.name >= ${p}`, `left(r.name, char_length(${p})) = ${p}`)
      const upper = prefixUpperBound(opts.prefix)
      if (upper !== null) where.push(`r.name < ${param(upper)}`)
    }
    const filter = where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''
    const { rows } = await this.#query<RoomRow>(
      `SELECT ${this.#roomColumns('r')} FROM ${this.#s}.rooms r ${filter} ORDER BY r.name LIMIT ${param(clampLimit(opts.limit))}`,
      params,
    )
    return rows.map(toRoomRecord)
  }

  async updateRoomMetadata(name: string, metadata: RoomMetadata): Promise<RoomRecord | null> {
    this.#assertOpen()
    const { rows } = await this.#query<RoomRow>(
      `WITH up AS (
         UPDATE ${this.#s}.rooms SET metadata = $2, updated_at = $3 WHERE name = $1
         RETURNING name, created_at, updated_at, metadata
       )
       SELECT ${this.#roomColumns('up')} FROM up`,
      [name, JSON.stringify(metadata), Date.now()],
    )
    return rows[0] ? toRoomRecord(rows[0]) : null
  }

  async recordRemoval(room: string, userId: string, atMs: number): Promise<void> {
    this.#assertOpen()
    await this.#query(
      `INSERT INTO ${this.#s}.room_removals (room, user_id, at) VALUES ($1, $2, $3)
       ON CONFLICT (room, user_id) DO UPDATE SET at = greatest(${this.#s}.room_removals.at, excluded.at)`,
      [room, userId, atMs],
    )
  }

  async loadRemovals(room: string): Promise<Map<string, number>> {
    this.#assertOpen()
    const { rows } = await this.#query<{ user_id: string; at: number }>(`SELECT user_id, at FROM ${this.#s}.room_removals WHERE room = $1`, [room])
    return new Map(rows.map((row) => [row.user_id, row.at]))
  }

  async deleteRoom(name: string, tombstone: Uint8Array | null): Promise<boolean> {
    this.#assertOpen()
    // This instance's appends issued before the delete commit before it (or the delete waits for them).
    if (this.#writer.outage !== null) throw unreachableError(this.#writer.outage)
    await this.#writer.flush()
    const { existed, generation } = await this.#transaction(async (client) => {
      // Exclusive: waits for appends and compactions of this room in flight anywhere, and holds new ones.
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK.room, name])
      const stored = await client.query<{ state_vector: Buffer | null; generation: number }>(
        `SELECT state_vector, generation FROM ${this.#s}.room_tombstones WHERE name = $1 FOR UPDATE`,
        [name],
      )
      const before = stored.rows[0]
      const storedVector = before?.state_vector ? new Uint8Array(before.state_vector) : null
      // A malformed vector throws here and rolls the whole deletion back.
      const merged = tombstone ? mergeStateVectors(storedVector, tombstone) : storedVector
      const record = await client.query(`DELETE FROM ${this.#s}.rooms WHERE name = $1`, [name])
      const log = await client.query(`DELETE FROM ${this.#s}.updates WHERE room = $1`, [name])
      await client.query(`DELETE FROM ${this.#s}.room_clients WHERE room = $1`, [name])
      await client.query(`DELETE FROM ${this.#s}.room_removals WHERE room = $1`, [name])
      await client.query(`DELETE FROM ${this.#s}.room_versions WHERE room = $1`, [name])
      const existed = (record.rowCount ?? 0) + (log.rowCount ?? 0) > 0
      if (existed) {
        await client.query(`INSERT INTO ${this.#s}.room_events (type, room, at) VALUES ('room.deleted', $1, $2)`, [name, Date.now()])
      }
      if (!existed && merged === storedVector) return { existed, generation: before?.generation ?? 0 }
      const bumped = await client.query<{ generation: number }>(
        `INSERT INTO ${this.#s}.room_tombstones (name, state_vector, generation) VALUES ($1, $2, 1)
         ON CONFLICT (name) DO UPDATE SET state_vector = excluded.state_vector,
           generation = ${this.#s}.room_tombstones.generation + 1
         RETURNING generation`,
        [name, merged === null ? null : toBuffer(merged)],
      )
      return { existed, generation: bumped.rows[0]?.generation ?? 0 }
    })
    this.#rememberGeneration(name, generation)
    return existed
  }

  // ---- versions -----------------------------------------------------------------------------------

  async saveVersion(version: NewVersion, keepAuto?: number): Promise<VersionInfo | null> {
    this.#assertOpen()
    return this.#transaction(async (client) => {
      // Shared with appends, exclusive for deleteRoom: a version never outlives a deletion it raced with.
      await client.query('SELECT pg_advisory_xact_lock_shared($1, hashtext($2))', [LOCK.room, version.room])
      const { rows } = await client.query<VersionRow>(
        `INSERT INTO ${this.#s}.room_versions (id, room, created_at, kind, label, author, fingerprint, data)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE EXISTS (SELECT 1 FROM ${this.#s}.rooms WHERE name = $2)
         RETURNING ${VERSION_COLUMNS}`,
        [version.id, version.room, version.createdAt, version.kind, version.label, version.author, toBuffer(version.fingerprint), toBuffer(version.update)],
      )
      const row = rows[0]
      if (!row) return null
      if (keepAuto !== undefined && version.kind === 'auto') {
        await client.query(
          `DELETE FROM ${this.#s}.room_versions WHERE room = $1 AND kind = 'auto' AND id NOT IN (
             SELECT id FROM ${this.#s}.room_versions WHERE room = $1 AND kind = 'auto' ORDER BY id DESC LIMIT $2)`,
          [version.room, clampLimit(keepAuto)],
        )
      }
      return toVersionInfo(row)
    })
  }

  async listVersions(room: string, opts: ListVersionsOptions): Promise<VersionInfo[]> {
    this.#assertOpen()
    const { rows } = await this.#pool.query<VersionRow>(
      `SELECT ${VERSION_COLUMNS} FROM ${this.#s}.room_versions
       WHERE room = $1 AND ($2::text IS NULL OR id < $2::text) ORDER BY id DESC LIMIT $3`,
      [room, opts.before ?? null, clampLimit(opts.limit)],
    )
    return rows.map(toVersionInfo)
  }

  async getVersion(room: string, id: string): Promise<VersionInfo | null> {
    this.#assertOpen()
    const { rows } = await this.#pool.query<VersionRow>(
      `SELECT ${VERSION_COLUMNS} FROM ${this.#s}.room_versions WHERE room = $1 AND id = $2`,
      [room, id],
    )
    return rows[0] ? toVersionInfo(rows[0]) : null
  }

  async getVersionUpdate(room: string, id: string): Promise<Uint8Array | null> {
    this.#assertOpen()
    const { rows } = await this.#pool.query<{ data: Buffer }>(
      `SELECT data FROM ${this.#s}.room_versions WHERE room = $1 AND id = $2`,
      [room, id],
    )
    const data = rows[0]?.data
    return data === undefined ? null : new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  }

  async deleteVersion(room: string, id: string): Promise<boolean> {
    this.#assertOpen()
    const result = await this.#pool.query(`DELETE FROM ${this.#s}.room_versions WHERE room = $1 AND id = $2`, [room, id])
    return (result.rowCount ?? 0) > 0
  }

  /**
   * A session-level advisory lock on a connection of its own, held while `restore` runs (it writes
   * through other connections). If that connection drops meanwhile the lock goes with it: the next restore
   * may then start before this one ends, as without a lock.
   */
  async exclusiveRestore<T>(room: string, restore: (opts: { shared: boolean }) => Promise<T>): Promise<T> {
    this.#assertOpen()
    let client: pg.PoolClient
    try {
      client = await this.#pool.connect()
    } catch (err) {
      throw unavailableIfTransient(err)
    }
    let broken: unknown = undefined
    const onConnectionError = (err: Error): void => {
      broken = err
    }
    client.on('error', onConnectionError)
    try {
      try {
        await client.query('SELECT pg_advisory_lock($1, hashtext($2))', [LOCK.restore, room])
      } catch (err) {
        broken = err
        throw unavailableIfTransient(err)
      }
      try {
        return await restore({ shared: true })
      } finally {
        if (broken === undefined) await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [LOCK.restore, room]).catch((err: unknown) => (broken = err))
      }
    } finally {
      client.off('error', onConnectionError)
      // A connection that failed may still hold the lock: destroyed rather than handed to the next caller.
      client.release(broken === undefined ? undefined : true)
    }
  }

  // ---- webhook endpoints and outbox ----------------------------------------------------------------

  async saveWebhookEndpoint(endpoint: WebhookEndpoint): Promise<void> {
    this.#assertOpen()
    await this.#query(
      `INSERT INTO ${this.#s}.webhook_endpoints (id, url, secret, events, created_at, disabled_at, previous_secret, previous_secret_expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (id) DO UPDATE SET url = excluded.url, secret = excluded.secret, events = excluded.events,
         created_at = excluded.created_at, disabled_at = excluded.disabled_at, previous_secret = excluded.previous_secret,
         previous_secret_expires_at = excluded.previous_secret_expires_at`,
      [
        endpoint.id,
        endpoint.url,
        endpoint.secret,
        endpoint.events === null ? null : JSON.stringify(endpoint.events),
        endpoint.createdAt,
        endpoint.disabledAt,
        endpoint.previousSecret,
        endpoint.previousSecretExpiresAt,
      ],
    )
  }

  async listWebhookEndpoints(): Promise<WebhookEndpoint[]> {
    this.#assertOpen()
    const { rows } = await this.#query<EndpointRow>(
      `SELECT ${ENDPOINT_COLUMNS} FROM ${this.#s}.webhook_endpoints ORDER BY created_at, id`,
    )
    return rows.map(toEndpoint)
  }

  async rotateWebhookSecret(id: string, newSecret: string, previousExpiresAt: number | null): Promise<WebhookEndpoint | null> {
    this.#assertOpen()
    // One statement: the replaced secret is read and moved in the same row update, whoever rotates at once.
    const { rows } = await this.#query<EndpointRow>(
      `UPDATE ${this.#s}.webhook_endpoints
         SET previous_secret = CASE WHEN $2::bigint IS NULL THEN NULL ELSE secret END,
             previous_secret_expires_at = $2::bigint, secret = $3
       WHERE id = $1 RETURNING ${ENDPOINT_COLUMNS}`,
      [id, previousExpiresAt, newSecret],
    )
    const row = rows[0]
    return row === undefined ? null : toEndpoint(row)
  }

  async deleteWebhookEndpoint(id: string): Promise<boolean> {
    this.#assertOpen()
    const res = await this.#query(
      `WITH pending AS (DELETE FROM ${this.#s}.webhook_deliveries WHERE endpoint_id = $1 AND status = 'pending')
       DELETE FROM ${this.#s}.webhook_endpoints WHERE id = $1`,
      [id],
    )
    return (res.rowCount ?? 0) > 0
  }

  async disableWebhookEndpoint(id: string, at: number): Promise<void> {
    this.#assertOpen()
    await this.#query(`UPDATE ${this.#s}.webhook_endpoints SET disabled_at = $2 WHERE id = $1`, [id, at])
  }

  async enqueueDeliveries(deliveries: readonly NewWebhookDelivery[]): Promise<void> {
    this.#assertOpen()
    if (deliveries.length === 0) return
    // One statement: all or nothing (a duplicate id fails it whole).
    await this.#query(
      `INSERT INTO ${this.#s}.webhook_deliveries
         (id, endpoint_id, event_type, payload, status, attempts, next_attempt_at, created_at, updated_at)
       SELECT id, ep, ev, body, 'pending', 0, at, at, at
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[]) WITH ORDINALITY AS t(id, ep, ev, body, at, n)
       ORDER BY n`,
      [
        deliveries.map((d) => d.id),
        deliveries.map((d) => d.endpointId),
        deliveries.map((d) => d.eventType),
        deliveries.map((d) => d.payload),
        deliveries.map((d) => d.createdAt),
      ],
    )
  }

  async claimDueDeliveries(now: number, limit: number, leaseMs: number): Promise<WebhookDelivery[]> {
    this.#assertOpen()
    const until = now + leaseMs
    // SKIP LOCKED: instances claiming at once take disjoint deliveries instead of waiting for each other.
    const { rows } = await this.#query<DeliveryRow & { due_at: number }>(
      `WITH due AS (
         SELECT id, next_attempt_at FROM ${this.#s}.webhook_deliveries
         WHERE status = 'pending' AND next_attempt_at <= $1::float8
         ORDER BY next_attempt_at, created_at, id LIMIT $2
         FOR UPDATE SKIP LOCKED
       )
       UPDATE ${this.#s}.webhook_deliveries d SET next_attempt_at = $3, leased_until = $3
       FROM due WHERE d.id = due.id
       RETURNING ${DELIVERY_COLUMNS('d')}, due.next_attempt_at AS due_at`,
      [now, clampLimit(limit), until],
    )
    rows.sort((a, b) => a.due_at - b.due_at || a.created_at - b.created_at || compareBytes(a.id, b.id))
    return rows.map(toDelivery)
  }

  async completeDelivery(id: string, outcome: DeliveryOutcome, at: number): Promise<void> {
    this.#assertOpen()
    const t = `${this.#s}.webhook_deliveries`
    switch (outcome.status) {
      case 'delivered':
        await this.#query(
          `UPDATE ${t} SET status = 'delivered', attempts = attempts + 1, last_status_code = $2, updated_at = $3,
             leased_until = NULL WHERE id = $1`,
          [id, outcome.statusCode, at],
        )
        return
      case 'pending':
        await this.#query(
          `UPDATE ${t} SET status = 'pending', attempts = attempts + 1, next_attempt_at = $2, last_error = $3,
             last_status_code = $4, updated_at = $5, leased_until = NULL WHERE id = $1`,
          [id, outcome.nextAttemptAt, outcome.error, outcome.statusCode, at],
        )
        return
      case 'failed':
        await this.#query(
          `UPDATE ${t} SET status = 'failed', attempts = attempts + 1, last_error = $2, last_status_code = $3,
             updated_at = $4, leased_until = NULL WHERE id = $1`,
          [id, outcome.error, outcome.statusCode, at],
        )
        return
    }
  }

  async getDelivery(id: string): Promise<WebhookDelivery | null> {
    this.#assertOpen()
    const { rows } = await this.#query<DeliveryRow>(`SELECT ${DELIVERY_COLUMNS('d')} FROM ${this.#s}.webhook_deliveries d WHERE d.id = $1`, [id])
    return rows[0] ? toDelivery(rows[0]) : null
  }

  async listDeliveries(opts: ListDeliveriesOptions): Promise<WebhookDelivery[]> {
    this.#assertOpen()
    const limit = clampLimit(opts.limit)
    // '' sorts before every id, so it stands for "no cursor".
    const after = opts.after ?? ''
    const { rows } =
      opts.status === undefined
        ? await this.#query<DeliveryRow>(
            `SELECT ${DELIVERY_COLUMNS('d')} FROM ${this.#s}.webhook_deliveries d WHERE d.id > $1 ORDER BY d.id LIMIT $2`,
            [after, limit],
          )
        : await this.#query<DeliveryRow>(
            `SELECT ${DELIVERY_COLUMNS('d')} FROM ${this.#s}.webhook_deliveries d WHERE d.status = $1 AND d.id > $2 ORDER BY d.id LIMIT $3`,
            [opts.status, after, limit],
          )
    return rows.map(toDelivery)
  }

  async replayDelivery(id: string, now: number): Promise<WebhookDelivery | null> {
    this.#assertOpen()
    const { rows } = await this.#query<DeliveryRow>(
      `UPDATE ${this.#s}.webhook_deliveries d SET status = 'pending', attempts = 0, next_attempt_at = $2, updated_at = $2,
         leased_until = NULL WHERE d.id = $1
       RETURNING ${DELIVERY_COLUMNS('d')}`,
      [id, now],
    )
    return rows[0] ? toDelivery(rows[0]) : null
  }

  async countPendingDeliveries(): Promise<number> {
    this.#assertOpen()
    const { rows } = await this.#query<{ n: number }>(`SELECT count(*) AS n FROM ${this.#s}.webhook_deliveries WHERE status = 'pending'`)
    return rows[0]?.n ?? 0
  }

  async nextDeliveryDueAt(): Promise<number | null> {
    this.#assertOpen()
    const { rows } = await this.#query<{ at: number | null }>(
      `SELECT min(next_attempt_at) AS at FROM ${this.#s}.webhook_deliveries WHERE status = 'pending'`,
    )
    return rows[0]?.at ?? null
  }

  async dueRoomChanges(now: number, quietMs: number, maxWaitMs: number, limit: number): Promise<RoomChange[]> {
    this.#assertOpen()
    const { rows } = await this.#query<{ room: string; first_at: number; last_at: number }>(
      `SELECT room, first_at, last_at FROM ${this.#s}.room_changes
       WHERE last_at <= $1::float8 OR first_at <= $2::float8 ORDER BY first_at, room LIMIT $3`,
      [now - quietMs, now - maxWaitMs, clampLimit(limit)],
    )
    return rows.map((r) => ({ room: r.room, firstAt: r.first_at, lastAt: r.last_at }))
  }

  onRoomChanges(listener: () => void): () => void {
    return this.#changeListeners.add(listener)
  }

  async nextRoomChangeDueAt(quietMs: number, maxWaitMs: number): Promise<number | null> {
    this.#assertOpen()
    const { rows } = await this.#query<{ at: number | null }>(
      `SELECT min(least(last_at + $1::bigint, first_at + $2::bigint)) AS at FROM ${this.#s}.room_changes`,
      [quietMs, maxWaitMs],
    )
    return rows[0]?.at ?? null
  }

  async settleRoomChanges(changes: readonly SettledRoomChange[], now: number): Promise<void> {
    this.#assertOpen()
    if (changes.length === 0) return
    const d = `${this.#s}.webhook_deliveries`
    await this.#transaction(async (client) => {
      // Per room, in name order (no deadlock between instances settling overlapping sets): two instances
      // settling one room take turns, so the second coalesces into what the first wrote.
      const rooms = [...new Set(changes.map((c) => c.room))].sort(compareBytes)
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext(r)) FROM unnest($2::text[]) WITH ORDINALITY AS t(r, n) ORDER BY n', [
        LOCK.changes,
        rooms,
      ])
      for (const c of changes) {
        if (c.payload !== null) {
          for (const { id, endpointId } of c.deliveries) {
            // Pending and not being attempted right now (no lease, or an expired one); unsent first.
            const { rows } = await client.query<{ id: string; attempts: number; next_attempt_at: number }>(
              `SELECT id, attempts, next_attempt_at FROM ${d}
               WHERE room = $1 AND endpoint_id = $2 AND status = 'pending' AND event_type = 'room.changed'
                 AND (leased_until IS NULL OR leased_until <= $3)
               ORDER BY attempts > 0, created_at, id
               FOR UPDATE`,
              [c.room, endpointId, now],
            )
            const [first, ...rest] = rows
            const unsent = first?.attempts === 0 ? first : null
            const keptId = unsent?.id ?? id
            if (unsent) await client.query(`UPDATE ${d} SET payload = $2, updated_at = $3 WHERE id = $1`, [unsent.id, c.payload, now])
            let dueAt = Infinity
            for (const old of unsent ? rest : rows) {
              await client.query(`UPDATE ${d} SET status = 'failed', last_error = $2, updated_at = $3, leased_until = NULL WHERE id = $1`, [
                old.id,
                `superseded by ${keptId}`,
                now,
              ])
              dueAt = Math.min(dueAt, old.next_attempt_at)
            }
            if (!unsent) {
              await client.query(
                `INSERT INTO ${d} (id, endpoint_id, event_type, payload, status, attempts, next_attempt_at, created_at, updated_at, room)
                 VALUES ($1, $2, 'room.changed', $3, 'pending', 0, $4, $5, $5, $6)`,
                [id, endpointId, c.payload, Math.max(now, dueAt === Infinity ? now : dueAt), now, c.room],
              )
            }
          }
        }
        const cleared = await client.query(`DELETE FROM ${this.#s}.room_changes WHERE room = $1 AND last_at <= $2`, [c.room, c.lastAt])
        if (cleared.rowCount === 0) {
          await client.query(`UPDATE ${this.#s}.room_changes SET first_at = greatest(first_at, $2) WHERE room = $1`, [c.room, c.lastAt])
        }
      }
    })
  }

  async recordedRoomEvents(limit: number): Promise<RecordedRoomEvent[]> {
    this.#assertOpen()
    const { rows } = await this.#query<{ id: number; type: RecordedRoomEvent['type']; room: string; at: number }>(
      `SELECT id, type, room, at FROM ${this.#s}.room_events ORDER BY id LIMIT $1`,
      [clampLimit(limit)],
    )
    return rows.map((r) => ({ id: r.id, type: r.type, room: r.room, at: r.at }))
  }

  async settleRoomEvents(events: readonly SettledRoomEvent[]): Promise<void> {
    this.#assertOpen()
    if (events.length === 0) return
    await this.#transaction(async (client) => {
      // An instance settling the same event waits on its row lock here and then finds it gone: its
      // deliveries are not added, so each event becomes deliveries once across the cluster.
      const { rows } = await client.query<{ id: number }>(`DELETE FROM ${this.#s}.room_events WHERE id = ANY($1::bigint[]) RETURNING id`, [
        events.map((e) => e.id),
      ])
      const cleared = new Set(rows.map((r) => r.id))
      const deliveries = events.filter((e) => cleared.has(e.id)).flatMap((e) => e.deliveries)
      if (deliveries.length === 0) return
      await client.query(
        `INSERT INTO ${this.#s}.webhook_deliveries
           (id, endpoint_id, event_type, payload, status, attempts, next_attempt_at, created_at, updated_at)
         SELECT id, ep, ev, body, 'pending', 0, at, at, at
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[]) WITH ORDINALITY AS t(id, ep, ev, body, at, n)
         ORDER BY n`,
        [
          deliveries.map((d) => d.id),
          deliveries.map((d) => d.endpointId),
          deliveries.map((d) => d.eventType),
          deliveries.map((d) => d.payload),
          deliveries.map((d) => d.createdAt),
        ],
      )
    })
  }

  // ---- lifecycle ----------------------------------------------------------------------------------

  async ping(): Promise<void> {
    this.#assertOpen()
    if (this.#writer.outage !== null) throw unreachableError(this.#writer.outage)
    try {
      await this.#pool.query('SELECT 1')
    } catch (err) {
      throw new Error(`postgres is unreachable: ${describePgError(err)}`, { cause: err })
    }
    const failure = this.#writeFailure
    if (failure === null) return
    // The last commit failed for good (e.g. the server's disk is full): ready once a small write works.
    try {
      await this.#query(
        `INSERT INTO ${this.#s}.store_probe (id, at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = excluded.at`,
        [this.#now()],
      )
      if (this.#writeFailure === failure) this.#writeFailure = null
    } catch (err) {
      throw new Error(`postgres writes are failing (${failure.message}): ${describePgError(err)}`, { cause: err })
    }
  }

  close(): Promise<void> {
    this.#closed = true
    this.#closing ??= this.#shutdown()
    return this.#closing
  }

  async #shutdown(): Promise<void> {
    await this.#writer.close()
    await this.#compactions
    await this.#planner.close()
    const writer = this.#writerClient
    this.#writerClient = null
    if (writer) await endClient(writer)
    await this.#pool.end()
    this.#log.info('postgres store closed')
  }

  // ---- the writer ---------------------------------------------------------------------------------

  /** One transaction for a batch of appends and bindings; throws (to be retried or split) if it did not commit. */
  async #commitBatch(items: PendingWrite[]): Promise<(Error | null)[]> {
    const client = await this.#writerConnection()
    const started = performance.now()
    let results: (Error | null)[]
    try {
      results = await this.#appendBatch(client, items)
    } catch (err) {
      // One statement: a failure leaves no transaction open to roll back.
      if (isTransientPgError(err)) this.#dropWriter(client)
      else this.#writeFailure = err instanceof Error ? err : new Error(String(err))
      throw err
    }
    this.#writeFailure = null
    this.#log.debug({ items: items.length, commitMs: performance.now() - started }, 'batch committed')
    if (items.some((item, i) => item.kind === 'append' && results[i] === null)) this.#changeListeners.call()
    return results
  }

  /**
   * Commits a batch in one statement, so one round trip (schema function append_batch): it takes the
   * rooms' shared locks, checks each item's generation and writes the items whose room was not deleted
   * since they were queued; those that were are answered with StaleRoomError.
   */
  async #appendBatch(client: pg.Client, items: PendingWrite[]): Promise<(Error | null)[]> {
    const appendItems: number[] = []
    const appendData: Buffer[] = []
    const bindItems: number[] = []
    const bindClients: number[] = []
    const bindOwners: string[] = []
    items.forEach((item, i) => {
      if (item.kind === 'append') {
        appendItems.push(i + 1)
        appendData.push(toBuffer(item.data))
        return
      }
      for (const [clientId, owner] of item.bindings) {
        bindItems.push(i + 1)
        bindClients.push(clientId)
        bindOwners.push(owner)
      }
    })
    // Named: the writer's connection parses and plans the statement once, not on every commit.
    const { rows } = await client.query<{ stale: number[] }>({
      name: 'tandem_append_batch',
      text: `SELECT ${this.#s}.append_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) AS stale`,
      values: [
        LOCK.room,
        [...new Set(items.map((i) => i.room))].sort(compareBytes),
        items.map((i) => i.room),
        items.map((i) => i.generation),
        appendItems,
        appendData,
        bindItems,
        bindClients,
        bindOwners,
        Date.now(),
        this.#now(),
      ],
    })
    const stale = new Set(rows[0]?.stale ?? [])
    return items.map((item, i) => (stale.has(i + 1) ? new StaleRoomError(item.room) : null))
  }

  /** The writer's connection, opened on first use and after one was dropped. */
  async #writerConnection(): Promise<pg.Client> {
    if (this.#writerClient) return this.#writerClient
    this.#connecting ??= (async () => {
      const client = new pg.Client(clientConfig({ url: this.#url, timeoutMs: this.#timeoutMs }))
      client.on('error', (err) => {
        this.#log.warn({ err: { message: describePgError(err) } }, 'postgres writer connection lost')
        this.#dropWriter(client)
      })
      try {
        await client.connect()
      } catch (err) {
        void endClient(client)
        throw err
      }
      this.#writerClient = client
      return client
    })().finally(() => {
      this.#connecting = null
    })
    return this.#connecting
  }

  #dropWriter(client: pg.Client): void {
    if (this.#writerClient === client) this.#writerClient = null
    void endClient(client)
  }

  // ---- helpers ------------------------------------------------------------------------------------

  /** A pooled statement. A connection failure becomes StoreUnavailableError: callers answer "retry later". */
  async #query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.#pool.query<R>(text, values)
    } catch (err) {
      throw unavailableIfTransient(err)
    }
  }

  async #transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    try {
      return await this.#transactionOnce(work)
    } catch (err) {
      throw unavailableIfTransient(err)
    }
  }

  async #transactionOnce<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect()
    let broken: unknown = undefined
    // pg-pool takes its own error listener off a client it hands out, and pg emits 'error' when the
    // connection drops, even mid-query or between statements (a compaction plans off the event loop
    // while holding the transaction). Without a listener of ours that event would end the process; with
    // it, the statement in flight (or the next one) fails and the client is discarded below.
    const onConnectionError = (err: Error): void => {
      broken = err
    }
    client.on('error', onConnectionError)
    try {
      await client.query('BEGIN')
      const result = await work(client)
      await client.query('COMMIT')
      return result
    } catch (err) {
      try {
        await client.query('ROLLBACK')
      } catch (rollbackErr) {
        broken = rollbackErr
      }
      throw err
    } finally {
      client.off('error', onConnectionError)
      // A connection that was lost or failed to roll back is discarded instead of going back to the pool.
      client.release(broken !== undefined ? (broken instanceof Error ? broken : true) : undefined)
    }
  }

  #roomColumns(alias: string): string {
    return `${alias}.name AS name, ${alias}.created_at AS created_at, ${alias}.updated_at AS updated_at, ${alias}.metadata AS metadata,
      (SELECT coalesce(sum(length(u.data)), 0)::float8 FROM ${this.#s}.updates u WHERE u.room = ${alias}.name) AS size_bytes`
  }

  #generationOf(room: string): number {
    return this.#generations.get(room) ?? 0
  }

  /** Only rooms deleted at least once are kept, so the map grows with deletions, not with rooms. */
  #rememberGeneration(room: string, generation: number): void {
    if (generation > 0) this.#generations.set(room, generation)
    else this.#generations.delete(room)
  }

  #assertOpen(): void {
    if (this.#closed) throw closedError()
  }
}

interface RoomRow {
  name: string
  created_at: number
  updated_at: number
  metadata: string
  size_bytes: number
}

const ENDPOINT_COLUMNS = 'id, url, secret, events, created_at, disabled_at, previous_secret, previous_secret_expires_at'

interface EndpointRow {
  id: string
  url: string
  secret: string
  events: string | null
  created_at: number
  disabled_at: number | null
  previous_secret: string | null
  previous_secret_expires_at: number | null
}

interface DeliveryRow {
  id: string
  endpoint_id: string
  event_type: string
  payload: string
  created_at: number
  status: WebhookDelivery['status']
  attempts: number
  next_attempt_at: number
  last_error: string | null
  last_status_code: number | null
  updated_at: number
}

function DELIVERY_COLUMNS(a: string): string {
  return `${a}.id, ${a}.endpoint_id, ${a}.event_type, ${a}.payload, ${a}.created_at, ${a}.status, ${a}.attempts,
    ${a}.next_attempt_at, ${a}.last_error, ${a}.last_status_code, ${a}.updated_at`
}

function toRoomRecord(row: RoomRow): RoomRecord {
  return {
    name: row.name,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    metadata: JSON.parse(row.metadata) as RoomMetadata,
    sizeBytes: row.size_bytes,
  }
}

function toEndpoint(row: EndpointRow): WebhookEndpoint {
  return {
    id: row.id,
    url: row.url,
    secret: row.secret,
    events: row.events === null ? null : (JSON.parse(row.events) as string[]),
    createdAt: row.created_at,
    disabledAt: row.disabled_at,
    previousSecret: row.previous_secret,
    previousSecretExpiresAt: row.previous_secret_expires_at,
  }
}

function toDelivery(row: DeliveryRow): WebhookDelivery {
  return {
    id: row.id,
    endpointId: row.endpoint_id,
    eventType: row.event_type,
    payload: row.payload,
    createdAt: row.created_at,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    lastError: row.last_error,
    lastStatusCode: row.last_status_code,
    updatedAt: row.updated_at,
  }
}

const VERSION_COLUMNS = `id, room, created_at, kind, label, author, length(data)::float8 AS size_bytes, fingerprint`

interface VersionRow {
  id: string
  room: string
  created_at: number
  kind: string
  label: string | null
  author: string | null
  size_bytes: number
  fingerprint: Buffer
}

function toVersionInfo(row: VersionRow): VersionInfo {
  return {
    id: row.id,
    room: row.room,
    createdAt: row.created_at,
    kind: row.kind as VersionKind,
    label: row.label,
    author: row.author,
    sizeBytes: row.size_bytes,
    fingerprint: new Uint8Array(row.fingerprint),
  }
}

function toBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength)
}

/** As SQL's LIMIT after clamping: a non-negative integer. */
function clampLimit(limit: number): number {
  return Number.isFinite(limit) ? Math.max(0, Math.floor(limit)) : 0
}

/** UTF-8 byte order, which is code point order: the order of COLLATE "C". */
function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}

/**
 * Smallest string above every string that starts with `prefix` (code point order), or null when there is
 * none (or when a lone surrogate makes the bound inexact): lets the prefix filter use the index as a range.
 */
function prefixUpperBound(prefix: string): string | null {
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

/** Ends a client without waiting on a stalled socket: pg destroys the socket when a query hangs. */
async function endClient(client: pg.Client): Promise<void> {
  try {
    await Promise.race([client.end(), new Promise((resolve) => setTimeout(resolve, 1_000).unref())])
  } catch {
    // already gone
  }
  ;(client as unknown as { connection?: { stream?: { destroy?: () => void } } }).connection?.stream?.destroy?.()
}

/** A connection failure as StoreUnavailableError (the cause kept); anything else as it was. */
function unavailableIfTransient(err: unknown): unknown {
  if (err instanceof StoreUnavailableError || !isTransientPgError(err)) return err
  return new StoreUnavailableError(`postgres is unreachable: ${describePgError(err)}`, { cause: err })
}

function unreachableError(cause: unknown): WriterUnavailableError {
  return new WriterUnavailableError(`postgres is unreachable: ${describePgError(cause)}`, 0, { cause })
}

function closedError(): Error {
  return new Error('postgres store is closed')
}

const noop = (): void => {}
