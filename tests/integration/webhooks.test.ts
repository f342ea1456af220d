/**
 * Webhooks end to end: real HTTP receivers on 127.0.0.1:0, real stores (memory and SQLite), the service
 * driven through a RoomEvents emitter as the server will drive it.
 */
import http from 'node:http'
import path from 'node:path'
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { AddressInfo } from 'node:net'
import { describe, expect, onTestFinished, test } from 'vitest'
import { pino } from 'pino'
import { Webhook } from 'standardwebhooks'
import { createMemoryStore } from '#server/persistence/memory'
import { createSqliteStore } from '#server/persistence/sqlite'
import type { Store } from '#server/persistence/store'
import { createRoomEvents, type RoomEvents } from '#server/rooms/events'
import { createWebhooks, type Webhooks, type WebhooksOptions } from '#server/webhooks/service'
import type { Resolver } from '#server/webhooks/ssrf'
import { generateSecret } from '#server/webhooks/signer'
import { tempDir, waitFor } from '../helpers/server.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const silent = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' })

// ---- receivers -------------------------------------------------------------------------------------

interface Received {
  readonly method: string
  readonly url: string
  readonly headers: http.IncomingHttpHeaders
  readonly body: string
  readonly at: number
}

type Reply = { status: number; headers?: Record<string, string>; body?: string; delayMs?: number } | 'hang' | 'stream-forever'

interface Receiver {
  readonly url: string
  readonly port: number
  readonly received: Received[]
  /** Sockets the receiver saw closed by the client. */
  readonly closedByClient: () => number
  reply: (n: number, r: Received) => Reply
}

async function startReceiver(reply: Receiver['reply'] = () => ({ status: 204 })): Promise<Receiver> {
  const received: Received[] = []
  let closedByClient = 0
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const r: Received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() }
      received.push(r)
      const answer = receiver.reply(received.length, r)
      res.on('close', () => {
        if (!res.writableFinished) closedByClient++
      })
      if (answer === 'hang') return
      if (answer === 'stream-forever') {
        res.writeHead(200, { 'content-type': 'text/plain' })
        const chunk = Buffer.alloc(16 * 1024, 'x')
        const pump = (): void => {
          while (!res.destroyed && res.write(chunk));
        }
        res.on('drain', pump)
        pump()
        return
      }
      const send = (): void => {
        res.writeHead(answer.status, answer.headers ?? {})
        res.end(answer.body ?? '')
      }
      if (answer.delayMs) setTimeout(send, answer.delayMs)
      else send()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  )
  const receiver: Receiver = { url: `http://127.0.0.1:${port}/hook`, port, received, closedByClient: () => closedByClient, reply }
  return receiver
}

function secretOf(endpoints: readonly { secret: string }[]): string {
  const [endpoint] = endpoints
  if (!endpoint) throw new Error('no endpoint')
  return endpoint.secret
}

function verify(secret: string, r: Received): unknown {
  return new Webhook(secret).verify(r.body, {
    'webhook-id': String(r.headers['webhook-id']),
    'webhook-timestamp': String(r.headers['webhook-timestamp']),
    'webhook-signature': String(r.headers['webhook-signature']),
  })
}

// ---- service under test ----------------------------------------------------------------------------

const BASE: WebhooksOptions = {
  url: null,
  secret: null,
  previousSecret: null,
  secretOverlapSec: 86_400,
  allowPrivate: true,
  timeoutMs: 2_000,
  debounceMs: 30,
  maxWaitMs: 200,
  maxAttempts: 3,
  retryBaseMs: 20,
  retryMaxMs: 200,
}

interface Running {
  webhooks: Webhooks
  events: RoomEvents
  attempts: string[]
}

/**
 * Room events as rooms emit them: room.created / room.deleted only after the store changed the record,
 * which records the webhook event in the same transaction; the emitted event is only a hint.
 */
