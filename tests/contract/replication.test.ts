/**
 * The replication contract (server/src/rooms/replication.ts), run against both adapters: the local hub
 * (several instances in one process) and Redis (real Redis at 127.0.0.1:6379, a random prefix per file,
 * each instance behind its own TCP proxy so a test can cut it off). Faults: a cut instance, a trimmed or
 * lost room log, a room joined while the wire is down, an instance that dies.
 */
import { pino } from 'pino'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from 'vitest'
import * as Y from 'yjs'
import { createLocalHub, type LocalHub } from '#server/replication/local'
import { createRedisReplication, roomKeys } from '#server/replication/redis'
import type { Envelope, ReplicatedMessage, Replication, ReplicationSignal, RoomChannel } from '#server/rooms/replication'
import { waitFor } from '../helpers/server.js'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js'
import { dropPrefix, REDIS_PORT, REDIS_URL, skipWithoutRedis, testPrefix } from '../helpers/redis.js'

const FILE = 'tests/contract/replication.test.ts'
const silent = pino({ level: 'silent' })

interface Harness {
  /** A new instance; close() of the harness closes it. */
  instance(id: string): Promise<Replication>
  cut(id: string): void
  restore(id: string): void
  /** The network drops the instance's packets without resetting anything (local: same as cut). */
  stall(id: string): void
  resume(id: string): void
  /** Keeps only the newest entry of the room's log. */
  trim(roomId: string): Promise<void>
  /** Deletes the room's log (Redis lost it, or it expired). */
  loseLog(roomId: string): Promise<void>
  /** The instance dies without a word (no close, no more liveness). */
  kill(id: string): void
  close(): Promise<void>
}

function localHarness(): Harness {
  const hub: LocalHub = createLocalHub()
  const open: Replication[] = []
  return {
    instance(id) {
      const r = hub.connect(id)
      open.push(r)
      return Promise.resolve(r)
    },
    cut: (id) => hub.cut(id),
    restore: (id) => hub.restore(id),
    stall: (id) => hub.cut(id),
    resume: (id) => hub.restore(id),
    trim: (roomId) => Promise.resolve(hub.trim(roomId, 1)),
    loseLog: (roomId) => Promise.resolve(hub.trim(roomId, 0)),
    kill: (id) => hub.kill(id),
    async close() {
      await Promise.all(open.map((r) => r.close()))
    },
  }
}

function redisHarness(prefix: string): Harness {
  const proxies = new Map<string, TcpProxy>()
  const open: Replication[] = []
  const admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
  const proxyOf = (id: string): TcpProxy => {
    const proxy = proxies.get(id)
    if (!proxy) throw new Error(`no instance ${id}`)
    return proxy
  }
  return {
    async instance(id) {
      const proxy = await startTcpProxy({ targetPort: REDIS_PORT })
      proxies.set(id, proxy)
      // Short liveness so a death is noticed within a test's patience (the defaults are 5 s / 2 s), long
      // enough that a loaded machine's event-loop stalls do not look like deaths.
      const r = await createRedisReplication(
        { url: `redis://127.0.0.1:${proxy.port}`, prefix, instanceId: id, livenessTtlMs: 2_000, heartbeatMs: 250, blockMs: 1_000 },
        silent,
      )
      open.push(r)
      return r
    },
    cut: (id) => proxyOf(id).cut(),
    restore: (id) => proxyOf(id).restore(),
    stall: (id) => proxyOf(id).stall(),
    resume: (id) => proxyOf(id).resume(),
    async trim(roomId) {
      await admin.xtrim(roomKeys(prefix, roomId).log, 'MAXLEN', 1)
    },
    async loseLog(roomId) {
      await admin.del(roomKeys(prefix, roomId).log)
    },
    kill: (id) => proxyOf(id).cut(),
    async close() {
      for (const proxy of proxies.values()) proxy.restore()
      await Promise.all(open.map((r) => r.close()))
      await Promise.all([...proxies.values()].map((p) => p.close()))
      admin.disconnect()
    },
  }
}

/** A room handler that records what it hears. */
class Recorder {
  readonly messages: Envelope[] = []
  readonly signals: ReplicationSignal[] = []
  channel: RoomChannel | null = null

