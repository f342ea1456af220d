/**
 * The PostgreSQL schema: versioned migrations applied at boot (and by `tandem migrate`), plus the small
 * helpers every Postgres module shares (identifier check, URL redaction, lock keys, type parsing).
 *
 * Migrations run in one transaction under a transaction-level advisory lock keyed by the schema name, so
 * instances that start together take turns: the first applies what is missing, the others then find the
 * version current and apply nothing. A schema newer than this code is refused, never downgraded.
 */
import pg from 'pg'

/** Thrown when the store cannot open: `setting` names what the operator should look at. */
export class PostgresOpenError extends Error {
  constructor(
    readonly setting: 'TANDEM_DATABASE_URL' | 'TANDEM_DATABASE_SCHEMA',
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options)
    this.name = 'PostgresOpenError'
  }
}

/**
 * Lowercase unquoted-style identifiers only: the name is always quoted in SQL, and with lowercase letters
 * the quoted and unquoted spellings name the same schema, so `psql` users find it where they expect.
 */
export const SCHEMA_NAME_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/

export function isValidSchemaName(name: string): boolean {
  return SCHEMA_NAME_PATTERN.test(name)
}

/** The URL with its password replaced by `***`, for logs and errors. Never echoes an unparseable URL. */
export function redactUrl(url: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return '(unparseable URL)'
  }
  if (parsed.password !== '') parsed.password = '***'
  // A password may also hide in the query string (`?password=`).
  for (const key of [...parsed.searchParams.keys()]) {
    if (key.toLowerCase() === 'password') parsed.searchParams.set(key, '***')
  }
  return parsed.toString()
}

/**
 * First halves of the two-int advisory lock keys (the second half is `hashtext` of the room or schema).
 * Distinct namespaces, so a compaction never waits for an append, only for another compaction.
 */
export const LOCK = {
  /** Schema migrations, keyed by schema name. */
  migrate: 0x74616e00,
  /** A room's lifetime: appends and compactions share it, deleteRoom takes it exclusively. */
  room: 0x74616e01,
  /** Compaction of one room: exclusive, across processes. */
  compact: 0x74616e02,
  /** Settling one room's changes into deliveries. */
  changes: 0x74616e03,
  /** A restore of one room (session-level, held while it runs): one at a time across processes. */
  restore: 0x74616e04,
} as const

/** int8 as a JS number: every bigint we store (ms timestamps, ids, generations, counts) is below 2^53. */
const parseInt8 = (value: string): number => Number(value)

/** Type parsers for every connection: int8 as a number, the rest as pg does. */
export const PG_TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 ? parseInt8 : pg.types.getTypeParser(oid, format ?? 'text')) as pg.CustomTypesConfig['getTypeParser'],
}

/** `"schema"`: safe because the name was checked against SCHEMA_NAME_PATTERN. */
export function quoteSchema(schema: string): string {
  if (!isValidSchemaName(schema)) throw new PostgresOpenError('TANDEM_DATABASE_SCHEMA', `invalid schema name ${JSON.stringify(schema)}`)
  return `"${schema}"`
}

