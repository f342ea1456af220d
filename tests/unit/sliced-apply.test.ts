/**
 * Sliced apply: the slices of a large update, applied one after another, give exactly the document the
 * whole update gives (the same encoded state, byte for byte), each slice integrates completely, and
 * Yjs's merging is back in place afterwards. Documents are seeded multi-author edit histories with
 * text, deletions, maps, arrays, nested types and XML.
 */
import { describe, expect, test } from 'vitest'
import * as Y from 'yjs'
import { SLICE_STRUCTS, encodeSlice, planSlices, sliceStarts, withoutMerging } from '#server/rooms/sliced-apply'
import { prng } from '../helpers/prng.js'

/** A document edited by `authors` clients in turn, `edits` edits of every kind, seeded. */
function history(seed: number, edits: number, authors = 5): Y.Doc {
  const random = prng(seed)
  const pick = (n: number): number => Math.floor(random() * n)
  const doc = new Y.Doc()
  const text = doc.getText('t')
  const map = doc.getMap('m')
  const list = doc.getArray<unknown>('a')
  const xml = doc.getXmlFragment('x')
  for (let i = 0; i < edits; i++) {
    doc.clientID = 1_000 + pick(authors)
    const roll = random()
    if (roll < 0.55) text.insert(pick(text.length + 1), `w${i} `)
    else if (roll < 0.7 && text.length > 4) text.delete(pick(text.length - 3), 1 + pick(3))
    else if (roll < 0.78) map.set(`k${pick(50)}`, i)
    else if (roll < 0.84) list.insert(pick(list.length + 1), [i, `v${i}`])
    else if (roll < 0.88 && list.length > 0) list.delete(pick(list.length))
    else if (roll < 0.92) {
      const nested = new Y.Text()
      map.set(`nested${pick(20)}`, nested)
      nested.insert(0, `n${i}`)
    } else if (roll < 0.96) {
      const element = new Y.XmlElement(`p${pick(3)}`)
      xml.insert(pick(xml.length + 1), [element])
      element.insert(0, [new Y.XmlText(`x${i}`)])
    } else {
      text.format(pick(Math.max(1, text.length - 2)), 2, { bold: random() < 0.5 ? true : null })
    }
  }
  return doc
}

/** The doc's contents as one string; map keys sorted (their order follows integration, not content). */
function contents(doc: Y.Doc): string {
  const map = Object.entries(doc.getMap('m').toJSON()).sort(([a], [b]) => (a < b ? -1 : 1))
  return JSON.stringify([doc.getText('t').toDelta(), map, doc.getArray('a').toJSON(), doc.getXmlFragment('x').toString()])
}

function applySliced(update: Uint8Array): { doc: Y.Doc; slices: number } {
  const plan = planSlices(Y.decodeUpdate(update))
  if (plan === null) throw new Error('the update was not sliced')
  const doc = new Y.Doc()
  for (let i = 0; i < plan.slices.length; i++) {
    for (const [client, clock] of sliceStarts(plan, i)) expect(Y.getState(doc.store, client), `slice ${i} continues client ${client}`).toBe(clock)
    withoutMerging(() => Y.applyUpdate(doc, encodeSlice(plan, i)))
    expect(doc.store.pendingStructs, `slice ${i} integrates completely`).toBeNull()
  }
  expect(doc.store.pendingDs).toBeNull()
  return { doc, slices: plan.slices.length }
}

describe('sliced apply', () => {
  test.each([1, 2, 3, 42])('seed %i: the slices give the same document as the whole update, byte for byte', (seed) => {
    const source = history(seed, 14_000)
    const update = Y.encodeStateAsUpdate(source)
    expect(Y.decodeUpdate(update).structs.length).toBeGreaterThan(2 * SLICE_STRUCTS)
    const whole = new Y.Doc()
    Y.applyUpdate(whole, update)
    const { doc, slices } = applySliced(update)
    expect(slices).toBeGreaterThanOrEqual(3)
    // Compared as booleans: a diff of these documents would fill the screen.
    expect(Buffer.from(Y.encodeStateAsUpdate(doc)).equals(Y.encodeStateAsUpdate(whole)), 'the same encoded state').toBe(true)
    expect(contents(doc) === contents(source), 'the same contents').toBe(true)
  })

  test('a diff against part of the document (a resync after some slices were stored) slices and completes it', () => {
    const source = history(9, 16_000)
    const all = Y.encodeStateAsUpdate(source)
    const part = new Y.Doc()
    const first = planSlices(Y.decodeUpdate(all))
    if (first === null) throw new Error('the update was not sliced')
    withoutMerging(() => Y.applyUpdate(part, encodeSlice(first, 0)))
    const rest = Y.diffUpdate(all, Y.encodeStateVector(part))
    const plan = planSlices(Y.decodeUpdate(rest))
    if (plan === null) throw new Error('the rest was not sliced')
    for (let i = 0; i < plan.slices.length; i++) {
      for (const [client, clock] of sliceStarts(plan, i)) expect(Y.getState(part.store, client)).toBe(clock)
      withoutMerging(() => Y.applyUpdate(part, encodeSlice(plan, i)))
      expect(part.store.pendingStructs, `slice ${i} integrates completely`).toBeNull()
    }
    const whole = new Y.Doc()
    Y.applyUpdate(whole, all)
    expect(contents(part) === contents(whole), 'the same contents').toBe(true)
    expect(Buffer.from(Y.encodeStateVector(part)).equals(Y.encodeStateVector(whole))).toBe(true)
  })

  test('merging is back in place afterwards, also when the apply throws', () => {
    const mergeWith = Y.Item.prototype.mergeWith
    expect(() =>
      withoutMerging(() => {
        throw new Error('boom')
      }),
    ).toThrow('boom')
    expect(Y.Item.prototype.mergeWith).toBe(mergeWith)
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'a')
    doc.getText('t').insert(1, 'b') // typed on: merged into the first item
    expect(doc.store.clients.get(doc.clientID)).toHaveLength(1)
  })

  test('small updates and updates with gaps (Skip structs) are not sliced', () => {
    expect(planSlices(Y.decodeUpdate(Y.encodeStateAsUpdate(history(7, 200))))).toBeNull()
    // Two far-apart runs of one client merged into one update: the gap between them is a Skip.
    const doc = history(8, 14_000, 1)
    const all = Y.encodeStateAsUpdate(doc)
    const early = new Y.Doc()
    Y.applyUpdate(early, all)
    const tail = Y.diffUpdate(all, Y.encodeStateVector(history(8, 13_000, 1)))
    const head = Y.encodeStateAsUpdate(history(8, 2_000, 1))
    const gapped = Y.mergeUpdates([head, tail])
    expect(Y.decodeUpdate(gapped).structs.some((s) => s instanceof Y.Skip)).toBe(true)
    expect(planSlices(Y.decodeUpdate(gapped))).toBeNull()
  })
})
