/** Capped, jittered exponential backoff for reconnects. */
import { TandemError } from './errors.js'

/** Reconnect delays: `min(maxMs, baseMs * 2^attempt)`, then reduced by up to `jitter` of itself at random. */
export interface BackoffOptions {
  /** Delay before the first retry, before jitter. @default 250 */
  baseMs: number
  /** Upper bound of any delay. @default 10_000 */
  maxMs: number
  /** Fraction (0–1) of each delay that is randomised, so many clients do not retry in step. @default 0.3 */
  jitter: number
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({ baseMs: 250, maxMs: 10_000, jitter: 0.3 })

/** Merges user options over the defaults; throws TandemError('invalid_options') on values that cannot work. */
export function resolveBackoff(options: Partial<BackoffOptions> | undefined): Readonly<BackoffOptions> {
  const merged = { ...DEFAULT_BACKOFF, ...options }
  const { baseMs, maxMs, jitter } = merged
  if (!Number.isFinite(baseMs) || baseMs < 0) throw invalid(`backoff.baseMs must be >= 0, got ${baseMs}`)
  if (!Number.isFinite(maxMs) || maxMs < baseMs) throw invalid(`backoff.maxMs must be >= baseMs, got ${maxMs}`)
  if (!Number.isFinite(jitter) || jitter < 0 || jitter > 1) throw invalid(`backoff.jitter must be within 0..1, got ${jitter}`)
  return Object.freeze(merged)
}

/**
 * The delay before retry number `attempt` (0-based). Never above `maxMs`; with jitter j the result lies
 * in `[d * (1 - j), d]` where `d = min(maxMs, baseMs * 2^attempt)`.
 */
export function backoffDelay(attempt: number, options: Readonly<BackoffOptions>, random: () => number = Math.random): number {
  // 2^attempt overflows to Infinity for huge attempts; min() still caps it.
  const capped = Math.min(options.maxMs, options.baseMs * 2 ** Math.max(0, attempt))
  return Math.round(capped * (1 - options.jitter * random()))
}

function invalid(message: string): TandemError {
  return new TandemError('invalid_options', message)
}
