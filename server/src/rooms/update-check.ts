/**
 * What a room checks about a client's Yjs update before it lets the update change the document: pure
 * functions over the decoded update and the doc's struct store. Nothing here mutates a doc.
 */
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'

export type DecodedStruct = ReturnType<typeof Y.decodeUpdate>['structs'][number]
export type DecodedUpdate = ReturnType<typeof Y.decodeUpdate>

/**
 * Updates from this size on are decoded in one macrotask and checked and applied in later ones (in
 * slices where they can be, see sliced-apply.ts), so a big upload does not hold the event loop for all
 * of it (a 30 MB document takes about 0.15 s to decode and 0.5 s to apply on a 2-core VM; 1 MiB, about
 * 20 ms in all).
 */
export const STAGED_UPDATE_BYTES = 1 << 20

/**
 * Parses the whole update (structs and delete set) without applying it, and rejects items that point
 * at their own client's later (or same) clock as origin, right origin or parent. Real clients never
 * produce those; Yjs throws half-way through integrating them, after emitting what it had applied.
 * Returns null when the update is malformed.
 */
export function decodeWellFormedUpdate(update: Uint8Array): DecodedUpdate | null {
  let decoded: DecodedUpdate
  try {
    decoded = Y.decodeUpdate(update)
  } catch {
    return null
  }
  for (const struct of decoded.structs) {
    if (!(struct instanceof Y.Item)) continue
    const { id } = struct
    if (pointsForward(id, struct.origin) || pointsForward(id, struct.rightOrigin)) return null
    if (struct.parent instanceof Y.ID && pointsForward(id, struct.parent)) return null
  }
  return decoded
}

/** True when every struct lies beyond what the doc holds for its client: nothing in it is a repeat. */
export function allNew(structs: readonly DecodedStruct[], doc: Y.Doc): boolean {
  for (const struct of structs) if (struct.id.clock < Y.getState(doc.store, struct.id.client)) return false
  return true
}

/** The clientIDs under which the update adds content the doc does not hold yet. */
export function clientsWithNewContent(structs: readonly DecodedStruct[], doc: Y.Doc): Set<number> {
  const clients = new Set<number>()
  for (const struct of structs) {
    if (struct instanceof Y.Skip) continue
    if (struct.id.clock + struct.length > Y.getState(doc.store, struct.id.client)) clients.add(struct.id.client)
  }
  return clients
}

/** The doc's pending items by client, decoded once per pending update (Yjs replaces it when it changes). */
const pendingItemsCache = new WeakMap<Uint8Array, Map<number, Y.Item[]>>()

function pendingItems(doc: Y.Doc): Map<number, Y.Item[]> | null {
  const pending = doc.store.pendingStructs?.update
  if (!pending) return null
  let byClient = pendingItemsCache.get(pending)
  if (byClient === undefined) {
    byClient = new Map()
    for (const struct of Y.decodeUpdateV2(pending).structs) {
      if (!(struct instanceof Y.Item)) continue
      const list = byClient.get(struct.id.client)
      if (list) list.push(struct)
      else byClient.set(struct.id.client, [struct])
    }
    pendingItemsCache.set(pending, byClient)
  }
  return byClient
}

/**
 * Compares the incoming structs beyond what the doc holds integrated with the doc's pending items at the
 * same ids: `conflict` when one differs (Yjs keeps the pending one and would drop the sender's), and
 * `held` when every such clock of `client` (or of every client, when null) is pending with the same content.
 */
function againstPending(structs: readonly DecodedStruct[], doc: Y.Doc, client: number | null): { conflict: boolean; held: boolean } {
  const byClient = pendingItems(doc)
  let held = byClient !== null
  for (const incoming of structs) {
    if (incoming instanceof Y.Skip || (client !== null && incoming.id.client !== client)) continue
    const known = Y.getState(doc.store, incoming.id.client)
    const end = incoming.id.clock + incoming.length
    if (end <= known) continue
    const items = byClient?.get(incoming.id.client)
    if (!(incoming instanceof Y.Item) || items === undefined) {
      held = false
      continue
    }
    for (let at = Math.max(incoming.id.clock, known); at < end; ) {
      const match = items.find((h) => h.id.clock <= at && at < h.id.clock + h.length)
      if (match === undefined) {
        held = false
        break
      }
      if (differs(incoming, match, at)) return { conflict: true, held: false }
      at = match.id.clock + match.length
    }
  }
  return { conflict: false, held }
}

