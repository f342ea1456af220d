/**
 * rooms/restore.ts: the one update that turns a document into a version's content, for every kind of
 * top-level type the editors use, with formatting, nested types and rich text as y-prosemirror writes it.
 */
import { describe, expect, test } from 'vitest'
import * as Y from 'yjs'
import { restoreUpdate, snapshotOf } from '#server/rooms/restore'
import { prng as mulberry32 } from '../helpers/prng.js'

/** What a reader sees in each root: formatting, attributes and nesting included. */
function contentOf(doc: Y.Doc): unknown {
  return {
    text: doc.getText('text').toDelta(),
    map: doc.getMap('map').toJSON(),
    array: doc.getArray('array').toJSON(),
    xml: doc.getXmlFragment('prosemirror').toJSON(),
    xmlDelta: doc
      .getXmlFragment('prosemirror')
      .toArray()
      .map((node) => (node instanceof Y.XmlElement ? [node.nodeName, node.getAttributes(), node.toArray().map((c) => (c instanceof Y.XmlText ? c.toDelta() : c.toJSON()))] : null)),
  }
}

/** A paragraph and a heading as y-prosemirror stores them: elements, attributes, marks as text formatting. */
function writeProsemirror(doc: Y.Doc, words: string[]): void {
  const frag = doc.getXmlFragment('prosemirror')
  const heading = new Y.XmlElement('heading')
  heading.setAttribute('level', '1')
  const title = new Y.XmlText()
  heading.insert(0, [title])
  const paragraph = new Y.XmlElement('paragraph')
  const body = new Y.XmlText()
  paragraph.insert(0, [body])
  frag.insert(frag.length, [heading, paragraph])
  title.insert(0, words[0] ?? '')
  body.insert(0, words[1] ?? '', { strong: {} })
  body.insert(body.length, ` ${words[2] ?? ''}`, { em: {}, link: { href: 'https://example.com' } })
}

function versionOne(): Y.Doc {
  const doc = new Y.Doc()
  doc.getText('text').insert(0, 'Hello ')
  doc.getText('text').insert(6, 'world', { bold: true })
  doc.getMap('map').set('title', 'v1')
  doc.getMap('map').set('count', 1)
  const nested = new Y.Map()
  doc.getMap('map').set('nested', nested)
  nested.set('deep', 'yes')
  doc.getArray('array').insert(0, [1, 'two', { three: 3 }])
  writeProsemirror(doc, ['Title one', 'bold one', 'italic one'])
  return doc
}

/** Replays `later` edits on top of a copy of `base`: the document restore must undo. */
function edited(base: Y.Doc): Y.Doc {
  const doc = new Y.Doc()
  Y.applyUpdate(doc, Y.encodeStateAsUpdate(base))
  doc.getText('text').delete(0, 3)
  doc.getText('text').insert(doc.getText('text').length, '!!', { italic: true })
  doc.getText('text').format(0, 2, { underline: true })
  doc.getMap('map').set('title', 'v2')
  doc.getMap('map').delete('count')
  doc.getMap('map').set('added', [1, 2])
  ;(doc.getMap('map').get('nested') as Y.Map<unknown>).set('deep', 'no')
  doc.getArray('array').delete(0, 1)
  doc.getArray('array').push(['four'])
  const frag = doc.getXmlFragment('prosemirror')
  frag.delete(0, 1)
  const p = new Y.XmlElement('paragraph')
  p.insert(0, [new Y.XmlText('another paragraph')])
  frag.push([p])
  doc.getText('only-later').insert(0, 'a root the version lacks')
  return doc
}

function apply(doc: Y.Doc, update: Uint8Array | null): void {
  if (update !== null) Y.applyUpdate(doc, update)
}

