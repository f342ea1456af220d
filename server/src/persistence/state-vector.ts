import * as Y from 'yjs'

/**
 * Merges an incoming encoded Yjs state vector into a stored one, keeping the higher clock per client,
 * so a room's tombstone covers everything any of its deleted incarnations held. Returns null when the
 * merged vector is empty (nothing worth remembering). Throws on a vector that cannot be decoded.
 */
export function mergeStateVectors(stored: Uint8Array | null, incoming: Uint8Array): Uint8Array | null {
  const merged = stored ? Y.decodeStateVector(stored) : new Map<number, number>()
  for (const [client, clock] of Y.decodeStateVector(incoming)) {
    if (clock > (merged.get(client) ?? 0)) merged.set(client, clock)
  }
  return merged.size === 0 ? null : Y.encodeStateVector(merged)
}
