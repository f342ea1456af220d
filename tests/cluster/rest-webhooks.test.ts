/**
 * The cluster as one server for REST callers and webhook receivers, with real processes (the built CLI)
 * on one Postgres schema and one Redis prefix: users, broadcast, delete and kick work from any instance;
 * with three instances every webhook event is delivered once; and a rolling restart (SIGTERM) moves the
 * instance's clients to another without losing an edit, while its users leave the directory cleanly.
 */
import http from 'node:http'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { afterEach, expect, onTestFinished, test } from 'vitest'
import { spawnInstance, useClusterFile, yWebsocketClient } from '../helpers/cluster.js'
import { describePostgres } from '../helpers/postgres.js'
import { token, waitFor, type ChildServer } from '../helpers/server.js'
import { closeOpenConns, join, multiplexed, single, type Conn } from '../helpers/raw-client.js'

const FILE = 'tests/cluster/rest-webhooks.test.ts'
const ADMIN_KEY = 'cluster-rest-admin-key-0123456789'
const WEBHOOK_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'

const cluster = useClusterFile(FILE, ADMIN_KEY)
let roomSeq = 0
const freshRoom = (): string => `cl-${Date.now().toString(36)}-${roomSeq++}`

afterEach(closeOpenConns)

/** A webhook receiver on port 0 that records every delivery (webhook-id and event type). */
async function receiver(): Promise<{ url: string; got: { id: string; type: string; data: Record<string, unknown> }[] }> {
  const got: { id: string; type: string; data: Record<string, unknown> }[] = []
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      const parsed = JSON.parse(body) as { type: string; data: Record<string, unknown> }
      got.push({ id: String(req.headers['webhook-id']), type: parsed.type, data: parsed.data })
      res.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got }
}

