import { describe, expect, onTestFinished, test, vi } from 'vitest'
import { pino } from 'pino'
import { createMemoryStore } from '#server/persistence/memory'
import type { Store, WebhookEndpoint } from '#server/persistence/store'
import { CONFIG_ENDPOINT_ID, Dispatcher, type DispatcherOptions } from '#server/webhooks/dispatcher'
import type { WebhookRequest, WebhookResponse, WebhookTransport } from '#server/webhooks/transport'
import type { Resolver } from '#server/webhooks/ssrf'
import { generateId, generateSecret } from '#server/webhooks/signer'
import { processNow } from '#server/clock'
import { waitFor } from '../helpers/server.js'

const silent = pino({ level: 'silent' })
const SECRET = generateSecret()

/** Counts calls per store method, so tests can prove the loop does not poll. */
function counted(store: Store): { store: Store; calls: Map<string, number> } {
  const calls = new Map<string, number>()
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        calls.set(String(prop), (calls.get(String(prop)) ?? 0) + 1)
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  })
  return { store: proxy, calls }
}

interface Sent {
  request: WebhookRequest
  at: number
}

function scriptedTransport(answer: (req: WebhookRequest, n: number) => Promise<WebhookResponse> | WebhookResponse): WebhookTransport & { sent: Sent[] } {
  const sent: Sent[] = []
  const transport = async (request: WebhookRequest): Promise<WebhookResponse> => {
    sent.push({ request, at: Date.now() })
    return answer(request, sent.length)
  }
  return Object.assign(transport, { sent })
}

const ok: WebhookResponse = { statusCode: 200, retryAfter: null, body: '' }
/** The dispatcher's look at the outbox when nothing is due and nobody wakes it (IDLE_RECHECK_MS). */
const IDLE_RECHECK_MS = 60_000

/**
 * Fakes the timers the dispatcher sleeps with, so a test decides when time passes. Call it after setup():
 * onTestFinished runs in reverse order, so real timers are back before the dispatcher is closed.
 * waitFor (tests/helpers) keeps polling in real time and never moves the fake clock.
 */
function fakeTimers(): void {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
  onTestFinished(() => {
    vi.useRealTimers()
  })
}
const publicResolver: Resolver = async () => [{ address: '93.184.216.34', family: 4 }]

async function setup(
  transport: WebhookTransport,
  opts: Partial<DispatcherOptions> = {},
  extra: { resolver?: Resolver; endpoints?: WebhookEndpoint[] } = {},
) {
  const depths: number[] = []
  const attempts: string[] = []
  const { store, calls } = counted(createMemoryStore())
  for (const e of extra.endpoints ?? [{ id: 'ep_a', url: 'https://hooks.example/in', secret: SECRET, events: null, createdAt: 1, disabledAt: null, previousSecret: null, previousSecretExpiresAt: null }]) {
    await store.saveWebhookEndpoint(e)
  }
  const dispatcher = new Dispatcher(
    { timeoutMs: 1_000, allowPrivate: false, concurrency: 8, maxAttempts: 3, retryBaseMs: 20, retryMaxMs: 200, ...opts },
    {
      store,
      log: silent,
      metrics: { webhookAttempt: (o) => attempts.push(o), webhookQueueDepth: (n) => depths.push(n), webhookEventsDropped: () => {} },
      transport,
      resolver: extra.resolver ?? publicResolver,
    },
  )
  onTestFinished(() => dispatcher.close(0))
  const enqueue = async (n: number, endpointId = 'ep_a') => {
    // Due at the dispatcher's own clock (processNow): the wall clock may run a little ahead of it, and a
    // delivery not yet due would wait on a timer the faked clock never fires.
    const rows = Array.from({ length: n }, (_, i) => ({ id: generateId('msg_'), endpointId, eventType: 'room.created', payload: JSON.stringify({ i }), createdAt: processNow() }))
    await store.enqueueDeliveries(rows)
    dispatcher.wake()
    return rows.map((r) => r.id)
  }
  return { store, calls, dispatcher, enqueue, depths, attempts }
}

