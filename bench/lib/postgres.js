/**
 * The Postgres side of `--store postgres`: a fresh schema per Tandem server the bench starts (so runs
 * never see each other's rooms), dropped once that server has exited. Tandem creates the schema itself
 * on first start; the bench only names it, checks that Postgres answers, and drops it afterwards.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'

/** The machine's test database; the bench sends traffic to 127.0.0.1 only. */
export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test'

/** Leftovers of a bench killed mid-run are easy to spot (and drop) by these prefixes. */
const SCHEMA_PREFIX = 'tandem_bench_'
const HOCUSPOCUS_SCHEMA_PREFIX = 'hocuspocus_bench_'

/** @param {string} url */
export function checkDatabaseUrl(url) {
  let parsed
  try {
    parsed = new URL(url)
  } catch {
    return `--database-url is not a URL: ${JSON.stringify(url)}`
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') return '--database-url must be a postgres:// URL'
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(parsed.hostname)) return '--database-url must point at this machine (127.0.0.1, localhost or ::1)'
  return null
}

/**
 * Resolves when Postgres answers at `url`; rejects with a message that says what to do otherwise.
 * @param {string} url
 */
export async function ensureReachable(url) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.query('SELECT 1')
  } catch (err) {
    const why = err instanceof Error ? err.message || err.name : String(err)
    throw new Error(`--store postgres: Postgres at ${redacted(url)} does not answer (${why}); start it or pass --database-url`, { cause: err })
  } finally {
    await client.end().catch(() => {})
  }
}

/**
 * A schema name no other run uses (lowercase, as TANDEM_DATABASE_SCHEMA requires).
 * @param {'tandem' | 'hocuspocus'} [owner] who fills it: the Hocuspocus cluster's table gets its own prefix
 */
export function freshSchemaName(owner = 'tandem') {
  return `${owner === 'hocuspocus' ? HOCUSPOCUS_SCHEMA_PREFIX : SCHEMA_PREFIX}${randomBytes(6).toString('hex')}`
}

/**
 * Drops a schema this module named, with everything in it. Never throws: a failed drop is reported
 * and the bench goes on (the schema is left behind under its tandem_bench_ or hocuspocus_bench_ name).
 * @param {string} url
 * @param {string} schema
 * @returns {Promise<string | null>} a warning, or null
 */
export async function dropSchema(url, schema) {
  if (!/^(tandem|hocuspocus)_bench_[0-9a-f]{12}$/.test(schema)) return `not dropping ${JSON.stringify(schema)}: not a bench schema`
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    return null
  } catch (err) {
    return `could not drop schema ${schema}: ${err instanceof Error ? err.message : String(err)}`
  } finally {
    await client.end().catch(() => {})
  }
}

/** @param {string} url */
function redacted(url) {
  const u = new URL(url)
  if (u.password !== '') u.password = '***'
  return u.toString()
}