function storeBackedEvents(store: Store, inner: RoomEvents): RoomEvents {
  return {
    on: (listener) => inner.on(listener),
    emit(event) {
      if (event.type === 'room.created') void store.createRoom(event.roomId, {}).then(() => inner.emit(event))
      else if (event.type === 'room.deleted') void store.deleteRoom(event.roomId, null).then(() => inner.emit(event))
      else inner.emit(event)
    },
  }
}

async function startWebhooks(store: Store, opts: Partial<WebhooksOptions> = {}, extra: { resolver?: Resolver } = {}): Promise<Running> {
  const attempts: string[] = []
  const events = storeBackedEvents(
    store,
    createRoomEvents((err) => {
      throw err
    }),
  )
  const webhooks = await createWebhooks(
    { ...BASE, ...opts },
    {
      store,
      events,
      log: silent,
      metrics: { webhookAttempt: (o) => attempts.push(o), webhookQueueDepth: () => {}, webhookEventsDropped: () => {} },
      describeRoom: async (roomId) => ({ sizeBytes: roomId.length * 100, stateVector: new Uint8Array([1, 2, 3]) }),
      ...extra,
    },
  )
  onTestFinished(() => webhooks.close())
  return { webhooks, events, attempts }
}

const stores = [
  { name: 'memory', create: async () => createMemoryStore() },
  {
    name: 'sqlite',
    create: async () => {
      const tmp = await tempDir()
      const store = await createSqliteStore({ path: path.join(tmp.dir, 'tandem.db') }, silent)
      onTestFinished(async () => {
        await store.close()
        await tmp.remove()
      })
      return store
    },
  },
]

const created = (roomId = 'room-1') => ({ type: 'room.created' as const, roomId, at: Date.now() })

/** What a room does for an edit: the append records the change in the store; the event is only a hint. */
async function edit(store: Store, events: RoomEvents, roomId: string): Promise<void> {
  await store.appendUpdate(roomId, new Uint8Array([0, 0]))
  events.emit({ type: 'room.changed', roomId, at: Date.now() })
}

