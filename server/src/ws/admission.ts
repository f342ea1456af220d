/**
 * Who may open a WebSocket: a per-address cap and a server-wide cap, decided at the upgrade before any
 * token is verified or socket exists.
 *
 * Counting is exact: an upgrade takes a ticket when admitted; the ticket is given back when the upgrade
 * is refused or aborted, or handed to the socket it became and given back when that socket closes. uWS
 * calls `open` synchronously inside `res.upgrade()`, which is how a ticket finds its socket.
 */
import { addressKey, fromRaw, inAnyRange, parseIp, type CidrRange } from '../ip.js'

export interface AdmissionOptions {
  /** Connections (open or upgrading) one client address may hold; 0 means no cap. */
  maxPerAddress: number
  /** Connections (open or upgrading) the whole server may hold. */
  maxConnections: number
  /** Peers whose `X-Forwarded-For` is believed. */
  trustedProxies: readonly CidrRange[]
}

export type Refusal = 'too_many_connections' | 'server_full'

export class Ticket {
  #admission: Admission | null

  constructor(
    admission: Admission,
    readonly key: string,
  ) {
    this.#admission = admission
  }

  /** Gives the slot back (refused, aborted, or the socket it became closed). Idempotent. */
  release(): void {
    const admission = this.#admission
    if (admission === null) return
    this.#admission = null
    admission.releaseKey(this.key)
  }
}

export class Admission {
  readonly #options: AdmissionOptions
  readonly #perKey = new Map<string, number>()
  readonly #sockets = new Map<object, Ticket>()
  #total = 0
  /** The ticket of the upgrade being completed right now (see `upgrade`). */
  #upgrading: Ticket | null = null

  constructor(options: AdmissionOptions) {
    this.#options = options
  }

  /** Connections counted now (open sockets and upgrades in flight). */
  get total(): number {
    return this.#total
  }

  /** Connections counted for one key (tests and diagnostics). */
  countFor(key: string): number {
    return this.#perKey.get(key) ?? 0
  }

  /**
   * The key a connection counts under. The peer's own address, unless the peer is a trusted proxy: then
   * the rightmost `X-Forwarded-For` hop that is not itself a trusted proxy (hops further left were
   * written by the client and prove nothing). An unparseable hop ends the walk at the last trusted one.
   */
  clientKey(rawPeer: ArrayBuffer, forwardedFor: string): string {
    const peer = fromRaw(rawPeer)
    if (peer === null) return 'unknown'
    const trusted = this.#options.trustedProxies
    if (forwardedFor === '' || trusted.length === 0 || !inAnyRange(peer, trusted)) return addressKey(peer)
    let client = peer
    const hops = forwardedFor.split(',')
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = parseIp(stripPort(hops[i] ?? ''))
      if (hop === null) break
      client = hop
      if (!inAnyRange(hop, trusted)) break
    }
    return addressKey(client)
  }

  /** A ticket, or why not. Nothing is counted for a refusal. */
  admit(key: string): Ticket | Refusal {
    const { maxPerAddress, maxConnections } = this.#options
    if (this.#total >= maxConnections) return 'server_full'
    const current = this.#perKey.get(key) ?? 0
    if (maxPerAddress > 0 && current >= maxPerAddress) return 'too_many_connections'
    this.#perKey.set(key, current + 1)
    this.#total++
    return new Ticket(this, key)
  }

  /**
   * Runs `upgrade` (which calls `res.upgrade`, which calls `open` synchronously) so `opened` can take the
   * ticket over. If no socket opened, the ticket is given back.
   */
  upgrade(ticket: Ticket, upgrade: () => void): void {
    const previous = this.#upgrading
    this.#upgrading = ticket
    try {
      upgrade()
    } finally {
      if (this.#upgrading === ticket) ticket.release()
      this.#upgrading = previous
    }
  }

  /** From the socket's `open`: the socket now holds the upgrade's ticket. */
  opened(ws: object): void {
    const ticket = this.#upgrading
    if (ticket === null) return
    this.#upgrading = null
    this.#sockets.set(ws, ticket)
  }

  /** From the socket's `close`. */
  closed(ws: object): void {
    const ticket = this.#sockets.get(ws)
    if (ticket === undefined) return
    this.#sockets.delete(ws)
    ticket.release()
  }

  /** @internal Ticket.release */
  releaseKey(key: string): void {
    const current = this.#perKey.get(key) ?? 0
    if (current <= 1) this.#perKey.delete(key)
    else this.#perKey.set(key, current - 1)
    this.#total--
  }
}

/** `1.2.3.4:5678` and `[::1]:5678` (some proxies append the port) to the bare address. */
function stripPort(hop: string): string {
  const value = hop.trim()
  if (value.startsWith('[')) return value.slice(1, value.indexOf(']') > 0 ? value.indexOf(']') : undefined)
  const colon = value.indexOf(':')
  return colon > 0 && colon === value.lastIndexOf(':') ? value.slice(0, colon) : value
}
