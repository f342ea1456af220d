import * as Y from 'yjs'

/**
 * Yjs retries its pending structs (content waiting for dependencies) only once a client's clock passes
 * the one it recorded as missing, and it can record a later clock than the one a struct really waits for:
 * when the dependency's client also has pending structs beyond a gap, the gap is recorded instead. Content
 * whose dependencies have all arrived then stays invisible until that later clock arrives, which may be
 * never; a replayed log and the live document disagree with the merged rows. So after every apply, the
 * pending update is applied again whenever a clock one of its structs depends on was reached meanwhile.
 */

/** Per client, the sorted clocks that pending structs need to exist before they can integrate. */
const needsCache = new WeakMap<Uint8Array, Map<number, number[]>>()

function needsOf(pending: Uint8Array): Map<number, number[]> {
  const cached = needsCache.get(pending)
  if (cached) return cached
  const needs = new Map<number, number[]>()
  const need = (client: number, clock: number): void => {
    const clocks = needs.get(client)
    if (clocks) clocks.push(clock)
    else needs.set(client, [clock])
  }
  for (const struct of Y.decodeUpdateV2(pending).structs) {
    if (struct.id.clock > 0) need(struct.id.client, struct.id.clock - 1)
    if (!(struct instanceof Y.Item)) continue
    if (struct.origin) need(struct.origin.client, struct.origin.clock)
    if (struct.rightOrigin) need(struct.rightOrigin.client, struct.rightOrigin.clock)
    if (struct.parent instanceof Y.ID) need(struct.parent.client, struct.parent.clock)
  }
  for (const clocks of needs.values()) clocks.sort((a, b) => a - b)
  needsCache.set(pending, needs)
  return needs
}

/** True when some clock a pending struct needs was reached after `since` (a state vector). */
function unblockedSince(doc: Y.Doc, pending: Uint8Array, since: ReadonlyMap<number, number>): boolean {
  for (const [client, clocks] of needsOf(pending)) {
    const from = since.get(client) ?? 0
    const now = Y.getState(doc.store, client)
    if (now <= from) continue
    // The first needed clock at or after `from`; reached meanwhile if it lies below `now`.
    let lo = 0
    let hi = clocks.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if ((clocks[mid] as number) < from) lo = mid + 1
      else hi = mid
    }
    if (lo < clocks.length && (clocks[lo] as number) < now) return true
  }
  return false
}

/**
 * Integrates pending content whose dependencies were reached since `since` (by default, since the start of
 * the transaction `tr`), repeating while that makes progress. Call inside the transaction that applied the
 * updates, so what it integrates is part of the same change.
 */
export function integrateUnblockedPending(tr: Y.Transaction, since: ReadonlyMap<number, number> = tr.beforeState): void {
  const { doc } = tr
  let from = since
  for (;;) {
    const pending = doc.store.pendingStructs
    if (pending === null || !unblockedSince(doc, pending.update, from)) return
    const before = Y.decodeStateVector(Y.encodeStateVector(doc))
    doc.store.pendingStructs = null
    try {
      Y.applyUpdateV2(doc, pending.update)
    } catch (err) {
      doc.store.pendingStructs ??= pending
      throw err
    }
    const progressed = [...Y.decodeStateVector(Y.encodeStateVector(doc))].some(([client, clock]) => clock > (before.get(client) ?? 0))
    if (!progressed) return
    from = before
  }
}

/** `Y.applyUpdate`, then what it unblocked among the pending structs (see the module comment), in one transaction. */
export function applyUpdateIntegratingPending(doc: Y.Doc, update: Uint8Array, origin?: unknown): void {
  doc.transact((tr) => {
    Y.applyUpdate(doc, update, origin)
    integrateUnblockedPending(tr)
  }, origin)
}
