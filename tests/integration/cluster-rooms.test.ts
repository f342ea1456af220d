/**
 * Two real servers in one process, one shared store (what PostgreSQL is to a cluster), replicated through
 * the local hub and through real Redis (each instance behind its own TCP proxy). Clients on different
 * instances must see one room: edits converge, presence crosses with its ownership rules, a room
 * loading on one instance misses nothing the other publishes meanwhile, a deletion reaches everyone, an
 * instance that dies takes its clients' presence with it, and a Redis outage heals by itself.
 */
import { pino } from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, onTestFinished, test } from 'vitest'
import * as Y from 'yjs'
import { decodeAwarenessUpdate } from '@tandem/client/protocol'
import { createMemoryStore } from '#server/persistence/memory'
import type { Store } from '#server/persistence/store'
import { createLocalHub, type LocalHub } from '#server/replication/local'
import { createRedisReplication } from '#server/replication/redis'
import type { Replication } from '#server/rooms/replication'

/** Counts the messages the wrapped replication hands to room handlers, and keeps their types in order. */
function counting(inner: Replication): { replication: Replication; delivered: () => number; types: string[] } {
  const types: string[] = []
  return {
    delivered: () => types.length,
    types,
    replication: {
      instanceId: inner.instanceId,
      join: (roomId, handler) =>
        inner.join(roomId, {
          message(envelope) {
            types.push(envelope.message.type)
            handler.message(envelope)
          },
          signal: (signal) => handler.signal(signal),
        }),
      publish: (roomId, message) => inner.publish(roomId, message),
      close: () => inner.close(),
    },
  }
}
import { awarenessFrame, closeOpenConns, join, multiplexed, single, utf8, varUint, withLength, type Conn } from '../helpers/raw-client.js'
import { startServer, token, waitFor, type RunningServer } from '../helpers/server.js'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js'
import { dropPrefix, REDIS_PORT, skipWithoutRedis, testPrefix } from '../helpers/redis.js'

const FILE = 'tests/integration/cluster-rooms.test.ts'
const silent = pino({ level: 'silent' })
const ADMIN_KEY = 'cluster-rooms-admin-key-0123456789'

/** Holds one instance's commits: while closed, its appends wait (unacknowledged) until it opens. */
class CommitGate {
  #open = true
  #waiting: (() => void)[] = []
  close(): void {
    this.#open = false
  }
  open(): void {
    this.#open = true
    for (const go of this.#waiting.splice(0)) go()
  }
  pass(): Promise<void> {
    return this.#open ? Promise.resolve() : new Promise((resolve) => this.#waiting.push(resolve))
  }
}

/** The store both instances share; each server's close() leaves it open (the test closes it). */
function shared(store: Store, hold?: () => Promise<void>, commits?: CommitGate): Store {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'close') return () => Promise.resolve()
      if (prop === 'appendUpdate' && commits) {
        return async (id: string, update: Uint8Array) => {
          await commits.pass()
          return target.appendUpdate(id, update)
        }
      }
      if (prop === 'loadUpdates' && hold) {
        // Reads now, answers later: what is committed meanwhile is not in this answer.
        return async (id: string) => {
          const result = await target.loadUpdates(id)
          await hold()
          return result
        }
      }
      const value: unknown = Reflect.get(target, prop, target)
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
    },
  })
}

interface Wire {
  replication(id: string): Promise<Replication>
  /** Cuts the instance off the wire, for good unless restored. */
  cut(id: string): void
  restore(id: string): void
  /** The instance dies as far as the wire can tell: no goodbye, no more liveness. */
  kill(id: string): void
  close(): Promise<void>
}

function hubWire(): Wire {
  const hub: LocalHub = createLocalHub()
  return {
    replication: (id) => Promise.resolve(hub.connect(id)),
    cut: (id) => hub.cut(id),
    restore: (id) => hub.restore(id),
    kill: (id) => hub.kill(id),
    close: () => Promise.resolve(),
  }
}