/** One migration: SQL run with `$S` replaced by the quoted schema. Append new ones; never edit a shipped one. */
const MIGRATIONS: readonly string[] = [
  // 1: the document log, room records and tombstones, clientID owners, webhooks, room changes, the probe.
  `
  CREATE TABLE $S.updates (
    id bigserial PRIMARY KEY,
    room text NOT NULL,
    data bytea NOT NULL,
    created_at bigint NOT NULL -- ms since the Unix epoch, as every *_at column
  );
  CREATE INDEX updates_room_id ON $S.updates (room, id);

  -- "C": byte order of UTF-8, i.e. code point order, the order the other adapters page rooms in.
  CREATE TABLE $S.rooms (
    name text COLLATE "C" PRIMARY KEY,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    metadata text NOT NULL DEFAULT '{}' -- JSON text exactly as written (jsonb would reorder keys)
  );

  -- One row per room ever deleted. generation counts deletions: an append checks it (see postgres.ts).
  CREATE TABLE $S.room_tombstones (
    name text PRIMARY KEY,
    state_vector bytea, -- encoded Yjs state vector, merged across deletions; NULL when none was given
    generation bigint NOT NULL DEFAULT 0
  );

  CREATE TABLE $S.room_clients (
    room text NOT NULL,
    client bigint NOT NULL, -- Yjs clientID
    owner text NOT NULL, -- the JWT sub that first wrote under it
    PRIMARY KEY (room, client)
  );

  CREATE TABLE $S.webhook_endpoints (
    id text COLLATE "C" PRIMARY KEY,
    url text NOT NULL,
    secret text NOT NULL,
    events text, -- JSON array of event types, or NULL for every event
    created_at bigint NOT NULL,
    disabled_at bigint
  );

  CREATE TABLE $S.webhook_deliveries (
    id text COLLATE "C" PRIMARY KEY,
    endpoint_id text NOT NULL,
    event_type text NOT NULL,
    payload text NOT NULL,
    status text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at bigint NOT NULL,
    last_error text,
    last_status_code integer,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    room text, -- set for room.changed, which coalesces per room
    leased_until bigint -- set while an attempt is in flight
  );
  CREATE INDEX webhook_deliveries_due ON $S.webhook_deliveries (next_attempt_at) WHERE status = 'pending';
  CREATE INDEX webhook_deliveries_status_id ON $S.webhook_deliveries (status, id);
  CREATE INDEX webhook_deliveries_endpoint ON $S.webhook_deliveries (endpoint_id);
  CREATE INDEX webhook_deliveries_room_pending ON $S.webhook_deliveries (room, endpoint_id)
    WHERE status = 'pending' AND room IS NOT NULL;

  CREATE TABLE $S.room_changes (
    room text COLLATE "C" PRIMARY KEY,
    first_at bigint NOT NULL, -- first unannounced change committed (process clock, ms since the epoch)
    last_at bigint NOT NULL
  );

  -- One row, rewritten by the readiness check after a failed commit to learn whether writes work again.
  CREATE TABLE $S.store_probe (id integer PRIMARY KEY CHECK (id = 1), at bigint NOT NULL);
  `,
  // 2: webhook secret rotation — the replaced secret keeps signing until it expires (null: while set).
  `
  ALTER TABLE $S.webhook_endpoints ADD COLUMN previous_secret text;
  ALTER TABLE $S.webhook_endpoints ADD COLUMN previous_secret_expires_at bigint;
  `,
  // 3: generated secrets shared by every instance (postgres-secrets.ts); room.created / room.deleted
  // recorded with the record change, until they become deliveries.
  `
  CREATE TABLE $S.tandem_secrets (
    name text PRIMARY KEY, -- 'jwt-secret', 'admin-key'
    value text NOT NULL, -- base64url text, used as is (see auth/keys.ts)
    created_at bigint NOT NULL
  );

  CREATE TABLE $S.room_events (
    id bigserial PRIMARY KEY,
    type text NOT NULL CHECK (type IN ('room.created', 'room.deleted')),
    room text NOT NULL,
    at bigint NOT NULL -- wall clock, ms since the epoch
  );
  `,
  // 4: version history — immutable snapshots of rooms' documents (Store.saveVersion).
  `
  CREATE TABLE $S.room_versions (
    id text COLLATE "C" PRIMARY KEY, -- ver_…, sortable: newer versions have greater ids
    room text NOT NULL,
    created_at bigint NOT NULL,
    kind text NOT NULL CHECK (kind IN ('auto', 'named', 'before-restore')),
    label text,
    author text, -- the JWT sub of who asked; NULL for automatic versions
    fingerprint bytea NOT NULL, -- encoded Yjs snapshot (state vector and delete set)
    data bytea NOT NULL -- the document as one Yjs update
  );
  CREATE INDEX room_versions_room_id ON $S.room_versions (room, id COLLATE "C");
  `,
  // 5: users removed from a room (REST kick): tokens issued before the removal no longer admit them.
  `
  CREATE TABLE $S.room_removals (
    room text COLLATE "C" NOT NULL,
    user_id text NOT NULL,
    at bigint NOT NULL, -- ms since the Unix epoch, the latest removal
    PRIMARY KEY (room, user_id)
  );
  `,
  // 6: a batch of appends and clientID bindings in one statement, so a commit costs one round trip
  // (postgres.ts #appendBatch). Returns the 1-based positions of the items whose room was deleted since
  // they were queued (their generation is behind): those are not written.
  `
  CREATE FUNCTION $S.append_batch(
    p_lock_class integer,
    p_lock_rooms text[], -- every item's room once, in the order the locks are taken (byte order)
    p_item_rooms text[],
    p_item_generations bigint[],
    p_append_items integer[], p_append_data bytea[], -- appends: item position, update
    p_bind_items integer[], p_bind_clients bigint[], p_bind_owners text[], -- bindings: item position, binding
    p_created_at bigint, -- wall clock
    p_changed_at bigint -- process clock (room_changes)
  ) RETURNS integer[] LANGUAGE plpgsql VOLATILE AS $fn$
  DECLARE
    stale integer[];
  BEGIN
    -- Shared: appends from every instance run together; a deleteRoom (exclusive) is ordered against them.
    PERFORM pg_advisory_xact_lock_shared(p_lock_class, hashtext(r)) FROM unnest(p_lock_rooms) AS r;
    -- A volatile function takes a new snapshot per statement: this one sees every deletion that committed
    -- before the locks were granted.
    SELECT coalesce(array_agg(t.n::integer), '{}') INTO stale
      FROM unnest(p_item_rooms, p_item_generations) WITH ORDINALITY AS t(r, g, n)
      LEFT JOIN $S.room_tombstones AS tomb ON tomb.name = t.r
     WHERE coalesce(tomb.generation, 0) <> t.g;

    INSERT INTO $S.updates (room, data, created_at)
    SELECT p_item_rooms[t.i], t.d, p_created_at
      FROM unnest(p_append_items, p_append_data) WITH ORDINALITY AS t(i, d, n)
     WHERE t.i <> ALL (stale)
     ORDER BY t.n;

    -- The first binding for a clientID wins, within the batch as in the table; keys in one order
    -- everywhere, so two instances binding the same clients cannot deadlock.
    INSERT INTO $S.room_clients (room, client, owner)
    SELECT DISTINCT ON (1, 2) p_item_rooms[t.i] COLLATE "C", t.c, t.o
      FROM unnest(p_bind_items, p_bind_clients, p_bind_owners) WITH ORDINALITY AS t(i, c, o, n)
     WHERE t.i <> ALL (stale)
     ORDER BY 1, 2, t.n
    ON CONFLICT (room, client) DO NOTHING;

    -- Rooms without a record stay without one: only ensureRoom/createRoom create records.
    UPDATE $S.rooms SET updated_at = p_created_at
     WHERE name IN (SELECT p_item_rooms[t.i] FROM unnest(p_append_items) AS t(i) WHERE t.i <> ALL (stale));

    -- The store-side debounce of room.changed, in the edit's own transaction.
    INSERT INTO $S.room_changes (room, first_at, last_at)
    SELECT DISTINCT p_item_rooms[t.i] COLLATE "C", p_changed_at, p_changed_at
      FROM unnest(p_append_items) AS t(i)
     WHERE t.i <> ALL (stale)
     ORDER BY 1
    ON CONFLICT (room) DO UPDATE SET last_at = greatest($S.room_changes.last_at, excluded.last_at);

    RETURN stale;
  END
  $fn$;
  `,
]

