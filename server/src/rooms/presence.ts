/**
 * Server-side awareness table with ownership. It keeps y-protocols' clock rules (a state is accepted
 * when its clock is newer, or when it is a removal at the same clock) and adds what the reference
 * server lacks: a connection may only set or remove the client ids it introduced. y-websocket clients
 * re-send every remote change they hear, so without ownership one client could resurrect or delete
 * another's cursor. A removed client id stays bound to the user who owned it: while its owner
 * reconnects, another user's connection cannot take it over (claim it with a newer clock).
 */
import type { AwarenessEntry } from '@tandem/client/protocol'

interface ClientRecord {
  clock: number
  /** JSON text; null once removed (kept as a tombstone so stale echoes cannot resurrect it). */
  state: string | null
  owner: Owner | null
  /** User id of the connection that last owned it (undefined for owners without one). */
  user: string | undefined
}

/** A connection, as presence sees it: identity, and the user it belongs to (Peer fits). */
export type Owner = object & { readonly userId?: string }

export interface PresenceLimits {
  /** Client ids one connection may own (a provider normally has exactly one). */
  maxClientsPerOwner: number
  /** Removed client ids remembered per room for clock checks. */
  maxTombstones: number
}

export type PresenceResult =
  | {
      ok: true
      /** Entries everyone (sender included) should hear. */
      accepted: AwarenessEntry[]
      /** Whether `accepted` is the whole update (so the original bytes can be relayed). */
      all: boolean
      /**
       * Removal entries for the sender only: it sent a state for a client id the room removed at a
       * newer clock (a reconnecting client re-sending its old clock, or a stale echo). y-protocols
       * clients answer a removal of their own id by bumping their clock and re-sending, so the client
       * reappears at once instead of after two 15 s renewals.
       */
      corrections: AwarenessEntry[]
    }
  | { ok: false; reason: 'invalid-json' }

export class Presence {
  readonly #clients = new Map<number, ClientRecord>()
  /** Client ids per owner: a number while it owns one (the usual case), a Set only beyond that. */
  readonly #owned = new Map<Owner, number | Set<number>>()
  #tombstones = 0

  constructor(private readonly limits: PresenceLimits) {}

  /** Applies a decoded awareness update from `owner`; returns the entries others should hear. */
  apply(owner: Owner, entries: readonly AwarenessEntry[]): PresenceResult {
    for (const entry of entries) {
      if (entry.state !== 'null' && !isJson(entry.state)) return { ok: false, reason: 'invalid-json' }
    }
    const accepted: AwarenessEntry[] = []
    const corrections: AwarenessEntry[] = []
    for (const entry of entries) {
      if (this.#applyOne(owner, entry)) {
        accepted.push(entry)
        continue
      }
      const record = this.#clients.get(entry.clientId)
      if (record && record.owner === null && record.state === null && entry.state !== 'null') {
        corrections.push({ clientId: entry.clientId, clock: record.clock, state: 'null' })
      }
    }
    return { ok: true, accepted, all: accepted.length === entries.length, corrections }
  }

  /**
   * Removes every state `owner` introduced; returns the removal entries to broadcast. A removal normally
   * bumps the clock so it beats the state it removes everywhere. `bump: false` removes at the state's own
   * clock (y-protocols accepts a removal at an equal clock): used when another instance died, so that its
   * clients' next renewal (clock + 1), arriving through whichever instance they reconnect to, is accepted.
   */
  removeOwner(owner: Owner, opts: { bump: boolean } = { bump: true }): AwarenessEntry[] {
    const ids = this.#owned.get(owner)
    if (ids === undefined) return []
    this.#owned.delete(owner)
    const removals: AwarenessEntry[] = []
    for (const clientId of typeof ids === 'number' ? [ids] : ids) {
      const record = this.#clients.get(clientId)
      if (!record) continue
      record.owner = null
      if (record.state !== null) {
        if (opts.bump) record.clock += 1
        record.state = null
        removals.push({ clientId, clock: record.clock, state: 'null' })
      }
      this.#addTombstone(clientId, record)
    }
    return removals
  }