function redisWire(prefix: string): Wire {
  const proxies = new Map<string, TcpProxy>()
  return {
    async replication(id) {
      const proxy = await startTcpProxy({ targetPort: REDIS_PORT })
      proxies.set(id, proxy)
      return createRedisReplication({ url: `redis://127.0.0.1:${proxy.port}`, prefix, instanceId: id, livenessTtlMs: 2_000, heartbeatMs: 250 }, silent)
    },
    cut: (id) => proxies.get(id)?.cut(),
    restore: (id) => proxies.get(id)?.restore(),
    kill: (id) => proxies.get(id)?.cut(),
    async close() {
      await Promise.all([...proxies.values()].map((p) => p.close()))
    },
  }
}

/** Live presence states a connection has heard, by client id (last word wins; removals delete). */
function presenceOf(conn: Conn, room: string): Map<number, string> {
  const states = new Map<number, string>()
  for (const r of conn.received) {
    if (r.room !== room || r.message.type !== 'awareness') continue
    const decoded = decodeAwarenessUpdate(r.message.update)
    if (!decoded.ok) continue
    for (const e of decoded.value) {
      if (e.state === 'null') states.delete(e.clientId)
      else states.set(e.clientId, e.state)
    }
  }
  return states
}

const textIn = (conn: Conn, room: string): string => (conn.docs.get(room) as Y.Doc).getText('t').toString()

/** Alice on the first instance and Bob on the second, both in `room`. */
async function aliceAndBob(s1: RunningServer, s2: RunningServer, room: string): Promise<{ a: Conn; b: Conn }> {
  const a = await single(s1.url, room, { token: await token({ sub: 'alice' }) })
  const b = await single(s2.url, room, { token: await token({ sub: 'bob' }) })
  return { a, b }
}

/**
 * Alice's "A" is saved; then her "B" reaches Bob on the other instance while her instance's commit of it
 * is held by `commits`. Returns Alice's mark from before "B", to look for (the absence of) its ack.
 */
async function editWithCommitHeld(a: Conn, b: Conn, room: string, commits: CommitGate): Promise<number> {
  await a.write(room, (doc) => doc.getText('t').insert(0, 'A'))
  commits.close()
  const from = a.mark()
  ;(a.docs.get(room) as Y.Doc).getText('t').insert(1, 'B') // relayed at once, its commit held
  await waitFor(() => textIn(b, room) === 'AB', 'b to see the edit before it is committed')
  return from
}

let redisSkipped = true
let prefix = ''
beforeAll(async () => {
  redisSkipped = await skipWithoutRedis(FILE)
  prefix = testPrefix()
})
afterAll(async () => {
  if (!redisSkipped) await dropPrefix(prefix)
})
afterEach(closeOpenConns)

const wires = [
  { name: 'local hub', create: hubWire, skip: () => false },
  { name: 'redis', create: () => redisWire(prefix), skip: () => redisSkipped },
]

let roomSeq = 0
const freshRoom = (): string => `cluster-${Date.now().toString(36)}-${roomSeq++}`

