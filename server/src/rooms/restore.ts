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
 * - Y.Text, Y.Array and Y.XmlFragment roots (and roots whose kind changed): when their content differs,
 *   every live item is deleted and the version's content inserted (text with its formatting, elements
 *   with their attributes and children).
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
  if (haveKind === 'map' && wantKind === 'map') return restoreMap(scratch.getMap(key), version.getMap(key))
  if (haveKind === wantKind && stableJson(structure(typed(scratch, key, haveKind))) === stableJson(structure(typed(version, key, wantKind)))) return
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

function typed(doc: Y.Doc, key: string, kind: RootKind): unknown {
  switch (kind) {
    case 'text':
      return doc.getText(key)
    case 'map':
      return doc.getMap(key)
    case 'array':
      return doc.getArray(key)
    case 'xml':
      return doc.getXmlFragment(key)
    case 'empty':
      return null
  }
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