/**
 * True when every struct of `client` in the update that the doc does not hold integrated is already held,
 * with the same content, among the doc's pending structs: a client relaying content the server already
 * has (and acknowledged to its author) waiting for its dependencies. Such structs add nothing new.
 */
export function heldAsPending(structs: readonly DecodedStruct[], client: number, doc: Y.Doc): boolean {
  return againstPending(structs, doc, client).held
}

/**
 * True when the update's content under `client` starts where the doc's content for that client ends
 * and runs without a gap: it continues that client's history instead of jumping ahead of it.
 */
export function extendsContiguously(structs: readonly DecodedStruct[], client: number, doc: Y.Doc): boolean {
  let reach = Y.getState(doc.store, client)
  for (const struct of structs) {
    if (struct.id.client !== client) continue
    if (struct instanceof Y.Skip || struct.id.clock > reach) return false
    reach = Math.max(reach, struct.id.clock + struct.length)
  }
  return true
}

/** The update without any struct of `clients` (their deletions stay: deleting is idempotent). */
export function withoutClients(update: Uint8Array, clients: readonly number[]): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, clients.length)
  for (const client of clients) {
    encoding.writeVarUint(encoder, client)
    encoding.writeVarUint(encoder, Number.MAX_SAFE_INTEGER)
  }
  // diffUpdate keeps what lies beyond the given state vector: beyond "everything" is nothing.
  return Y.diffUpdate(update, encoding.toUint8Array(encoder))
}

/** Bytes of content the doc holds while it waits for updates it has not received (Yjs pending structs). */
export function pendingBytes(doc: Y.Doc): number {
  return (doc.store.pendingStructs?.update.byteLength ?? 0) + (doc.store.pendingDs?.byteLength ?? 0)
}

/**
 * True when applying the update would leave content waiting: a gap in some client's clocks, an item whose
 * origin, right origin or parent neither the doc nor the update itself holds, or a deletion of content
 * nobody has sent. An approximation that errs towards "integrates" for chains across clients (an item
 * whose dependency is itself pending); the room checks the doc after applying as well.
 */
export function wouldPend(decoded: DecodedUpdate, doc: Y.Doc): boolean {
  // What the doc will hold once the update's contiguous runs are integrated.
  const reach = new Map<number, number>()
  const reachOf = (client: number): number => reach.get(client) ?? Y.getState(doc.store, client)
  for (const struct of decoded.structs) {
    if (struct instanceof Y.Skip) continue // marks a range the update leaves out; what follows it is a gap
    const { client, clock } = struct.id
    const current = reachOf(client)
    if (clock > current) return true // a gap: the clocks between were never received
    reach.set(client, Math.max(current, clock + struct.length))
  }
  const covered = (id: Y.ID | null): boolean => id === null || id.clock < reachOf(id.client)
  for (const struct of decoded.structs) {
    if (!(struct instanceof Y.Item)) continue
    if (!covered(struct.origin) || !covered(struct.rightOrigin)) return true
    if (struct.parent instanceof Y.ID && !covered(struct.parent)) return true
  }
  for (const [client, ranges] of decoded.ds.clients) {
    const end = reachOf(client)
    for (const range of ranges) if (range.clock + range.len > end) return true
  }
  return false
}

/**
 * True when the update repeats an id the doc already holds, integrated or pending, with different content:
 * the doc keeps what it has, so the sender's version would be dropped silently (Yjs treats a known id as a
 * duplicate, and merging pending content keeps the first struct for an id). Compares
 * what Yjs keeps of an item: its neighbours at insertion (origins), its key in a map, and string content.
 * Content the doc has garbage-collected or whose content was deleted cannot be compared and counts as equal.
 */
export function conflictsWithDoc(structs: readonly DecodedStruct[], doc: Y.Doc): boolean {
  if (pendingItems(doc) !== null && againstPending(structs, doc, null).conflict) return true
  for (const incoming of structs) {
    if (!(incoming instanceof Y.Item)) continue
    const { client, clock } = incoming.id
    const known = Y.getState(doc.store, client)
    if (clock >= known) continue
    const stored = doc.store.clients.get(client)
    if (stored === undefined) continue
    // Walk the stored structs that overlap [clock, min(clock + length, known)).
    const end = Math.min(clock + incoming.length, known)
    let index = Y.findIndexSS(stored, clock)
    for (let at = clock; at < end && index < stored.length; index++) {
      const held = stored[index]
      if (held === undefined) break
      const from = Math.max(at, held.id.clock)
      if (held instanceof Y.Item && differs(incoming, held, from)) return true
      at = held.id.clock + held.length
    }
  }
  return false
}

