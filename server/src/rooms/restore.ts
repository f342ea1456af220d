/**
 * Pure Yjs helpers for version history: a document's snapshot as a version stores it, and the one
 * ordinary update that turns a document into a version's content (a restore moves forward: it deletes
 * what the version lacks and inserts what it has, so history and the log stay as they were).
 */
import * as Y from 'yjs'

export interface DocSnapshot {
  /** The document as one Yjs update: integrated content only (pending structs are left out). */
  readonly update: Uint8Array
  /** Encoded Y.snapshot (state vector and delete set): equal for equal documents. */
  readonly fingerprint: Uint8Array
}

/**
 * The integrated content of `doc`. Y.encodeStateAsUpdate appends content still waiting for its
 * dependencies; a version holds what the document shows, so that part is left out (it stays in the log).
 * Synchronous, and the doc's pending fields are put back before returning.
 */
export function snapshotOf(doc: Y.Doc): DocSnapshot {
  const { store } = doc
  const pendingStructs = store.pendingStructs
  const pendingDs = store.pendingDs
  store.pendingStructs = null
  store.pendingDs = null
  try {
    return { update: Y.encodeStateAsUpdate(doc), fingerprint: Y.encodeSnapshot(Y.snapshot(doc)) }
  } finally {
    store.pendingStructs = pendingStructs
    store.pendingDs = pendingDs
  }
}

/** The snapshot of the document `update` builds (for rooms that are not loaded). */
export function snapshotOfUpdate(update: Uint8Array): DocSnapshot {
  const doc = new Y.Doc({ gc: true })
  try {
    Y.applyUpdate(doc, update)
    return snapshotOf(doc)
  } finally {
    doc.destroy()
  }
}

/** What a top-level type holds, as far as a restore needs to know. */
type RootKind = 'text' | 'map' | 'array' | 'xml' | 'empty'

/**
 * The update that turns the document `current` (a full-state update) into the document `target` (a
 * version's update), or null when they already hold the same content. Built on a scratch copy of
 * `current`, under the scratch doc's own fresh clientID, in one transaction:
 *
 * - Y.Map roots: keys the version lacks are deleted, keys whose value differs are set (nested types cloned);
 * - Y.Text, Y.Array and Y.XmlFragment roots: the longest common prefix and suffix (text with the same
 *   formatting; children with the same structure) are kept, and the middle is replaced by the version's
 *   (text with its formatting, elements with their attributes and children, cloned);
 * - a root whose kind changed: every live item is deleted and the version's content inserted.
 *
 * Only items of `current` are deleted, so edits concurrent with the restore (made by clients on top of
 * `current`) survive it, merged as Yjs merges any concurrent edit.
 */
