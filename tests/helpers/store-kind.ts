/**
 * Runs a suite against each durable store: SQLite (the default, one file in the data directory) and
 * PostgreSQL (TANDEM_DATABASE_URL, a fresh schema for every `env()` call, dropped after the suite). The
 * Postgres variant follows the rule of postgres.ts: skipped with a printed reason when Postgres does not
 * answer, and a failure under CI=true.
 */
import { afterAll, describe } from 'vitest'
import { POSTGRES_URL, postgresSkip, schemaNames } from './postgres.js'

export type StoreKind = 'sqlite' | 'postgres'
export const STORE_KINDS: readonly StoreKind[] = ['sqlite', 'postgres']

export interface StoreUnderTest {
  readonly kind: StoreKind
  /**
   * Server settings selecting this store. Every call is a new, empty store for Postgres (a new schema);
   * for SQLite the store is the server's data directory, so reuse the env with the directory to restart
   * on the same data.
   */
  env(): Record<string, string>
}

function storeUnderTest(kind: StoreKind): StoreUnderTest {
  if (kind === 'sqlite') return { kind, env: () => ({ TANDEM_STORE: 'sqlite' }) }
  const schemas = schemaNames()
  afterAll(() => schemas.dropAll())
  return { kind, env: () => ({ TANDEM_STORE: 'postgres', TANDEM_DATABASE_URL: POSTGRES_URL, TANDEM_DATABASE_SCHEMA: schemas.fresh() }) }
}

/** `describe(title (kind), …)` once per store kind; the Postgres one skips visibly when Postgres is unreachable. */
export function describeEachStore(title: string, body: (store: StoreUnderTest) => void): void {
  for (const kind of STORE_KINDS) {
    describe.skipIf(kind === 'postgres' && postgresSkip !== undefined)(`${title} (${kind})`, () => body(storeUnderTest(kind)))
  }
}
