/**
 * The store adapters every contract suite runs against (document-log, room-records, webhook-outbox,
 * store-lifecycle). A suite calls describeEachAdapter once per group of cases; adding a factory here
 * makes every suite cover the new adapter.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino, { type Logger } from 'pino'
import { afterAll, describe } from 'vitest'
import { createMemoryStore } from '#server/persistence/memory'
import { createPostgresStore } from '#server/persistence/postgres'
import { createSqliteStore } from '#server/persistence/sqlite'
import type { Store } from '#server/persistence/store'
import { POSTGRES_URL, postgresSkip, schemaNames } from '../helpers/postgres.js'

export interface OpenOptions {
  /** The store's clock for the times it records (room changes). @default the adapter's own */
  readonly now?: () => number
  /** Where the adapter logs. @default silent */
  readonly log?: Logger
}

export interface AdapterFactory {
  readonly name: string
  /** A new store over fresh, empty storage of its own. */
  open(opts?: OpenOptions): Promise<Store>
  /**
   * A new instance over the same data as `previous`, which the caller has closed: what a restart sees.
   * Absent for an adapter that keeps nothing past close (memory).
   */
  reopen?(previous: Store, opts?: OpenOptions): Promise<Store>
  /**
   * The adapter logs one debug line `batch committed` per committed append transaction, so a suite can
   * count transactions (group commit) through OpenOptions.log.
   */
  readonly logsCommits?: boolean
  /** Removes the storage this factory created (files, schemas). Safe to call more than once. */
  cleanup(): Promise<void>
  /**
   * Set when the adapter cannot run here and is skipped, saying why (its service is unreachable outside
   * CI). A factory whose service is unreachable with CI=true must throw when loaded instead: CI never
   * skips an adapter silently.
   */
  readonly skip?: string
}

const silent = pino({ level: 'silent' })

export const memoryAdapter: AdapterFactory = {
  name: 'memory',
  open: async (opts = {}) => createMemoryStore({ ...(opts.now ? { now: opts.now } : {}), log: opts.log ?? silent }),
  cleanup: async () => {},
}

/** One temporary directory per test file (created on first use), one database file per open(). */
function sqliteAdapter(): AdapterFactory {
  let root: Promise<string> | null = null
  let counter = 0
  const paths = new WeakMap<Store, string>()
  const openAt = async (path: string, opts: OpenOptions): Promise<Store> => {
    const store = await createSqliteStore({ path, ...(opts.now ? { now: opts.now } : {}) }, opts.log ?? silent)
    paths.set(store, path)
    return store
  }
  return {
    name: 'sqlite',
    logsCommits: true,
    open: async (opts = {}) => {
      root ??= mkdtemp(join(tmpdir(), 'tandem-contract-'))
      return openAt(join(await root, `db-${++counter}`, 'tandem.sqlite'), opts)
    },
    reopen: async (previous, opts = {}) => {
      const path = paths.get(previous)
      if (path === undefined) throw new Error('reopen: that store was not opened by this factory')
      return openAt(path, opts)
    },
    cleanup: async () => {
      const dir = root
      root = null
      if (dir) await rm(await dir, { recursive: true, force: true })
    },
  }
}

/** One fresh schema per open(), all dropped by cleanup(). */
function postgresAdapter(): AdapterFactory {
  const names = schemaNames()
  const schemas = new WeakMap<Store, string>()
  const openIn = async (schema: string, opts: OpenOptions): Promise<Store> => {
    const store = await createPostgresStore({ url: POSTGRES_URL, schema, ...(opts.now ? { now: opts.now } : {}) }, opts.log ?? silent)
    schemas.set(store, schema)
    return store
  }
  return {
    name: 'postgres',
    logsCommits: true,
    ...(postgresSkip !== undefined && { skip: postgresSkip }),
    open: async (opts = {}) => {
      return openIn(names.fresh(), opts)
    },
    reopen: async (previous, opts = {}) => {
      const schema = schemas.get(previous)
      if (schema === undefined) throw new Error('reopen: that store was not opened by this factory')
      return openIn(schema, opts)
    },
    cleanup: () => names.dropAll(),
  }
}

export const adapters: AdapterFactory[] = [memoryAdapter, sqliteAdapter(), postgresAdapter()]

/**
 * describe.each over the adapters: one describe per adapter titled `<title>: <name>`, its storage removed
 * after the describe. An adapter with `skip` set is reported as skipped, and says why on the console.
 */
export function describeEachAdapter(title: string, body: (adapter: AdapterFactory) => void): void {
  const withCleanup = (adapter: AdapterFactory): void => {
    afterAll(() => adapter.cleanup())
    body(adapter)
  }
  const runnable = adapters.filter((adapter) => adapter.skip === undefined)
  const skipped = adapters.filter((adapter) => adapter.skip !== undefined)
  if (runnable.length > 0) describe.each(runnable)(`${title}: $name`, withCleanup)
  for (const adapter of skipped) console.warn(`${title}: the ${adapter.name} adapter is skipped: ${adapter.skip}`)
  if (skipped.length > 0) describe.skipIf(true).each(skipped)(`${title}: $name (skipped: $skip)`, withCleanup)
}
