/**
 * Redis down for 10 s under two real Tandem processes (the built CLI), each reaching Redis through a TCP
 * proxy this test owns and cuts; PostgreSQL stays reachable. While Redis is down each instance goes on
 * alone: clients on one instance keep editing together and every edit is still committed and
 * acknowledged as saved. Within 10 s of Redis coming back every client of both instances holds the same
 * document, with every saved edit in it, and presence crosses instances again. Finally a fresh instance
 * loads the room from PostgreSQL alone: the store has every saved edit too.
 */
import { expect, onTestFinished, test } from 'vitest'
import type * as Y from 'yjs'
import type { RoomProvider } from '@tandem/client'
import { sdkClient, spawnInstance, useClusterFile, usersIn, yWebsocketClient } from '../helpers/cluster.js'
import { describePostgres } from '../helpers/postgres.js'
import { REDIS_PORT, redisUrlVia } from '../helpers/redis.js'
import { waitFor } from '../helpers/server.js'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js'

const FILE = 'tests/cluster/redis-outage.test.ts'
const ADMIN_KEY = 'cluster-test-admin-key-0123456789'
/** How long Redis stays unreachable, and how soon after it is back everything must have converged. */
const OUTAGE_MS = 10_000
const HEAL_MS = 10_000
/** Bounds each writer's loop during the outage, whatever the timing. */
const MAX_EDITS_PER_WRITER = 5_000

const cluster = useClusterFile(FILE, ADMIN_KEY)

const itemsOf = (doc: Y.Doc): string[] => doc.getArray<string>('items').toArray()

describePostgres('Redis down for 10 s under two instances', () => {
  test('each instance keeps collaborating and saving alone; all converge within 10 s of Redis coming back, nothing saved lost', { timeout: 90_000 }, async (ctx) => {
    if (cluster.redisSkipped) return ctx.skip()
    const proxies: TcpProxy[] = []
    for (let i = 0; i < 2; i++) {
      const proxy = await startTcpProxy({ targetPort: REDIS_PORT })
      onTestFinished(() => proxy.close())
      proxies.push(proxy)
    }
    const [proxyOne, proxyTwo] = proxies as [TcpProxy, TcpProxy]
    const one = await spawnInstance(cluster, 'outage-one', { TANDEM_REDIS_URL: redisUrlVia(proxyOne) })
    const two = await spawnInstance(cluster, 'outage-two', { TANDEM_REDIS_URL: redisUrlVia(proxyTwo) })
    const room = `outage-${Date.now().toString(36)}`
    // Writers: the SDK, whose saved acknowledgements (`whenSaved`) count. Readers: unmodified y-websocket
    // providers, one on each writer's instance.
    const alice = await sdkClient(one.port, room, 'alice')
    const carol = await yWebsocketClient(one.port, room, 'carol')
    const bob = await sdkClient(two.port, room, 'bob')
    const dave = await yWebsocketClient(two.port, room, 'dave')
    const everyone = [alice.doc, carol.doc, bob.doc, dave.doc]

    alice.doc.getArray<string>('items').push(['before'])
    await alice.whenSaved()
    await waitFor(() => everyone.every((doc) => itemsOf(doc).join() === 'before'), 'every client to see the first edit')
    await waitFor(() => usersIn(dave.awareness) === 'alice,bob,carol,dave', 'presence to cross instances before the outage')

    proxyOne.cut()
    proxyTwo.cut()
    const outageEnds = Date.now() + OUTAGE_MS
    const saved: string[] = ['before']
    /** Edits until the outage ends, one at a time: each waits for its saved acknowledgement first. */
    const write = async (writer: RoomProvider, name: string): Promise<number> => {
      let count = 0
      while (Date.now() < outageEnds && count < MAX_EDITS_PER_WRITER) {
        const item = `${name}-${count++}`
        writer.doc.getArray<string>('items').push([item])
        await writer.whenSaved()
        saved.push(item)
      }
      return count
    }
    const [aliceEdits, bobEdits] = await Promise.all([write(alice, 'alice'), write(bob, 'bob')])
    await waitFor(() => Date.now() >= outageEnds, 'the outage to have lasted 10 s', OUTAGE_MS + 5_000)
    // Saved acknowledgements went on with Redis down: the store, not Redis, decides "saved".
    expect(aliceEdits).toBeGreaterThan(5)
    expect(bobEdits).toBeGreaterThan(5)
    // Clients on one instance kept collaborating: each reader has its own instance's writer's edits.
    await waitFor(() => itemsOf(carol.doc).includes(`alice-${aliceEdits - 1}`), 'carol (instance one) to have all of alice’s edits')
    await waitFor(() => itemsOf(dave.doc).includes(`bob-${bobEdits - 1}`), 'dave (instance two) to have all of bob’s edits')
    // The instances were really cut off from each other: neither side has the other's outage edits.
    expect(itemsOf(carol.doc).some((item) => item.startsWith('bob-'))).toBe(false)
    expect(itemsOf(dave.doc).some((item) => item.startsWith('alice-'))).toBe(false)
    expect(proxyOne.stats().refused + proxyTwo.stats().refused).toBeGreaterThan(0)

    proxyOne.restore()
    proxyTwo.restore()
    const restoredAt = Date.now()
    const expected = [...saved].sort().join()
    await waitFor(
      () => everyone.every((doc) => [...itemsOf(doc)].sort().join() === expected),
      'every client of both instances to hold every saved edit within 10 s of Redis coming back',
      HEAL_MS,
    )
    console.info(`[redis-outage] ${aliceEdits + bobEdits} edits saved while Redis was down; all 4 clients converged ${Date.now() - restoredAt} ms after it came back`)
    const final = itemsOf(alice.doc).join()
    for (const doc of everyone) expect(itemsOf(doc).join()).toBe(final)
    // Presence is renewed by the clients (every 15 s at most), so it may take longer than the document.
    for (const provider of [alice, carol, bob, dave]) await waitFor(() => usersIn(provider.awareness) === 'alice,bob,carol,dave', 'presence to cross instances again', 20_000)

    // The store has it all: a fresh instance loads the room from PostgreSQL only.
    const three = await spawnInstance(cluster, 'outage-three')
    const erin = await yWebsocketClient(three.port, room, 'erin')
    expect(itemsOf(erin.doc).join()).toBe(final)
  })
})
