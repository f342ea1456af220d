/**
 * The SQLite adapter's worker thread dying (native crash, OOM, a bug) must fail every call, pending or
 * later, instead of leaving callers waiting forever. The worker is reached by recording the Worker the
 * adapter constructs; nothing in the adapter exists only for this test.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type * as WorkerThreads from 'node:worker_threads'
import pino from 'pino'
import { afterAll, afterEach, beforeAll, expect, test, vi } from 'vitest'
import type { Store } from '#server/persistence/store'

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

const { createSqliteStore } = await import('#server/persistence/sqlite')

const silent = pino({ level: 'silent' })
let tmpRoot = ''
beforeAll(async () => {
  tmpRoot = await mkdtemp(join(tmpdir(), 'tandem-worker-death-'))
})
afterAll(async () => {
  await rm(tmpRoot, { recursive: true, force: true })
})
afterEach(() => {
  workers.length = 0
})

/** Operations the reader serves when there is one; every other call goes to the writer. */
const READS = new Set([
  'loadUpdates',
  'getRoom',
  'listRooms',
  'listWebhookEndpoints',
  'getDelivery',
  'listDeliveries',
  'countPendingDeliveries',
  'nextDeliveryDueAt',
  'ping',
])

/** One call of every Store method, so none can be left out of the death handling. */
/**
 * Marks a promise as handled at once: the tests inspect each call's outcome one after another, and a call
 * that rejects while an earlier one is still being awaited must not count as an unhandled rejection.
 */
function observed<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {})
  return promise
}

/** A 50,000-row transaction that keeps the writer busy, so calls issued after it are still unanswered. */
function startBusyTransaction(store: Store): Promise<void> {
  return observed(
    store.enqueueDeliveries(
      Array.from({ length: 50_000 }, (_, i) => ({
        id: `msg_busy_${i}`,
        endpointId: 'ep_1',
        eventType: 'room.changed',
        payload: '{"padding":"' + 'x'.repeat(200) + '"}',
        createdAt: i,
      })),
    ),
  )
}

function everyCall(store: Store): [string, Promise<unknown>][] {
  return rawCalls(store).map(([name, call]) => [name, observed(call)])
}

function rawCalls(store: Store): [string, Promise<unknown>][] {
  const delivery = { id: 'msg_x', endpointId: 'ep_1', eventType: 'room.changed', payload: '{}', createdAt: 1 }
  const endpoint = { id: 'ep_1', url: 'https://r.example/h', secret: 'whsec_eA==', events: null, createdAt: 1, disabledAt: null, previousSecret: null, previousSecretExpiresAt: null }
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
  const store = await createSqliteStore({ path: ':memory:' }, silent)
  // `:memory:` cannot be shared between connections: one worker serves reads and writes.
  expect(workers).toHaveLength(1)
  const worker = workers[0]
  if (!worker) throw new Error('no worker was recorded')

  // A large transaction keeps the worker busy, so every call issued after it is still unanswered when
  // the worker is terminated.
  const busy = startBusyTransaction(store)
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

/** A file store with its two workers: the writer starts first, then the reader. */
async function openFileStore(name: string): Promise<{ store: Store; path: string; writer: WorkerThreads.Worker; reader: WorkerThreads.Worker }> {
  const path = join(tmpRoot, name, 'tandem.sqlite')
  const store = await createSqliteStore({ path }, silent)
  expect(workers).toHaveLength(2)
  const [writer, reader] = workers
  if (!writer || !reader) throw new Error('expected a writer and a reader worker')
  return { store, path, writer, reader }
}

test('the reader dying rejects the reads pending on it, and every later call; the writer closes cleanly', async () => {
  const { store, path, reader } = await openFileStore('reader-death')
  // A large room makes each load slow, so the reads queued behind them are unanswered at the kill.
  await Promise.all(Array.from({ length: 20_000 }, (_, i) => store.appendUpdate('big', new Uint8Array(200).fill(i & 0xff))))
  await store.createRoom('kept', {})
  const busy = Array.from({ length: 3 }, () => store.loadUpdates('big'))
  const inFlight = everyCall(store)
  await reader.terminate()

  for (const call of busy) expect((await settleWithin(call, 2_000)).status).toMatch(/fulfilled|rejected/)
  for (const [name, call] of inFlight) {
    const result = await settleWithin(call, 2_000)
    if (READS.has(name)) {
      expect(result.status, name).toBe('rejected')
      if (result.status === 'rejected') expect(String(result.reason), name).toMatch(/sqlite reader worker exited/)
    } else if (name === 'createRoom') {
      // A write already sent to the living writer gets its real outcome.
      expect(result, name).toMatchObject({ status: 'fulfilled', value: { name: 'r' } })
    }
    // Other writes may have reached the writer or not (deleteRoom first waits for the appends): either
    // outcome is fine, a hang is not.
  }

  for (const [name, call] of everyCall(store)) {
    const result = await settleWithin(call, 2_000)
    expect(result.status, `${name} after death`).toBe('rejected')
    if (result.status === 'rejected') expect(String(result.reason), name).toMatch(/sqlite reader worker exited/)
  }

  await expect(settleWithin(store.close(), 2_000)).resolves.toEqual({ status: 'fulfilled', value: undefined })
  // The writer still closed its connection, checkpointing the WAL into the file.
  expect(existsSync(`${path}-wal`)).toBe(false)
  const reopened = await createSqliteStore({ path }, silent)
  try {
    expect(await reopened.getRoom('kept')).not.toBeNull()
    expect((await reopened.loadUpdates('big')).rowCount).toBe(20_000)
  } finally {
    await reopened.close()
  }
})

test('the writer dying beside a reader rejects the writes pending on it, and every later call', async () => {
  const { store, writer } = await openFileStore('writer-death')
  const busy = startBusyTransaction(store)
  const inFlight = everyCall(store)
  await writer.terminate()

  for (const [name, call] of [['busy enqueueDeliveries', busy] as [string, Promise<unknown>], ...inFlight]) {
    const result = await settleWithin(call, 2_000)
    if (READS.has(name)) continue // served by the reader, which is alive: either answer is fine, a hang is not
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