describe.each(stores)('webhooks over the $name store', ({ create }) => {
  test('deliveries are signed per Standard Webhooks and verify with the standardwebhooks package', async () => {
    const store = await create()
    const receiver = await startReceiver()
    const { webhooks, events, attempts } = await startWebhooks(store)
    const endpoint = await webhooks.createEndpoint({ url: receiver.url })
    expect(endpoint.secret).toMatch(/^whsec_/)

    events.emit(created('doc-1'))
    events.emit({ type: 'user.entered', roomId: 'doc-1', userId: 'u-1', name: 'Ada', activeUsers: 1, at: Date.now() })
    await edit(store, events, 'doc-1')
    await edit(store, events, 'doc-1')
    await waitFor(() => receiver.received.length === 3, 'three deliveries')

    const bodies = receiver.received.map((r) => verify(endpoint.secret, r) as { type: string; data: Record<string, unknown> })
    expect(bodies.map((b) => b.type).sort()).toEqual(['room.changed', 'room.created', 'user.entered'])
    expect(bodies.find((b) => b.type === 'room.changed')?.data).toMatchObject({ room: 'doc-1', sizeBytes: 500, stateVector: 'AQID' })
    expect(bodies.find((b) => b.type === 'user.entered')?.data).toEqual({ room: 'doc-1', userId: 'u-1', name: 'Ada', activeUsers: 1 })
    for (const r of receiver.received) {
      expect(r.method).toBe('POST')
      expect(r.url).toBe('/hook')
      expect(r.headers['content-type']).toBe('application/json')
      expect(String(r.headers['webhook-id'])).toMatch(/^msg_/)
    }
    await waitFor(() => attempts.length === 3, 'metrics')
    expect(attempts).toEqual(['delivered', 'delivered', 'delivered'])
  })

  test('many deliveries: each event arrives exactly once', async () => {
    const store = await create()
    const receiver = await startReceiver()
    const { webhooks, events, attempts } = await startWebhooks(store)
    const { secret } = await webhooks.createEndpoint({ url: receiver.url })
    const N = 200
    for (let i = 0; i < N; i++) events.emit({ type: 'user.entered', roomId: `room-${i % 10}`, userId: `u${i}`, name: null, activeUsers: 1, at: Date.now() })
    await waitFor(async () => receiver.received.length >= N && (await store.countPendingDeliveries()) === 0, `${N} deliveries`, 20_000)
    // close() waits for attempts still in flight: a duplicate on its way would be counted below.
    await webhooks.close()
    expect(receiver.received).toHaveLength(N)
    expect(new Set(receiver.received.map((r) => String(r.headers['webhook-id']))).size).toBe(N)
    const users = receiver.received.map((r) => (verify(secret, r) as { data: { userId: string } }).data.userId)
    expect(new Set(users)).toEqual(new Set(Array.from({ length: N }, (_, i) => `u${i}`)))
    expect(attempts).toHaveLength(N)
    expect(new Set(attempts)).toEqual(new Set(['delivered']))
  })

  test('retry after a 500: same webhook-id, a fresh timestamp and signature', async () => {
    const store = await create()
    // The 500 arrives after 1.1 s so the retry is signed in a later second.
    const receiver = await startReceiver((n) => (n === 1 ? { status: 500, delayMs: 1_100, body: 'try again' } : { status: 200 }))
    const { webhooks, events, attempts } = await startWebhooks(store, { timeoutMs: 3_000 })
    const { secret } = await webhooks.createEndpoint({ url: receiver.url, events: ['room.created'] })
    events.emit(created())
    await waitFor(() => receiver.received.length === 2, 'the retry', 10_000)
    const [first, second] = receiver.received
    expect(second!.headers['webhook-id']).toBe(first!.headers['webhook-id'])
    expect(Number(second!.headers['webhook-timestamp'])).toBeGreaterThan(Number(first!.headers['webhook-timestamp']))
    expect(second!.headers['webhook-signature']).not.toBe(first!.headers['webhook-signature'])
    expect(verify(secret, first!)).toEqual(verify(secret, second!))
    await waitFor(() => attempts.length === 2, 'metrics')
    expect(attempts).toEqual(['retry', 'delivered'])
    const [row] = (await webhooks.listDeliveries({})).deliveries
    expect(row).toMatchObject({ status: 'delivered', attempts: 2, lastStatusCode: 200, lastError: 'receiver answered 500: try again' })
  })

  test('Retry-After is honoured', async () => {
    const store = await create()
    const receiver = await startReceiver((n) => (n === 1 ? { status: 503, headers: { 'retry-after': '1' } } : { status: 200 }))
    const { webhooks, events } = await startWebhooks(store, { retryMaxMs: 5_000 })
    await webhooks.createEndpoint({ url: receiver.url })
    events.emit(created())
    await waitFor(() => receiver.received.length === 2, 'the retry', 10_000)
    // backoff alone (retryBaseMs 20) would have retried within 20 ms
    expect(receiver.received[1]!.at - receiver.received[0]!.at).toBeGreaterThanOrEqual(950)
  })

  test('410 Gone disables the endpoint: no further deliveries', async () => {
    const store = await create()
    const receiver = await startReceiver(() => ({ status: 410 }))
    const { webhooks, events, attempts } = await startWebhooks(store)
    const ep = await webhooks.createEndpoint({ url: receiver.url })
    events.emit(created('a'))
    // The endpoint is disabled before the attempt is recorded (and counted): wait for both.
    await waitFor(async () => attempts.length >= 1 && (await webhooks.listEndpoints())[0]?.disabledAt != null, 'endpoint disabled and the attempt recorded')
    const failed = await webhooks.listDeliveries({ status: 'failed' })
    expect(failed.deliveries).toHaveLength(1)
    expect(failed.deliveries[0]).toMatchObject({ endpointId: ep.id, attempts: 1, lastStatusCode: 410 })
    expect(attempts).toEqual(['gone'])

    // A second endpoint shows when the outbox has processed the later events (it writes in order).
    const witness = await startReceiver()
    const other = await webhooks.createEndpoint({ url: witness.url })
    events.emit(created('b'))
    events.emit(created('c'))
    await waitFor(() => witness.received.length === 2, 'the witness to get both events')
    const rows = (await webhooks.listDeliveries({})).deliveries
    expect(rows.filter((d) => d.endpointId === ep.id)).toHaveLength(1)
    expect(rows.filter((d) => d.endpointId === other.id)).toHaveLength(2)
    expect(receiver.received).toHaveLength(1)
    await expect(webhooks.replayDelivery(failed.deliveries[0]!.id)).rejects.toMatchObject({ code: 'bad_request' })
  })

  test('a redirect is a failure and is never followed', async () => {
    const store = await create()
    const canary = await startReceiver(() => ({ status: 200 }))
    const statuses = [301, 307, 308]
    const receiver = await startReceiver((n) => ({ status: statuses[n - 1] ?? 302, headers: { location: canary.url } }))
    const { webhooks, events, attempts } = await startWebhooks(store)
    await webhooks.createEndpoint({ url: receiver.url })
    events.emit(created())
    await waitFor(async () => (await webhooks.listDeliveries({ status: 'failed' })).deliveries.length === 1, 'failed delivery')
    expect(receiver.received).toHaveLength(3)
    expect(canary.received).toHaveLength(0)
    expect(attempts).toEqual(['retry', 'retry', 'failed'])
    expect((await webhooks.listDeliveries({})).deliveries[0]).toMatchObject({
      lastStatusCode: 308,
      lastError: 'receiver answered 308; redirects are not followed',
    })
  })

  test('a receiver that never answers times out', async () => {
    const store = await create()
    const receiver = await startReceiver(() => 'hang')
    const { webhooks, events } = await startWebhooks(store, { timeoutMs: 300, maxAttempts: 1 })
    await webhooks.createEndpoint({ url: receiver.url })
    // Measured from before the event: the attempt (and its timeout) cannot start earlier. The receiver's
    // own arrival time is no start: on a loaded machine it may be recorded well after the request began.
    const emittedAt = performance.now()
    events.emit(created())
    await waitFor(async () => (await webhooks.listDeliveries({ status: 'failed' })).deliveries.length === 1, 'timed-out delivery')
    expect(receiver.received).toHaveLength(1)
    // It waited for the timeout before giving up (a lower bound only: slow machines may take longer).
    expect(performance.now() - emittedAt).toBeGreaterThanOrEqual(295)
    expect((await webhooks.listDeliveries({})).deliveries[0]).toMatchObject({ lastError: 'timed out after 300 ms', lastStatusCode: null })
    await waitFor(() => receiver.closedByClient() === 1, 'the client to hang up')
  })

  test('at most 64 KiB of a response is read', async () => {
    const store = await create()
    const receiver = await startReceiver(() => 'stream-forever')
    const { webhooks, events } = await startWebhooks(store, { timeoutMs: 5_000 })
    await webhooks.createEndpoint({ url: receiver.url })
    events.emit(created())
    await waitFor(async () => (await webhooks.listDeliveries({ status: 'delivered' })).deliveries.length === 1, 'delivered')
    await waitFor(() => receiver.closedByClient() === 1, 'the client to stop reading')
  })

  test('exhausted deliveries are kept as failed, listed, and a replay delivers them with the same id', async () => {
    const store = await create()
    let healthy = false
    const receiver = await startReceiver(() => (healthy ? { status: 200 } : { status: 502 }))
    const { webhooks, events } = await startWebhooks(store, { maxAttempts: 3 })
    const { secret } = await webhooks.createEndpoint({ url: receiver.url })
    events.emit(created('keep'))
    await waitFor(async () => (await webhooks.listDeliveries({ status: 'failed' })).deliveries.length === 1, 'failed delivery')
    expect(receiver.received).toHaveLength(3)
    const [failed] = (await webhooks.listDeliveries({ status: 'failed' })).deliveries
    expect(failed).toMatchObject({ status: 'failed', attempts: 3, lastStatusCode: 502, nextAttemptAt: null, eventType: 'room.created' })
    expect(failed!.payload).toMatchObject({ type: 'room.created', data: { room: 'keep' } })
    expect((await webhooks.listDeliveries({ status: 'pending' })).deliveries).toEqual([])

    healthy = true
    const replayed = await webhooks.replayDelivery(failed!.id)
    expect(replayed).toMatchObject({ id: failed!.id, status: 'pending', attempts: 0 })
    await waitFor(() => receiver.received.length === 4, 'replayed delivery')
    expect(receiver.received[3]!.headers['webhook-id']).toBe(failed!.id)
    expect(verify(secret, receiver.received[3]!)).toMatchObject({ data: { room: 'keep' } })
    await waitFor(async () => (await webhooks.listDeliveries({ status: 'delivered' })).deliveries.length === 1, 'recorded delivered')
    await expect(webhooks.replayDelivery('msg_nope')).rejects.toMatchObject({ code: 'delivery_not_found' })
  })

  test('endpoints: secrets are shown once, filters apply, deleting removes pending deliveries', async () => {
    const store = await create()
    // Rows stay pending: every attempt is told to come back in a minute.
    const receiver = await startReceiver(() => ({ status: 503, headers: { 'retry-after': '60' } }))
    const { webhooks, events } = await startWebhooks(store, { retryMaxMs: 60_000 })
    const users = await webhooks.createEndpoint({ url: receiver.url, events: ['user.left', 'user.entered', 'user.left'] })
    expect(users.events).toEqual(['user.entered', 'user.left'])
    const all = await webhooks.createEndpoint({ url: `${receiver.url}?all=1` })
    const listed = await webhooks.listEndpoints()
    expect(listed.map((e) => e.id).sort()).toEqual([users.id, all.id].sort())
    for (const e of listed) expect(JSON.stringify(e)).not.toContain('whsec_')

    events.emit(created('x'))
    events.emit({ type: 'user.left', roomId: 'x', userId: 'u', activeUsers: 0, at: Date.now() })
    await waitFor(async () => (await webhooks.listDeliveries({})).deliveries.length === 3, 'three rows')
    await webhooks.deleteEndpoint(all.id)
    await expect(webhooks.deleteEndpoint(all.id)).rejects.toMatchObject({ code: 'webhook_not_found' })
    await expect(webhooks.deleteEndpoint('ep_config')).rejects.toMatchObject({ code: 'bad_request' })
    const left = (await webhooks.listDeliveries({})).deliveries
    expect(left.map((d) => d.endpointId)).toEqual([users.id])

    // paging
    for (let i = 0; i < 5; i++) events.emit({ type: 'user.entered', roomId: `p${i}`, userId: 'u', name: null, activeUsers: 1, at: Date.now() })
    await waitFor(async () => (await webhooks.listDeliveries({ limit: 100 })).deliveries.length === 6, 'six rows')
    const seen: string[] = []
    let cursor: string | undefined
    for (;;) {
      const page = await webhooks.listDeliveries({ limit: 4, ...(cursor !== undefined && { cursor }) })
      seen.push(...page.deliveries.map((d) => d.id))
      if (page.nextCursor === null) break
      cursor = page.nextCursor
    }
    expect(seen).toHaveLength(6)
    expect([...seen].sort()).toEqual(seen)
  })

  test('close() writes debounced room.changed events to the outbox', async () => {
    const store = await create()
    const receiver = await startReceiver()
    const { webhooks, events } = await startWebhooks(store, { debounceMs: 60_000, maxWaitMs: 60_000 })
    await webhooks.createEndpoint({ url: receiver.url })
    await edit(store, events, 'late')
    // The change is recorded with the commit; the outbox learns of it right after.
    await waitFor(() => webhooks.pendingChanges === 1, 'the change to be pending')
    await webhooks.close()
    expect(webhooks.pendingChanges).toBe(0)
    const rows = await store.listDeliveries({ limit: 10 })
    expect(rows.map((r) => r.eventType)).toEqual(['room.changed'])
    // Delivered while draining (the dispatcher runs until the outbox is flushed) or, if not, by the
    // next instance on this store: exactly once either way.
    const next = await startWebhooks(store)
    await waitFor(async () => (await store.countPendingDeliveries()) === 0 && receiver.received.length === 1, 'delivery')
    await next.webhooks.close()
    expect(receiver.received).toHaveLength(1)
    expect(verify(secretOf(await store.listWebhookEndpoints()), receiver.received[0]!)).toMatchObject({ type: 'room.changed', data: { room: 'late' } })
  })

  test('the configured endpoint is upserted at boot, trusted for private addresses, and removed when unset', async () => {
    const store = await create()
    const receiver = await startReceiver()
    const secret = generateSecret()
    const first = await startWebhooks(store, { url: receiver.url, secret, allowPrivate: false })
    expect(await first.webhooks.listEndpoints()).toEqual([
      { id: 'ep_config', url: receiver.url, events: null, createdAt: expect.any(Number) as unknown, disabledAt: null, fromConfig: true, previousSecretExpiresAt: null },
    ])
    first.events.emit(created())
    await waitFor(() => receiver.received.length === 1, 'delivery to the configured endpoint')
    expect(verify(secret, receiver.received[0]!)).toMatchObject({ type: 'room.created' })
    await first.webhooks.close()
    const second = await startWebhooks(store, { url: null, secret: null })
    expect(await second.webhooks.listEndpoints()).toEqual([])
  })

  test('a hung receiver never slows the room path', async () => {
    const store = await create()
    const receiver = await startReceiver(() => 'hang')
    const { webhooks, events } = await startWebhooks(store, { timeoutMs: 500, debounceMs: 5 })
    await webhooks.createEndpoint({ url: receiver.url })
    // Emitting is synchronous queueing: the loop completes while every attempt hangs, and every event
    // still reaches the durable outbox (2,000 user.entered + one debounced room.changed per room).
    const appends: Promise<void>[] = []
    for (let i = 0; i < 2_000; i++) {
      appends.push(store.appendUpdate(`r${i % 20}`, new Uint8Array([0, 0])))
      events.emit({ type: 'room.changed', roomId: `r${i % 20}`, at: Date.now() })
      events.emit({ type: 'user.entered', roomId: `r${i % 20}`, userId: `u${i}`, name: null, activeUsers: 1, at: Date.now() })
    }
    expect(receiver.received.length).toBe(0)
    await waitFor(() => receiver.received.length >= 8, 'attempts in flight')
    await Promise.all(appends)
    // Every user.entered, and a room.changed for every room (coalesced: more than one per room only when
    // a room changed again while its first one was being attempted).
    const pending = async () => await store.listDeliveries({ status: 'pending', limit: 5_000 })
    await waitFor(async () => {
      const rows = await pending()
      const rooms = new Set(rows.filter((r) => r.eventType === 'room.changed').map((r) => (JSON.parse(r.payload) as { data: { room: string } }).data.room))
      return rows.filter((r) => r.eventType === 'user.entered').length === 2_000 && rooms.size === 20
    }, 'every event to be in the outbox')
    expect((await pending()).filter((r) => r.eventType === 'room.changed').length).toBeLessThanOrEqual(2 * 20)
  })
})

