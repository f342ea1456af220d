/**
 * The store-side debounce of room.changed: every append records that its room changed, in the same
 * transaction, and the outbox turns due changes into coalesced deliveries. Same contract for every adapter.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from 'vitest'
import { createMemoryStore } from '#server/persistence/memory'
import { createSqliteStore } from '#server/persistence/sqlite'
import type { Store, WebhookEndpoint } from '#server/persistence/store'

const silent = pino({ level: 'silent' })
let tmpRoot = ''
let counter = 0
beforeAll(async () => {
  tmpRoot = await mkdtemp(join(tmpdir(), 'tandem-store-outbox-'))
})
afterAll(async () => {
  await rm(tmpRoot, { recursive: true, force: true })
})

/** A clock the test moves by hand: stored times are exact. */
class ManualClock {
  t = 1_000_000
  readonly now = (): number => this.t
}

const adapters: { name: string; open: (clock: ManualClock, path?: string) => Promise<Store> }[] = [
  { name: 'memory', open: async (clock) => createMemoryStore({ now: clock.now }) },
  { name: 'sqlite', open: (clock, path) => createSqliteStore({ path: path ?? join(tmpRoot, `db-${++counter}.sqlite`), now: clock.now }, silent) },
]

const update = new Uint8Array([0, 0])
const endpoint = (id: string): WebhookEndpoint => ({ id, url: `https://${id}.example/`, secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', events: null, createdAt: 1, disabledAt: null, previousSecret: null, previousSecretExpiresAt: null })

describe.each(adapters)('room changes: $name', ({ name, open }) => {
  async function fresh(): Promise<{ store: Store; clock: ManualClock }> {
    const clock = new ManualClock()
    const store = await open(clock)
    onTestFinished(() => store.close())
    return { store, clock }
  }

  test('an append records its room as changed in the same commit; first and last change are kept', async () => {
    const { store, clock } = await fresh()
    expect(await store.nextRoomChangeDueAt(2_000, 10_000)).toBeNull()
    await store.appendUpdate('r', update)
    const first = clock.t
    clock.t += 500
    await Promise.all([store.appendUpdate('r', update), store.appendUpdate('s', update)])
    const last = clock.t
    expect(await store.dueRoomChanges(clock.t, 2_000, 10_000, 10)).toEqual([]) // not quiet yet
    expect(await store.nextRoomChangeDueAt(2_000, 10_000)).toBe(last + 2_000)
    expect(await store.nextRoomChangeDueAt(2_000, 1_000)).toBe(first + 1_000)
    expect(await store.dueRoomChanges(first + 1_000, 2_000, 1_000, 10)).toEqual([{ room: 'r', firstAt: first, lastAt: last }])
    expect(await store.dueRoomChanges(last + 2_000, 2_000, 10_000, 10)).toEqual([
      { room: 'r', firstAt: first, lastAt: last },
      { room: 's', firstAt: last, lastAt: last },
    ])
    expect(await store.dueRoomChanges(last + 2_000, 2_000, 10_000, 1)).toHaveLength(1)
  })

  test('settling inserts one delivery per endpoint and clears the change; a newer change stays', async () => {
    const { store, clock } = await fresh()
    await store.appendUpdate('r', update)
    await store.appendUpdate('q', update)
    const [due] = await store.dueRoomChanges(clock.t, 0, 0, 1)
    if (!due) throw new Error('expected a due change')
    clock.t += 10
    await store.appendUpdate(due.room, update) // changed again after it was read
    await store.settleRoomChanges(
      [
        { room: due.room, lastAt: due.lastAt, payload: '{"n":1}', deliveries: [{ id: 'msg_1', endpointId: 'ep_a' }, { id: 'msg_2', endpointId: 'ep_b' }] },
        { room: due.room === 'r' ? 'q' : 'r', lastAt: clock.t, payload: null, deliveries: [] },
      ],
      clock.t,
    )
    const rows = await store.listDeliveries({ limit: 10 })
    expect(rows.map((d) => [d.id, d.endpointId, d.eventType, d.payload, d.status, d.nextAttemptAt])).toEqual([
      ['msg_1', 'ep_a', 'room.changed', '{"n":1}', 'pending', clock.t],
      ['msg_2', 'ep_b', 'room.changed', '{"n":1}', 'pending', clock.t],
    ])
    // The change made after the read is kept, now counted from what was announced.
    expect(await store.dueRoomChanges(clock.t, 0, 0, 10)).toEqual([{ room: due.room, firstAt: due.lastAt, lastAt: clock.t }])
    expect(await store.countPendingDeliveries()).toBe(2)
  })

  test('coalescing: an unsent delivery takes the new payload; one in flight is left alone; one waiting to retry is superseded', async () => {
    const { store, clock } = await fresh()
    await store.saveWebhookEndpoint(endpoint('ep_a'))
    const settle = (id: string, payload: string) => store.settleRoomChanges([{ room: 'r', lastAt: clock.t, payload, deliveries: [{ id, endpointId: 'ep_a' }] }], clock.t)
    await settle('msg_1', 'one')
    clock.t += 100
    await settle('msg_2', 'two')
    expect((await store.listDeliveries({ limit: 10 })).map((d) => [d.id, d.payload, d.updatedAt])).toEqual([['msg_1', 'two', clock.t]])
    // In flight: a new row, the claimed one untouched.
    const [claimed] = await store.claimDueDeliveries(clock.t, 10, 60_000)
    expect(claimed?.id).toBe('msg_1')
    await settle('msg_3', 'three')
    expect((await store.listDeliveries({ limit: 10 })).map((d) => [d.id, d.payload])).toEqual([
      ['msg_1', 'two'],
      ['msg_3', 'three'],
    ])
    // msg_1 fails and waits for its retry; msg_3 is unsent: msg_3 takes the next payload, msg_1 is superseded.
    await store.completeDelivery('msg_1', { status: 'pending', nextAttemptAt: clock.t + 5_000, error: 'boom', statusCode: 500 }, clock.t)
    await settle('msg_4', 'four')
    expect((await store.listDeliveries({ limit: 10 })).map((d) => [d.id, d.payload, d.status, d.lastError])).toEqual([
      ['msg_1', 'two', 'failed', 'superseded by msg_3'],
      ['msg_3', 'four', 'pending', null],
    ])
    // msg_3 fails too and waits 5 s: the next change supersedes it with a new row that inherits that wait.
    const claimed3 = await store.claimDueDeliveries(clock.t, 10, 60_000)
    expect(claimed3.map((d) => d.id)).toEqual(['msg_3'])
    await store.completeDelivery('msg_3', { status: 'pending', nextAttemptAt: clock.t + 5_000, error: 'boom', statusCode: 500 }, clock.t)
    await settle('msg_5', 'five')
    const rows = await store.listDeliveries({ limit: 10 })
    expect(rows.map((d) => [d.id, d.status, d.lastError])).toEqual([
      ['msg_1', 'failed', 'superseded by msg_3'],
      ['msg_3', 'failed', 'superseded by msg_5'],
      ['msg_5', 'pending', null],
    ])
    expect(rows[2]?.nextAttemptAt).toBe(clock.t + 5_000)
    // A dead process's lease: the row is no longer held once the lease has run out.
    const [leased] = await store.claimDueDeliveries(clock.t + 5_000, 10, 60_000)
    expect(leased?.id).toBe('msg_5')
    clock.t += 5_000 + 60_000
    await settle('msg_6', 'six')
    expect((await store.listDeliveries({ limit: 10 })).filter((d) => d.status === 'pending').map((d) => [d.id, d.payload])).toEqual([['msg_5', 'six']])
  })

  if (name === 'sqlite') {
    test('a recorded change survives closing and reopening the file', async () => {
      const clock = new ManualClock()
      const path = join(tmpRoot, `reopen-${++counter}.sqlite`)
      const first = await open(clock, path)
      await first.appendUpdate('kept', update)
      await first.close()
      const again = await open(clock, path)
      onTestFinished(() => again.close())
      expect(await again.dueRoomChanges(clock.t, 0, 0, 10)).toEqual([{ room: 'kept', firstAt: clock.t, lastAt: clock.t }])
    })
  }
})

describe.each(adapters)('webhook secret rotation: $name', ({ open }) => {
  const NEW_1 = 'whsec_bmV3LXNlY3JldC1udW1iZXItb25lLTAxMjM0'
  const NEW_2 = 'whsec_bmV3LXNlY3JldC1udW1iZXItdHdvLTAxMjM0'

  test('rotation moves the current secret to previous with its expiry, keeps one previous, and can drop it at once', async () => {
    const store = await open(new ManualClock())
    onTestFinished(() => store.close())
    const original = endpoint('ep_a')
    await store.saveWebhookEndpoint(original)
    expect(await store.rotateWebhookSecret('ep_missing', NEW_1, 5_000)).toBeNull()

    const first = await store.rotateWebhookSecret('ep_a', NEW_1, 5_000)
    expect(first).toEqual({ ...original, secret: NEW_1, previousSecret: original.secret, previousSecretExpiresAt: 5_000 })
    expect(await store.listWebhookEndpoints()).toEqual([first])

    // A second rotation during the overlap: only the secret it replaces is kept as previous.
    const second = await store.rotateWebhookSecret('ep_a', NEW_2, 9_000)
    expect(second).toEqual({ ...original, secret: NEW_2, previousSecret: NEW_1, previousSecretExpiresAt: 9_000 })
    expect(await store.listWebhookEndpoints()).toEqual([second])

    const dropped = await store.rotateWebhookSecret('ep_a', NEW_1, null)
    expect(dropped).toEqual({ ...original, secret: NEW_1, previousSecret: null, previousSecretExpiresAt: null })
    expect(await store.listWebhookEndpoints()).toEqual([dropped])
  })

  test('saveWebhookEndpoint stores a previous secret without expiry (the configured endpoint)', async () => {
    const store = await open(new ManualClock())
    onTestFinished(() => store.close())
    const configured = { ...endpoint('ep_config'), previousSecret: NEW_1, previousSecretExpiresAt: null }
    await store.saveWebhookEndpoint(configured)
    expect(await store.listWebhookEndpoints()).toEqual([configured])
    await store.saveWebhookEndpoint({ ...configured, previousSecret: null })
    expect(await store.listWebhookEndpoints()).toEqual([{ ...configured, previousSecret: null }])
  })
})