describe('webhook dispatcher', () => {
  test('idle: it sleeps instead of polling, and a wake-up delivers at once', async () => {
    const transport = scriptedTransport(() => ok)
    const h = await setup(transport)
    fakeTimers()
    h.dispatcher.start()
    // Half the idle recheck: any fixed-rate polling would have looked again many times.
    await vi.advanceTimersByTimeAsync(IDLE_RECHECK_MS / 2)
    // one look at start, then asleep
    expect(h.calls.get('claimDueDeliveries')).toBe(1)
    expect(h.calls.get('nextDeliveryDueAt')).toBe(1)
    const [id] = await h.enqueue(1)
    // The fake clock stands still from here on: no timer can fire, so only the wake-up can deliver.
    await waitFor(async () => (await h.store.getDelivery(id!))?.status === 'delivered', 'delivery without the clock moving')
    const claims = h.calls.get('claimDueDeliveries') ?? 0
    expect(claims).toBeLessThanOrEqual(4)
    // Asleep again: nothing more until the idle recheck is due...
    await vi.advanceTimersByTimeAsync(IDLE_RECHECK_MS / 2 - 1_000)
    expect(h.calls.get('claimDueDeliveries')).toBe(claims)
    // ...which does come (so the fake clock does drive the loop, and the silence above means something).
    await vi.advanceTimersByTimeAsync(IDLE_RECHECK_MS)
    expect(h.calls.get('claimDueDeliveries')).toBe(claims + 1)
    expect(h.attempts).toEqual(['delivered'])
    expect(h.depths.at(-1)).toBe(0)
  })

  test('a retry sleeps until it is due, then is re-signed with the same id', async () => {
    const transport = scriptedTransport((_req, n) => (n === 1 ? { statusCode: 503, retryAfter: '1', body: '' } : ok))
    const h = await setup(transport, { retryMaxMs: 5_000 })
    h.dispatcher.start()
    const [id] = await h.enqueue(1)
    await waitFor(async () => (await h.store.getDelivery(id!))?.status === 'delivered', 'retried delivery', 5_000)
    const [first, second] = transport.sent
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(990)
    expect(second!.request.headers['webhook-id']).toBe(id)
    expect(first!.request.headers['webhook-id']).toBe(id)
    // the loop slept through the Retry-After instead of polling
    expect(h.calls.get('claimDueDeliveries')).toBeLessThanOrEqual(6)
    expect(h.attempts).toEqual(['retry', 'delivered'])
    expect(await h.store.getDelivery(id!)).toMatchObject({ attempts: 2, lastStatusCode: 200 })
  })

  test('at most `concurrency` attempts run at once, and all get delivered', async () => {
    let running = 0
    let peak = 0
    /** Attempts held open until the test lets them answer (or close() cuts them off). */
    const held: (() => void)[] = []
    const transport = scriptedTransport(async (req) => {
      running++
      peak = Math.max(peak, running)
      await new Promise<void>((resolve) => {
        held.push(resolve)
        req.signal.addEventListener('abort', () => resolve())
      })
      running--
      return ok
    })
    const h = await setup(transport, { concurrency: 4 })
    h.dispatcher.start()
    await h.enqueue(40)
    // Each round: the dispatcher fills every slot (and no more), then the test answers them all.
    for (let answered = 0; answered < 40; ) {
      await waitFor(() => held.length >= 4, `4 attempts in flight after ${answered} answered`)
      expect(running).toBe(4)
      for (const answer of held.splice(0)) {
        answer()
        answered++
      }
    }
    await waitFor(async () => (await h.store.countPendingDeliveries()) === 0, 'all delivered')
    expect(transport.sent).toHaveLength(40)
    expect(peak).toBe(4)
  })

  test('exhausted deliveries are kept as failed', async () => {
    const transport = scriptedTransport(() => ({ statusCode: 500, retryAfter: null, body: 'nope' }))
    const h = await setup(transport, { maxAttempts: 3 })
    h.dispatcher.start()
    const [id] = await h.enqueue(1)
    await waitFor(async () => (await h.store.getDelivery(id!))?.status === 'failed', 'failed')
    expect(await h.store.getDelivery(id!)).toMatchObject({ attempts: 3, lastStatusCode: 500, lastError: 'receiver answered 500: nope' })
    expect(h.attempts).toEqual(['retry', 'retry', 'failed'])
  })

  test('410 disables the endpoint; its other pending deliveries fail without being sent', async () => {
    const transport = scriptedTransport(() => ({ statusCode: 410, retryAfter: null, body: '' }))
    const h = await setup(transport, { concurrency: 1 })
    const ids = await h.enqueue(3)
    h.dispatcher.start()
    await waitFor(async () => (await h.store.countPendingDeliveries()) === 0, 'all settled')
    expect(transport.sent).toHaveLength(1)
    expect((await h.store.listWebhookEndpoints())[0]?.disabledAt).not.toBeNull()
    for (const id of ids) expect((await h.store.getDelivery(id))?.status).toBe('failed')
    expect(h.attempts).toEqual(['gone'])
  })

  test('a destination that now resolves to a private address is refused at delivery time', async () => {
    const transport = scriptedTransport(() => ok)
    const rebinding: Resolver = async () => [{ address: '127.0.0.1', family: 4 }]
    const h = await setup(transport, { maxAttempts: 1 }, { resolver: rebinding })
    h.dispatcher.start()
    const [id] = await h.enqueue(1)
    await waitFor(async () => (await h.store.getDelivery(id!))?.status === 'failed', 'refused')
    expect(transport.sent).toHaveLength(0)
    expect((await h.store.getDelivery(id!))?.lastError).toMatch(/destination refused: .*127\.0\.0\.1, a loopback address/)
  })

  test('the configured endpoint is exempt from the address check but not from the scheme check', async () => {
    const transport = scriptedTransport(() => ok)
    const loopback: Resolver = async () => [{ address: '127.0.0.1', family: 4 }]
    const h = await setup(transport, { maxAttempts: 1 }, {
      resolver: loopback,
      endpoints: [
        { id: CONFIG_ENDPOINT_ID, url: 'http://internal.corp:8080/hook', secret: SECRET, events: null, createdAt: 1, disabledAt: null, previousSecret: null, previousSecretExpiresAt: null },
        { id: 'ep_bad', url: 'file:///etc/passwd', secret: SECRET, events: null, createdAt: 2, disabledAt: null, previousSecret: null, previousSecretExpiresAt: null },
      ],
    })
    h.dispatcher.start()
    const [good] = await h.enqueue(1, CONFIG_ENDPOINT_ID)
    const [bad] = await h.enqueue(1, 'ep_bad')
    await waitFor(async () => (await h.store.countPendingDeliveries()) === 0, 'settled')
    expect((await h.store.getDelivery(good!))?.status).toBe('delivered')
    expect(transport.sent[0]?.request.destination).toMatchObject({ hostname: 'internal.corp', address: '127.0.0.1' })
    expect(await h.store.getDelivery(bad!)).toMatchObject({ status: 'failed', lastError: expect.stringMatching(/scheme file:/) as unknown })
  })

  test('close() waits for attempts in flight, then cuts them off and leaves them leased for the next process', async () => {
    const transport = scriptedTransport(
      (req) =>
        new Promise<WebhookResponse>((_resolve, reject) => {
          req.signal.addEventListener('abort', () => reject(new Error('aborted')))
        }),
    )
    const h = await setup(transport, { timeoutMs: 5_000 })
    fakeTimers()
    h.dispatcher.start()
    const [id] = await h.enqueue(1)
    await waitFor(() => transport.sent.length === 1, 'attempt started')
    let closed = false
    void h.dispatcher.close(150).then(() => (closed = true))
    // It waits out the grace period for the attempt in flight...
    await vi.advanceTimersByTimeAsync(149)
    expect(closed).toBe(false)
    expect(transport.sent[0]!.request.signal.aborted).toBe(false)
    // ...then cuts it off, rather than waiting for the attempt's own 5 s timeout (real time, not faked).
    await vi.advanceTimersByTimeAsync(1)
    await waitFor(() => closed, 'close() to return once the grace period is over', 2_000)
    expect((transport.sent[0]!.request.signal.reason as Error).name).toBe('AbortError') // not 'TimeoutError'
    const row = await h.store.getDelivery(id!)
    expect(row).toMatchObject({ status: 'pending', attempts: 0 })
    expect(row!.nextAttemptAt).toBeGreaterThan(Date.now() + 5_000) // the lease outlasts the timeout
  })

  test('a timeout counts as a failed attempt', async () => {
    const transport = scriptedTransport(
      (req) =>
        new Promise<WebhookResponse>((_resolve, reject) => {
          req.signal.addEventListener('abort', () => reject(new Error('aborted')))
        }),
    )
    const h = await setup(transport, { timeoutMs: 100, maxAttempts: 1 })
    h.dispatcher.start()
    const [id] = await h.enqueue(1)
    await waitFor(async () => (await h.store.getDelivery(id!))?.status === 'failed', 'timed out')
    expect((await h.store.getDelivery(id!))?.lastError).toBe('timed out after 100 ms')
  })

  test('a failing store is retried with backoff, not in a hot loop', async () => {
    const transport = scriptedTransport(() => ok)
    const h = await setup(transport)
    const claim = h.store.claimDueDeliveries.bind(h.store)
    let failing = true
    let failures = 0
    h.store.claimDueDeliveries = async (...args) => {
      if (failing) {
        failures++
        throw new Error('database is locked')
      }
      return claim(...args)
    }
    fakeTimers()
    h.dispatcher.start()
    await vi.advanceTimersByTimeAsync(1_000)
    expect(failures).toBeGreaterThanOrEqual(2)
    expect(failures).toBeLessThanOrEqual(4) // 200 ms, 400 ms, … between tries
    failing = false
    const [id] = await h.enqueue(1)
    // The backoff sleep is not cut short by wake(): the next try comes when it is over.
    await vi.advanceTimersByTimeAsync(2_000)
    await waitFor(async () => (await h.store.getDelivery(id!))?.status === 'delivered', 'delivered after recovery', 5_000)
  })
})