describe('restoreUpdate', () => {
  test('turns an edited document back into the version, for text, map, array and prosemirror XML', () => {
    const v1 = versionOne()
    const later = edited(v1)
    const version = snapshotOf(v1).update
    const update = restoreUpdate(snapshotOf(later).update, version)
    expect(update).not.toBeNull()
    apply(later, update)
    expect(contentOf(later)).toEqual(contentOf(v1))
    expect(later.getText('only-later').toString()).toBe('')
  })

  test('restoring the state before a restore brings the edits back', () => {
    const v1 = versionOne()
    const later = edited(v1)
    const before = snapshotOf(later).update
    const expected = contentOf(later)
    apply(later, restoreUpdate(before, snapshotOf(v1).update))
    apply(later, restoreUpdate(snapshotOf(later).update, before))
    expect(contentOf(later)).toEqual(expected)
    expect(later.getText('only-later').toString()).toBe('a root the version lacks')
  })

  test('is null when the document already holds the version’s content', () => {
    const v1 = versionOne()
    const copy = new Y.Doc()
    Y.applyUpdate(copy, Y.encodeStateAsUpdate(v1))
    expect(restoreUpdate(snapshotOf(copy).update, snapshotOf(v1).update)).toBeNull()
  })

  test('an edit concurrent with the restore is kept', () => {
    const v1 = new Y.Doc()
    v1.getText('text').insert(0, 'version text')
    const current = new Y.Doc()
    Y.applyUpdate(current, Y.encodeStateAsUpdate(v1))
    current.getText('text').insert(0, 'later: ')
    // The restore is computed from this state...
    const update = restoreUpdate(snapshotOf(current).update, snapshotOf(v1).update)
    // ...while a client inserts on top of it.
    const client = new Y.Doc()
    Y.applyUpdate(client, Y.encodeStateAsUpdate(current))
    client.getText('text').insert(client.getText('text').length, ' +concurrent')
    apply(client, update)
    apply(current, Y.encodeStateAsUpdate(client))
    // Where the concurrent insert lands is Yjs's merge; that it is kept, next to the version's text, is ours.
    const merged = client.getText('text').toString()
    expect([' +concurrentversion text', 'version text +concurrent']).toContain(merged)
    expect(current.getText('text').toString()).toBe(merged)
  })

  test('restoring an empty version empties every root', () => {
    const empty = new Y.Doc()
    const later = edited(versionOne())
    apply(later, restoreUpdate(snapshotOf(later).update, snapshotOf(empty).update))
    expect(contentOf(later)).toEqual(contentOf(new Y.Doc()))
  })

  test('leaves pending content out of a snapshot', () => {
    const a = new Y.Doc()
    a.getText('t').insert(0, 'one')
    const first = Y.encodeStateAsUpdate(a)
    const sv = Y.encodeStateVector(a)
    a.getText('t').insert(3, ' two')
    const second = Y.encodeStateAsUpdate(a, sv)
    const b = new Y.Doc()
    Y.applyUpdate(b, second) // waits for `first`
    expect(b.store.pendingStructs).not.toBeNull()
    const { update } = snapshotOf(b)
    expect(b.store.pendingStructs).not.toBeNull()
    const c = new Y.Doc()
    Y.applyUpdate(c, update)
    expect(c.store.pendingStructs).toBeNull()
    Y.applyUpdate(b, first)
    expect(b.getText('t').toString()).toBe('one two')
  })

  test('text: only the changed middle is replaced, formatting, embeds and surrogate pairs included', () => {
    const v1 = new Y.Doc()
    const t = v1.getText('text')
    t.insert(0, 'Hello \u{1F600} ')
    t.insert(t.length, 'world', { bold: true })
    t.insertEmbed(t.length, { image: 'a.png' })
    t.insert(t.length, ` end ${'and a long tail '.repeat(20)}`)
    const later = new Y.Doc()
    Y.applyUpdate(later, Y.encodeStateAsUpdate(v1))
    const lt = later.getText('text')
    lt.insert(6, '\u{1F601}')
    lt.format(0, 5, { italic: true })
    lt.insert(lt.length - 330, ' big')
    const update = restoreUpdate(snapshotOf(later).update, snapshotOf(v1).update)
    apply(later, update)
    expect(lt.toDelta()).toEqual(t.toDelta())
    // The long tail was kept: the update holds far less than the whole text again.
    expect(update?.byteLength ?? 0).toBeLessThan(Y.encodeStateAsUpdate(v1).byteLength)
  })

  test('random edits on every type, restored and undone (seeded)', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const rand = mulberry32(seed)
      const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T
      const doc = versionOne()
      const randomEdits = (): void => {
        for (let i = 0; i < 8; i++) {
          const text = doc.getText('text')
          const arr = doc.getArray('array')
          const frag = doc.getXmlFragment('prosemirror')
          switch (Math.floor(rand() * 7)) {
            case 0:
              text.insert(Math.floor(rand() * (text.length + 1)), pick(['a', 'bc', '\u{1F600}', ' ']), rand() < 0.5 ? { bold: true } : {})
              break
            case 1:
              if (text.length > 0) {
                const at = Math.floor(rand() * text.length)
                text.delete(at, Math.min(text.length - at, 1 + Math.floor(rand() * 3)))
              }
              break
            case 2:
              if (text.length > 0) text.format(0, Math.ceil(rand() * text.length), { italic: rand() < 0.5 ? true : null })
              break
            case 3:
              arr.insert(Math.floor(rand() * (arr.length + 1)), [Math.floor(rand() * 100)])
              break
            case 4:
              if (arr.length > 0) arr.delete(Math.floor(rand() * arr.length), 1)
              break
            case 5: {
              const p = new Y.XmlElement('paragraph')
              p.insert(0, [new Y.XmlText(`p${seed}-${i}`)])
              frag.insert(Math.floor(rand() * (frag.length + 1)), [p])
              break
            }
            case 6:
              doc.getMap('map').set(pick(['title', 'count', 'x']), rand() < 0.3 ? new Y.Map() : Math.floor(rand() * 10))
              break
          }
        }
      }
      randomEdits()
      const version = snapshotOf(doc).update
      const expected = contentOf(docFrom(version))
      randomEdits()
      const before = snapshotOf(doc).update
      const beforeContent = contentOf(docFrom(before))
      apply(doc, restoreUpdate(before, version))
      expect(contentOf(doc), `seed ${seed}`).toEqual(expected)
      apply(doc, restoreUpdate(snapshotOf(doc).update, before))
      expect(contentOf(doc), `seed ${seed} (undo)`).toEqual(beforeContent)
    }
  })
})

function docFrom(update: Uint8Array): Y.Doc {
  const doc = new Y.Doc()
  Y.applyUpdate(doc, update)
  return doc
}