/** The schema version this code writes and reads. */
export const SCHEMA_VERSION = MIGRATIONS.length

export interface MigrationResult {
  /** Version before and after. */
  readonly from: number
  readonly to: number
}

/**
 * Creates the schema if missing and applies the migrations it lacks, on `client`, in one transaction under
 * the migration lock. Throws PostgresOpenError('TANDEM_DATABASE_SCHEMA') for a schema newer than this code.
 */
export async function migrate(client: pg.ClientBase, schema: string): Promise<MigrationResult> {
  const s = quoteSchema(schema)
  await client.query('BEGIN')
  try {
    await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK.migrate, schema])
    // Look first: CREATE SCHEMA IF NOT EXISTS checks the CREATE privilege even when the schema exists.
    const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])
    if (exists.rowCount === 0) await client.query(`CREATE SCHEMA ${s}`)
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${s}.tandem_schema_version (
         id integer PRIMARY KEY CHECK (id = 1),
         version integer NOT NULL,
         updated_at bigint NOT NULL
       )`,
    )
    const row = await client.query<{ version: number }>(`SELECT version FROM ${s}.tandem_schema_version WHERE id = 1`)
    const from = row.rows[0]?.version ?? 0
    if (from > SCHEMA_VERSION) {
      throw new PostgresOpenError(
        'TANDEM_DATABASE_SCHEMA',
        `schema "${schema}" is at version ${from}, newer than this Tandem knows (${SCHEMA_VERSION}); run a newer Tandem or another schema`,
      )
    }
    for (let v = from; v < SCHEMA_VERSION; v++) {
      await client.query((MIGRATIONS[v] ?? '').replaceAll('$S', s))
    }
    if (from < SCHEMA_VERSION) {
      await client.query(
        `INSERT INTO ${s}.tandem_schema_version (id, version, updated_at) VALUES (1, $1, $2)
         ON CONFLICT (id) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at`,
        [SCHEMA_VERSION, Date.now()],
      )
    }
    await client.query('COMMIT')
    return { from, to: SCHEMA_VERSION }
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined)
    throw err
  }
}

/** The version a schema is at (0 when it has none), without changing anything. */
export async function schemaVersion(client: pg.ClientBase, schema: string): Promise<number> {
  const s = quoteSchema(schema)
  const table = await client.query('SELECT to_regclass($1) AS t', [`${s}.tandem_schema_version`])
  if ((table.rows[0] as { t: string | null } | undefined)?.t == null) return 0
  const row = await client.query<{ version: number }>(`SELECT version FROM ${s}.tandem_schema_version WHERE id = 1`)
  return row.rows[0]?.version ?? 0
}

export interface ConnectOptions {
  url: string
  /** Connect and query timeout, ms. */
  timeoutMs: number
}

/** Client settings shared by the writer, the pool and migrations. */
export function clientConfig(opts: ConnectOptions): pg.ClientConfig {
  return {
    connectionString: opts.url,
    connectionTimeoutMillis: opts.timeoutMs,
    // Client-side: a query that gets no answer in time fails, so a stalled connection is noticed.
    query_timeout: opts.timeoutMs,
    keepAlive: true,
    types: PG_TYPES,
    application_name: 'tandem',
    // Acknowledged means on disk, whatever the server or role default says.
    options: '-c synchronous_commit=on',
  }
}

/** Opens one client, runs the migrations, closes it. Errors name the setting to fix, without the password. */
export async function migrateDatabase(opts: ConnectOptions & { schema: string }): Promise<MigrationResult> {
  const client = new pg.Client(clientConfig(opts))
  // An idle client whose socket dies emits 'error'; without a listener that would end the process.
  client.on('error', () => undefined)
  try {
    await client.connect()
  } catch (err) {
    throw new PostgresOpenError('TANDEM_DATABASE_URL', `cannot connect to ${redactUrl(opts.url)}: ${describePgError(err)}`, { cause: err })
  }
  try {
    return await migrate(client, opts.schema)
  } catch (err) {
    if (err instanceof PostgresOpenError) throw err
    throw new PostgresOpenError('TANDEM_DATABASE_SCHEMA', `migrating schema "${opts.schema}" failed: ${describePgError(err)}`, { cause: err })
  } finally {
    await client.end().catch(() => undefined)
  }
}

/** A one-line description of a driver or server error (message plus SQLSTATE or errno code). */
export function describePgError(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return describePgError(err.errors[0])
  if (!(err instanceof Error)) return String(err)
  const code = (err as { code?: unknown }).code
  const message = err.message === '' && err instanceof AggregateError ? 'connection failed' : err.message
  return typeof code === 'string' && !message.includes(code) ? `${message} (${code})` : message
}
