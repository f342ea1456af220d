import { expect, test } from 'vitest'
import * as Y from 'yjs'
import { replayLog } from '#server/persistence/compaction'
import { applyUpdateIntegratingPending } from '#server/pending-structs'

/**
 * A types a0..a3 (one update each); B, synced after a1, types b0 after it. A fresh doc then gets b0, a3,
 * a0, a1 and never a2: b0's dependencies have all arrived, so b0 must be in the document. Yjs alone
 * records a2's gap as what its pending structs wait for and keeps b0 waiting behind it.
 */
function outOfOrderUpdates(): { updates: Uint8Array[]; a: Y.Doc; b: Y.Doc } {
  const a = new Y.Doc()
  a.clientID = 1
  const b = new Y.Doc()
  b.clientID = 2
  const fromA: Uint8Array[] = []
  a.on('update', (u: Uint8Array) => fromA.push(u))
  for (const name of ['a0', 'a1']) a.getArray<string>('log').push([name])
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a))
  let fromB: Uint8Array | null = null
  b.on('update', (u: Uint8Array) => (fromB = u))
  b.getArray<string>('log').push(['b0'])
  for (const name of ['a2', 'a3']) a.getArray<string>('log').push([name])
  const [a0, a1, , a3] = fromA as [Uint8Array, Uint8Array, Uint8Array, Uint8Array]
  return { updates: [fromB as unknown as Uint8Array, a3, a0, a1], a, b }
}

test('bare Yjs keeps content whose dependencies arrived waiting (the case the helper exists for)', () => {
  const doc = new Y.Doc()
  for (const u of outOfOrderUpdates().updates) Y.applyUpdate(doc, u)
  expect(doc.getArray('log').toArray()).toEqual(['a0', 'a1'])
})

test('applied one at a time, content integrates as soon as its dependencies are in', () => {
  const doc = new Y.Doc()
  for (const u of outOfOrderUpdates().updates) applyUpdateIntegratingPending(doc, u)
  expect(doc.getArray('log').toArray()).toEqual(['a0', 'a1', 'b0'])
  expect(doc.store.pendingStructs).not.toBeNull() // a3 still waits for a2
})

test('a replayed log holds what the merged rows hold', () => {
  const { updates } = outOfOrderUpdates()
  const replayed = new Y.Doc()
  Y.applyUpdate(replayed, replayLog(updates).integrated)
  const merged = new Y.Doc()
  Y.applyUpdate(merged, Y.mergeUpdates(updates))
  expect(replayed.getArray('log').toArray()).toEqual(merged.getArray('log').toArray())
  expect(replayed.getArray('log').toArray()).toEqual(['a0', 'a1', 'b0'])
})

test('one transaction per apply: the update event carries the unblocked content too', () => {
  const doc = new Y.Doc()
  const events: Uint8Array[] = []
  const { updates } = outOfOrderUpdates()
  for (const u of updates.slice(0, 3)) applyUpdateIntegratingPending(doc, u)
  doc.on('update', (u: Uint8Array) => events.push(u))
  applyUpdateIntegratingPending(doc, updates[3] as Uint8Array)
  expect(events).toHaveLength(1)
  const seen = new Y.Doc()
  Y.applyUpdate(seen, Y.encodeStateAsUpdate(doc, new Uint8Array([0])))
  expect(seen.getArray('log').toArray()).toEqual(['a0', 'a1', 'b0'])
})