// ---- SSRF ------------------------------------------------------------------------------------------

describe('SSRF guard against a canary on 127.0.0.1', () => {
  test('every forbidden form is refused at registration and the canary receives nothing', async () => {
    const canary = await startReceiver()
    const p = canary.port
    // Names only the injected resolver knows, the way DNS would answer them.
    const resolver: Resolver = async (host) => {
      const table: Record<string, { address: string; family: 4 | 6 }[]> = {
        'canary.test': [{ address: '127.0.0.1', family: 4 }],
        'mixed.test': [
          { address: '93.184.216.34', family: 4 },
          { address: '127.0.0.1', family: 4 },
        ],
        'mapped.test': [{ address: '::ffff:127.0.0.1', family: 6 }],
        'nat64.test': [{ address: '64:ff9b::7f00:1', family: 6 }],
        localhost: [
          { address: '127.0.0.1', family: 4 },
          { address: '::1', family: 6 },
        ],
      }
      const found = table[host]
      if (!found) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' })
      return found
    }
    const store = createMemoryStore()
    const { webhooks, events } = await startWebhooks(store, { allowPrivate: false }, { resolver })
    const forms = [
      `http://127.0.0.1:${p}/`,
      `http://localhost:${p}/`,
      `http://2130706433:${p}/`,
      `http://0x7f000001:${p}/`,
      `http://017700000001:${p}/`,
      `http://0177.0.0.1:${p}/`,
      `http://0x7f.0.0.1:${p}/`,
      `http://127.1:${p}/`,
      `http://0:${p}/`,
      `http://0.0.0.0:${p}/`,
      `http://[::1]:${p}/`,
      `http://[::]:${p}/`,
      `http://[::ffff:127.0.0.1]:${p}/`,
      `http://[::ffff:7f00:1]:${p}/`,
      `http://[::127.0.0.1]:${p}/`,
      `http://[64:ff9b::127.0.0.1]:${p}/`,
      `http://canary.test:${p}/`,
      `http://mixed.test:${p}/`,
      `http://mapped.test:${p}/`,
      `http://nat64.test:${p}/`,
      `http://user:pw@canary.test:${p}/`,
      `ftp://127.0.0.1:${p}/`,
      `file:///etc/passwd`,
    ]
    for (const url of forms) {
      await expect(webhooks.createEndpoint({ url }), url).rejects.toMatchObject({ name: 'AppError', code: 'bad_request' })
    }
    expect(await webhooks.listEndpoints()).toEqual([])
    events.emit(created())
    await webhooks.close()
    expect(await store.countPendingDeliveries()).toBe(0)
    expect(canary.received).toHaveLength(0)
  })

  test('a name that passed at registration but resolves to loopback later is refused at delivery (rebinding)', async () => {
    const canary = await startReceiver()
    let answer = '93.184.216.34'
    const resolver: Resolver = async () => [{ address: answer, family: 4 }]
    const store = createMemoryStore()
    const { webhooks, events } = await startWebhooks(store, { allowPrivate: false, maxAttempts: 2 }, { resolver })
    await webhooks.createEndpoint({ url: `http://rebind.test:${canary.port}/` })
    answer = '127.0.0.1'
    events.emit(created())
    await waitFor(async () => (await webhooks.listDeliveries({ status: 'failed' })).deliveries.length === 1, 'refused delivery')
    expect((await webhooks.listDeliveries({})).deliveries[0]?.lastError).toMatch(/destination refused: rebind\.test resolves to 127\.0\.0\.1, a loopback address/)
    expect(canary.received).toHaveLength(0)
  })

  test('the connection goes to the address that was resolved and checked (no second DNS lookup)', async () => {
    const receiver = await startReceiver()
    // `receiver.test` exists only in this resolver: if the transport resolved again through the system,
    // the request could not connect.
    const resolver: Resolver = async (host) => (host === 'receiver.test' ? [{ address: '127.0.0.1', family: 4 }] : [])
    const store = createMemoryStore()
    const { webhooks, events } = await startWebhooks(store, { allowPrivate: true }, { resolver })
    const { secret } = await webhooks.createEndpoint({ url: `http://receiver.test:${receiver.port}/pinned?x=1` })
    events.emit(created())
    await waitFor(() => receiver.received.length === 1, 'pinned delivery')
    expect(receiver.received[0]).toMatchObject({ url: '/pinned?x=1', headers: { host: `receiver.test:${receiver.port}` } })
    expect(verify(secret, receiver.received[0]!)).toMatchObject({ type: 'room.created' })
  })
})