export function restoreUpdate(current: Uint8Array, target: Uint8Array): Uint8Array | null {
  const scratch = new Y.Doc({ gc: true })
  const version = new Y.Doc({ gc: true })
  try {
    Y.applyUpdate(scratch, current)
    Y.applyUpdate(version, target)
    let update: Uint8Array | null = null
    scratch.on('update', (u: Uint8Array) => {
      update = update === null ? u : Y.mergeUpdates([update, u])
    })
    const keys = new Set([...scratch.share.keys(), ...version.share.keys()])
    scratch.transact((tr) => {
      for (const key of keys) restoreRoot(tr, scratch, version, key)
    })
    return update
  } finally {
    scratch.destroy()
    version.destroy()
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Yjs roots are AbstractType<any>
type AnyType = Y.AbstractType<any>

function restoreRoot(tr: Y.Transaction, scratch: Y.Doc, version: Y.Doc, key: string): void {
  const have = scratch.share.get(key)
  const want = version.share.get(key)
  const haveKind = have ? kindOf(have) : 'empty'
  const wantKind = want ? kindOf(want) : 'empty'
  if (haveKind === 'empty' && wantKind === 'empty') return
  if (haveKind === wantKind) {
    // Same kind: change only what differs, so the update (and the tombstones it leaves) stays small.
    switch (haveKind) {
      case 'map':
        return restoreMap(scratch.getMap(key), version.getMap(key))
      case 'text': {
        const text = scratch.getText(key)
        const target = version.getText(key)
        restoreText(text, target)
        // Deleting a range lets Yjs tidy the formatting marks around it, which can move a mark's end
        // (a Yjs quirk); when the kept ends did not come out exactly right, replace the whole text.
        if (stableJson(structure(text)) === stableJson(structure(target))) return
        clearType(tr, text)
        return void text.applyDelta(target.toDelta().map(cloneDeltaOp))
      }
      case 'array':
        return restoreSequence(scratch.getArray(key), version.getArray(key).toArray(), cloneValue)
      case 'xml':
        return restoreSequence(scratch.getXmlFragment(key), version.getXmlFragment(key).toArray(), (node) => (node as Y.XmlElement).clone())
    }
  }
  // Before any typed getter converts it, so this works whatever the root held.
  if (have) clearType(tr, have)
  switch (wantKind) {
    case 'empty':
      return
    case 'text':
      return void scratch.getText(key).applyDelta(version.getText(key).toDelta().map(cloneDeltaOp))
    case 'array':
      return void scratch.getArray(key).insert(0, version.getArray(key).toArray().map(cloneValue))
    case 'xml':
      return void scratch.getXmlFragment(key).insert(0, version.getXmlFragment(key).toArray().map((node) => node.clone() as Y.XmlElement | Y.XmlText))
    case 'map': {
      const map = scratch.getMap(key)
      for (const [k, v] of version.getMap(key).entries()) map.set(k, cloneValue(v))
      return
    }
  }
}

interface Sequence {
  readonly length: number
  toArray(): unknown[]
  delete(index: number, length: number): void
  insert(index: number, content: never[]): void
}

/** Keeps the longest common prefix and suffix of children (compared by structure), replaces the middle. */
function restoreSequence(have: Sequence, want: readonly unknown[], clone: (value: unknown) => unknown): void {
  const haveKeys = have.toArray().map((v) => stableJson(structure(v)))
  const wantKeys = want.map((v) => stableJson(structure(v)))
  const [prefix, suffix] = commonEnds(haveKeys.length, wantKeys.length, (i, j) => haveKeys[i] === wantKeys[j])
  const deleted = haveKeys.length - prefix - suffix
  if (deleted > 0) have.delete(prefix, deleted)
  const inserted = want.slice(prefix, want.length - suffix)
  if (inserted.length > 0) have.insert(prefix, inserted.map(clone) as never[])
}

type DeltaOp = { insert?: unknown; attributes?: Record<string, unknown> }

/**
 * Keeps the longest common prefix and suffix of the text whose formatting also matches, replaces the
 * middle with the version's text and formatting.
 */
function restoreText(have: Y.Text, want: Y.Text): void {
  const haveDelta = have.toDelta() as DeltaOp[]
  const wantDelta = want.toDelta() as DeltaOp[]
  const haveFlat = flatten(haveDelta)
  const wantFlat = flatten(wantDelta)
  let [prefix, suffix] = commonEnds(haveFlat.length, wantFlat.length, (i, j) => haveFlat.charCodeAt(i) === wantFlat.charCodeAt(j))
  // Never split a surrogate pair.
  if (prefix > 0 && isHighSurrogate(haveFlat.charCodeAt(prefix - 1))) prefix -= 1
  if (suffix > 0 && isLowSurrogate(haveFlat.charCodeAt(haveFlat.length - suffix))) suffix -= 1
  const same = (from: number, to: number, wantFrom: number): boolean =>
    stableJson(structure(sliceDelta(haveDelta, from, to))) === stableJson(structure(sliceDelta(wantDelta, wantFrom, wantFrom + to - from)))
  if (!same(0, prefix, 0)) prefix = 0
  if (!same(haveFlat.length - suffix, haveFlat.length, wantFlat.length - suffix)) suffix = 0
  const deleted = haveFlat.length - prefix - suffix
  const inserted = sliceDelta(wantDelta, prefix, wantFlat.length - suffix)
  if (deleted === 0 && inserted.length === 0) return
  if (deleted > 0) have.delete(prefix, deleted)
  if (inserted.length > 0) have.applyDelta([...(prefix > 0 ? [{ retain: prefix }] : []), ...inserted.map(cloneDeltaOp)])
}

/** The text of a delta, one placeholder per embed, so positions match Y.Text's. */
function flatten(delta: readonly DeltaOp[]): string {
  return delta.map((op) => (typeof op.insert === 'string' ? op.insert : '\ufffc')).join('')
}

/** The ops covering positions [from, to) of a delta, each insert cut to the range. */
function sliceDelta(delta: readonly DeltaOp[], from: number, to: number): DeltaOp[] {
  const out: DeltaOp[] = []
  let pos = 0
  for (const op of delta) {
    const len = typeof op.insert === 'string' ? op.insert.length : 1
    const start = Math.max(from, pos)
    const end = Math.min(to, pos + len)
    if (start < end) {
      const insert = typeof op.insert === 'string' ? op.insert.slice(start - pos, end - pos) : op.insert
      out.push(op.attributes ? { insert, attributes: op.attributes } : { insert })
    }
    pos += len
    if (pos >= to) break
  }
  return out
}

/** Lengths of the common prefix and (non-overlapping) common suffix of two sequences. */
function commonEnds(a: number, b: number, equal: (i: number, j: number) => boolean): [number, number] {
  let prefix = 0
  while (prefix < a && prefix < b && equal(prefix, prefix)) prefix++
  let suffix = 0
  while (suffix < a - prefix && suffix < b - prefix && equal(a - 1 - suffix, b - 1 - suffix)) suffix++
  return [prefix, suffix]
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code < 0xdc00
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code < 0xe000
}

function restoreMap(have: Y.Map<unknown>, want: Y.Map<unknown>): void {
  for (const k of [...have.keys()]) if (!want.has(k)) have.delete(k)
  for (const [k, v] of want.entries()) {
    if (have.has(k) && stableJson(structure(have.get(k))) === stableJson(structure(v))) continue
    have.set(k, cloneValue(v))
  }
}

/** Deletes every live item of a type (sequence and map part), whatever its kind. */
function clearType(tr: Y.Transaction, type: AnyType): void {
  for (let item = type._start; item !== null; item = item.right) if (!item.deleted) item.delete(tr)
  for (const item of type._map.values()) if (!item.deleted) item.delete(tr)
}

/**
 * A root read from an update is a generic AbstractType until a typed getter claims it: tell its kind from
 * its first live content, as docToJson does (service.ts).
 */
function kindOf(type: AnyType): RootKind {
  if (type instanceof Y.Text) return 'text'
  if (type instanceof Y.XmlFragment) return 'xml'
  if (type instanceof Y.Array) return 'array'
  if (type instanceof Y.Map) return 'map'
  for (let item = type._start; item !== null; item = item.right) {
    if (item.deleted) continue
    const content = item.content
    if (content instanceof Y.ContentString || content instanceof Y.ContentFormat || content instanceof Y.ContentEmbed) return 'text'
    if (content instanceof Y.ContentType && (content.type instanceof Y.XmlElement || content.type instanceof Y.XmlText || content.type instanceof Y.XmlHook)) return 'xml'
    return 'array'
  }
  for (const item of type._map.values()) if (!item.deleted) return 'map'
  return 'empty'
}

/** A value ready to insert into another doc: shared types and subdocuments cannot be integrated twice. */
function cloneValue(value: unknown): unknown {
  if (value instanceof Y.AbstractType) return value.clone()
  if (value instanceof Y.Doc) return new Y.Doc({ guid: value.guid, collectionid: value.collectionid, gc: value.gc, meta: value.meta, autoLoad: value.autoLoad, shouldLoad: value.shouldLoad })
  return value
}

function cloneDeltaOp(op: { insert?: unknown; attributes?: Record<string, unknown> }): { insert?: unknown; attributes?: Record<string, unknown> } {
  return op.insert instanceof Y.AbstractType ? { ...op, insert: op.insert.clone() } : op
}

/**
 * Everything a type holds that a reader sees (text with formatting, element names, attributes, children),
 * as plain data, so that two documents can be compared across docs. toJSON alone loses formatting.
 */
function structure(value: unknown): unknown {
  if (value instanceof Y.XmlText || value instanceof Y.Text) {
    return { text: (value.toDelta() as { insert?: unknown; attributes?: unknown }[]).map((op) => ({ insert: structure(op.insert), attributes: op.attributes ?? null })) }
  }
  if (value instanceof Y.XmlElement) return { element: value.nodeName, attributes: value.getAttributes(), children: value.toArray().map(structure) }
  if (value instanceof Y.XmlHook) return { hook: value.hookName, entries: [...value.entries()].map(([k, v]) => [k, structure(v)]) }
  if (value instanceof Y.XmlFragment) return { fragment: value.toArray().map(structure) }
  if (value instanceof Y.Map) return { map: Object.fromEntries([...value.entries()].map(([k, v]) => [k, structure(v)])) }
  if (value instanceof Y.Array) return { array: value.toArray().map(structure) }
  if (value instanceof Uint8Array) return { binary: Array.from(value) }
  if (value instanceof Y.Doc) return { doc: value.guid }
  return value === undefined ? null : value
}

/** JSON with object keys sorted, so equal structures give equal strings. */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  })
}
