/**
 * WebhookOutbox contract (persistence/webhook-outbox.ts), run against every adapter in adapters.ts:
 * endpoints, the durable delivery outbox (claims and leases, outcomes, replay, paging), and the
 * store-side debounce of room.changed: every append records that its room changed, in the same
 * transaction, and the outbox turns due changes into coalesced deliveries.
 */
import { expect, onTestFinished, test } from 'vitest'
import type { ListDeliveriesOptions, Store } from '#server/persistence/store'
import { describeEachAdapter } from './adapters.js'
import { ManualClock, endpoint, newDelivery, openStore, reopenStore } from './fixtures.js'

/** The smallest valid Yjs update (no structs, no deletions): enough to record a room change. */
const update = new Uint8Array([0, 0])

describeEachAdapter('Webhook endpoints and outbox', (adapter) => {
  test('saveWebhookEndpoint inserts or replaces by id; list returns copies ordered by creation', async () => {
    const { store } = await openStore(adapter)
    expect(await store.listWebhookEndpoints()).toEqual([])
    const b = endpoint('ep_b', { createdAt: 200, events: ['room.created', 'room.deleted'] })
    const a = endpoint('ep_a', { createdAt: 300 })
    const config = endpoint('ep_config', { createdAt: 100, events: null })
    await store.saveWebhookEndpoint(b)
    await store.saveWebhookEndpoint(a)
    await store.saveWebhookEndpoint(config)
    expect(await store.listWebhookEndpoints()).toEqual([config, b, a])

    const replaced = endpoint('ep_b', { url: 'https://new.example/hook', secret: 'whsec_bmV3', createdAt: 200, events: null })
    await store.saveWebhookEndpoint(replaced)
    expect(await store.listWebhookEndpoints()).toEqual([config, replaced, a])

    // Copies both ways.
    const events = ['room.changed']
    await store.saveWebhookEndpoint(endpoint('ep_c', { createdAt: 400, events }))
    events.push('user.left')
    const listed = await store.listWebhookEndpoints()
    ;(listed[3]?.events as string[] | undefined)?.push('mutated')
    expect((await store.listWebhookEndpoints())[3]?.events).toEqual(['room.changed'])
  })

  test('disableWebhookEndpoint sets disabledAt; an unknown id is a no-op', async () => {
    const { store } = await openStore(adapter)
    await store.saveWebhookEndpoint(endpoint('ep_1'))
    await store.disableWebhookEndpoint('ep_1', 12_345)
    await store.disableWebhookEndpoint('ep_unknown', 1)
    expect(await store.listWebhookEndpoints()).toEqual([{ ...endpoint('ep_1'), disabledAt: 12_345 }])
  })

  test('deleteWebhookEndpoint removes the endpoint and its pending deliveries, keeping finished ones', async () => {
    const { store } = await openStore(adapter)
    await store.saveWebhookEndpoint(endpoint('ep_1'))
    await store.saveWebhookEndpoint(endpoint('ep_2'))
    await store.enqueueDeliveries([
      newDelivery('msg_1', { endpointId: 'ep_1' }),
      newDelivery('msg_2', { endpointId: 'ep_1' }),
      newDelivery('msg_3', { endpointId: 'ep_1' }),
      newDelivery('msg_4', { endpointId: 'ep_2' }),
    ])
    await store.completeDelivery('msg_2', { status: 'delivered', statusCode: 200 }, 2_000)
    await store.completeDelivery('msg_3', { status: 'failed', error: 'gave up', statusCode: 500 }, 2_000)

    expect(await store.deleteWebhookEndpoint('ep_1')).toBe(true)
    expect(await store.deleteWebhookEndpoint('ep_1')).toBe(false)
    expect((await store.listWebhookEndpoints()).map((e) => e.id)).toEqual(['ep_2'])
    expect(await store.getDelivery('msg_1')).toBeNull()
    expect((await store.listDeliveries({ limit: 10 })).map((d) => [d.id, d.status])).toEqual([
      ['msg_2', 'delivered'],
      ['msg_3', 'failed'],
      ['msg_4', 'pending'],
    ])
  })

  test('enqueued deliveries start pending with no attempts, due at their creation', async () => {
    const { store } = await openStore(adapter)
    const d = newDelivery('msg_a', { createdAt: 5_000, payload: '{"type":"room.created","data":{"room":"r"}}' })
    await store.enqueueDeliveries([d])
    await store.enqueueDeliveries([])
    expect(await store.getDelivery('msg_a')).toEqual({
      ...d,
      status: 'pending',
      attempts: 0,
      nextAttemptAt: 5_000,
      lastError: null,
      lastStatusCode: null,
      updatedAt: 5_000,
    })
    expect(await store.getDelivery('msg_unknown')).toBeNull()

    // Copies: changing what was read changes nothing stored.
    const read = await store.getDelivery('msg_a')
    ;(read as { attempts: number }).attempts = 99
    expect((await store.getDelivery('msg_a'))?.attempts).toBe(0)
  })

  test('enqueueDeliveries is all or nothing', async () => {
    const { store } = await openStore(adapter)
    await store.enqueueDeliveries([newDelivery('msg_1')])
    await expect(store.enqueueDeliveries([newDelivery('msg_2'), newDelivery('msg_1')])).rejects.toThrow()
    await expect(store.enqueueDeliveries([newDelivery('msg_3'), newDelivery('msg_3')])).rejects.toThrow()
    expect((await store.listDeliveries({ limit: 10 })).map((d) => d.id)).toEqual(['msg_1'])
  })

  test('claimDueDeliveries returns due deliveries oldest first and leases them', async () => {
    const { store } = await openStore(adapter)
    await store.enqueueDeliveries([
      newDelivery('msg_late', { createdAt: 3_000 }),
      newDelivery('msg_b', { createdAt: 1_000 }),
      newDelivery('msg_a', { createdAt: 1_000 }),
      newDelivery('msg_first', { createdAt: 500 }),
      newDelivery('msg_future', { createdAt: 9_000 }),
    ])
    // Retried deliveries are ordered by when they are due, not when they were created.
    await store.completeDelivery('msg_first', { status: 'pending', nextAttemptAt: 2_000, error: 'HTTP 503', statusCode: 503 }, 600)

    const claimed = await store.claimDueDeliveries(3_000, 3, 10_000)
    expect(claimed.map((d) => d.id)).toEqual(['msg_a', 'msg_b', 'msg_first'])
    expect(claimed.map((d) => d.nextAttemptAt)).toEqual([13_000, 13_000, 13_000])
    // Nothing but the lease changes: a claim is not an attempt.
    expect(claimed[2]).toMatchObject({ status: 'pending', attempts: 1, lastError: 'HTTP 503', lastStatusCode: 503, updatedAt: 600 })
    expect(await store.getDelivery('msg_a')).toEqual(claimed[0])

    // Leased deliveries are not handed out again until the lease runs out.
    expect((await store.claimDueDeliveries(3_000, 10, 10_000)).map((d) => d.id)).toEqual(['msg_late'])
    expect(await store.claimDueDeliveries(8_999, 10, 10_000)).toEqual([])
    // All due now: by due time, then creation, then id.
    expect((await store.claimDueDeliveries(13_000, 10, 1_000)).map((d) => d.id)).toEqual([
      'msg_future',
      'msg_first',
      'msg_a',
      'msg_b',
      'msg_late',
    ])
    expect(await store.claimDueDeliveries(100_000, 0, 1_000)).toEqual([])
  })

  test('only pending deliveries are claimed', async () => {
    const { store } = await openStore(adapter)
    await store.enqueueDeliveries([newDelivery('msg_1'), newDelivery('msg_2'), newDelivery('msg_3')])
    await store.completeDelivery('msg_1', { status: 'delivered', statusCode: 204 }, 1_500)
    await store.completeDelivery('msg_2', { status: 'failed', error: 'gone', statusCode: 410 }, 1_500)
    expect((await store.claimDueDeliveries(1_000_000, 10, 1_000)).map((d) => d.id)).toEqual(['msg_3'])
  })

  test('completeDelivery records each outcome and counts the attempt', async () => {
    const { store } = await openStore(adapter)
    await store.enqueueDeliveries([newDelivery('msg_ok'), newDelivery('msg_retry'), newDelivery('msg_fail')])

    await store.completeDelivery('msg_retry', { status: 'pending', nextAttemptAt: 4_000, error: 'timeout', statusCode: null }, 2_000)
    expect(await store.getDelivery('msg_retry')).toMatchObject({
      status: 'pending',
      attempts: 1,
      nextAttemptAt: 4_000,
      lastError: 'timeout',
      lastStatusCode: null,
      updatedAt: 2_000,
    })

    await store.completeDelivery('msg_ok', { status: 'pending', nextAttemptAt: 3_000, error: 'HTTP 500', statusCode: 500 }, 2_000)
    await store.completeDelivery('msg_ok', { status: 'delivered', statusCode: 200 }, 3_100)
    expect(await store.getDelivery('msg_ok')).toMatchObject({
      status: 'delivered',
      attempts: 2,
      lastStatusCode: 200,
      // The earlier failure stays visible for inspection.
      lastError: 'HTTP 500',
      updatedAt: 3_100,
    })

    await store.completeDelivery('msg_fail', { status: 'failed', error: 'HTTP 410 Gone', statusCode: 410 }, 2_500)
    expect(await store.getDelivery('msg_fail')).toMatchObject({
      status: 'failed',
      attempts: 1,
      lastError: 'HTTP 410 Gone',
      lastStatusCode: 410,
      updatedAt: 2_500,
    })

    // An unknown id changes nothing and does not throw.
    await store.completeDelivery('msg_unknown', { status: 'delivered', statusCode: 200 }, 1)
    expect(await store.getDelivery('msg_unknown')).toBeNull()
  })

  test('replayDelivery puts a delivery back to pending now, keeping its history', async () => {
    const { store } = await openStore(adapter)
    await store.enqueueDeliveries([newDelivery('msg_1', { createdAt: 1_000 })])
    await store.completeDelivery('msg_1', { status: 'pending', nextAttemptAt: 2_000, error: 'HTTP 502', statusCode: 502 }, 1_500)
    await store.completeDelivery('msg_1', { status: 'failed', error: 'HTTP 503', statusCode: 503 }, 2_500)
    expect(await store.claimDueDeliveries(50_000, 10, 1_000)).toEqual([])

    const replayed = await store.replayDelivery('msg_1', 60_000)
    expect(replayed).toEqual({
      ...newDelivery('msg_1', { createdAt: 1_000 }),
      status: 'pending',
      attempts: 0,
      nextAttemptAt: 60_000,
      lastError: 'HTTP 503',
      lastStatusCode: 503,
      updatedAt: 60_000,
    })
    expect(await store.getDelivery('msg_1')).toEqual(replayed)
    expect(await store.claimDueDeliveries(59_999, 10, 1_000)).toEqual([])
    expect((await store.claimDueDeliveries(60_000, 10, 1_000)).map((d) => d.id)).toEqual(['msg_1'])
    expect(await store.replayDelivery('msg_unknown', 1)).toBeNull()
  })

  test('listDeliveries pages by id and filters by status', async () => {
    const { store } = await openStore(adapter)
    const ids = ['msg_05', 'msg_01', 'msg_04', 'msg_02', 'msg_03', 'msg_06']
    await store.enqueueDeliveries(ids.map((id, i) => newDelivery(id, { createdAt: 1_000 + i })))
    await store.completeDelivery('msg_02', { status: 'delivered', statusCode: 200 }, 2_000)
    await store.completeDelivery('msg_04', { status: 'failed', error: 'x', statusCode: null }, 2_000)
    await store.completeDelivery('msg_05', { status: 'delivered', statusCode: 201 }, 2_000)
    const list = async (opts: ListDeliveriesOptions) => (await store.listDeliveries(opts)).map((d) => d.id)

    expect(await list({ limit: 100 })).toEqual([...ids].sort())
    expect(await list({ limit: 2 })).toEqual(['msg_01', 'msg_02'])
    expect(await list({ after: 'msg_02', limit: 2 })).toEqual(['msg_03', 'msg_04'])
    expect(await list({ after: 'msg_06', limit: 2 })).toEqual([])
    expect(await list({ status: 'pending', limit: 100 })).toEqual(['msg_01', 'msg_03', 'msg_06'])
    expect(await list({ status: 'delivered', limit: 100 })).toEqual(['msg_02', 'msg_05'])
    expect(await list({ status: 'failed', limit: 100 })).toEqual(['msg_04'])
    expect(await list({ status: 'pending', after: 'msg_01', limit: 1 })).toEqual(['msg_03'])
    expect(await list({ limit: 0 })).toEqual([])
    expect((await store.listDeliveries({ status: 'delivered', limit: 1 }))[0]).toEqual(await store.getDelivery('msg_02'))
  })

  test('countPendingDeliveries and nextDeliveryDueAt follow the pending deliveries', async () => {
    const { store } = await openStore(adapter)
    expect(await store.countPendingDeliveries()).toBe(0)
    expect(await store.nextDeliveryDueAt()).toBeNull()

    await store.enqueueDeliveries([
      newDelivery('msg_1', { createdAt: 3_000 }),
      newDelivery('msg_2', { createdAt: 1_000 }),
      newDelivery('msg_3', { createdAt: 2_000 }),
    ])
    expect(await store.countPendingDeliveries()).toBe(3)
    expect(await store.nextDeliveryDueAt()).toBe(1_000)

    await store.claimDueDeliveries(1_000, 10, 5_000) // leases msg_2 until 6_000
    expect(await store.nextDeliveryDueAt()).toBe(2_000)
    await store.completeDelivery('msg_3', { status: 'delivered', statusCode: 200 }, 2_000)
    expect(await store.countPendingDeliveries()).toBe(2)
    expect(await store.nextDeliveryDueAt()).toBe(3_000)
    await store.completeDelivery('msg_1', { status: 'failed', error: 'x', statusCode: 500 }, 3_000)
    expect(await store.nextDeliveryDueAt()).toBe(6_000)
    await store.completeDelivery('msg_2', { status: 'delivered', statusCode: 200 }, 3_000)
    expect(await store.countPendingDeliveries()).toBe(0)
    expect(await store.nextDeliveryDueAt()).toBeNull()
  })

  test.runIf(adapter.reopen !== undefined)('endpoints and deliveries survive close and reopen', async () => {
    const first = await adapter.open()
    onTestFinished(() => first.close())
    await first.saveWebhookEndpoint(endpoint('ep_1', { events: ['room.created'] }))
    await first.enqueueDeliveries([newDelivery('msg_1'), newDelivery('msg_2')])
    await first.completeDelivery('msg_2', { status: 'failed', error: 'HTTP 500', statusCode: 500 }, 2_000)
    const before = await first.listDeliveries({ limit: 10 })
    await first.close()

    const second = await reopenStore(adapter, first)
    expect(await second.listWebhookEndpoints()).toEqual([endpoint('ep_1', { events: ['room.created'] })])
    expect(await second.listDeliveries({ limit: 10 })).toEqual(before)
    expect(await second.countPendingDeliveries()).toBe(1)
  })
})