  readonly handler = {
    message: (e: Envelope) => this.messages.push(e),
    signal: (s: ReplicationSignal) => this.signals.push(s),
  }

  types(): string[] {
    return this.messages.map((e) => e.message.type)
  }

  updates(): string[] {
    return this.messages.flatMap((e) => (e.message.type === 'update' ? [new TextDecoder().decode(e.message.update)] : []))
  }

  hasSignal(type: ReplicationSignal['type']): boolean {
    return this.signals.some((s) => s.type === type)
  }
}

async function join(r: Replication, roomId: string): Promise<Recorder> {
  const rec = new Recorder()
  rec.channel = await r.join(roomId, rec.handler)
  return rec
}

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)
const update = (text: string): ReplicatedMessage => ({ type: 'update', update: bytes(text), userId: 'u1' })
/** An awareness message whose bytes carry a marker (the adapters do not parse them). */
const awareness = (marker: string): ReplicatedMessage => ({ type: 'awareness', update: bytes(marker), userId: 'u1' })

let redisSkipped = true
let prefix = ''
beforeAll(async () => {
  redisSkipped = await skipWithoutRedis(FILE)
  prefix = testPrefix()
})
afterAll(async () => {
  if (!redisSkipped) await dropPrefix(prefix)
})

const adapters: { name: string; create: () => Harness; skip: () => boolean }[] = [
  { name: 'local hub', create: localHarness, skip: () => false },
  { name: 'redis', create: () => redisHarness(prefix), skip: () => redisSkipped },
]

let roomSeq = 0
const freshRoom = (): string => `room-${Date.now().toString(36)}-${roomSeq++}`

