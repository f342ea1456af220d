/**
 * What the cluster tests (tests/cluster) share: real `tandem serve` processes on a Postgres schema and a
 * Redis key prefix of the test file's own, and the unmodified clients the tests put on them.
 *
 * The reachability rules stay those of postgres.ts and redis.ts: an unreachable Postgres fails the file
 * at import under CI=true and skips its describePostgres suites otherwise; an unreachable Redis fails the
 * file under CI=true and otherwise sets `redisSkipped` (with a warning), which each test checks first.
 */
import { afterAll, beforeAll, onTestFinished } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { TandemClient, type RoomProvider } from '@tandem/client'
import { dropSchema, POSTGRES_URL, postgresSkip, randomSchemaName } from './postgres.js'
import { dropPrefix, REDIS_URL, skipWithoutRedis, testPrefix } from './redis.js'
import { spawnServer, tempDir, token, waitFor, type ChildServer } from './server.js'

export interface ClusterFile {
  /** This file's Postgres schema: Tandem creates it, the file's afterAll drops it. */
  readonly schema: string
  /** This file's Redis key prefix: the file's afterAll deletes its keys. */
  readonly prefix: string
  readonly adminKey: string
  /** True when Redis is unreachable outside CI. Known from the file's beforeAll on: read it in tests and hooks. */
  readonly redisSkipped: boolean
}

/**
 * Call once at the top level of a cluster test file. Registers the beforeAll that checks Redis and the
 * afterAll that deletes the prefix's keys and drops the schema; a file-level afterAll runs after every
 * suite's own afterAll, so instances a suite keeps for itself are stopped by then.
 */
export function useClusterFile(file: string, adminKey: string): ClusterFile {
  const schema = randomSchemaName()
  const prefix = testPrefix()
  let redisSkipped = true
  beforeAll(async () => {
    redisSkipped = await skipWithoutRedis(file)
  })
  afterAll(async () => {
    if (!redisSkipped) await dropPrefix(prefix)
    if (postgresSkip === undefined) await dropSchema(schema)
  })
  return {
    schema,
    prefix,
    adminKey,
    get redisSkipped() {
      return redisSkipped
    },
  }
}

/**
 * The environment of instance `id`: the file's schema, prefix and admin key, Postgres and Redis reached
 * directly. `env` adds to it or overrides it (a proxy's URL, webhooks, trusted proxies).
 */
export function instanceEnv(cluster: ClusterFile, id: string, env: Record<string, string> = {}): Record<string, string> {
  return {
    TANDEM_DATABASE_URL: POSTGRES_URL,
    TANDEM_DATABASE_SCHEMA: cluster.schema,
    TANDEM_REDIS_URL: REDIS_URL,
    TANDEM_REDIS_PREFIX: cluster.prefix,
    TANDEM_INSTANCE_ID: id,
    TANDEM_ADMIN_KEY: cluster.adminKey,
    ...env,
  }
}

/** Sends `signal` unless the process has exited already (a test may have killed it), then waits for the exit. */
export async function stopServer(server: ChildServer, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill(signal)
  await server.exited
}

export interface Instance {
  readonly server: ChildServer
  /** SIGTERM (unless exited already), wait for the exit, remove the data directory. */
  stop(): Promise<void>
}

/** An instance in a fresh data directory, stopped by the caller: for instances a whole suite shares. */
export async function startInstance(cluster: ClusterFile, id: string, env: Record<string, string> = {}): Promise<Instance> {
  const data = await tempDir()
  let server: ChildServer
  try {
    server = await spawnServer(data.dir, instanceEnv(cluster, id, env))
  } catch (err) {
    await data.remove()
    throw err
  }
  return {
    server,
    async stop() {
      await stopServer(server)
      await data.remove()
    },
  }
}

/** An instance for the current test only: stopped, and its data directory removed, when the test finishes. */
export async function spawnInstance(cluster: ClusterFile, id: string, env: Record<string, string> = {}): Promise<ChildServer> {
  const { server, stop } = await startInstance(cluster, id, env)
  onTestFinished(stop)
  return server
}

/**
 * An unmodified y-websocket provider (single framing) on 127.0.0.1:`port`, as user `name` with write
 * access to `room` and `{ user: name }` as its presence; resolves once synced. Destroyed when the test
 * finishes.
 */
export async function yWebsocketClient(port: number, room: string, name: string, syncTimeoutMs = 15_000): Promise<WebsocketProvider> {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(`ws://127.0.0.1:${port}/ws`, room, doc, {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    // Each user has a token of its own, so a proxy that hashed the query string would split them.
    params: { token: await token({ sub: name, rooms: { [room]: 'write' } }) },
    // Providers in one process would otherwise also sync through a BroadcastChannel, past the servers.
    disableBc: true,
  })
  provider.awareness.setLocalState({ user: name })
  onTestFinished(() => {
    provider.destroy()
    doc.destroy()
  })
  await waitFor(() => provider.synced, `${name} to sync in ${room}`, syncTimeoutMs)
  return provider
}

/**
 * Tandem's SDK (multiplexed framing): one client and one room on 127.0.0.1:`port`, as `name` with
 * `name` as its presence; resolves once synced. Saved acknowledgements come from it (`whenSaved`).
 */
export async function sdkClient(port: number, room: string, name: string): Promise<RoomProvider> {
  const jwt = await token({ sub: name, rooms: { [room]: 'write' } })
  const client = new TandemClient({ url: `ws://127.0.0.1:${port}/ws`, getToken: () => jwt, WebSocket })
  onTestFinished(() => client.destroy())
  const provider = client.room(room)
  provider.awareness.setLocalStateField('user', name)
  await provider.whenSynced()
  return provider
}

/** The users whose presence an awareness holds (each state's `user`, `?` without one), sorted and comma-joined. */
export const usersIn = (awareness: { getStates(): Map<number, unknown> }): string =>
  [...awareness.getStates().values()]
    .map((s) => (s as { user?: string }).user ?? '?')
    .sort()
    .join()
