/**
 * DocumentLog contract (persistence/document-log.ts), run against every adapter in adapters.ts: appends
 * are durable when they resolve, ordered, grouped into few transactions, and compaction never loses or
 * changes content.
 */
import { expect, onTestFinished, test } from 'vitest'
import { describeEachAdapter } from './adapters.js'
import { EMPTY_DOC, bytes, decode, openStore, reopenStore, sumBytes, textOf, textUpdates } from './fixtures.js'

describeEachAdapter('Document log', (adapter) => {
  test('an unknown room loads empty', async () => {
    const { store } = await openStore(adapter)
    expect(await store.loadUpdates('never-written')).toEqual(EMPTY_DOC)
  })

  test('appends load back in order and rebuild the document', async () => {
    const { store } = await openStore(adapter)
    const { updates, text } = textUpdates(25)
    for (const u of updates) await store.appendUpdate('doc', u)

    const loaded = await store.loadUpdates('doc')
    expect(loaded.rowCount).toBe(25)
    expect(loaded.byteSize).toBe(sumBytes(updates))
    expect(loaded.updates.map((u) => Array.from(u))).toEqual(updates.map((u) => Array.from(u)))
    expect(textOf(loaded.updates)).toBe(text)
  })

  test('many concurrent appends across rooms all resolve, all are stored, and share transactions', async () => {
    const { store, transactions } = await openStore(adapter)
    const rooms = Array.from({ length: 100 }, (_, r) => ({ name: `room-${r}`, ...textUpdates(20, `r${r}-`) }))
    const before = transactions?.() ?? 0

    const appends: Promise<void>[] = []
    for (let i = 0; i < 20; i++) {
      for (const room of rooms) appends.push(store.appendUpdate(room.name, room.updates[i] ?? new Uint8Array()))
    }
    await Promise.all(appends)

    for (const room of rooms) {
      const loaded = await store.loadUpdates(room.name)
      expect(loaded.rowCount).toBe(20)
      expect(textOf(loaded.updates)).toBe(room.text)
    }
    if (transactions) {
      const used = transactions() - before
      expect(used).toBeGreaterThan(0)
      // 2,000 appends issued in one tick: one per transaction would be 2,000.
      expect(used).toBeLessThanOrEqual(10)
    }
  })

  test('appends resolve in call order, and a resolved append has every earlier one stored', async () => {
    const { store } = await openStore(adapter)
    const updates = Array.from({ length: 200 }, (_, i) => bytes(`update-${i}`))
    const resolved: number[] = []
    const snapshots: Promise<{ i: number; stored: string[] }>[] = []

    await Promise.all(
      updates.map((u, i) =>
        store.appendUpdate('ordered', u).then(() => {
          resolved.push(i)
          if (i % 40 === 0 || i === 199) {
            snapshots.push(
              store.loadUpdates('ordered').then((d) => ({ i, stored: d.updates.map(decode) })),
            )
          }
        }),
      ),
    )

    expect(resolved).toEqual(updates.map((_, i) => i))
    for (const { i, stored } of await Promise.all(snapshots)) {
      expect(stored.length).toBeGreaterThanOrEqual(i + 1)
      expect(stored.slice(0, i + 1)).toEqual(updates.slice(0, i + 1).map((_, j) => `update-${j}`))
    }
  })

  test('compact merges the rows into one and keeps the content', async () => {
    const { store } = await openStore(adapter)
    const { updates, text } = textUpdates(30)
    await Promise.all(updates.map((u) => store.appendUpdate('c', u)))

    const result = await store.compact('c')
    expect(result).toMatchObject({ outcome: 'compacted', rowsRead: 30, rowsMerged: 30, rowsWritten: 1 })
    const loaded = await store.loadUpdates('c')
    expect(loaded.rowCount).toBe(1)
    expect(result.bytesAfter).toBe(loaded.byteSize)
    expect(textOf(loaded.updates)).toBe(text)

    // One row, or none, leaves nothing to do.
    const nothing = { outcome: 'nothing', rowsMerged: 0, rowsWritten: 0, bytesAfter: 0 }
    expect(await store.compact('c')).toEqual({ ...nothing, rowsRead: 1 })
    expect(await store.compact('empty')).toEqual({ ...nothing, rowsRead: 0 })
    expect(textOf((await store.loadUpdates('c')).updates)).toBe(text)
  })

  test('appends racing with compaction are not lost', async () => {
    const { store } = await openStore(adapter)
    const { updates, text } = textUpdates(120)
    const settled: Promise<unknown>[] = []
    let merged = 0
    // Interleave: each round issues appends, then a compaction, without waiting for either.
    for (let round = 0; round < 6; round++) {
      for (const u of updates.slice(round * 20, round * 20 + 20)) settled.push(store.appendUpdate('race', u))
      settled.push(store.compact('race').then((r) => (merged += r.rowsMerged - r.rowsWritten)))
    }
    await Promise.all(settled)

    const loaded = await store.loadUpdates('race')
    // Each compaction turned exactly rowsMerged rows into one; nothing else disappeared.
    expect(loaded.rowCount).toBe(120 - merged)
    expect(textOf(loaded.updates)).toBe(text)

    await store.compact('race')
    const final = await store.loadUpdates('race')
    expect(final.rowCount).toBe(1)
    expect(textOf(final.updates)).toBe(text)
  })

  test('deleteRoom removes the room, including appends issued just before it', async () => {
    const { store } = await openStore(adapter)
    await store.appendUpdate('gone', bytes('a'))
    await store.appendUpdate('kept', bytes('k'))
    const late = store.appendUpdate('gone', bytes('b'))
    expect(await store.deleteRoom('gone', null)).toBe(true)
    await late

    expect(await store.loadUpdates('gone')).toEqual(EMPTY_DOC)
    expect((await store.loadUpdates('kept')).rowCount).toBe(1)
    expect(await store.deleteRoom('never-existed', null)).toBe(false)

    await store.appendUpdate('gone', bytes('again'))
    expect((await store.loadUpdates('gone')).rowCount).toBe(1)
  })

  test('rooms are isolated', async () => {
    const { store } = await openStore(adapter)
    // Names that would collide under careless SQL (LIKE wildcards, prefixes) or encodings.
    const names = ['a', 'ab', 'a%', 'a_', 'A', 'ルーム', 'a b']
    const docs = names.map((name) => ({ name, ...textUpdates(3, name) }))
    await Promise.all(docs.flatMap((d) => d.updates.map((u) => store.appendUpdate(d.name, u))))

    await store.compact('a')
    await store.deleteRoom('ab', null)
    for (const d of docs) {
      const loaded = await store.loadUpdates(d.name)
      if (d.name === 'ab') expect(loaded.rowCount).toBe(0)
      else expect(textOf(loaded.updates)).toBe(d.text)
      if (d.name !== 'a' && d.name !== 'ab') expect(loaded.rowCount).toBe(3)
    }
  })

  test('binary data round-trips exactly, and the store keeps its own copy', async () => {
    const { store } = await openStore(adapter)
    const all = Uint8Array.from({ length: 256 }, (_, i) => i)
    const reused = Uint8Array.from(all)
    const backing = new Uint8Array(64).fill(0xee)
    backing.set([1, 2, 3], 10)
    const view = backing.subarray(10, 13)
    const pooled = Buffer.from('pooled buffer with a byteOffset')

    const p1 = store.appendUpdate('bin', reused)
    reused.fill(0) // callers may reuse their buffer as soon as appendUpdate returns
    const p2 = store.appendUpdate('bin', view)
    backing.fill(0)
    const p3 = store.appendUpdate('bin', pooled)
    const p4 = store.appendUpdate('bin', new Uint8Array(0))
    await Promise.all([p1, p2, p3, p4])

    const loaded = await store.loadUpdates('bin')
    expect(loaded.updates.map((u) => Array.from(u))).toEqual([
      Array.from(all),
      [1, 2, 3],
      Array.from(Buffer.from('pooled buffer with a byteOffset')),
      [],
    ])
    expect(loaded.byteSize).toBe(256 + 3 + pooled.byteLength)
  })

  test('bindClients: the first writer of a clientID wins, also within one call; rooms are separate', async () => {
    const { store } = await openStore(adapter)
    await store.bindClients('b', [[1, 'alice'], [2, 'bob'], [1, 'mallory']])
    await store.bindClients('b', [[2, 'mallory'], [3, 'carol']])
    await store.bindClients('b', [])
    await store.bindClients('other', [[1, 'dave']])
    expect([...(await store.loadUpdates('b')).clientOwners].sort(([x], [y]) => x - y)).toEqual([
      [1, 'alice'],
      [2, 'bob'],
      [3, 'carol'],
    ])
    expect([...(await store.loadUpdates('other')).clientOwners]).toEqual([[1, 'dave']])
    // Any non-negative safe integer is a Yjs clientID.
    await store.bindClients('b', [[0, 'zero'], [Number.MAX_SAFE_INTEGER, 'max']])
    const owners = (await store.loadUpdates('b')).clientOwners
    expect([owners.get(0), owners.get(Number.MAX_SAFE_INTEGER)]).toEqual(['zero', 'max'])
  })

  test('bindClients rejects a bad clientID or owner and binds nothing from that call', async () => {
    const { store } = await openStore(adapter)
    const bad: unknown[] = [[-1, 'x'], [1.5, 'x'], [2 ** 53, 'x'], [Number.NaN, 'x'], ['7', 'x'], [7, 42], [7, null]]
    for (const binding of bad) {
      await expect(store.bindClients('v', [[9, 'ok'], binding as readonly [number, string]]), JSON.stringify(binding)).rejects.toThrow()
    }
    expect((await store.loadUpdates('v')).clientOwners.size).toBe(0)
  })

  test('bindings commit in order with appends, survive compaction, and go with deleteRoom', async () => {
    const { store } = await openStore(adapter)
    const { updates, text } = textUpdates(4)
    const bound = store.bindClients('o', [[5, 'alice']])
    await Promise.all(updates.map((u) => store.appendUpdate('o', u)))
    // The appends were issued after the binding, so their commit has it.
    expect((await store.loadUpdates('o')).clientOwners.get(5)).toBe('alice')
    await bound

    expect((await store.compact('o')).outcome).toBe('compacted')
    const compacted = await store.loadUpdates('o')
    expect(textOf(compacted.updates)).toBe(text)
    expect([...compacted.clientOwners]).toEqual([[5, 'alice']])

    expect(await store.deleteRoom('o', null)).toBe(true)
    expect((await store.loadUpdates('o')).clientOwners.size).toBe(0)
    // A later incarnation of the room binds afresh.
    await store.bindClients('o', [[5, 'bob']])
    expect((await store.loadUpdates('o')).clientOwners.get(5)).toBe('bob')
  })

  test('loaded clientOwners are a copy', async () => {
    const { store } = await openStore(adapter)
    await store.bindClients('c', [[1, 'alice']])
    const first = await store.loadUpdates('c')
    ;(first.clientOwners as Map<number, string>).set(1, 'mallory')
    expect((await store.loadUpdates('c')).clientOwners.get(1)).toBe('alice')
  })

  test.runIf(adapter.reopen !== undefined)('content survives close and reopen', async () => {
    const { updates, text } = textUpdates(40)
    const first = await adapter.open()
    onTestFinished(() => first.close())
    await Promise.all(updates.slice(0, 30).map((u) => first.appendUpdate('doc', u)))
    await first.compact('doc')
    await Promise.all(updates.slice(30).map((u) => first.appendUpdate('doc', u)))
    await first.bindClients('doc', [[7, 'alice']])
    await first.close()

    const second = await reopenStore(adapter, first)
    const loaded = await second.loadUpdates('doc')
    expect(loaded.rowCount).toBe(11)
    expect(textOf(loaded.updates)).toBe(text)
    expect([...loaded.clientOwners]).toEqual([[7, 'alice']])
  })
})
