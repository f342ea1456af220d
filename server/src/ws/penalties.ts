/**
 * Users whose connection was just closed for sending too fast (4429), and until when their new
 * connections are refused. Without this a flooder reconnects at once with full buckets, and the rate
 * limit bounds nothing but one socket's life. Keyed by user (the token's `sub`), not by address: people
 * behind one NAT or proxy must not pay for one of them.
 */
import type { RateBucket, RateLimits, SocketData } from './socket.js'

/** Past this many remembered users, expired entries are swept before another is added. */
const MAX_ENTRIES = 10_000

export class RatePenalties {
  readonly #until = new Map<string, number>()

  /** Refuses `userIds` for `ms` from now (performance.now() clock). */
  penalize(userIds: Iterable<string>, ms: number): void {
    const now = performance.now()
    if (this.#until.size >= MAX_ENTRIES) for (const [user, until] of this.#until) if (until <= now) this.#until.delete(user)
    for (const user of userIds) if (this.#until.size < MAX_ENTRIES || this.#until.has(user)) this.#until.set(user, now + ms)
  }

  /** How long `userId` is still refused, in ms; 0 when not. */
  remainingMs(userId: string): number {
    const until = this.#until.get(userId)
    if (until === undefined) return 0
    const left = until - performance.now()
    if (left > 0) return left
    this.#until.delete(userId)
    return 0
  }
}

/**
 * The users a socket acts for: its upgrade token's, and on the multiplexed framing each room's. Tokenless
 * clients (TANDEM_ALLOW_ANONYMOUS) all share one identity, so penalising it would lock every one of them
 * out for one flooder: they are left out, and only their socket's own buckets apply.
 */
export function usersOf(data: SocketData): Set<string> {
  const users = new Set<string>()
  const add = (principal: { userId: string; expiresAtMs: number | null } | null): void => {
    if (principal !== null && principal.expiresAtMs !== null) users.add(principal.userId)
  }
  if (data.kind === 'single') add(data.principal)
  else {
    add(data.principal)
    for (const binding of data.bindings.values()) add(binding.principal)
  }
  return users
}

/**
 * The wait after a 4429: how long the socket's debt (what it sent beyond its refill) takes to repay at its
 * rates, at least 1 s and at most 60 s.
 */
export function penaltyMs(debt: RateBucket | undefined, limits: Pick<RateLimits, 'messagesPerSec' | 'bytesPerSec'>): number {
  const repay = (owed: number, rate: number): number => (rate > 0 ? (owed / rate) * 1000 : 0)
  const owedMs = debt === undefined ? 0 : Math.max(repay(debt.messages, limits.messagesPerSec), repay(debt.bytes, limits.bytesPerSec))
  return Math.min(60_000, Math.max(1_000, owedMs))
}
