/**
 * Versions contract (persistence/versions.ts), run against every adapter in adapters.ts: saving, listing
 * newest first with cursor paging, reading a version's document, deleting, pruning of automatic versions
 * (named and before-restore ones kept), and deleteRoom removing a room's versions.
 */
import { expect, test } from 'vitest'
import * as Y from 'yjs'
import type { NewVersion, VersionKind } from '#server/persistence/versions'
import { describeEachAdapter } from './adapters.js'
import { openStore, reopenStore } from './fixtures.js'

/** Sortable ids as the server makes them: a greater number is a newer version. */
function versionId(n: number): string {
  return `ver_${String(n).padStart(12, '0')}`
}

function docUpdate(text: string): { update: Uint8Array; fingerprint: Uint8Array } {
  const doc = new Y.Doc()
  doc.getText('t').insert(0, text)
  const result = { update: Y.encodeStateAsUpdate(doc), fingerprint: Y.encodeSnapshot(Y.snapshot(doc)) }
  doc.destroy()
  return result
}

function newVersion(room: string, n: number, kind: VersionKind = 'auto', overrides: Partial<NewVersion> = {}): NewVersion {
  return {
    id: versionId(n),
    room,
    createdAt: 1_700_000_000_000 + n,
    kind,
    label: kind === 'named' ? `label ${n}` : null,
    author: kind === 'auto' ? null : 'alice',
    ...docUpdate(`text ${n}`),
    ...overrides,
  }
}

function textOf(update: Uint8Array | null): string | null {
  if (update === null) return null
  const doc = new Y.Doc()
  Y.applyUpdate(doc, update)
  const text = doc.getText('t').toString()
  doc.destroy()
  return text
}