// ---- crash safety ----------------------------------------------------------------------------------

/** A process that runs the built webhooks over a SQLite file; `emit` enqueues one room.created first. */
const CHILD = `
import { pino } from 'pino'
const dist = ${JSON.stringify(pathToFileURL(path.join(ROOT, 'server/dist')).href)}
const { createSqliteStore } = await import(dist + '/persistence/sqlite.js')
const { createRoomEvents } = await import(dist + '/rooms/events.js')
const { createWebhooks } = await import(dist + '/webhooks/service.js')
const [dbPath, url, secret, mode] = process.argv.slice(1)
const log = pino({ level: 'silent' })
const store = await createSqliteStore({ path: dbPath }, log)
const events = createRoomEvents(() => {})
const webhooks = await createWebhooks(
  { url, secret, allowPrivate: false, timeoutMs: 1000, debounceMs: 0, maxWaitMs: 0, maxAttempts: 5, retryBaseMs: 20, retryMaxMs: 200 },
  { store, events, log, metrics: { webhookAttempt() {}, webhookQueueDepth() {}, webhookEventsDropped() {} }, describeRoom: async () => null },
)
process.on('SIGTERM', async () => {
  await webhooks.close()
  await store.close()
  process.exit(0)
})
if (mode === 'emit') {
  await store.createRoom('crash-room', {})
  events.emit({ type: 'room.created', roomId: 'crash-room', at: Date.now() })
}
process.stdout.write('ready\\n')
setInterval(() => {}, 60_000)
`

