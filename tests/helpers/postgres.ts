/**
 * Postgres for tests: the test database, whether it answers, and a schema of its own for each test file
 * (`tandem_test_<random>`), created before and dropped after, so files running side by side never share
 * tables.
 *
 * The reachability rule: when Postgres does not answer, importing this module throws under CI=true (CI
 * never skips Postgres silently); elsewhere `postgresSkip` says why, a warning is printed, and suites
 * written with describePostgres are reported as skipped.
 *
 * Only 127.0.0.1 by default. TANDEM_TEST_DATABASE_URL points the tests at another test database.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, describe } from 'vitest'

export const POSTGRES_URL = process.env.TANDEM_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

const parsed = new URL(POSTGRES_URL)
/** Where the test database listens: what a tcp-proxy.ts proxy in front of it forwards to. */
export const POSTGRES_HOST = parsed.hostname.replace(/^\[(.*)\]$/, '$1')
export const POSTGRES_PORT = parsed.port === '' ? 5432 : Number(parsed.port)

/** Schema names this helper makes and accepts: lowercase, so quoted or not they name the same schema. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

/** How long the probe at import waits for Postgres before calling it unreachable (ms). */
const PROBE_TIMEOUT_MS = 3_000

async function probe(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: PROBE_TIMEOUT_MS })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.query('SELECT 1')
    return undefined
  } catch (err) {
    return `Postgres at ${redacted(POSTGRES_URL)} is unreachable (${err instanceof Error ? err.message || err.name : String(err)})`
  } finally {
    await client.end().catch(() => {})
  }
}

/** The URL without its password, for messages. */
function redacted(url: string): string {
  const u = new URL(url)
  if (u.password !== '') u.password = '***'
  return u.toString()
}

const unreachable = await probe()
if (unreachable !== undefined && process.env.CI === 'true') throw new Error(`${unreachable}; CI=true requires Postgres`)
if (unreachable !== undefined) console.warn(`${unreachable}: Postgres tests are skipped`)

/** Why Postgres tests are skipped here, or undefined when Postgres answers. */
export const postgresSkip: string | undefined = unreachable

/** `describe`, skipped (and reported as skipped) when Postgres is unreachable outside CI. */
export const describePostgres = describe.skipIf(postgresSkip !== undefined)

/** A schema name no other test file uses (not created). */
export function randomSchemaName(): string {
  return `tandem_test_${randomBytes(6).toString('hex')}`
}

/** The name, double-quoted, after checking it is one this helper would make. */
export function quoteSchema(name: string): string {
  if (!SCHEMA_NAME.test(name)) throw new Error(`not a test schema name: ${JSON.stringify(name)}`)
  return `"${name}"`
}

/** A connected client on the test database; `schema` first on its search_path when given. */
export async function connectPostgres(opts: { schema?: string; url?: string } = {}): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: opts.url ?? POSTGRES_URL,
    connectionTimeoutMillis: 10_000,
    ...(opts.schema !== undefined && { options: `-c search_path=${quoteSchema(opts.schema)}` }),
  })
  // An idle client whose server goes away emits 'error'; the query that needed it rejects anyway.
  client.on('error', () => {})
  await client.connect()
  return client
}

/** Runs one statement on a short-lived connection. */
export async function pgQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(
  sql: string,
  params: unknown[] = [],
  opts: { schema?: string } = {},
): Promise<pg.QueryResult<R>> {
  const client = await connectPostgres(opts)
  try {
    return await client.query<R>(sql, params)
  } finally {
    await client.end().catch(() => {})
  }
}

export async function createSchema(name: string): Promise<void> {
  await pgQuery(`CREATE SCHEMA ${quoteSchema(name)}`)
}

/** Drops the schema and everything in it; a schema that is already gone is fine. */
export async function dropSchema(name: string): Promise<void> {
  await pgQuery(`DROP SCHEMA IF EXISTS ${quoteSchema(name)} CASCADE`)
}

export async function schemaExists(name: string): Promise<boolean> {
  const { rowCount } = await pgQuery('SELECT 1 FROM information_schema.schemata WHERE schema_name = $1', [name])
  return rowCount === 1
}

/**
 * Names for fresh schemas, remembered so dropAll() removes every one: for code that makes a schema per
 * store (the contract suites' Postgres factory) or per spawned server (the bench), which creates it
 * itself (Tandem creates a missing schema).
 */
export function schemaNames(): { fresh(): string; dropAll(): Promise<void> } {
  const names: string[] = []
  return {
    fresh() {
      const name = randomSchemaName()
      names.push(name)
      return name
    },
    async dropAll() {
      if (postgresSkip !== undefined) return
      for (const name of names.splice(0)) await dropSchema(name)
    },
  }
}

/**
 * Gives the calling test file its own schema: created in beforeAll, dropped in afterAll. Call it at the
 * top of the file or of a describePostgres block; the name is known at once, the schema exists from the
 * first test on. Does nothing against an unreachable Postgres (the suites skip).
 */
export function useTestSchema(): { readonly name: string } {
  const name = randomSchemaName()
  beforeAll(async () => {
    if (postgresSkip === undefined) await createSchema(name)
  })
  afterAll(async () => {
    if (postgresSkip === undefined) await dropSchema(name)
  })
  return { name }
}

/** POSTGRES_URL with its host and port replaced: the same database through a proxy on 127.0.0.1. */
export function postgresUrlVia(proxy: { readonly host: string; readonly port: number }): string {
  const u = new URL(POSTGRES_URL)
  u.hostname = proxy.host
  u.port = String(proxy.port)
  return u.toString()
}