describeEachAdapter('Room changes', (adapter) => {
  async function fresh(): Promise<{ store: Store; clock: ManualClock }> {
    const clock = new ManualClock()
    const { store } = await openStore(adapter, { now: clock.now })
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

  test.runIf(adapter.reopen !== undefined)('a recorded change survives closing and reopening the store', async () => {
    const clock = new ManualClock()
    const first = await adapter.open({ now: clock.now })
    onTestFinished(() => first.close())
    await first.appendUpdate('kept', update)
    await first.close()
    const again = await reopenStore(adapter, first, { now: clock.now })
    expect(await again.dueRoomChanges(clock.t, 0, 0, 10)).toEqual([{ room: 'kept', firstAt: clock.t, lastAt: clock.t }])
  })
})

describeEachAdapter('Webhook secret rotation', (adapter) => {
  const NEW_1 = 'whsec_bmV3LXNlY3JldC1udW1iZXItb25lLTAxMjM0'
  const NEW_2 = 'whsec_bmV3LXNlY3JldC1udW1iZXItdHdvLTAxMjM0'

  test('rotation moves the current secret to previous with its expiry, keeps one previous, and can drop it at once', async () => {
    const { store } = await openStore(adapter)
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
    const { store } = await openStore(adapter)
    const configured = endpoint('ep_config', { previousSecret: NEW_1, previousSecretExpiresAt: null })
    await store.saveWebhookEndpoint(configured)
    expect(await store.listWebhookEndpoints()).toEqual([configured])
    await store.saveWebhookEndpoint({ ...configured, previousSecret: null })
    expect(await store.listWebhookEndpoints()).toEqual([{ ...configured, previousSecret: null }])
  })
})

describeEachAdapter('Recorded room events (room.created / room.deleted)', (adapter) => {
  const kinds = async (store: Store): Promise<[string, string][]> => (await store.recordedRoomEvents(100)).map((e) => [e.type, e.room])

  test('record changes record their event in their own transaction; no-ops record nothing', async () => {
    const { store } = await openStore(adapter)
    expect(await store.recordedRoomEvents(10)).toEqual([])
    const before = Date.now()
    const created = await store.createRoom('a', { k: 1 })
    expect(await store.createRoom('a', {})).toBeNull() // exists: no second event
    expect((await store.ensureRoom('b')).created).toBe(true)
    expect((await store.ensureRoom('b')).created).toBe(false)
    expect((await store.ensureRoom('a')).created).toBe(false)
    expect(await store.deleteRoom('a', null)).toBe(true)
    expect(await store.deleteRoom('a', null)).toBe(false) // gone: no second event
    expect(await store.deleteRoom('never', null)).toBe(false)
    await store.appendUpdate('log-only', update) // a log without a record still counts as existing
    expect(await store.deleteRoom('log-only', null)).toBe(true)

    const events = await store.recordedRoomEvents(10)
    expect(events.map((e) => [e.type, e.room])).toEqual([
      ['room.created', 'a'],
      ['room.created', 'b'],
      ['room.deleted', 'a'],
      ['room.deleted', 'log-only'],
    ])
    // Ids increase in commit order; room.created carries the record's createdAt; times are wall clock.
    const ids = events.map((e) => e.id)
    expect([...ids].sort((x, y) => x - y)).toEqual(ids)
    expect(new Set(ids).size).toBe(4)
    expect(events[0]?.at).toBe(created?.createdAt)
    for (const e of events) expect(e.at).toBeGreaterThanOrEqual(before)
    expect((await store.recordedRoomEvents(2)).map((e) => e.room)).toEqual(['a', 'b'])
  })

  test('settleRoomEvents turns each event into its deliveries exactly once', async () => {
    const { store } = await openStore(adapter)
    await store.createRoom('a', {})
    await store.createRoom('b', {})
    await store.deleteRoom('a', null)
    const [ea, eb, ed] = await store.recordedRoomEvents(10)
    if (!ea || !eb || !ed) throw new Error('expected three events')

    const first = [
      { id: ea.id, deliveries: [newDelivery('msg_a1', { eventType: 'room.created' }), newDelivery('msg_a2', { endpointId: 'ep_2', eventType: 'room.created' })] },
      { id: eb.id, deliveries: [] }, // no endpoint subscribes: only cleared
    ]
    await store.settleRoomEvents(first)
    expect(await kinds(store)).toEqual([['room.deleted', 'a']])
    expect((await store.listDeliveries({ limit: 10 })).map((d) => [d.id, d.status, d.eventType])).toEqual([
      ['msg_a1', 'pending', 'room.created'],
      ['msg_a2', 'pending', 'room.created'],
    ])

    // Settling again (another instance that read the same events) adds nothing; a fresh event still settles.
    await store.settleRoomEvents([
      { id: ea.id, deliveries: [newDelivery('msg_dup', { eventType: 'room.created' })] },
      { id: ed.id, deliveries: [newDelivery('msg_d1', { eventType: 'room.deleted' })] },
    ])
    expect(await store.recordedRoomEvents(10)).toEqual([])
    expect((await store.listDeliveries({ limit: 10 })).map((d) => d.id)).toEqual(['msg_a1', 'msg_a2', 'msg_d1'])
    expect(await store.countPendingDeliveries()).toBe(3)
    await store.settleRoomEvents([])
  })

  test.runIf(adapter.reopen !== undefined)('recorded events survive close and reopen', async () => {
    const first = await adapter.open()
    onTestFinished(() => first.close())
    await first.createRoom('kept', {})
    await first.deleteRoom('kept', null)
    const before = await first.recordedRoomEvents(10)
    await first.close()
    const second = await reopenStore(adapter, first)
    expect(await second.recordedRoomEvents(10)).toEqual(before)
    expect(before.map((e) => e.type)).toEqual(['room.created', 'room.deleted'])
  })
})
