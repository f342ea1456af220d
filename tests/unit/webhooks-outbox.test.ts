import { afterEach, beforeEach, describe, expect, onTestFinished, test, vi } from 'vitest'
import { pino } from 'pino'
import { createMemoryStore } from '#server/persistence/memory'
import type { Store, WebhookEndpoint } from '#server/persistence/store'
import { MAX_QUEUED_EVENTS, Outbox, type DescribeRoom } from '#server/webhooks/outbox'

const silent = pino({ level: 'silent' })

function endpoint(id: string, events: string[] | null = null, disabledAt: number | null = null): WebhookEndpoint {
  return { id, url: `https://${id}.example/hook`, secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', events, createdAt: 1, disabledAt, previousSecret: null, previousSecretExpiresAt: null }
}

interface Harness {
  store: Store
  outbox: Outbox
  described: string[]
  wakes: number
  /** user.* events the outbox gave up, by type (what tandem_webhook_events_dropped_total counts). */
  dropped: Record<string, number>
  payloads(): Promise<{ endpointId: string; body: { type: string; timestamp: string; data: Record<string, unknown> } }[]>
}

async function harness(
  opts: { debounceMs?: number; maxWaitMs?: number; describeRoom?: DescribeRoom; endpoints?: WebhookEndpoint[]; start?: boolean } = {},
): Promise<Harness> {
  // Date.now() as the store's and the outbox's clock, so fake timers drive both (clock.ts defaults to processNow).
  const now = (): number => Date.now()
  const store = createMemoryStore({ now })
  for (const e of opts.endpoints ?? [endpoint('ep_all')]) await store.saveWebhookEndpoint(e)
  const described: string[] = []
  const h: Harness = {
    store,
    described,
    wakes: 0,
    dropped: {},
    outbox: undefined as unknown as Outbox,
    async payloads() {
      await h.outbox.idle()
      const rows = await store.listDeliveries({ limit: 1_000 })
      return rows.map((r) => ({ endpointId: r.endpointId, body: JSON.parse(r.payload) as { type: string; timestamp: string; data: Record<string, unknown> } }))
    },
  }
  h.outbox = new Outbox(
    { debounceMs: opts.debounceMs ?? 2_000, maxWaitMs: opts.maxWaitMs ?? 10_000 },
    {
      store,
      log: silent,
      describeRoom:
        opts.describeRoom ??
        (async (roomId) => {
          described.push(roomId)
          return { sizeBytes: 1234, stateVector: new Uint8Array([1, 200, 1, 5]) }
        }),
      onEnqueued: () => {
        h.wakes++
      },
      onDropped: (count, type) => {
        h.dropped[type] = (h.dropped[type] ?? 0) + count
      },
      now,
    },
  )
  if (opts.start !== false) h.outbox.start()
  return h
}

describe('webhook outbox: immediate events', () => {
  test('room and user events become Standard Webhooks payloads, one row per subscribed, enabled endpoint', async () => {
    const h = await harness({
      endpoints: [endpoint('ep_all'), endpoint('ep_users', ['user.entered', 'user.left']), endpoint('ep_off', null, 5), endpoint('ep_rooms', ['room.created'])],
    })
    const at = Date.UTC(2026, 4, 1, 10, 0, 0)
    // room.created/deleted are recorded by the store with the record (at its clock); the event is a hint.
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(at)
    onTestFinished(() => void vi.useRealTimers())
    await h.store.createRoom('r1', {})
    h.outbox.onEvent({ type: 'room.created', roomId: 'r1', at })
    h.outbox.onEvent({ type: 'user.entered', roomId: 'r1', userId: 'u1', name: 'Ada', activeUsers: 1, at })
    h.outbox.onEvent({ type: 'user.left', roomId: 'r1', userId: 'u1', activeUsers: 0, at })
    await h.store.deleteRoom('r1', null)
    h.outbox.onEvent({ type: 'room.deleted', roomId: 'r1', at })
    // internal events are ignored
    h.outbox.onEvent({ type: 'room.loaded', roomId: 'r1' })
    h.outbox.onEvent({ type: 'peer.joined', roomId: 'r1', peerId: 1, userId: 'u1' })
    const rows = await h.payloads()
    const iso = new Date(at).toISOString()
    // One clock instant: ids do not order them, so compare without order.
    const all = rows.filter((r) => r.endpointId === 'ep_all').map((r) => r.body)
    expect(all).toHaveLength(4)
    expect(all).toEqual(expect.arrayContaining([
      { type: 'room.created', timestamp: iso, data: { room: 'r1' } },
      { type: 'user.entered', timestamp: iso, data: { room: 'r1', userId: 'u1', name: 'Ada', activeUsers: 1 } },
      { type: 'user.left', timestamp: iso, data: { room: 'r1', userId: 'u1', activeUsers: 0 } },
      { type: 'room.deleted', timestamp: iso, data: { room: 'r1' } },
    ]))
    expect(rows.filter((r) => r.endpointId === 'ep_users').map((r) => r.body.type).sort()).toEqual(['user.entered', 'user.left'])
    expect(rows.filter((r) => r.endpointId === 'ep_rooms').map((r) => r.body.type)).toEqual(['room.created'])
    expect(rows.filter((r) => r.endpointId === 'ep_off')).toEqual([])
    expect(h.wakes).toBeGreaterThan(0)
    const ids = (await h.store.listDeliveries({ limit: 100 })).map((d) => d.id)
    expect(new Set(ids).size).toBe(ids.length)
    ids.forEach((id) => expect(id).toMatch(/^msg_/))
  })

  test('the listener never throws when the store fails; failed writes are retried in order once it recovers', async () => {
    const h = await harness()
    const original = h.store.enqueueDeliveries.bind(h.store)
    let fail = true
    let failures = 0
    h.store.enqueueDeliveries = async (rows) => {
      if (fail) {
        failures++
        throw new Error('disk full')
      }
      return original(rows)
    }
    expect(() => h.outbox.onEvent({ type: 'user.entered', roomId: 'first', userId: 'u', name: null, activeUsers: 1, at: 1 })).not.toThrow()
    await vi.waitFor(() => expect(failures).toBeGreaterThanOrEqual(2), { timeout: 5_000 }) // retried, not dropped
    h.outbox.onEvent({ type: 'user.entered', roomId: 'second', userId: 'u', name: null, activeUsers: 1, at: 2 })
    fail = false
    await vi.waitFor(async () => expect((await h.payloads()).map((r) => r.body.data.room)).toEqual(['first', 'second']), { timeout: 5_000 })
    await h.outbox.close()
  })

  const enter = (i: number) => ({ type: 'user.entered' as const, roomId: `r${i}`, userId: 'u', name: null, activeUsers: 1, at: i })
  const leave = (i: number) => ({ type: 'user.left' as const, roomId: `r${i}`, userId: 'u', activeUsers: 0, at: i })

  test('past MAX_QUEUED_EVENTS the oldest user events are dropped and counted; the newest are written', async () => {
    const h = await harness()
    const original = h.store.enqueueDeliveries.bind(h.store)
    let fail = true
    let failures = 0
    h.store.enqueueDeliveries = async (rows) => {
      if (fail) {
        failures++
        throw new Error('disk full')
      }
      return original(rows)
    }
    h.outbox.onEvent(leave(-1))
    await vi.waitFor(() => expect(failures).toBe(1)) // its write failed; a retry waits
    for (let i = 0; i < MAX_QUEUED_EVENTS + 4; i++) h.outbox.onEvent(enter(i))
    expect(h.dropped).toEqual({ 'user.left': 1, 'user.entered': 4 })
    fail = false
    await vi.waitFor(async () => expect(await h.store.countPendingDeliveries()).toBe(MAX_QUEUED_EVENTS), { timeout: 10_000 })
    const rooms = new Set((await h.store.listDeliveries({ limit: MAX_QUEUED_EVENTS + 10 })).map((d) => (JSON.parse(d.payload) as { data: { room: string } }).data.room))
    expect(['r-1', 'r0', 'r3'].filter((r) => rooms.has(r))).toEqual([])
    expect(rooms.has('r4') && rooms.has(`r${MAX_QUEUED_EVENTS + 3}`)).toBe(true)
    await h.outbox.close()
    expect(h.dropped).toEqual({ 'user.left': 1, 'user.entered': 4 })
  })

  test('an event pushed out of the queue while its batch is being written counts as dropped only if that write fails', async () => {
    for (const writeFails of [false, true]) {
      const h = await harness()
      const original = h.store.enqueueDeliveries.bind(h.store)
      let failFirst = writeFails
      h.store.enqueueDeliveries = async (rows) => {
        if (failFirst) {
          failFirst = false
          throw new Error('disk full')
        }
        return original(rows)
      }
      h.outbox.onEvent(leave(-1)) // its write starts now, and ends after the flood below
      for (let i = 0; i < MAX_QUEUED_EVENTS + 1; i++) h.outbox.onEvent(enter(i))
      await vi.waitFor(async () => expect(await h.store.countPendingDeliveries()).toBe(MAX_QUEUED_EVENTS + (writeFails ? 0 : 1)), { timeout: 10_000 })
      await h.outbox.close()
      // enter(0) was pushed out from the waiting part of the queue: dropped either way.
      expect(h.dropped).toEqual(writeFails ? { 'user.left': 1, 'user.entered': 1 } : { 'user.entered': 1 })
    }
  })

  test('at shutdown a write that fails is given up and logged, not retried forever', async () => {
    const h = await harness()
    h.store.enqueueDeliveries = async () => {
      throw new Error('disk full')
    }
    h.outbox.onEvent({ type: 'user.left', roomId: 'r', userId: 'u', activeUsers: 0, at: 1 })
    await h.outbox.close()
    expect(await h.store.listDeliveries({ limit: 10 })).toEqual([])
    expect(h.dropped).toEqual({ 'user.left': 1 })
  })

  test('no endpoints: nothing is described or written', async () => {
    const h = await harness({ endpoints: [] })
    await h.store.createRoom('r', {})
    h.outbox.onEvent({ type: 'room.created', roomId: 'r', at: 1 })
    h.outbox.onEvent({ type: 'user.left', roomId: 'r', userId: 'u', activeUsers: 0, at: 1 })
    await h.outbox.close()
    expect(await h.payloads()).toEqual([])
  })
})

describe('webhook outbox: room.changed debounce (recorded by the store with each append)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: Date.UTC(2026, 4, 1, 10, 0, 0) })
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  const update = new Uint8Array([0, 0]) // the empty Yjs update: the memory store does not parse it
  /** What a room does for an edit: emit the event, append (which records the change and tells the outbox). */
  const change = async (h: Harness, roomId = 'r1'): Promise<void> => {
    h.outbox.onEvent({ type: 'room.changed', roomId, at: Date.now() })
    await h.store.appendUpdate(roomId, update)
  }
  /** A stand-in dispatcher: delivers every due row, so the next change makes a new one (no coalescing). */
  const deliverAll = async (h: Harness): Promise<number> => {
    await h.outbox.idle()
    const due = await h.store.claimDueDeliveries(Date.now(), 1_000, 60_000)
    for (const d of due) await h.store.completeDelivery(d.id, { status: 'delivered', statusCode: 200 }, Date.now())
    return due.length
  }

  test('a burst of changes becomes one delivery after 2 s of quiet', async () => {
    const h = await harness()
    const start = Date.now()
    for (let i = 0; i < 50; i++) {
      await change(h)
      await vi.advanceTimersByTimeAsync(20) // 50 changes over 1 s
    }
    const lastChange = start + 49 * 20
    expect(h.outbox.pendingChanges).toBe(1)
    expect(vi.getTimerCount()).toBe(1) // one timer, not one per change
    await vi.advanceTimersByTimeAsync(lastChange + 2_000 - Date.now() - 1)
    expect(await h.payloads()).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    const rows = await h.payloads()
    expect(rows).toHaveLength(1)
    expect(rows[0]?.body).toEqual({
      type: 'room.changed',
      timestamp: new Date(lastChange + 2_000).toISOString(),
      data: {
        room: 'r1',
        sizeBytes: 1234,
        stateVector: Buffer.from([1, 200, 1, 5]).toString('base64'),
        firstChangeAt: new Date(start).toISOString(),
        lastChangeAt: new Date(lastChange).toISOString(),
      },
    })
    expect(h.described).toEqual(['r1'])
    expect(h.outbox.pendingChanges).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
  })

  test('a room that never goes quiet still gets one delivery per 10 s max wait', async () => {
    const h = await harness()
    const start = Date.now()
    const times: number[] = []
    for (let i = 0; i < 250; i++) {
      // a change every 100 ms for 25 s: never 2 s of quiet
      await change(h)
      await vi.advanceTimersByTimeAsync(100)
      if ((await deliverAll(h)) > 0) times.push(Date.now() - start)
    }
    expect(times.map((t) => Math.round(t / 100) * 100)).toEqual([10_000, 20_000])
    await vi.advanceTimersByTimeAsync(2_000)
    expect(await deliverAll(h)).toBe(1)
    expect(await h.payloads()).toHaveLength(3)
    expect(h.outbox.pendingChanges).toBe(0)
  })

  test('coalesced: at most one pending room.changed per room and endpoint that no attempt holds', async () => {
    const h = await harness({ endpoints: [endpoint('ep_a'), endpoint('ep_b')] })
    await change(h)
    await vi.advanceTimersByTimeAsync(2_000)
    const first = await h.store.listDeliveries({ limit: 10 })
    expect(first.map((d) => d.endpointId).sort()).toEqual(['ep_a', 'ep_b'])
    // Not sent yet: the next change updates the same rows (same ids: no receiver has seen them).
    await change(h)
    await vi.advanceTimersByTimeAsync(2_000)
    const second = await h.store.listDeliveries({ limit: 10 })
    expect(second.map((d) => d.id).sort()).toEqual(first.map((d) => d.id).sort())
    const lastChangeAt = (d: { payload: string }) => (JSON.parse(d.payload) as { data: { lastChangeAt: string } }).data.lastChangeAt
    expect(second.map(lastChangeAt)).toEqual(second.map(() => new Date(Date.now() - 2_000).toISOString()))
    // ep_a's row is being attempted (claimed), ep_b's failed once and waits for its retry.
    const claimed = await h.store.claimDueDeliveries(Date.now(), 10, 60_000)
    const a = claimed.find((d) => d.endpointId === 'ep_a')
    const b = claimed.find((d) => d.endpointId === 'ep_b')
    if (!a || !b) throw new Error('both rows should be due')
    const retryAt = Date.now() + 30_000
    await h.store.completeDelivery(b.id, { status: 'pending', nextAttemptAt: retryAt, error: 'receiver answered 500', statusCode: 500 }, Date.now())
    await change(h)
    await vi.advanceTimersByTimeAsync(2_000)
    const third = await h.store.listDeliveries({ limit: 10 })
    const pending = third.filter((d) => d.status === 'pending')
    // One new row per endpoint; the one in flight is left alone, the one waiting for a retry is superseded.
    expect(pending).toHaveLength(3)
    expect(third.find((d) => d.id === a.id)?.status).toBe('pending')
    expect(third.find((d) => d.id === b.id)).toMatchObject({ status: 'failed', lastError: expect.stringMatching(/^superseded by msg_/) })
    const newB = pending.find((d) => d.endpointId === 'ep_b')
    expect(newB?.nextAttemptAt).toBe(retryAt) // keeps the backoff the receiver earned
    expect(pending.filter((d) => d.endpointId === 'ep_a')).toHaveLength(2)
  })

  test('rooms are debounced independently', async () => {
    const h = await harness()
    await change(h, 'a')
    await vi.advanceTimersByTimeAsync(1_000)
    await change(h, 'b')
    await vi.advanceTimersByTimeAsync(1_000)
    expect((await h.payloads()).map((r) => r.body.data.room)).toEqual(['a'])
    await vi.advanceTimersByTimeAsync(1_000)
    expect((await h.payloads()).map((r) => r.body.data.room)).toEqual(['a', 'b'])
  })

  test('a change recorded while nobody listened (a killed process) is announced at start', async () => {
    const h = await harness({ start: false })
    await h.store.appendUpdate('orphan', update) // recorded while no outbox ran (a process killed before it announced it)
    await vi.advanceTimersByTimeAsync(60_000)
    expect(await h.payloads()).toEqual([])
    h.outbox.start()
    await vi.advanceTimersByTimeAsync(0)
    expect((await h.payloads()).map((r) => r.body.data.room)).toEqual(['orphan'])
    expect(h.outbox.pendingChanges).toBe(0)
  })

  test('a deleted room sends no room.changed and leaves no timer', async () => {
    const deleted = new Set<string>()
    const h = await harness({
      describeRoom: async (roomId) => (deleted.has(roomId) ? null : { sizeBytes: 1, stateVector: new Uint8Array([0]) }),
    })
    await change(h, 'doomed')
    deleted.add('doomed')
    await h.store.deleteRoom('doomed', null)
    h.outbox.onEvent({ type: 'room.deleted', roomId: 'doomed', at: Date.now() })
    await vi.advanceTimersByTimeAsync(20_000)
    expect((await h.payloads()).map((r) => r.body.type)).toEqual(['room.deleted'])
    expect(h.outbox.pendingChanges).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
    expect(await h.store.dueRoomChanges(Date.now(), 0, 0, 10)).toEqual([])
  })

  test('close() clears the timer and writes recorded changes at once; later events are ignored', async () => {
    const h = await harness()
    await change(h, 'a')
    await change(h, 'b')
    expect(vi.getTimerCount()).toBe(1)
    await h.outbox.close()
    expect(vi.getTimerCount()).toBe(0)
    expect((await h.payloads()).map((r) => r.body.data.room).sort()).toEqual(['a', 'b'])
    await change(h, 'c')
    h.outbox.onEvent({ type: 'room.created', roomId: 'c', at: Date.now() })
    await vi.advanceTimersByTimeAsync(20_000)
    expect(await h.payloads()).toHaveLength(2)
  })

  test('a room that is gone by the time it is described sends nothing; a describe failure is skipped', async () => {
    const h = await harness({
      describeRoom: async (roomId) => {
        if (roomId === 'boom') throw new Error('store down')
        return roomId === 'gone' ? null : { sizeBytes: 1, stateVector: new Uint8Array([0]) }
      },
    })
    await change(h, 'gone')
    await change(h, 'boom')
    await change(h, 'ok')
    await vi.advanceTimersByTimeAsync(2_000)
    expect((await h.payloads()).map((r) => r.body.data.room)).toEqual(['ok'])
  })

  test('a store that fails to settle keeps the change and retries it', async () => {
    const h = await harness()
    const original = h.store.settleRoomChanges.bind(h.store)
    let failures = 0
    h.store.settleRoomChanges = async (changes, now) => {
      if (failures++ < 2) throw new Error('disk full')
      return original(changes, now)
    }
    await change(h)
    await vi.advanceTimersByTimeAsync(2_000)
    expect(await h.payloads()).toEqual([])
    await vi.advanceTimersByTimeAsync(1_000)
    expect((await h.payloads()).map((r) => r.body.type)).toEqual(['room.changed'])
  })

  test('payloads stay thin: a huge state vector is left out, the body stays under 20 KB', async () => {
    const h = await harness({ describeRoom: async () => ({ sizeBytes: 50_000_000, stateVector: new Uint8Array(64 * 1024).fill(7) }) })
    await change(h)
    await vi.advanceTimersByTimeAsync(2_000)
    const rows = await h.store.listDeliveries({ limit: 10 })
    expect(rows).toHaveLength(1)
    expect(Buffer.byteLength(rows[0]?.payload ?? '')).toBeLessThan(20_000)
    expect(JSON.parse(rows[0]?.payload ?? '{}')).toMatchObject({ data: { sizeBytes: 50_000_000, stateVector: null } })
  })

  test('debounceMs 0 and a max wait shorter than the debounce are honoured', async () => {
    const h = await harness({ debounceMs: 5_000, maxWaitMs: 1_000 })
    await change(h)
    await vi.advanceTimersByTimeAsync(1_000)
    expect(await h.payloads()).toHaveLength(1)
    const z = await harness({ debounceMs: 0, maxWaitMs: 0 })
    await change(z)
    await vi.advanceTimersByTimeAsync(0)
    expect(await z.payloads()).toHaveLength(1)
  })
})
