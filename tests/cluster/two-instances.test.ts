/**
 * Two real Tandem processes (the built CLI) on one Postgres schema and one Redis prefix, an unmodified
 * y-websocket client on each: their edits converge, presence crosses, and when one instance is killed
 * with SIGKILL its client's presence disappears on the other within 15 s (liveness TTL 5 s, checked
 * every 2 s), while the surviving instance keeps serving the document, edits included.
 */
import { afterAll, beforeAll, expect, onTestFinished, test } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { connectPostgres, describePostgres, POSTGRES_URL, quoteSchema, randomSchemaName } from '../helpers/postgres.js'
import { dropPrefix, REDIS_URL, skipWithoutRedis, testPrefix } from '../helpers/redis.js'
import { spawnServer, tempDir, token, waitFor, type ChildServer } from '../helpers/server.js'

const FILE = 'tests/cluster/two-instances.test.ts'
const ADMIN_KEY = 'cluster-test-admin-key-0123456789'

let redisSkipped = true
const schema = randomSchemaName()
const prefix = testPrefix()

beforeAll(async () => {
  redisSkipped = await skipWithoutRedis(FILE)
})
afterAll(async () => {
  if (!redisSkipped) await dropPrefix(prefix)
})

interface Client {
  doc: Y.Doc
  provider: WebsocketProvider
}

async function client(server: ChildServer, room: string, name: string): Promise<Client> {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(`ws://127.0.0.1:${server.port}/ws`, room, doc, {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    params: { token: await token({ sub: name, rooms: { [room]: 'write' } }) },
    disableBc: true,
  })
  provider.awareness.setLocalState({ user: name })
  onTestFinished(() => {
    provider.destroy()
    doc.destroy()
  })
  await waitFor(() => provider.synced, `${name} to sync`, 15_000)
  return { doc, provider }
}

/** Names of the users whose presence this client currently sees (its own included). */
const usersSeenBy = (c: Client): string[] =>
  [...c.provider.awareness.getStates().values()].map((s) => (s as { user?: string }).user ?? '?').sort()

describePostgres('two instances on one Postgres schema and one Redis', () => {
  afterAll(async () => {
    const pg = await connectPostgres()
    try {
      await pg.query(`DROP SCHEMA IF EXISTS ${quoteSchema(schema)} CASCADE`)
    } finally {
      await pg.end()
    }
  })

  async function instance(id: string): Promise<ChildServer> {
    const data = await tempDir()
    const server = await spawnServer(data.dir, {
      TANDEM_DATABASE_URL: POSTGRES_URL,
      TANDEM_DATABASE_SCHEMA: schema,
      TANDEM_REDIS_URL: REDIS_URL,
      TANDEM_REDIS_PREFIX: prefix,
      TANDEM_INSTANCE_ID: id,
      TANDEM_ADMIN_KEY: ADMIN_KEY,
    })
    onTestFinished(async () => {
      if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGTERM')
      await server.exited
      await data.remove()
    })
    return server
  }

  test('clients on different instances converge and see each other; a SIGKILLed instance’s presence goes within 15 s', async (ctx) => {
    if (redisSkipped) return ctx.skip()
    const one = await instance('one')
    const two = await instance('two')
    expect(one.output()).toMatch(/"instanceId":"one","port":\d+,"msg":"listening"/)
    const room = `cluster-${Date.now().toString(36)}`
    const alice = await client(one, room, 'alice')
    const bob = await client(two, room, 'bob')

    alice.doc.getText('t').insert(0, 'hello')
    await waitFor(() => bob.doc.getText('t').toString() === 'hello', 'bob (instance two) to see alice’s edit')
    bob.doc.getText('t').insert(5, ' world')
    await waitFor(() => alice.doc.getText('t').toString() === 'hello world', 'alice (instance one) to see bob’s edit')

    await waitFor(() => usersSeenBy(bob).join() === 'alice,bob', 'bob to see alice’s presence')
    await waitFor(() => usersSeenBy(alice).join() === 'alice,bob', 'alice to see bob’s presence')

    one.child.kill('SIGKILL')
    expect(await one.exited).toBe('SIGKILL')
    await waitFor(() => usersSeenBy(bob).join() === 'bob', 'alice’s presence to disappear on instance two', 15_000)

    // The survivor still serves the room, from the shared store.
    bob.doc.getText('t').insert(0, '> ')
    const carol = await client(two, room, 'carol')
    await waitFor(() => carol.doc.getText('t').toString() === '> hello world', 'a new client on instance two to get the whole document')
  })
})
