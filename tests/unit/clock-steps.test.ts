/**
 * A step of the wall clock (here: 10 minutes back, as NTP or an operator might) moves no deadline: quiet
 * waits, the outbox's room.changed debounce, and the dispatcher's retries and leases run on monotonic time
 * (clock.ts). Only `Date` is faked: timers and performance.now() stay real, as they do when a real system
 * clock is stepped.
 */
import { afterEach, describe, expect, test, vi } from 'vitest'
import { pino } from 'pino'
import { monotonicNow, processNow } from '#server/clock'
import { afterQuiet } from '#server/quiet-wait'
import { createMemoryStore } from '#server/persistence/memory'
import { Outbox } from '#server/webhooks/outbox'
import { Dispatcher } from '#server/webhooks/dispatcher'
import type { WebhookResponse } from '#server/webhooks/transport'
import { generateSecret } from '#server/webhooks/signer'
import { waitFor } from '../helpers/server.js'

const silent = pino({ level: 'silent' })
const TEN_MINUTES = 10 * 60_000

/** From now on `Date` runs 10 minutes behind (and keeps running); timers are untouched. */
function stepWallClockBack(): void {
  vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true })
  vi.setSystemTime(Date.now() - TEN_MINUTES)
}

afterEach(() => {
  vi.useRealTimers()
})

describe('a wall clock stepped back 10 minutes', () => {
  test('moves neither the monotonic nor the process clock', () => {
    const mono = monotonicNow()
    const proc = processNow()
    const wall = Date.now()
    stepWallClockBack()
    expect(Date.now()).toBeLessThan(wall - TEN_MINUTES + 1_000)
    expect(processNow() - proc).toBeGreaterThanOrEqual(0)
    expect(processNow() - proc).toBeLessThan(1_000)
    expect(monotonicNow() - mono).toBeLessThan(1_000)
  })

  test('a quiet wait still fires after its quiet period', async () => {
    const lastActivity = monotonicNow()
    let fired = false
    const wait = afterQuiet({ quietMs: 50, maxWaitMs: 1_000, lastActivityAt: () => lastActivity, fire: () => (fired = true) })
    stepWallClockBack()
    await waitFor(() => fired, 'the quiet wait to fire (it would take 10 more minutes on the wall clock)', 5_000)
    wait.cancel()
  })

  test('room.changed is delivered after its debounce, not 10 minutes later', async () => {
    const store = createMemoryStore()
    await store.saveWebhookEndpoint({ id: 'ep_a', url: 'https://a.example/', secret: generateSecret(), events: null, createdAt: 1, disabledAt: null, previousSecret: null, previousSecretExpiresAt: null })
    const outbox = new Outbox(
      { debounceMs: 100, maxWaitMs: 1_000 },
      { store, log: silent, describeRoom: async () => ({ sizeBytes: 1, stateVector: new Uint8Array([0]) }), onEnqueued: () => {} },
    )
    outbox.start()
    outbox.onEvent({ type: 'room.changed', roomId: 'r', at: Date.now() })
    await store.appendUpdate('r', new Uint8Array([0, 0]))
    stepWallClockBack()
    await waitFor(async () => (await store.countPendingDeliveries()) === 1, 'room.changed in the outbox', 5_000)
    await outbox.close()
    await store.close()
  })

  test('a failed delivery is retried after its backoff, not 10 minutes later', async () => {
    const store = createMemoryStore()
    await store.saveWebhookEndpoint({ id: 'ep_a', url: 'https://a.example/', secret: generateSecret(), events: null, createdAt: 1, disabledAt: null, previousSecret: null, previousSecretExpiresAt: null })
    const answers: WebhookResponse[] = [{ statusCode: 500, retryAfter: null, body: '' }, { statusCode: 200, retryAfter: null, body: '' }]
    let attempts = 0
    // The step comes right after the failure and its retry time were recorded: the moment it hurts most.
    const complete = store.completeDelivery.bind(store)
    store.completeDelivery = async (id, outcome, at) => {
      await complete(id, outcome, at)
      if (outcome.status === 'pending') stepWallClockBack()
    }
    const dispatcher = new Dispatcher(
      { timeoutMs: 1_000, allowPrivate: true, concurrency: 2, maxAttempts: 5, retryBaseMs: 50, retryMaxMs: 50 },
      {
        store,
        log: silent,
        metrics: { webhookAttempt: () => {}, webhookQueueDepth: () => {}, webhookEventsDropped: () => {} },
        transport: async () => answers[attempts++] ?? answers[1]!,
        resolver: async () => [{ address: '93.184.216.34', family: 4 }],
        random: () => 0.5,
      },
    )
    await store.enqueueDeliveries([{ id: 'msg_1', endpointId: 'ep_a', eventType: 'room.created', payload: '{}', createdAt: processNow() }])
    dispatcher.start()
    dispatcher.wake()
    await waitFor(async () => (await store.getDelivery('msg_1'))?.status === 'delivered', 'the retry to be delivered', 5_000)
    expect(attempts).toBe(2)
    await dispatcher.close(1_000)
    await store.close()
  })
})