describe.each(wires)('two instances over $name', ({ create, skip }) => {
  async function cluster(
    opts: { holdLoadsOnS2?: () => Promise<void>; s1Commits?: CommitGate; s2Env?: Record<string, string> } = {},
  ): Promise<{ s1: RunningServer; s2: RunningServer; wire: Wire; store: Store; deliveredToS2: () => number; typesToS2: string[] }> {
    const wire = create()
    const store = createMemoryStore()
    const s1 = await startServer(
      { TANDEM_INSTANCE_ID: 's1', TANDEM_ADMIN_KEY: ADMIN_KEY },
      { store: shared(store, undefined, opts.s1Commits), replication: await wire.replication('s1') },
    )
    const r2 = counting(await wire.replication('s2'))
    const s2 = await startServer({ TANDEM_INSTANCE_ID: 's2', ...opts.s2Env }, { store: shared(store, opts.holdLoadsOnS2), replication: r2.replication })
    onTestFinished(async () => {
      opts.s1Commits?.open()
      await Promise.all([s1.stop(), s2.stop()])
      await wire.close()
      await store.close()
    })
    return { s1, s2, wire, store, deliveredToS2: r2.delivered, typesToS2: r2.types }
  }

  /** The room's text as the shared store would load it. */
  async function storedText(store: Store, room: string): Promise<string> {
    const doc = new Y.Doc()
    for (const update of (await store.loadUpdates(room)).updates) Y.applyUpdate(doc, update)
    return doc.getText('t').toString()
  }

  test('edits converge across instances, and each writer gets its saved acknowledgement', async (ctx) => {
    if (skip()) return ctx.skip()
    const { s1, s2 } = await cluster()
    const room = freshRoom()
    const { a, b } = await aliceAndBob(s1, s2, room)
    await a.write(room, (doc) => doc.getText('t').insert(0, 'hello'))
    await waitFor(() => textIn(b, room) === 'hello', 'b to see a’s edit')
    await b.write(room, (doc) => doc.getText('t').insert(5, ' world'))
    await waitFor(() => textIn(a, room) === 'hello world', 'a to see b’s edit')
    expect(s1.server.registry.get(room)?.doc.getText('t').toString()).toBe('hello world')
    expect(s2.server.registry.get(room)?.doc.getText('t').toString()).toBe('hello world')
  })

  test('presence crosses instances and leaves with its connection; another instance cannot forge or remove it', async (ctx) => {
    if (skip()) return ctx.skip()
    const { s1, s2 } = await cluster()
    const room = freshRoom()
    const a = await single(s1.url, room, { token: await token({ sub: 'alice' }) })
    const watcher = await single(s1.url, room, { token: await token({ sub: 'carol' }) })
    const b = await single(s2.url, room, { token: await token({ sub: 'bob' }) })
    a.send(room, awarenessFrame(1001, { name: 'alice' }))
    await waitFor(() => presenceOf(b, room).get(1001) === '{"name":"alice"}', 'b to see alice’s presence')

    // Bob, on the other instance, overwrites and removes alice's client id: neither reaches anyone.
    b.send(room, { type: 'awareness', update: Uint8Array.from([1, ...varUint(1001), 5, ...withLength(utf8('null'))]) })
    b.send(room, awarenessFrame(1001, { name: 'forged' }))
    b.send(room, awarenessFrame(2002, { name: 'bob' }))
    await waitFor(() => presenceOf(watcher, room).get(2002) === '{"name":"bob"}', 'carol to see bob’s own presence')
    expect(presenceOf(watcher, room).get(1001)).toBe('{"name":"alice"}')
    expect(watcher.received.some((r) => r.message.type === 'awareness' && new TextDecoder().decode(r.message.update).includes('forged'))).toBe(false)

    a.close()
    await waitFor(() => !presenceOf(b, room).has(1001), 'alice’s presence to leave b when her connection closes')
  })

  test('a room loading on one instance misses nothing the other publishes meanwhile', async (ctx) => {
    if (skip()) return ctx.skip()
    let release: () => void = () => {}
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    let holding = false
    const { s1, s2, deliveredToS2 } = await cluster({
      holdLoadsOnS2: () => {
        holding = true
        return held
      },
    })
    const room = freshRoom()
    const a = await single(s1.url, room, { token: await token({ sub: 'alice' }) })
    await a.write(room, (doc) => doc.getText('t').insert(0, 'stored'))
    // b joins instance 2: its store read happens now, its answer is held back.
    const joining = single(s2.url, room, { token: await token({ sub: 'bob' }) })
    await waitFor(() => holding, 'instance 2 to read the store')
    const before = deliveredToS2()
    await a.write(room, (doc) => doc.getText('t').insert(6, ' and published'))
    await waitFor(() => deliveredToS2() > before, 'the update to reach the room while it loads')
    release()
    const b = await joining
    await waitFor(() => textIn(b, room) === 'stored and published', 'b to hold both edits')
  })

  test('deleting a room on one instance closes its clients on the other with 4404', async (ctx) => {
    if (skip()) return ctx.skip()
    const { s1, s2 } = await cluster()
    const room = freshRoom()
    await single(s1.url, room, { token: await token({ sub: 'alice' }) })
    const b = await single(s2.url, room, { token: await token({ sub: 'bob' }) })
    expect(await s1.server.registry.delete(room)).toBe(true)
    expect((await b.closedWith(10_000)).code).toBe(4404)
    await waitFor(() => s2.server.registry.get(room) === undefined, 'instance 2 to drop the room')
  })

  test('when an instance dies, the other removes its clients’ presence', async (ctx) => {
    if (skip()) return ctx.skip()
    const { s1, s2, wire } = await cluster()
    const room = freshRoom()
    const { a, b } = await aliceAndBob(s1, s2, room)
    a.send(room, awarenessFrame(1001, { name: 'alice' }))
    await waitFor(() => presenceOf(b, room).has(1001), 'b to see alice')
    wire.kill('s1')
    await waitFor(() => !presenceOf(b, room).has(1001), 'alice’s presence to be removed on s2', 15_000)
  })

  test('an edit an instance committed but died before publishing reaches the others from the store', async (ctx) => {
    if (skip()) return ctx.skip()
    const { s1, s2, wire } = await cluster()
    const room = freshRoom()
    const { a, b } = await aliceAndBob(s1, s2, room)
    await a.write(room, (doc) => doc.getText('t').insert(0, 'A'))
    await waitFor(() => textIn(b, room) === 'A', 'b to see the first edit')
    wire.cut('s1')
    await a.write(room, (doc) => doc.getText('t').insert(1, 'B')) // committed and acknowledged, never published
    wire.kill('s1')
    await waitFor(() => textIn(b, room) === 'AB', 'b to get the edit from the store once s1 is declared dead', 15_000)
  })

  test('an edit reaches the other instance before its commit; if its instance dies uncommitted, the other stores it', async (ctx) => {
    if (skip()) return ctx.skip()
    const s1Commits = new CommitGate()
    const { s1, s2, wire, store } = await cluster({ s1Commits })
    const room = freshRoom()
    const { a, b } = await aliceAndBob(s1, s2, room)
    const from = await editWithCommitHeld(a, b, room, s1Commits)
    expect(a.received.slice(from).some((r) => r.message.type === 'update'), 'no saved ack while the commit waits').toBe(false)
    expect(await storedText(store, room)).toBe('A')

    wire.kill('s1')
    await waitFor(async () => (await storedText(store, room)) === 'AB', 's2 to store the edit s1 never committed', 15_000)
    // Alice's clientID stays hers: the stored binding names her, not bob nor nobody.
    const owners = (await store.loadUpdates(room)).clientOwners
    expect(owners.get((a.docs.get(room) as Y.Doc).clientID)).toBe('alice')
    // A reader that loads the room anew, elsewhere, gets it from the store.
    s2.server.registry.get(room)?.closePeers(1012, 'test: reload')
    const fresh = await single(s2.url, room, { token: await token({ sub: 'carol' }) })
    await waitFor(() => textIn(fresh, room) === 'AB', 'a fresh reader to get the stored edit')
  })

  test('while a room is busy its updates carry the commit confirmations; once it goes quiet one entry confirms the rest', async (ctx) => {
    if (skip()) return ctx.skip()
    const { s1, s2, typesToS2 } = await cluster()
    const room = freshRoom()
    const { a, b } = await aliceAndBob(s1, s2, room)
    const from = typesToS2.length
    // 40 edits about 50 ms apart: never the second of quiet that a confirmation of its own waits for.
    for (let i = 0; i < 40; i++) {
      await a.write(room, (doc) => doc.getText('t').insert(0, 'x'))
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    await waitFor(() => textIn(b, room).length === 40, 'b to see every edit')
    const busy = typesToS2.slice(from)
    expect(busy.filter((t) => t === 'update')).toHaveLength(40)
    // A confirmation after every commit would be one entry per few edits; a load spike may allow one.
    expect(busy.filter((t) => t === 'committed').length).toBeLessThanOrEqual(2)
    await waitFor(() => typesToS2.at(-1) === 'committed', 'the quiet room to confirm its last commits')
    // Everything s2 held was confirmed: it stores nothing on s1's behalf.
    const metrics = await (await fetch(`http://127.0.0.1:${s2.port}/metrics`)).text()
    expect(metrics).toMatch(/^tandem_replica_updates_stored_total 0$/m)
  })

  test('a large edit (applied a turn after it arrives) and the edits right behind it reach the other instance in order, confirmed once', async (ctx) => {
    if (skip()) return ctx.skip()
    const { s1, s2, typesToS2 } = await cluster()
    const room = freshRoom()
    const { a, b } = await aliceAndBob(s1, s2, room)
    const text = (a.docs.get(room) as Y.Doc).getText('t')
    const from = b.mark()
    text.insert(0, 'x'.repeat(2 * 1024 * 1024)) // over the size that is decoded and applied in two turns
    text.insert(0, 'A') // right behind it on the wire; s2 must not take it first
    text.insert(text.length, 'Z')
    await waitFor(() => textIn(b, room).length === 2 * 1024 * 1024 + 2, 'b to see all three edits')
    expect(textIn(b, room)).toBe(`A${'x'.repeat(2 * 1024 * 1024)}Z`)
    // s2 relays to its clients in the order it applies: the large edit first.
    const relayed = b.since(from, room).flatMap((m) => (m.type === 'update' ? [m.update.byteLength] : []))
    expect(relayed).toHaveLength(3)
    expect(relayed[0]).toBeGreaterThan(2 * 1024 * 1024)
    expect(s2.server.registry.pendingBytes).toBe(0)
    await waitFor(() => typesToS2.at(-1) === 'committed', 'the quiet room to confirm its last commits')
    // Each was held until confirmed, and the confirmation came after it: s2 stores nothing on s1's behalf.
    const metrics = await (await fetch(`http://127.0.0.1:${s2.port}/metrics`)).text()
    expect(metrics).toMatch(/^tandem_replica_updates_stored_total 0$/m)
  })

  test('GET /doc on either instance returns committed content only: it waits for a commit under way', async (ctx) => {
    if (skip()) return ctx.skip()
    const s1Commits = new CommitGate()
    const { s1, s2 } = await cluster({ s1Commits, s2Env: { TANDEM_ADMIN_KEY: ADMIN_KEY } })
    const room = freshRoom()
    const { a, b } = await aliceAndBob(s1, s2, room)
    await editWithCommitHeld(a, b, room, s1Commits)
    const settled: string[] = []
    const read = (port: number, query: string): Promise<Response> =>
      fetch(`http://127.0.0.1:${port}/v1/rooms/${room}/doc${query}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } }).then((res) => {
        settled.push(`${port}${query}`)
        return res
      })
    const reads = [read(s1.port, ''), read(s2.port, '?format=json')]
    // Requests after them are answered while they wait: the two reached their instances and are held.
    for (const port of [s1.port, s2.port]) {
      const res = await fetch(`http://127.0.0.1:${port}/v1/rooms/${room}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
      expect(res.status).toBe(200)
    }
    expect(settled).toEqual([])
    s1Commits.open()
    const [binary, json] = await Promise.all(reads)
    expect(binary!.status).toBe(200)
    const doc = new Y.Doc()
    Y.applyUpdate(doc, new Uint8Array(await binary!.arrayBuffer()))
    expect(doc.getText('t').toString()).toBe('AB')
    expect(json!.status).toBe(200)
    expect(await json!.json()).toEqual({ t: 'AB' })
  })

  test('an edit whose commit is not confirmed in time is stored by the instance that received it', async (ctx) => {
    if (skip()) return ctx.skip()
    const s1Commits = new CommitGate()
    const { s1, s2, store } = await cluster({ s1Commits, s2Env: { TANDEM_REPLICA_CONFIRM_TIMEOUT_MS: '300' } })
    const room = freshRoom()
    const { a, b } = await aliceAndBob(s1, s2, room)
    await editWithCommitHeld(a, b, room, s1Commits)
    // s1 is alive but its commit hangs: s2 stores the edit once the confirmation is overdue.
    await waitFor(async () => (await storedText(store, room)) === 'AB', 's2 to store the unconfirmed edit')
    const metrics = await (await fetch(`http://127.0.0.1:${s2.port}/metrics`)).text()
    expect(metrics).toMatch(/^tandem_replica_updates_stored_total [1-9]/m)
    // Once s1's commit goes through, its author gets the saved ack and nothing is doubled in the document.
    const from = a.mark()
    s1Commits.open()
    await a.next('update', { room, from })
    expect(await storedText(store, room)).toBe('AB')
  })

  test('a clientID written through one instance cannot be taken over by another user through the other', async (ctx) => {
    if (skip()) return ctx.skip()
    const { s1, s2 } = await cluster()
    const room = freshRoom()
    const { a, b } = await aliceAndBob(s1, s2, room)
    await a.write(room, (doc) => doc.getText('t').insert(0, 'mine'))
    await waitFor(() => textIn(b, room) === 'mine', 'b to see alice’s edit')
    // Bob forges new content under alice's clientID on the instance where alice is not connected.
    const forged = new Y.Doc()
    Y.applyUpdate(forged, Y.encodeStateAsUpdate(a.docs.get(room) as Y.Doc))
    // After applying: Yjs gives a doc a fresh clientID when remote content arrives under its own.
    forged.clientID = (a.docs.get(room) as Y.Doc).clientID
    const before = Y.encodeStateVector(forged)
    forged.getText('t').insert(4, ' (not really)')
    // Continuing her history: left out of what is stored, the connection stays.
    b.send(room, { type: 'update', update: Y.encodeStateAsUpdate(forged, before) })
    await b.roundTrip(room)
    expect(b.closeInfo).toBeNull()
    expect(s2.server.registry.get(room)?.doc.getText('t').toString()).toBe('mine')
    // Jumping ahead of her clock (the forgery that would make her next edits vanish): closed, 1008.
    forged.getText('pad').insert(0, 'x'.repeat(32))
    const ahead = Y.encodeStateVector(forged)
    forged.getText('t').insert(0, 'bob: ')
    b.send(room, { type: 'update', update: Y.encodeStateAsUpdate(forged, ahead) })
    expect((await b.closedWith(10_000)).code).toBe(1008)
    expect(s2.server.registry.get(room)?.doc.getText('t').toString()).toBe('mine')
    expect(s1.server.registry.get(room)?.doc.getText('t').toString()).toBe('mine')
  })

  test('a kick on one instance closes the user’s connections on the other', async (ctx) => {
    if (skip()) return ctx.skip()
    const { s1, s2 } = await cluster()
    const room = freshRoom()
    await single(s1.url, room, { token: await token({ sub: 'alice' }) })
    const b = await single(s2.url, room, { token: await token({ sub: 'bob' }) })
    const other = await single(s2.url, room, { token: await token({ sub: 'carol' }) })
    await waitFor(() => s2.server.registry.get(room)?.peerCount === 2, 'both clients on s2')
    expect(await s1.server.registry.kick(room, 'bob', 4403, 'removed from the room')).toBe(0)
    expect(await b.closedWith(10_000)).toEqual({ code: 4403, reason: 'removed from the room' })
    await other.roundTrip(room)
    expect(s2.server.registry.get(room)?.peerCount).toBe(1)
    // The other instance remembers the removal, so bob's old tokens are refused there too (kick-tokens.test.ts).
    expect(s2.server.registry.get(room)?.removedAt('bob')).toBeGreaterThan(0)
  })

  test('a REST broadcast on one instance reaches multiplexed clients on the other', async (ctx) => {
    if (skip()) return ctx.skip()
    const { s1, s2 } = await cluster()
    const room = freshRoom()
    const jwt = await token({ sub: 'bob' })
    const b = await multiplexed(s2.url, { token: jwt })
    await join(b, room, jwt)
    await waitFor(() => s2.server.registry.get(room) !== undefined, 'the room to load on s2')
    // s1 does not hold the room at all: the broadcast still goes out to the cluster.
    const res = await fetch(`http://127.0.0.1:${s1.port}/v1/rooms/${room}/broadcast`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'deploy in 5 minutes' }),
    })
    expect(res.status).toBe(200)
    await waitFor(() => b.received.some((r) => r.message.type === 'stateless' && r.message.payload === 'deploy in 5 minutes'), 'bob to get the broadcast')
  })

  test('a restore on one instance changes the document on the other and tells its multiplexed clients', async (ctx) => {
    if (skip()) return ctx.skip()
    const { s1, s2 } = await cluster()
    const room = freshRoom()
    const admin = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }
    const jwt = await token({ sub: 'bob' })
    const b = await multiplexed(s2.url, { token: jwt })
    await join(b, room, jwt)
    await b.write(room, (doc) => doc.getText('t').insert(0, 'first'))
    const saved = await fetch(`http://127.0.0.1:${s1.port}/v1/rooms/${room}/versions`, { method: 'POST', headers: admin, body: '{"label":"v1"}' })
    expect(saved.status).toBe(201)
    const { id } = (await saved.json()) as { id: string }
    await b.write(room, (doc) => doc.getText('t').insert(5, ' and second'))
    // s1 does not hold the room: the restore loads it there from the store (the second edit is saved).
    const restored = await fetch(`http://127.0.0.1:${s1.port}/v1/rooms/${room}/versions/${id}/restore`, { method: 'POST', headers: admin })
    expect(restored.status).toBe(200)
    await waitFor(() => textIn(b, room) === 'first', 'bob’s document to show the restored text')
    await waitFor(
      () => b.received.some((r) => r.message.type === 'stateless' && (JSON.parse(r.message.payload) as { type?: string; version?: string }).version === id),
      'bob to get the room.restored notice',
    )
  })

  test('restores of one room on two instances at once run one after the other: the document is one version, not both', async (ctx) => {
    if (skip()) return ctx.skip()
    const { s1, s2, store } = await cluster({ s2Env: { TANDEM_ADMIN_KEY: ADMIN_KEY } })
    const room = freshRoom()
    const admin = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }
    const { a, b } = await aliceAndBob(s1, s2, room)
    const version = async (text: string): Promise<string> => {
      await a.write(room, (doc) => {
        const t = doc.getText('t')
        t.delete(0, t.length)
        t.insert(0, text)
      })
      await waitFor(() => textIn(b, room) === text, `b to see "${text}"`)
      const res = await fetch(`http://127.0.0.1:${s1.port}/v1/rooms/${room}/versions`, { method: 'POST', headers: admin, body: JSON.stringify({ label: text }) })
      expect(res.status).toBe(201)
      return ((await res.json()) as { id: string }).id
    }
    const v1 = await version('one')
    const v2 = await version('two')
    await version('three')
    // Both computed from "three" and both applied, the document would read "onetwo" or "twoone".
    const [r1, r2] = await Promise.all([
      fetch(`http://127.0.0.1:${s1.port}/v1/rooms/${room}/versions/${v1}/restore`, { method: 'POST', headers: admin }),
      fetch(`http://127.0.0.1:${s2.port}/v1/rooms/${room}/versions/${v2}/restore`, { method: 'POST', headers: admin }),
    ])
    expect([r1.status, r2.status]).toEqual([200, 200])
    const stored = await storedText(store, room)
    expect(['one', 'two']).toContain(stored)
    await waitFor(() => textIn(a, room) === stored && textIn(b, room) === stored, 'both clients to show the last restore')
    expect(s1.server.registry.get(room)?.doc.getText('t').toString()).toBe(stored)
    expect(s2.server.registry.get(room)?.doc.getText('t').toString()).toBe(stored)
  })

  test('an instance cut off the wire keeps its room working and catches up once it is back', async (ctx) => {
    if (skip()) return ctx.skip()
    const { s1, s2, wire } = await cluster()
    const room = freshRoom()
    const a = await single(s1.url, room, { token: await token({ sub: 'alice' }) })
    const a2 = await single(s1.url, room, { token: await token({ sub: 'dave' }) })
    const b = await single(s2.url, room, { token: await token({ sub: 'bob' }) })
    await a.write(room, (doc) => doc.getText('t').insert(0, 'A'))
    await waitFor(() => textIn(b, room) === 'A', 'b to see the first edit')
    wire.cut('s1')
    // Collaboration within the cut instance goes on, and edits are acknowledged (the store is reachable).
    await a.write(room, (doc) => doc.getText('t').insert(1, 'B'))
    await waitFor(() => textIn(a2, room) === 'AB', 'a2 on the same instance to see it')
    await b.write(room, (doc) => doc.getText('t').insert(0, 'C'))
    wire.restore('s1')
    await waitFor(() => textIn(b, room) === textIn(a, room) && textIn(a, room).length === 3, 'both sides to converge within 10 s of the wire coming back', 10_000)
    expect(textIn(a2, room)).toBe(textIn(b, room))
  })
})