/** The least a load balancer does: forwards each new TCP connection to the instance it points at now. */
async function balancer(initial: number): Promise<{ port: number; pointAt(port: number): void }> {
  let target = initial
  const sockets = new Set<net.Socket>()
  const server = net.createServer((down) => {
    const up = net.connect(target, '127.0.0.1')
    for (const s of [down, up]) {
      sockets.add(s)
      s.on('error', () => {})
      s.on('close', () => {
        sockets.delete(s)
        down.destroy()
        up.destroy()
      })
    }
    down.pipe(up)
    up.pipe(down)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onTestFinished(async () => {
    for (const s of sockets) s.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { port: (server.address() as AddressInfo).port, pointAt: (port) => (target = port) }
}

describePostgres('the cluster as one server for REST and webhooks', () => {
  async function rest(server: ChildServer, method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    const res = await fetch(`http://127.0.0.1:${server.port}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    })
    const text = await res.text()
    return { status: res.status, json: text === '' ? null : (JSON.parse(text) as unknown) }
  }

  const userIds = async (server: ChildServer, room: string): Promise<string> =>
    ((await rest(server, 'GET', `/v1/rooms/${room}/users`)).json as { users: { userId: string; connections: number }[] }).users
      .map((u) => `${u.userId}:${u.connections}`)
      .join()

  /** The outbox's deliveries for the room are all delivered, and the receiver got exactly those. */
  async function allDelivered(server: ChildServer, room: string, got: readonly { type: string; data: Record<string, unknown> }[], type?: string): Promise<boolean> {
    const page = (await rest(server, 'GET', '/v1/webhooks/deliveries?limit=200')).json as {
      deliveries: { status: string; eventType: string; payload: { data?: { room?: string } } }[]
    }
    const mine = page.deliveries.filter((d) => d.payload.data?.room === room && (type === undefined || d.eventType === type))
    const received = got.filter((d) => d.data['room'] === room && (type === undefined || d.type === type))
    return mine.every((d) => d.status === 'delivered') && mine.length === received.length
  }

  const base = (s: ChildServer): string => `ws://127.0.0.1:${s.port}`
  const jwt = (sub: string, room: string): Promise<string> => token({ sub, rooms: { [room]: 'write' } })

  test('users, broadcast, kick and delete from either instance reach both', async (ctx) => {
    if (cluster.redisSkipped) return ctx.skip()
    const one = await spawnInstance(cluster, 'rest-one')
    const two = await spawnInstance(cluster, 'rest-two')
    const room = freshRoom()
    expect((await rest(one, 'POST', '/v1/rooms', { name: room })).status).toBe(201)

    const alice = await single(base(one), room, { token: await jwt('alice', room) })
    const bob = await single(base(two), room, { token: await jwt('bob', room) })
    const bob2 = await single(base(one), room, { token: await jwt('bob', room) })
    const carol: Conn = await multiplexed(base(two))
    await join(carol, room, await jwt('carol', room))

    // Both instances list every user, with connections summed over the instances.
    await waitFor(async () => (await userIds(one, room)) === 'alice:1,bob:2,carol:1', 'instance one to list every user')
    expect(await userIds(two, room)).toBe('alice:1,bob:2,carol:1')
    // The room's stats count the whole cluster too, from either instance.
    for (const server of [one, two]) {
      const { json } = await rest(server, 'GET', `/v1/rooms/${room}`)
      expect((json as { stats: unknown }).stats).toEqual({ connections: 4, users: 3, loaded: true })
    }

    // A broadcast sent to instance one reaches carol on instance two.
    const sent = await rest(one, 'POST', `/v1/rooms/${room}/broadcast`, { message: '{"hello":"cluster"}' })
    expect(sent.status).toBe(200)
    await waitFor(() => carol.received.some((r) => r.message.type === 'stateless' && r.message.payload === '{"hello":"cluster"}'), 'carol to get the broadcast')

    // Kicking bob through instance two closes his connections on both instances with 4403.
    const kicked = await rest(two, 'DELETE', `/v1/rooms/${room}/users/bob`)
    expect(kicked).toEqual({ status: 200, json: { connections: 1 } })
    await waitFor(() => bob.closeInfo?.code === 4403 && bob2.closeInfo?.code === 4403, 'both of bob’s connections to close with 4403')
    await waitFor(async () => (await userIds(one, room)) === 'alice:1,carol:1', 'bob to leave the directory')
    expect(alice.closeInfo).toBeNull()

    // Deleting through instance two closes alice's connection on instance one with 4404.
    expect((await rest(two, 'DELETE', `/v1/rooms/${room}`)).status).toBe(204)
    await waitFor(() => alice.closeInfo?.code === 4404, 'alice (instance one) to be closed with 4404')
    expect((await rest(one, 'GET', `/v1/rooms/${room}/users`)).status).toBe(404)
  })

  test('three instances: every webhook event is delivered once', async (ctx) => {
    if (cluster.redisSkipped) return ctx.skip()
    const hook = await receiver()
    const env = { TANDEM_WEBHOOK_URL: hook.url, TANDEM_WEBHOOK_SECRET: WEBHOOK_SECRET, TANDEM_WEBHOOK_DEBOUNCE_MS: '300', TANDEM_WEBHOOK_MAX_WAIT_MS: '2000' }
    const servers = [await spawnInstance(cluster, 'hook-a', env), await spawnInstance(cluster, 'hook-b', env), await spawnInstance(cluster, 'hook-c', env)]
    const [a, b, c] = servers as [ChildServer, ChildServer, ChildServer]
    const room = freshRoom()
    const inRoom = (type: string) => hook.got.filter((d) => d.type === type && d.data['room'] === room)

    expect((await rest(a, 'POST', '/v1/rooms', { name: room })).status).toBe(201)
    // alice on two instances, bob on a third: one user.entered each.
    const alice1 = await single(base(a), room, { token: await jwt('alice', room) })
    const alice2 = await single(base(b), room, { token: await jwt('alice', room) })
    const bob = await single(base(c), room, { token: await jwt('bob', room) })
    for (const [conn, text] of [[alice1, 'a'], [alice2, 'b'], [bob, 'c']] as const) conn.docs.get(room)?.getText('t').insert(0, text)
    await waitFor(() => inRoom('user.entered').length >= 2 && inRoom('room.changed').length >= 1, 'user.entered for both users and a room.changed')

    alice1.close() // alice is still connected through instance b: no user.left
    await waitFor(async () => (await userIds(c, room)) === 'alice:1,bob:1', 'alice’s first connection to leave the directory')
    alice2.close()
    bob.close()
    await waitFor(() => inRoom('user.left').length >= 2, 'user.left for both users')
    expect((await rest(b, 'DELETE', `/v1/rooms/${room}`)).status).toBe(204)
    await waitFor(() => inRoom('room.deleted').length >= 1, 'room.deleted')

    // Everything the outbox holds was delivered, and the receiver got each delivery once.
    await waitFor(() => allDelivered(c, room, hook.got), 'every delivery to be delivered')
    expect(new Set(hook.got.map((d) => d.id)).size).toBe(hook.got.length)
    expect(inRoom('room.created')).toHaveLength(1)
    expect(inRoom('room.deleted')).toHaveLength(1)
    expect(inRoom('user.entered').map((d) => d.data['userId']).sort()).toEqual(['alice', 'bob'])
    expect(inRoom('user.left').map((d) => d.data['userId']).sort()).toEqual(['alice', 'bob'])
    // Coalesced across instances: three edits through three instances in one burst are not three deliveries each.
    expect(inRoom('room.changed').length).toBeGreaterThanOrEqual(1)
    expect(inRoom('room.changed').length).toBeLessThanOrEqual(3)
  })

  test('an instance SIGKILLed: its users leave the directory and user.left is delivered once, by one survivor', async (ctx) => {
    if (cluster.redisSkipped) return ctx.skip()
    const hook = await receiver()
    const env = { TANDEM_WEBHOOK_URL: hook.url, TANDEM_WEBHOOK_SECRET: WEBHOOK_SECRET }
    const [a, b, c] = [await spawnInstance(cluster, 'kill-a', env), await spawnInstance(cluster, 'kill-b', env), await spawnInstance(cluster, 'kill-c', env)]
    const room = freshRoom()
    const inRoom = (type: string, user: string) => hook.got.filter((d) => d.type === type && d.data['room'] === room && d.data['userId'] === user)
    await single(base(a), room, { token: await jwt('alice', room) })
    await single(base(b), room, { token: await jwt('bob', room) })
    await single(base(c), room, { token: await jwt('dave', room) })
    await waitFor(async () => (await userIds(a, room)) === 'alice:1,bob:1,dave:1', 'every user listed')
    await waitFor(() => inRoom('user.entered', 'dave').length === 1, 'user.entered for dave')

    c.child.kill('SIGKILL')
    expect(await c.exited).toBe('SIGKILL')
    // Liveness TTL 5 s, reaped on the survivors' 2 s heartbeat.
    await waitFor(async () => (await userIds(b, room)) === 'alice:1,bob:1', 'dave to leave the directory', 15_000)
    await waitFor(() => inRoom('user.left', 'dave').length >= 1, 'user.left for dave', 15_000)
    // Both survivors reap; the second finds nothing left. Wait until both have looked (their logs say so).
    await waitFor(() => [a, b].some((s) => s.output().includes('removed its users from the directory')), 'a survivor to report the reap')
    // Only the user.left deliveries: one the killed instance held a lease on is retried once the lease ends.
    await waitFor(() => allDelivered(a, room, hook.got, 'user.left'), 'every user.left delivery to be delivered')
    expect(inRoom('user.left', 'dave')).toHaveLength(1)
    expect(inRoom('user.left', 'alice')).toHaveLength(0)
    expect(inRoom('user.left', 'bob')).toHaveLength(0)
  })

  test('rolling restart: SIGTERM moves clients to another instance, nothing lost, its users leave once', async (ctx) => {
    if (cluster.redisSkipped) return ctx.skip()
    const hook = await receiver()
    const env = { TANDEM_WEBHOOK_URL: hook.url, TANDEM_WEBHOOK_SECRET: WEBHOOK_SECRET }
    const one = await spawnInstance(cluster, 'roll-one', env)
    const two = await spawnInstance(cluster, 'roll-two', env)
    const lb = await balancer(one.port)
    const room = freshRoom()
    const inRoom = (type: string, user: string) => hook.got.filter((d) => d.type === type && d.data['room'] === room && d.data['userId'] === user)

    // alice syncs through the balancer, which points at instance one for now.
    const alice = await yWebsocketClient(lb.port, room, 'alice', 10_000)
    const doc = alice.doc
    // dave is on instance one too, and does not come back after the restart.
    const dave = await single(base(one), room, { token: await jwt('dave', room) })
    const bob = await single(base(two), room, { token: await jwt('bob', room) })
    const bobText = () => bob.docs.get(room)?.getText('t').toString() ?? ''
    const text = doc.getText('t')
    for (let i = 0; i < 20; i++) text.insert(text.length, `a${i} `)
    await waitFor(() => bobText() === text.toString(), 'bob (instance two) to see alice’s edits')
    await waitFor(async () => (await userIds(two, room)) === 'alice:1,bob:1,dave:1', 'every user listed')

    lb.pointAt(two.port)
    one.child.kill('SIGTERM')
    // Edits typed while the instance drains and the provider reconnects are kept locally and sent after.
    for (let i = 0; i < 20; i++) text.insert(text.length, `b${i} `)
    expect(await one.exited).toBe(0)
    expect(dave.closeInfo?.code).toBe(1012)
    await waitFor(() => alice.wsconnected && alice.synced, 'alice to reconnect through the balancer to instance two')
    await waitFor(() => bobText() === text.toString(), 'bob to see every edit alice made, the ones during the restart included')
    for (let i = 0; i < 20; i++) expect(text.toString()).toContain(`a${i} `)
    for (let i = 0; i < 20; i++) expect(text.toString()).toContain(`b${i} `)
    const stored = (await rest(two, 'GET', `/v1/rooms/${room}/doc?format=json`)).json as { t: string }
    expect(stored.t).toBe(text.toString())

    // dave left with instance one (once); bob never left; alice is listed on instance two.
    await waitFor(async () => (await userIds(two, room)) === 'alice:1,bob:1', 'dave to leave the directory')
    await waitFor(() => inRoom('user.left', 'dave').length === 1, 'user.left for dave')
    expect(inRoom('user.entered', 'dave')).toHaveLength(1)
    expect(inRoom('user.left', 'bob')).toHaveLength(0)
    expect(new Set(hook.got.map((d) => d.id)).size).toBe(hook.got.length)
  })
})
