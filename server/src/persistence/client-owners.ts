import type { ClientBinding } from './store.js'

/**
 * Checks and copies bindings before they are queued (Store.bindClients), so a bad one rejects the call
 * instead of failing the whole group commit it would have joined. Yjs clientIDs are unsigned varints:
 * any non-negative safe integer can appear in an update.
 */
export function checkedBindings(bindings: readonly ClientBinding[]): ClientBinding[] {
  const out: ClientBinding[] = []
  for (const binding of bindings) {
    const [clientId, owner] = binding
    if (!Number.isSafeInteger(clientId) || clientId < 0) throw new TypeError(`clientId must be a non-negative safe integer, got ${String(clientId)}`)
    if (typeof owner !== 'string') throw new TypeError(`owner of client ${clientId} must be a string`)
    out.push([clientId, owner])
  }
  return out
}