describeEachAdapter('Versions', (adapter) => {
  test('saveVersion stores a version of an existing room; getVersion and getVersionUpdate read it back', async () => {
    const { store } = await openStore(adapter)
    await store.createRoom('r', {})
    const v = newVersion('r', 1, 'named')
    const saved = await store.saveVersion(v)
    expect(saved).toEqual({
      id: v.id,
      room: 'r',
      createdAt: v.createdAt,
      kind: 'named',
      label: 'label 1',
      author: 'alice',
      sizeBytes: v.update.byteLength,
      fingerprint: v.fingerprint,
    })
    expect(await store.getVersion('r', v.id)).toEqual(saved)
    expect(textOf(await store.getVersionUpdate('r', v.id))).toBe('text 1')
    expect(await store.getVersion('other', v.id)).toBeNull()
    expect(await store.getVersionUpdate('other', v.id)).toBeNull()
    expect(await store.getVersion('r', versionId(2))).toBeNull()
  })

  test('saveVersion stores nothing for a room without a record', async () => {
    const { store } = await openStore(adapter)
    expect(await store.saveVersion(newVersion('ghost', 1))).toBeNull()
    expect(await store.listVersions('ghost', { limit: 10 })).toEqual([])
  })

  test('null label and author round-trip, and every kind is accepted', async () => {
    const { store } = await openStore(adapter)
    await store.createRoom('r', {})
    for (const [i, kind] of (['auto', 'named', 'before-restore'] as const).entries()) {
      const saved = await store.saveVersion(newVersion('r', i + 1, kind, { label: null, author: null }))
      expect(saved).toMatchObject({ kind, label: null, author: null })
    }
  })

  test('listVersions is newest first and pages with the last id as cursor', async () => {
    const { store } = await openStore(adapter)
    await store.createRoom('r', {})
    await store.createRoom('s', {})
    // Saved out of order: the order is by id, not by insertion.
    for (const n of [3, 1, 5, 2, 4]) await store.saveVersion(newVersion('r', n, n % 2 === 0 ? 'named' : 'auto'))
    await store.saveVersion(newVersion('s', 6))

    const all = await store.listVersions('r', { limit: 10 })
    expect(all.map((v) => v.id)).toEqual([5, 4, 3, 2, 1].map(versionId))

    const first = await store.listVersions('r', { limit: 2 })
    expect(first.map((v) => v.id)).toEqual([versionId(5), versionId(4)])
    const second = await store.listVersions('r', { limit: 2, before: versionId(4) })
    expect(second.map((v) => v.id)).toEqual([versionId(3), versionId(2)])
    const third = await store.listVersions('r', { limit: 2, before: versionId(2) })
    expect(third.map((v) => v.id)).toEqual([versionId(1)])
    expect(await store.listVersions('r', { limit: 2, before: versionId(1) })).toEqual([])
    // A cursor whose version was deleted meanwhile still pages on.
    await store.deleteVersion('r', versionId(3))
    expect((await store.listVersions('r', { limit: 10, before: versionId(4) })).map((v) => v.id)).toEqual([versionId(2), versionId(1)])
    expect(await store.listVersions('r', { limit: 0 })).toEqual([])
  })

  test('deleteVersion removes one version and says whether it existed', async () => {
    const { store } = await openStore(adapter)
    await store.createRoom('r', {})
    await store.saveVersion(newVersion('r', 1))
    await store.saveVersion(newVersion('r', 2))
    expect(await store.deleteVersion('other', versionId(1))).toBe(false)
    expect(await store.deleteVersion('r', versionId(1))).toBe(true)
    expect(await store.deleteVersion('r', versionId(1))).toBe(false)
    expect(await store.getVersion('r', versionId(1))).toBeNull()
    expect(await store.getVersionUpdate('r', versionId(1))).toBeNull()
    expect((await store.listVersions('r', { limit: 10 })).map((v) => v.id)).toEqual([versionId(2)])
  })

  test('saving an automatic version with keepAuto prunes the oldest automatic ones only', async () => {
    const { store } = await openStore(adapter)
    await store.createRoom('r', {})
    await store.createRoom('s', {})
    await store.saveVersion(newVersion('r', 1, 'named'))
    await store.saveVersion(newVersion('r', 2, 'before-restore'))
    for (let n = 3; n <= 8; n++) await store.saveVersion(newVersion('r', n, 'auto'), 3)
    await store.saveVersion(newVersion('s', 9, 'auto'), 3)
    // Named versions never prune, even when saved with keepAuto.
    await store.saveVersion(newVersion('r', 10, 'named'), 3)

    const kept = await store.listVersions('r', { limit: 100 })
    expect(kept.map((v) => [v.id, v.kind])).toEqual([
      [versionId(10), 'named'],
      [versionId(8), 'auto'],
      [versionId(7), 'auto'],
      [versionId(6), 'auto'],
      [versionId(2), 'before-restore'],
      [versionId(1), 'named'],
    ])
    expect((await store.listVersions('s', { limit: 100 })).map((v) => v.id)).toEqual([versionId(9)])

    // Without keepAuto nothing is pruned.
    await store.saveVersion(newVersion('r', 11, 'auto'))
    expect((await store.listVersions('r', { limit: 100 })).filter((v) => v.kind === 'auto')).toHaveLength(4)
  })

  test('deleteRoom removes the room’s versions, and a re-created room starts without any', async () => {
    const { store } = await openStore(adapter)
    await store.createRoom('r', {})
    await store.createRoom('s', {})
    await store.saveVersion(newVersion('r', 1, 'named'))
    await store.saveVersion(newVersion('r', 2))
    await store.saveVersion(newVersion('s', 3))
    expect(await store.deleteRoom('r', null)).toBe(true)
    expect(await store.listVersions('r', { limit: 10 })).toEqual([])
    expect(await store.getVersionUpdate('r', versionId(1))).toBeNull()
    await store.createRoom('r', {})
    expect(await store.listVersions('r', { limit: 10 })).toEqual([])
    expect((await store.listVersions('s', { limit: 10 })).map((v) => v.id)).toEqual([versionId(3)])
  })

  test('a large document round-trips byte for byte', async () => {
    const { store } = await openStore(adapter)
    await store.createRoom('r', {})
    const big = docUpdate('x'.repeat(128 * 1024))
    const saved = await store.saveVersion(newVersion('r', 1, 'named', big))
    expect(saved?.sizeBytes).toBe(big.update.byteLength)
    expect(await store.getVersionUpdate('r', versionId(1))).toEqual(big.update)
  })

  test.runIf(adapter.reopen !== undefined)('versions survive a restart', async () => {
    const { store } = await openStore(adapter)
    await store.createRoom('r', {})
    const v = newVersion('r', 1, 'named')
    const saved = await store.saveVersion(v)
    await store.close()
    const reopened = await reopenStore(adapter, store)
    expect(await reopened.getVersion('r', v.id)).toEqual(saved)
    expect(await reopened.getVersionUpdate('r', v.id)).toEqual(v.update)
  })
})
