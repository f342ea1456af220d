/**
 * RoomRecords contract (persistence/room-records.ts), run against every adapter in adapters.ts: records,
 * metadata, listing and paging, deleteRoom with its tombstone, and the users removed from a room.
 */
import { expect, onTestFinished, test } from 'vitest'
import * as Y from 'yjs'
import { describeEachAdapter } from './adapters.js'
import { EMPTY_DOC, bytes, nextMillisecond, openStore, reopenStore, stateVector, sumBytes, textUpdates, tombstoneOf } from './fixtures.js'

describeEachAdapter('Room records', (adapter) => {
  test('createRoom creates a record once, and getRoom returns it', async () => {
    const { store } = await openStore(adapter)
    const before = Date.now()
    const metadata = { title: 'Hello', tags: ['a', 'b'], nested: { n: 1, ok: true, none: null } }
    const created = await store.createRoom('r1', metadata)
    expect(created).toEqual({
      name: 'r1',
      createdAt: expect.any(Number),
      updatedAt: created?.createdAt,
      metadata,
      sizeBytes: 0,
    })
    expect(created?.createdAt).toBeGreaterThanOrEqual(before)
    expect(created?.createdAt).toBeLessThanOrEqual(Date.now())

    expect(await store.createRoom('r1', { other: 1 })).toBeNull()
    expect(await store.getRoom('r1')).toEqual(created)
    expect(await store.getRoom('missing')).toBeNull()
  })

  test('ensureRoom creates a record with empty metadata once, then returns the existing one', async () => {
    const { store } = await openStore(adapter)
    const first = await store.ensureRoom('e')
    expect(first.created).toBe(true)
    expect(first.record).toEqual({ name: 'e', createdAt: expect.any(Number), updatedAt: first.record.createdAt, metadata: {}, sizeBytes: 0 })

    const second = await store.ensureRoom('e')
    expect(second).toEqual({ created: false, record: first.record })

    await store.createRoom('with-meta', { k: 'v' })
    const existing = await store.ensureRoom('with-meta')
    expect(existing.created).toBe(false)
    expect(existing.record.metadata).toEqual({ k: 'v' })
  })

  test('appends bump an existing record and its size but never create a record', async () => {
    const { store } = await openStore(adapter)
    await store.appendUpdate('orphan', bytes('abc'))
    expect(await store.getRoom('orphan')).toBeNull()
    expect(await store.listRooms({ limit: 10 })).toEqual([])

    const created = await store.createRoom('r', { k: 1 })
    if (!created) throw new Error('room not created')
    await nextMillisecond(created.updatedAt)
    const { updates } = textUpdates(5)
    await Promise.all(updates.map((u) => store.appendUpdate('r', u)))

    const after = await store.getRoom('r')
    expect(after?.createdAt).toBe(created.createdAt)
    expect(after?.updatedAt).toBeGreaterThan(created.updatedAt)
    expect(after?.updatedAt).toBeLessThanOrEqual(Date.now())
    expect(after?.sizeBytes).toBe(sumBytes(updates))
    expect(after?.metadata).toEqual({ k: 1 })

    await store.compact('r')
    expect((await store.getRoom('r'))?.sizeBytes).toBe((await store.loadUpdates('r')).byteSize)

    // A record created over rows written earlier counts them.
    expect((await store.createRoom('orphan', {}))?.sizeBytes).toBe(3)
  })

  test('updateRoomMetadata replaces the metadata and bumps updatedAt', async () => {
    const { store } = await openStore(adapter)
    const created = await store.createRoom('m', { a: 1, b: 2 })
    if (!created) throw new Error('room not created')
    await nextMillisecond(created.updatedAt)

    const updated = await store.updateRoomMetadata('m', { c: [3] })
    expect(updated?.metadata).toEqual({ c: [3] })
    expect(updated?.createdAt).toBe(created.createdAt)
    expect(updated?.updatedAt).toBeGreaterThan(created.updatedAt)
    expect(await store.getRoom('m')).toEqual(updated)

    expect(await store.updateRoomMetadata('missing', { a: 1 })).toBeNull()
    expect(await store.getRoom('missing')).toBeNull()
  })

  test('metadata is copied in and out: callers cannot change what is stored', async () => {
    const { store } = await openStore(adapter)
    const input = { list: [1, 2], inner: { x: 'y' } }
    const created = await store.createRoom('copy', input)
    input.list.push(3)
    input.inner.x = 'changed'
    ;((created?.metadata as { list: number[] }).list).push(4)

    const read = await store.getRoom('copy')
    expect(read?.metadata).toEqual({ list: [1, 2], inner: { x: 'y' } })
    ;((read?.metadata as { inner: { x: string } }).inner).x = 'mutated'
    const [listed] = await store.listRooms({ limit: 1 })
    expect(listed?.metadata).toEqual({ list: [1, 2], inner: { x: 'y' } })
  })

  test('listRooms orders by name (code point order), pages with after, and matches prefixes literally', async () => {
    const { store } = await openStore(adapter)
    // LIKE wildcards, case, characters beyond the BMP (UTF-16 order differs from UTF-8 there),
    // and prefixes whose range bound needs care (U+D7FF is followed by U+E000; U+10FFFF has no successor).
    const names = [
      'b', 'a', 'a%', 'a_', 'a_b', 'ab', 'a%c', 'ac', 'A', 'b1', 'a b',
      '\uFF01', '\u{1F600}', '\u{1F600}x', 'ルーム', '\uD7FF', '\uD7FFz', '\uE000',
      '\u{10FFFF}', '\u{10FFFF}\u{10FFFF}', '\u{10FFFF}a',
    ]
    for (const name of names) await store.createRoom(name, {})
    const expected = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
    const list = async (opts: { prefix?: string; after?: string; limit: number }) =>
      (await store.listRooms(opts)).map((r) => r.name)

    expect(await list({ limit: 100 })).toEqual(expected)
    expect(await list({ limit: 0 })).toEqual([])
    expect(await list({ limit: 3 })).toEqual(expected.slice(0, 3))

    const paged: string[] = []
    let after: string | undefined
    for (;;) {
      const page = await list({ limit: 4, ...(after === undefined ? {} : { after }) })
      paged.push(...page)
      if (page.length < 4) break
      after = page[page.length - 1]
    }
    expect(paged).toEqual(expected)

    const withPrefix = (prefix: string) => expected.filter((n) => n.startsWith(prefix))
    for (const prefix of ['a', 'a_', 'a%', 'A', 'b', '', 'zzz', '\u{1F600}', '\uD7FF', '\u{10FFFF}', 'ルーム']) {
      expect(await list({ prefix, limit: 100 }), `prefix ${JSON.stringify(prefix)}`).toEqual(withPrefix(prefix))
    }
    expect(await list({ prefix: 'a_', limit: 100 })).toEqual(['a_', 'a_b'])
    expect(await list({ prefix: 'a%', limit: 100 })).toEqual(['a%', 'a%c'])

    // Prefix and cursor together: the second page of 'a' rooms.
    const aRooms = withPrefix('a')
    const firstPage = await list({ prefix: 'a', limit: 2 })
    expect(firstPage).toEqual(aRooms.slice(0, 2))
    expect(await list({ prefix: 'a', after: firstPage[1], limit: 100 })).toEqual(aRooms.slice(2))
    // A cursor before the prefix range starts at the range; one after it ends the listing.
    expect(await list({ prefix: 'b', after: 'a', limit: 100 })).toEqual(withPrefix('b'))
    expect(await list({ prefix: 'a', after: 'b', limit: 100 })).toEqual([])
  })

  test('listRooms reports each room\'s size', async () => {
    const { store } = await openStore(adapter)
    await store.createRoom('big', {})
    await store.createRoom('empty', {})
    await store.createRoom('small', {})
    await store.appendUpdate('big', new Uint8Array(1000))
    await store.appendUpdate('big', new Uint8Array(24))
    await store.appendUpdate('small', new Uint8Array(7))
    await store.appendUpdate('no-record', new Uint8Array(50))
    const rooms = await store.listRooms({ limit: 10 })
    expect(rooms.map((r) => [r.name, r.sizeBytes])).toEqual([
      ['big', 1024],
      ['empty', 0],
      ['small', 7],
    ])
  })

  test('deleteRoom removes record and log, merges the tombstone, and says whether anything existed', async () => {
    const { store } = await openStore(adapter)
    await store.createRoom('d', { k: 1 })
    await store.appendUpdate('d', bytes('a'))
    await store.createRoom('other', {})
    await store.appendUpdate('other', bytes('o'))
    const late = store.appendUpdate('d', bytes('issued just before the delete'))

    expect(await store.deleteRoom('d', stateVector({ 1: 5, 2: 3 }))).toBe(true)
    await late
    expect(await store.getRoom('d')).toBeNull()
    const gone = await store.loadUpdates('d')
    expect(gone.rowCount).toBe(0)
    expect(tombstoneOf(gone)).toEqual({ 1: 5, 2: 3 })
    expect(await store.listRooms({ limit: 10 })).toEqual([expect.objectContaining({ name: 'other', sizeBytes: 1 })])

    // Nothing exists any more, but the tombstone still merges: the higher clock per client wins.
    expect(await store.deleteRoom('d', stateVector({ 1: 2, 2: 7, 3: 1 }))).toBe(false)
    expect(tombstoneOf(await store.loadUpdates('d'))).toEqual({ 1: 5, 2: 7, 3: 1 })
    expect(await store.deleteRoom('d', null)).toBe(false)
    expect(tombstoneOf(await store.loadUpdates('d'))).toEqual({ 1: 5, 2: 7, 3: 1 })

    // Re-creation works and keeps the tombstone; so does writing the room again.
    const again = await store.createRoom('d', { second: true })
    expect(again?.metadata).toEqual({ second: true })
    await store.appendUpdate('d', bytes('new'))
    const reborn = await store.loadUpdates('d')
    expect(reborn.rowCount).toBe(1)
    expect(tombstoneOf(reborn)).toEqual({ 1: 5, 2: 7, 3: 1 })

    // The other room is untouched and has no tombstone.
    expect((await store.loadUpdates('other')).tombstone).toBeNull()
    expect((await store.getRoom('other'))?.sizeBytes).toBe(1)
  })

  test('deleteRoom counts a record alone or a log alone as existing', async () => {
    const { store } = await openStore(adapter)
    await store.createRoom('record-only', {})
    await store.appendUpdate('rows-only', bytes('r'))
    expect(await store.deleteRoom('record-only', null)).toBe(true)
    expect(await store.deleteRoom('rows-only', null)).toBe(true)
    expect(await store.getRoom('record-only')).toBeNull()
    expect(await store.loadUpdates('rows-only')).toEqual(EMPTY_DOC)
    expect(await store.deleteRoom('record-only', null)).toBe(false)
  })

  test('an empty tombstone is not remembered; a malformed one rejects and deletes nothing', async () => {
    const { store } = await openStore(adapter)
    await store.appendUpdate('e', bytes('x'))
    expect(await store.deleteRoom('e', Y.encodeStateVector(new Y.Doc()))).toBe(true)
    expect((await store.loadUpdates('e')).tombstone).toBeNull()

    await store.createRoom('kept', {})
    await store.appendUpdate('kept', bytes('k'))
    await expect(store.deleteRoom('kept', new Uint8Array([5]))).rejects.toThrow()
    expect(await store.getRoom('kept')).not.toBeNull()
    expect(await store.loadUpdates('kept')).toMatchObject({ rowCount: 1, tombstone: null })
  })

  test('a loaded tombstone is a copy', async () => {
    const { store } = await openStore(adapter)
    await store.deleteRoom('t', stateVector({ 9: 9 }))
    const first = await store.loadUpdates('t')
    first.tombstone?.fill(0)
    expect(tombstoneOf(await store.loadUpdates('t'))).toEqual({ 9: 9 })
  })

  test.runIf(adapter.reopen !== undefined)('rooms and tombstones survive close and reopen', async () => {
    const first = await adapter.open()
    onTestFinished(() => first.close())
    const room = await first.createRoom('kept', { title: 'T' })
    await first.appendUpdate('kept', bytes('12345'))
    await first.deleteRoom('deleted', stateVector({ 7: 3 }))
    const before = await first.getRoom('kept')
    await first.close()

    const second = await reopenStore(adapter, first)
    expect(before).toMatchObject({ name: 'kept', createdAt: room?.createdAt, sizeBytes: 5 })
    expect(await second.getRoom('kept')).toEqual(before)
    expect(tombstoneOf(await second.loadUpdates('deleted'))).toEqual({ 7: 3 })
  })

  test('removals: the latest removal of a user wins, per room, and deleteRoom erases them', async () => {
    const { store } = await openStore(adapter)
    await store.createRoom('kicks', {})
    expect(await store.loadRemovals('kicks')).toEqual(new Map())
    await store.recordRemoval('kicks', 'alice', 2_000)
    await store.recordRemoval('kicks', 'bob', 3_000)
    await store.recordRemoval('kicks', 'alice', 5_000)
    // An older removal arriving late (another instance, a slow clock) does not move the time back.
    await store.recordRemoval('kicks', 'bob', 1_000)
    await store.recordRemoval('other', 'alice', 7_000)
    expect(await store.loadRemovals('kicks')).toEqual(new Map([['alice', 5_000], ['bob', 3_000]]))
    expect(await store.loadRemovals('other')).toEqual(new Map([['alice', 7_000]]))

    expect(await store.deleteRoom('kicks', null)).toBe(true)
    expect(await store.loadRemovals('kicks')).toEqual(new Map())
    expect(await store.loadRemovals('other')).toEqual(new Map([['alice', 7_000]]))
  })

  test.runIf(adapter.reopen !== undefined)('removals survive close and reopen', async () => {
    const first = await adapter.open()
    onTestFinished(() => first.close())
    await first.recordRemoval('kept-kicks', 'alice', Date.UTC(2026, 0, 1))
    await first.close()
    const second = await reopenStore(adapter, first)
    expect(await second.loadRemovals('kept-kicks')).toEqual(new Map([['alice', Date.UTC(2026, 0, 1)]]))
  })
})