/** Compares the part of `incoming` that starts at clock `from` with the stored item holding that clock. */
function differs(incoming: Y.Item, held: Y.Item, from: number): boolean {
  const offsetIn = from - incoming.id.clock
  const offsetHeld = from - held.id.clock
  // Yjs splits an item at an offset by giving the right part its left neighbour's last id as origin.
  const expectedOrigin = (item: Y.Item, offset: number): Y.ID | null =>
    offset === 0 ? item.origin : Y.createID(item.id.client, item.id.clock + offset - 1)
  const origin = expectedOrigin(incoming, offsetIn)
  if (!sameId(origin, expectedOrigin(held, offsetHeld))) return true
  if (!sameId(incoming.rightOrigin, held.rightOrigin)) return true
  // An encoded item names its parent and map key only when it has no neighbours (the neighbours imply
  // them); a decoded one then carries null, which must not count as a different key.
  if (origin === null && incoming.rightOrigin === null) {
    if (!sameParent(incoming.parent, held.parent)) return true
    if ((incoming.parentSub ?? null) !== (held.parentSub ?? null)) return true
  }
  const a = incoming.content
  const b = held.content
  if (b instanceof Y.ContentDeleted || a instanceof Y.ContentDeleted) return false
  if (a.constructor !== b.constructor) return true
  if (a instanceof Y.ContentString && b instanceof Y.ContentString) {
    const length = Math.min(a.str.length - offsetIn, b.str.length - offsetHeld)
    return a.str.slice(offsetIn, offsetIn + length) !== b.str.slice(offsetHeld, offsetHeld + length)
  }
  if (a instanceof Y.ContentType && b instanceof Y.ContentType) return a.type.constructor !== b.type.constructor || nodeName(a.type) !== nodeName(b.type)
  if (a instanceof Y.ContentFormat && b instanceof Y.ContentFormat) return a.key !== b.key || !sameValue(a.value, b.value)
  // Map values, array elements, embeds, formats, binaries, subdocs: compare what they hold, from the offsets.
  const length = Math.min(a.getLength() - offsetIn, b.getLength() - offsetHeld)
  const heldContent = b.getContent().slice(offsetHeld, offsetHeld + length)
  const incomingContent = a.getContent().slice(offsetIn, offsetIn + length)
  return !sameValues(incomingContent, heldContent)
}

/** A decoded item's parent (root type name, parent item's id, or null) against a stored item's parent type. */
function sameParent(incoming: Y.Item['parent'], held: Y.Item['parent']): boolean {
  if (incoming === null || !(held instanceof Y.AbstractType)) return true // nothing to compare
  const heldItem = held._item
  if (incoming instanceof Y.ID) return heldItem !== null && sameId(incoming, heldItem.id)
  if (typeof incoming === 'string') return heldItem === null && Y.findRootTypeKey(held) === incoming
  return true
}

function nodeName(type: Y.AbstractType<unknown>): string | null {
  return type instanceof Y.XmlElement ? type.nodeName : null
}

function sameValues(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false
  return a.every((value, i) => sameValue(value, b[i]))
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && a.byteLength === b.byteLength && a.every((byte, i) => byte === b[i])
  }
  if (a instanceof Y.Doc || b instanceof Y.Doc) return a instanceof Y.Doc && b instanceof Y.Doc && a.guid === b.guid
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return Object.is(a, b)
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a)) return sameValues(a, b as unknown[])
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  if (ka.length !== kb.length) return false
  return ka.every((key) => Object.prototype.hasOwnProperty.call(b, key) && sameValue((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]))
}

function sameId(a: Y.ID | null, b: Y.ID | null): boolean {
  if (a === null || b === null) return a === b
  return a.client === b.client && a.clock === b.clock
}

function pointsForward(id: Y.ID, ref: Y.ID | null): boolean {
  return ref !== null && ref.client === id.client && ref.clock >= id.clock
}