describe.each(adapters)('Replication contract: $name', ({ create, skip }) => {
  async function setup(): Promise<Harness> {
    const h = create()
    onTestFinished(() => h.close())
    return h
  }

  test('delivers every message kind to the other instances with its origin, never back to the origin', async (ctx) => {
    if (skip()) return ctx.skip()
    const h = await setup()
    const [a, b, c] = await Promise.all([h.instance('a'), h.instance('b'), h.instance('c')])
    const room = freshRoom()
    const [ra, rb, rc] = await Promise.all([join(a, room), join(b, room), join(c, room)])
    const sent: ReplicatedMessage[] = [
      update('u-1'),
      { type: 'update', update: bytes('u-2'), userId: null },
      awareness('aw-1'),
      { type: 'sync-request', stateVector: Uint8Array.of(1, 2, 3) },
      { type: 'sync-reply', to: 'b', update: bytes('reply') },
      { type: 'room-deleted' },
      { type: 'stateless', payload: '{"hello":"world"}' },
      { type: 'kick', userId: 'u9', code: 4403, reason: 'removed', at: 1_764_000_000_000 },
    ]
    for (const m of sent) ra.channel!.publish(m)
    await waitFor(() => rb.messages.length === sent.length, 'b to receive every kind', 10_000)
    // c hears everything except the sync reply addressed to b.
    await waitFor(() => rc.messages.length === sent.length - 1, 'c to receive every kind but the reply to b', 10_000)
    expect(rb.messages.every((e) => e.origin === 'a' && e.roomId === room)).toBe(true)
    const byType = (rec: Recorder, type: string): ReplicatedMessage | undefined => rec.messages.find((e) => e.message.type === type)?.message
    for (const m of sent.filter((m) => m.type !== 'update')) expect(byType(rb, m.type)).toEqual(m)
    expect(rb.messages.filter((e) => e.message.type === 'update').map((e) => e.message)).toEqual([sent[0], sent[1]])
    expect(rc.types()).not.toContain('sync-reply')
    // Nothing came back to a, even after the others' traffic.
    rb.channel!.publish(update('from-b'))
    await waitFor(() => ra.updates().includes('from-b'), 'a to hear b', 10_000)
    expect(ra.messages.every((e) => e.origin !== 'a')).toBe(true)
    expect(ra.types()).toEqual(['update'])
  })

  test('keeps rooms apart, and publish works for a room the publisher has not joined', async (ctx) => {
    if (skip()) return ctx.skip()
    const h = await setup()
    const [a, b] = await Promise.all([h.instance('a'), h.instance('b')])
    const room = freshRoom()
    const other = `${room}:log` // a name that would collide with the first's keys without encoding
    const [rb, rbOther] = await Promise.all([join(b, room), join(b, other)])
    a.publish(other, update('for-other'))
    a.publish(room, update('for-room'))
    await waitFor(() => rb.updates().length === 1 && rbOther.updates().length === 1, 'both rooms to hear theirs', 10_000)
    expect(rb.updates()).toEqual(['for-room'])
    expect(rbOther.updates()).toEqual(['for-other'])
  })

  test('a room hears what was published after its join resolved, not what came before (subscribe, then load)', async (ctx) => {
    if (skip()) return ctx.skip()
    const h = await setup()
    const [a, b] = await Promise.all([h.instance('a'), h.instance('b')])
    const room = freshRoom()
    const [ra, probe] = await Promise.all([join(a, room), join(await h.instance('probe'), room)])
    ra.channel!.publish(update('before-join'))
    // Published (and in the log) before b's join: b finds it in the store when it loads; the log must not replay it.
    await waitFor(() => probe.updates().includes('before-join'), 'the first update to be in the log', 10_000)
    const rb = new Recorder()
    rb.channel = await b.join(room, rb.handler)
    // Between join and the end of its store read, the room does nothing; everything from now arrives.
    ra.channel!.publish(update('during-load-1'))
    ra.channel!.publish(update('during-load-2'))
    await waitFor(() => rb.updates().length === 2, 'b to hear both updates published during its load', 10_000)
    expect(rb.updates()).toEqual(['during-load-1', 'during-load-2'])
    expect(rb.signals).toEqual([])
  })

  test('leave stops delivery', async (ctx) => {
    if (skip()) return ctx.skip()
    const h = await setup()
    const [a, b] = await Promise.all([h.instance('a'), h.instance('b')])
    const room = freshRoom()
    const [ra, rb, rbSecond] = await Promise.all([join(a, room), join(b, room), join(b, room)])
    rb.channel!.leave()
    ra.channel!.publish(update('after-leave'))
    ra.channel!.publish(awareness('aw-after-leave'))
    await waitFor(() => rbSecond.messages.length === 2, 'the remaining subscription to hear both', 10_000)
    expect(rb.messages).toEqual([])
  })

  test('a cut instance resumes from its cursor: document messages arrive in order, presence from the cut is gone', async (ctx) => {
    if (skip()) return ctx.skip()
    const h = await setup()
    const [a, b] = await Promise.all([h.instance('a'), h.instance('b')])
    const room = freshRoom()
    const [ra, rb] = await Promise.all([join(a, room), join(b, room)])
    ra.channel!.publish(update('u-0'))
    await waitFor(() => rb.updates().length === 1, 'b to hear u-0', 10_000)
    h.cut('b')
    ra.channel!.publish(awareness('aw-during-cut'))
    for (let i = 1; i <= 3; i++) ra.channel!.publish(update(`u-${i}`))
    h.restore('b')
    await waitFor(() => rb.updates().length === 4, 'b to read what it missed from its cursor', 10_000)
    expect(rb.updates()).toEqual(['u-0', 'u-1', 'u-2', 'u-3'])
    await waitFor(() => rb.hasSignal('reconnected'), 'b to be told it reconnected', 10_000)
    // Presence is perishable: after the cut, a fresh marker arrives, the one sent during the cut never does.
    ra.channel!.publish(awareness('aw-after'))
    await waitFor(() => rb.types().includes('awareness'), 'b to hear presence again', 10_000)
    const markers = rb.messages.flatMap((e) => (e.message.type === 'awareness' ? [new TextDecoder().decode(e.message.update)] : []))
    expect(markers).toEqual(['aw-after'])
    expect(rb.signals.filter((s) => s.type === 'resync')).toEqual([])
  })

  test('what an instance publishes while it is cut off is sent, in order, once it is back', async (ctx) => {
    if (skip()) return ctx.skip()
    const h = await setup()
    const [a, b] = await Promise.all([h.instance('a'), h.instance('b')])
    const room = freshRoom()
    const [ra, rb] = await Promise.all([join(a, room), join(b, room)])
    h.cut('a')
    for (let i = 0; i < 5; i++) ra.channel!.publish(update(`queued-${i}`))
    h.restore('a')
    await waitFor(() => rb.updates().length === 5, 'b to receive what a queued', 10_000)
    expect(rb.updates()).toEqual([0, 1, 2, 3, 4].map((i) => `queued-${i}`))
  })

  test('a cursor trimmed away gives the room a resync signal, then delivery goes on', async (ctx) => {
    if (skip()) return ctx.skip()
    const h = await setup()
    const [a, b] = await Promise.all([h.instance('a'), h.instance('b')])
    const room = freshRoom()
    const [ra, rb] = await Promise.all([join(a, room), join(b, room)])
    ra.channel!.publish(update('seen'))
    await waitFor(() => rb.updates().length === 1, 'b to hear the first update', 10_000)
    h.cut('b')
    for (let i = 0; i < 5; i++) ra.channel!.publish(update(`missed-${i}`))
    // Wait until the entries are in the log before trimming them away.
    const probe = await join(await h.instance('probe'), room)
    ra.channel!.publish(update('marker'))
    await waitFor(() => probe.updates().includes('marker'), 'the log to hold every entry', 10_000)
    await h.trim(room)
    h.restore('b')
    await waitFor(() => rb.hasSignal('resync'), 'b to be told to resync', 10_000)
    expect(rb.signals.find((s) => s.type === 'resync')).toEqual({ type: 'resync', reason: 'trimmed' })
    ra.channel!.publish(update('after'))
    await waitFor(() => rb.updates().includes('after'), 'delivery to go on after the resync signal', 15_000)
  })

  test('a lost room log gives the room a resync signal', async (ctx) => {
    if (skip()) return ctx.skip()
    const h = await setup()
    const [a, b] = await Promise.all([h.instance('a'), h.instance('b')])
    const room = freshRoom()
    const [ra, rb] = await Promise.all([join(a, room), join(b, room)])
    ra.channel!.publish(update('seen'))
    await waitFor(() => rb.updates().length === 1, 'b to hear the first update', 10_000)
    h.cut('b')
    ra.channel!.publish(update('lost'))
    const probe = await join(await h.instance('probe'), room)
    ra.channel!.publish(update('marker'))
    await waitFor(() => probe.updates().includes('marker'), 'the log to hold the entries', 10_000)
    await h.loseLog(room)
    ra.channel!.publish(update('after-loss'))
    await waitFor(() => probe.updates().includes('after-loss'), 'the new log to hold an entry', 10_000)
    h.restore('b')
    await waitFor(() => rb.hasSignal('resync'), 'b to be told to resync', 10_000)
    expect(rb.updates()).toContain('after-loss')
    expect(rb.updates()).not.toContain('lost')
  })

  test('a room that joined while the wire was down resyncs once it is back', async (ctx) => {
    if (skip()) return ctx.skip()
    const h = await setup()
    const [a, b] = await Promise.all([h.instance('a'), h.instance('b')])
    const room = freshRoom()
    const ra = await join(a, room)
    h.cut('b')
    const rb = await join(b, room) // must not hang or throw while Redis is unreachable
    ra.channel!.publish(update('while-b-was-away'))
    h.restore('b')
    await waitFor(() => rb.signals.some((s) => s.type === 'resync' && s.reason === 'position-unknown'), 'b to resync its unknown position', 10_000)
    ra.channel!.publish(update('after'))
    await waitFor(() => rb.updates().includes('after'), 'b to hear updates after it is back', 15_000)
  })

  test('a room joining while the wire stalls does not hang, and catches up once it flows again', async (ctx) => {
    if (skip()) return ctx.skip()
    const h = await setup()
    const [a, b] = await Promise.all([h.instance('a'), h.instance('b')])
    const room = freshRoom()
    const ra = await join(a, room)
    h.stall('b')
    const rb = await join(b, room) // bounded by the command timeout, not by the stall
    ra.channel!.publish(update('during-stall'))
    h.resume('b')
    await waitFor(() => rb.hasSignal('resync') || rb.updates().includes('during-stall'), 'b to catch up or resync', 15_000)
    ra.channel!.publish(update('after'))
    await waitFor(() => rb.updates().includes('after'), 'b to hear updates once the wire flows', 15_000)
  })

  test('an instance that dies is reported to the rooms that heard from it', async (ctx) => {
    if (skip()) return ctx.skip()
    const h = await setup()
    const [a, b] = await Promise.all([h.instance('a'), h.instance('b')])
    const room = freshRoom()
    const quiet = freshRoom()
    const [ra, rb, rbQuiet] = await Promise.all([join(a, room), join(b, room), join(b, quiet)])
    ra.channel!.publish(awareness('hello'))
    await waitFor(() => rb.types().includes('awareness'), 'b to hear a', 10_000)
    h.kill('a')
    await waitFor(() => rb.signals.some((s) => s.type === 'instance-down' && s.instanceId === 'a'), 'b to learn that a died', 15_000)
    expect(rbQuiet.signals).toEqual([])
  })
})

