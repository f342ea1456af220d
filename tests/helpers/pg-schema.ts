/**
 * Postgres for tests (temporary until the shared tests/helpers/postgres.ts lands): the test database URL,
 * whether it answers, and fresh schemas named after the test file, dropped by the test that made them.
 *
 * Unreachable Postgres: with CI=true importing this module throws (CI never skips silently); otherwise
 * `pgSkip` says why and suites skip with a visible message.
 */
import { basename } from 'node:path'
import pg from 'pg'

export const PG_URL = process.env.TANDEM_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

async function probe(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3_000 })
  client.on('error', () => undefined)
  try {
    await client.connect()
    await client.query('SELECT 1')
    return undefined
  } catch (err) {
    return `Postgres at ${PG_URL} is unreachable (${err instanceof Error ? err.message || err.name : String(err)})`
  } finally {
    await client.end().catch(() => undefined)
  }
}

const unreachable = await probe()
if (unreachable !== undefined && process.env.CI === 'true') throw new Error(`${unreachable}; CI=true requires it`)
if (unreachable !== undefined) console.warn(`${unreachable}: Postgres tests are skipped`)

/** Why Postgres tests skip here, or undefined when Postgres answers. */
export const pgSkip: string | undefined = unreachable

let counter = 0

/** A new schema name for this test file (not created: the store creates it). */
export function freshSchemaName(file: string): string {
  const base = basename(file).replace(/\.test\.[jt]s$/, '').replace(/[^a-z0-9]+/gi, '_').toLowerCase().slice(0, 30)
  return `t_${base}_${process.pid}_${++counter}`
}

/** Runs one query on a short-lived connection. */
export async function pgQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
  const client = new pg.Client({ connectionString: PG_URL })
  client.on('error', () => undefined)
  await client.connect()
  try {
    return await client.query<R>(sql, params)
  } finally {
    await client.end().catch(() => undefined)
  }
}

export async function dropSchemas(names: readonly string[]): Promise<void> {
  if (names.length === 0 || pgSkip !== undefined) return
  for (const name of names) await pgQuery(`DROP SCHEMA IF EXISTS "${name}" CASCADE`)
}