  /**
   * Gives up `owner`'s claim on client ids whose state it removed. A connection on another instance that
   * removed its state has closed or is closing there: its client may come back through any instance.
   */
  disown(owner: Owner, clientIds: readonly number[]): void {
    const ids = this.#owned.get(owner)
    if (ids === undefined) return
    for (const clientId of clientIds) {
      const record = this.#clients.get(clientId)
      if (!record || record.owner !== owner || record.state !== null) continue
      record.owner = null
      if (typeof ids === 'number') {
        if (ids === clientId) this.#owned.delete(owner)
      } else {
        ids.delete(clientId)
        if (ids.size === 0) this.#owned.delete(owner)
      }
      this.#addTombstone(clientId, record)
    }
  }

  /** Whether `owner` holds any client id. */
  owns(owner: Owner): boolean {
    return this.#owned.has(owner)
  }

  /** The live states `owner` introduced (what this instance re-announces to the others). */
  entriesOf(owner: Owner): AwarenessEntry[] {
    const ids = this.#owned.get(owner)
    if (ids === undefined) return []
    const entries: AwarenessEntry[] = []
    for (const clientId of typeof ids === 'number' ? [ids] : ids) {
      const record = this.#clients.get(clientId)
      if (record && record.state !== null) entries.push({ clientId, clock: record.clock, state: record.state })
    }
    return entries
  }

  /** Every live state, for a joining peer. */
  snapshot(): AwarenessEntry[] {
    const entries: AwarenessEntry[] = []
    for (const [clientId, record] of this.#clients) {
      if (record.state !== null) entries.push({ clientId, clock: record.clock, state: record.state })
    }
    return entries
  }

  get size(): number {
    return this.#clients.size - this.#tombstones
  }

  #applyOne(owner: Owner, entry: AwarenessEntry): boolean {
    const record = this.#clients.get(entry.clientId)
    const removal = entry.state === 'null'
    if (record && record.owner !== null && record.owner !== owner) return false
    if (!record) {
      if (removal) return false // nothing to remove
      if (!this.#claim(owner, entry.clientId)) return false
      this.#clients.set(entry.clientId, { clock: entry.clock, state: entry.state, owner, user: owner.userId })
      return true
    }
    const newer = entry.clock > record.clock || (entry.clock === record.clock && removal && record.state !== null)
    if (!newer) return false
    if (record.owner === null) {
      if (removal) return false
      // Only the user who owned it may bring a removed client id back (its owner reconnecting).
      if (record.user !== owner.userId) return false
      if (!this.#claim(owner, entry.clientId)) return false
      record.owner = owner
      this.#tombstones -= 1
      // Re-insert so tombstone eviction (oldest first) follows recency.
      this.#clients.delete(entry.clientId)
      this.#clients.set(entry.clientId, record)
    }
    record.clock = entry.clock
    record.state = removal ? null : entry.state
    return true
  }

  #claim(owner: Owner, clientId: number): boolean {
    const ids = this.#owned.get(owner)
    const max = this.limits.maxClientsPerOwner
    if (ids === undefined) {
      if (max < 1) return false
      this.#owned.set(owner, clientId)
      return true
    }
    if (typeof ids === 'number') {
      if (max <= 1) return false
      if (ids !== clientId) this.#owned.set(owner, new Set([ids, clientId]))
      return true
    }
    if (ids.size >= max) return false
    ids.add(clientId)
    return true
  }

  #addTombstone(clientId: number, record: ClientRecord): void {
    this.#clients.delete(clientId)
    this.#clients.set(clientId, record)
    this.#tombstones += 1
    if (this.#tombstones <= this.limits.maxTombstones) return
    for (const [id, r] of this.#clients) {
      if (r.owner === null) {
        this.#clients.delete(id)
        this.#tombstones -= 1
        break
      }
    }
  }
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}