describe('Redis adapter faults', () => {
  test('a room log Redis refuses (the key holds another type) does not stall other rooms', async (ctx) => {
    if (redisSkipped) return ctx.skip()
    const h = redisHarness(prefix)
    onTestFinished(() => h.close())
    const [a, b] = await Promise.all([h.instance('a'), h.instance('b')])
    const broken = freshRoom()
    const fine = freshRoom()
    const admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
    onTestFinished(() => admin.disconnect())
    await admin.set(roomKeys(prefix, broken).log, 'not a stream')
    const rb = await join(b, fine)
    a.publish(broken, update('refused'))
    a.publish(fine, update('after-the-refusal'))
    await waitFor(() => rb.updates().includes('after-the-refusal'), 'the other room’s update to get through', 10_000)
  })

  test('updates merged while Redis is slow to answer an append are all delivered', async (ctx) => {
    if (redisSkipped) return ctx.skip()
    const h = redisHarness(prefix)
    onTestFinished(() => h.close())
    const b = await h.instance('b')
    const proxy = await startTcpProxy({ targetPort: REDIS_PORT })
    onTestFinished(() => proxy.close())
    // A small queue bound, so a short stall is enough to make the adapter merge what waits.
    const a = await createRedisReplication({ url: `redis://127.0.0.1:${proxy.port}`, prefix, instanceId: 'a', maxQueued: 5 }, silent)
    onTestFinished(() => a.close())
    const room = freshRoom()
    const rb = await join(b, room)
    const doc = new Y.Doc()
    const updates: Uint8Array[] = []
    doc.on('update', (u: Uint8Array) => updates.push(u))
    for (let i = 0; i < 30; i++) doc.getText('t').insert(i, String.fromCharCode(97 + (i % 26)))
    proxy.stall()
    a.publish(room, { type: 'update', update: updates[0]!, userId: 'u1' })
    // The adapter sends on the next turn: after two, the first append is on the stalled wire, and the
    // rest queue behind it past maxQueued.
    for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve))
    for (const update of updates.slice(1)) a.publish(room, { type: 'update', update, userId: 'u1' })
    proxy.resume() // well inside the command timeout: the stalled append is answered
    const received = new Y.Doc()
    await waitFor(
      () => {
        for (const e of rb.messages.splice(0)) if (e.message.type === 'update') Y.applyUpdate(received, e.message.update)
        return received.getText('t').toString() === doc.getText('t').toString()
      },
      'b to get every update, merged or not',
      10_000,
    )
  })
})

describe('Redis adapter boot', () => {
  test('an unreachable Redis is one clear error naming the address, without the password', async () => {
    const net = await import('node:net')
    const closedPort = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as { port: number }
        srv.close(() => resolve(port))
      })
    })
    const err = await createRedisReplication({ url: `redis://:hunter2@127.0.0.1:${closedPort}`, instanceId: 'x' }, silent).then(
      () => null,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(Error)
    expect((err as Error).name).toBe('RedisConnectError')
    expect((err as Error).message).toContain(`127.0.0.1:${closedPort}`)
    expect((err as Error).message).not.toContain('hunter2')
    expect((err as Error).message).not.toContain('\n')
  })
})
