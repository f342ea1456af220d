/**
 * The SQLite adapter's worker thread dying (native crash, OOM, a bug) must fail every call, pending or
 * later, instead of leaving callers waiting forever. The worker is reached by recording the Worker the
 * adapter constructs; nothing in the adapter exists only for this test.
 */
import type * as WorkerThreads from 'node:worker_threads'
import pino from 'pino'
import { afterEach, expect, test, vi } from 'vitest'
import type { Store } from '@tandem/server/persistence/store'

const workers = vi.hoisted(() => [] as WorkerThreads.Worker[])

vi.mock('node:worker_threads', async (importOriginal) => {
  const mod = await importOriginal<typeof WorkerThreads>()
  class RecordedWorker extends mod.Worker {
    constructor(...args: ConstructorParameters<typeof mod.Worker>) {
      super(...args)
      workers.push(this)
    }
  }
  return { ...mod, Worker: RecordedWorker }
})

const { createSqliteStore } = await import('@tandem/server/persistence/sqlite')

afterEach(() => {
  workers.length = 0
})

/** One call of every Store method, so none can be left out of the death handling. */
function everyCall(store: Store): [string, Promise<unknown>][] {
  const delivery = { id: 'msg_x', endpointId: 'ep_1', eventType: 'room.changed', payload: '{}', createdAt: 1 }
  const endpoint = { id: 'ep_1', url: 'https://r.example/h', secret: 'whsec_eA==', events: null, createdAt: 1, disabledAt: null }
  return [
    ['loadUpdates', store.loadUpdates('r')],
    ['appendUpdate', store.appendUpdate('r', new Uint8Array([1]))],
    ['compact', store.compact('r')],
    ['createRoom', store.createRoom('r', {})],
    ['ensureRoom', store.ensureRoom('r')],
    ['getRoom', store.getRoom('r')],
    ['listRooms', store.listRooms({ limit: 10 })],
    ['updateRoomMetadata', store.updateRoomMetadata('r', { a: 1 })],
    ['deleteRoom', store.deleteRoom('r', null)],
    ['saveWebhookEndpoint', store.saveWebhookEndpoint(endpoint)],
    ['listWebhookEndpoints', store.listWebhookEndpoints()],
    ['deleteWebhookEndpoint', store.deleteWebhookEndpoint('ep_1')],
    ['disableWebhookEndpoint', store.disableWebhookEndpoint('ep_1', 1)],
    ['enqueueDeliveries', store.enqueueDeliveries([delivery])],
    ['claimDueDeliveries', store.claimDueDeliveries(1, 10, 1_000)],
    ['completeDelivery', store.completeDelivery('msg_x', { status: 'delivered', statusCode: 200 }, 1)],
    ['getDelivery', store.getDelivery('msg_x')],
    ['listDeliveries', store.listDeliveries({ limit: 10 })],
    ['replayDelivery', store.replayDelivery('msg_x', 1)],
    ['countPendingDeliveries', store.countPendingDeliveries()],
    ['nextDeliveryDueAt', store.nextDeliveryDueAt()],
    ['ping', store.ping()],
  ]
}

async function settleWithin<T>(promise: Promise<T>, ms: number): Promise<PromiseSettledResult<T>> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([
      promise.then(
        (value) => ({ status: 'fulfilled', value }) as const,
        (reason: unknown) => ({ status: 'rejected', reason }) as const,
      ),
      deadline,
    ])
  } finally {
    clearTimeout(timer)
  }
}

test('calls pending when the worker dies reject, and so does every later call', async () => {
  const store = await createSqliteStore({ path: ':memory:' }, pino({ level: 'silent' }))
  const worker = workers[0]
  if (!worker) throw new Error('no worker was recorded')

  // A large transaction keeps the worker busy, so every call issued after it is still unanswered when
  // the worker is terminated.
  const busy = store.enqueueDeliveries(
    Array.from({ length: 50_000 }, (_, i) => ({
      id: `msg_busy_${i}`,
      endpointId: 'ep_1',
      eventType: 'room.changed',
      payload: '{"padding":"' + 'x'.repeat(200) + '"}',
      createdAt: i,
    })),
  )
  const inFlight = everyCall(store)
  await worker.terminate()

  for (const [name, call] of [['busy enqueueDeliveries', busy] as [string, Promise<unknown>], ...inFlight]) {
    const result = await settleWithin(call, 2_000)
    expect(result.status, name).toBe('rejected')
    if (result.status === 'rejected') expect(String(result.reason), name).toMatch(/sqlite worker exited/)
  }

  for (const [name, call] of everyCall(store)) {
    const result = await settleWithin(call, 2_000)
    expect(result.status, `${name} after death`).toBe('rejected')
    if (result.status === 'rejected') expect(String(result.reason), name).toMatch(/sqlite worker exited/)
  }

  await expect(settleWithin(store.close(), 2_000)).resolves.toEqual({ status: 'fulfilled', value: undefined })
})