function runChild(args: string[]): { child: ChildProcess; exited: Promise<number | string> } {
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()))
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => {
      if (code !== null && code !== 0) console.error(err)
      resolve(code ?? signal ?? 'unknown')
    }),
  )
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
  })
  return { child, exited }
}

describe('crash safety', () => {
  test('SIGKILL during a delivery: the next process on the same SQLite file delivers it', async () => {
    const tmp = await tempDir()
    onTestFinished(() => tmp.remove())
    const db = path.join(tmp.dir, 'tandem.db')
    let answering = false
    const receiver = await startReceiver(() => (answering ? { status: 200 } : 'hang'))
    const secret = generateSecret()

    const first = runChild([db, receiver.url, secret, 'emit'])
    await waitFor(() => receiver.received.length === 1, 'the first attempt to reach the receiver', 20_000)
    first.child.kill('SIGKILL')
    expect(await first.exited).toBe('SIGKILL')
    const id = receiver.received[0]!.headers['webhook-id']

    answering = true
    const second = runChild([db, receiver.url, secret, 'deliver'])
    // The claim's lease (2 × timeout + 1 s) must run out before the row is due again.
    await waitFor(() => receiver.received.length >= 2, 'redelivery by the second process', 20_000)
    const again = receiver.received[1]!
    expect(again.headers['webhook-id']).toBe(id)
    expect(verify(secret, again)).toMatchObject({ type: 'room.created', data: { room: 'crash-room' } })
    second.child.kill('SIGTERM')
    expect(await second.exited).toBe(0)

    const store = await createSqliteStore({ path: db }, silent)
    onTestFinished(() => store.close())
    const rows = await store.listDeliveries({ limit: 10 })
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ id, status: 'delivered', attempts: 1 })
  })
})
