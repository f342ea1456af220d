/**
 * StoreLifecycle contract (persistence/store-lifecycle.ts), run against every adapter in adapters.ts:
 * readiness, close, and read-your-writes across every concern while commits are in flight.
 */
import { expect, test } from 'vitest'
import { describeEachAdapter } from './adapters.js'
import { bytes, decode, endpoint, newDelivery, openStore, sumBytes } from './fixtures.js'

describeEachAdapter('Store lifecycle', (adapter) => {
  test('ping resolves while open', async () => {
    const { store } = await openStore(adapter)
    await expect(store.ping()).resolves.toBeUndefined()
  })

  test('a read issued after a write resolved sees it, while other writes are in flight', async () => {
    const { store } = await openStore(adapter)
    const rooms = Array.from({ length: 8 }, (_, r) => `ryw-${r}`)
    for (const room of rooms) await store.createRoom(room, {})
    /** Per room: every update issued, in call order, and how many of them have resolved. */
    const issued = new Map(rooms.map((room) => [room, [] as string[]]))
    const acked = new Map(rooms.map((room) => [room, 0]))
    const checks: Promise<void>[] = []

    /** Starts a load and a record read now; both must hold at least what was acknowledged by now. */
    const readBack = (room: string): void => {
      const ackedNow = acked.get(room) ?? 0
      const mustHave = (issued.get(room) ?? []).slice(0, ackedNow)
      const mustHaveBytes = sumBytes(mustHave.map(bytes))
      checks.push(
        store.loadUpdates(room).then((doc) => {
          const got = doc.updates.map(decode)
          expect(got.length, `${room} after ${ackedNow} acks`).toBeGreaterThanOrEqual(ackedNow)
          // Commits happen in call order, so what is stored is always a prefix of what was issued.
          expect(got).toEqual((issued.get(room) ?? []).slice(0, got.length))
        }),
        store.getRoom(room).then((record) => {
          expect(record?.sizeBytes, `${room} size after ${ackedNow} acks`).toBeGreaterThanOrEqual(mustHaveBytes)
        }),
      )
    }

    const appends: Promise<void>[] = []
    for (let i = 0; i < 200; i++) {
      const room = rooms[(i * 5) % rooms.length] ?? 'ryw-0'
      const text = `${room}:${i}`
      issued.get(room)?.push(text)
      appends.push(
        store.appendUpdate(room, bytes(text)).then(() => {
          acked.set(room, (acked.get(room) ?? 0) + 1)
          readBack(room)
        }),
      )
      // Loads of other rooms race with the commits in flight.
      if (i % 7 === 0) readBack(rooms[(i * 3 + 1) % rooms.length] ?? 'ryw-0')
      // Spread the appends over several commits rather than one batch: every 25, wait until the 25 before
      // these are acknowledged (the first time, until the first batch has been taken), so the latest ones
      // are still in flight.
      if (i % 25 === 24) await (appends[i - 25] ?? Promise.resolve())
    }

    // Other writes, each followed by a read once it resolved, while the appends above commit.
    const metadataChain = (async () => {
      for (let v = 1; v <= 10; v++) {
        const updated = await store.updateRoomMetadata('ryw-1', { v })
        if (!updated) throw new Error('room ryw-1 missing')
        // Appends to the room may commit in between (bumping updatedAt and size), never undo the update.
        const read = await store.getRoom('ryw-1')
        expect(read?.metadata).toEqual({ v })
        expect(read?.updatedAt).toBeGreaterThanOrEqual(updated.updatedAt)
        expect(read?.sizeBytes).toBeGreaterThanOrEqual(updated.sizeBytes)
        expect((await store.listRooms({ prefix: 'ryw-1', limit: 1 }))[0]?.metadata).toEqual({ v })
      }
      await store.createRoom('ryw-new', {})
      expect(await store.getRoom('ryw-new')).not.toBeNull()
      await store.deleteRoom('ryw-new', null)
      expect(await store.getRoom('ryw-new')).toBeNull()
    })()
    const outboxChain = (async () => {
      for (let n = 1; n <= 10; n++) {
        await store.enqueueDeliveries([newDelivery(`msg_${n}`, { createdAt: n })])
        expect(await store.countPendingDeliveries()).toBe(n)
        await store.completeDelivery(`msg_${n}`, { status: 'pending', nextAttemptAt: 1_000 + n, error: 'x', statusCode: null }, n)
        expect(await store.getDelivery(`msg_${n}`)).toMatchObject({ attempts: 1, nextAttemptAt: 1_000 + n })
      }
      expect(await store.nextDeliveryDueAt()).toBe(1_001)
      await store.saveWebhookEndpoint(endpoint('ep_ryw'))
      expect((await store.listWebhookEndpoints()).map((e) => e.id)).toEqual(['ep_ryw'])
    })()

    await Promise.all([...appends, metadataChain, outboxChain])
    await Promise.all(checks)
    expect(checks.length).toBeGreaterThanOrEqual(2 * 200)
    for (const room of rooms) {
      expect((await store.loadUpdates(room)).updates.map(decode)).toEqual(issued.get(room))
    }
  })

  test('close waits for pending appends, then every call rejects', async () => {
    const { store } = await openStore(adapter)
    const pending = Array.from({ length: 50 }, (_, i) => store.appendUpdate('c', bytes(`p${i}`)))
    await store.close()
    await expect(Promise.all(pending)).resolves.toHaveLength(50)

    const calls: [string, () => Promise<unknown>][] = [
      ['loadUpdates', () => store.loadUpdates('c')],
      ['appendUpdate', () => store.appendUpdate('c', bytes('x'))],
      ['compact', () => store.compact('c')],
      ['createRoom', () => store.createRoom('c', {})],
      ['ensureRoom', () => store.ensureRoom('c')],
      ['getRoom', () => store.getRoom('c')],
      ['listRooms', () => store.listRooms({ limit: 10 })],
      ['updateRoomMetadata', () => store.updateRoomMetadata('c', {})],
      ['deleteRoom', () => store.deleteRoom('c', null)],
      ['saveWebhookEndpoint', () => store.saveWebhookEndpoint(endpoint('ep_1'))],
      ['listWebhookEndpoints', () => store.listWebhookEndpoints()],
      ['deleteWebhookEndpoint', () => store.deleteWebhookEndpoint('ep_1')],
      ['disableWebhookEndpoint', () => store.disableWebhookEndpoint('ep_1', 1)],
      ['enqueueDeliveries', () => store.enqueueDeliveries([newDelivery('msg_1')])],
      ['claimDueDeliveries', () => store.claimDueDeliveries(1, 10, 1_000)],
      ['completeDelivery', () => store.completeDelivery('msg_1', { status: 'delivered', statusCode: 200 }, 1)],
      ['getDelivery', () => store.getDelivery('msg_1')],
      ['listDeliveries', () => store.listDeliveries({ limit: 10 })],
      ['replayDelivery', () => store.replayDelivery('msg_1', 1)],
      ['countPendingDeliveries', () => store.countPendingDeliveries()],
      ['nextDeliveryDueAt', () => store.nextDeliveryDueAt()],
      ['ping', () => store.ping()],
    ]
    for (const [name, call] of calls) {
      await expect(call(), name).rejects.toThrow(/closed/)
    }
    await expect(store.close()).resolves.toBeUndefined()
  })
})
