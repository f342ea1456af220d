/**
 * Pure retry policy: what one attempt's result means for the delivery. No I/O, no clock of its own, so
 * the schedule is unit-tested with a fixed `now` and `random`.
 */
import type { DeliveryOutcome } from '../persistence/webhook-outbox.js'

export interface RetryOptions {
  /** Attempts before a delivery is kept as failed. */
  readonly maxAttempts: number
  /** First retry waits up to this long; each further one doubles it. */
  readonly retryBaseMs: number
  /** Cap for both the backoff and a receiver's Retry-After. */
  readonly retryMaxMs: number
}

/** What the transport reported for one attempt. */
export type AttemptResult =
  | { readonly kind: 'response'; readonly statusCode: number; readonly retryAfter: string | null; readonly body: string }
  | { readonly kind: 'error'; readonly message: string }

export type AttemptMetric = 'delivered' | 'retry' | 'failed' | 'gone'

export interface Decision {
  readonly outcome: DeliveryOutcome
  readonly metric: AttemptMetric
  /** The receiver answered 410 Gone: stop sending it anything. */
  readonly disableEndpoint: boolean
}

/** Characters of a receiver's error body kept in `lastError`. */
const ERROR_BODY_CHARS = 200

/**
 * Exponential backoff with full jitter: uniform in [0, min(retryMaxMs, retryBaseMs * 2^(attempt-1))).
 * `attempt` is the 1-based number of the attempt that just failed. Full jitter spreads retries from many
 * deliveries that failed together (a receiver outage) instead of bringing them back in lockstep.
 */
export function backoffMs(attempt: number, opts: Pick<RetryOptions, 'retryBaseMs' | 'retryMaxMs'>, random: () => number = Math.random): number {
  const ceiling = Math.min(opts.retryMaxMs, opts.retryBaseMs * 2 ** Math.max(0, attempt - 1))
  return Math.floor(random() * ceiling)
}

/**
 * `Retry-After` as a delay in ms from `now`: delta-seconds ("120") or an HTTP date. null when absent or
 * unparseable; a date in the past means 0.
 */
export function parseRetryAfter(header: string | null | undefined, now: number): number | null {
  if (header === null || header === undefined) return null
  const value = header.trim()
  if (value === '') return null
  if (/^\d+$/.test(value)) return Number(value) * 1000
  // HTTP dates always name the weekday or month in letters; a bare or signed number is not a date.
  if (!/[A-Za-z]/.test(value)) return null
  const at = Date.parse(value)
  if (Number.isNaN(at)) return null
  return Math.max(0, at - now)
}

/** Turns one attempt's result into the outcome to record. */
export function decide(result: AttemptResult, attempt: number, opts: RetryOptions, now: number, random: () => number = Math.random): Decision {
  if (result.kind === 'response') {
    const { statusCode } = result
    if (statusCode >= 200 && statusCode < 300) return { outcome: { status: 'delivered', statusCode }, metric: 'delivered', disableEndpoint: false }
    if (statusCode === 410) {
      return {
        outcome: { status: 'failed', error: 'receiver answered 410 Gone; endpoint disabled', statusCode },
        metric: 'gone',
        disableEndpoint: true,
      }
    }
  }
  const error = describeFailure(result)
  const statusCode = result.kind === 'response' ? result.statusCode : null
  if (attempt >= opts.maxAttempts) return { outcome: { status: 'failed', error, statusCode }, metric: 'failed', disableEndpoint: false }
  const retryAfter = result.kind === 'response' ? parseRetryAfter(result.retryAfter, now) : null
  const delay = retryAfter !== null ? Math.min(retryAfter, opts.retryMaxMs) : backoffMs(attempt, opts, random)
  return { outcome: { status: 'pending', nextAttemptAt: now + delay, error, statusCode }, metric: 'retry', disableEndpoint: false }
}

function describeFailure(result: AttemptResult): string {
  if (result.kind === 'error') return result.message
  const { statusCode } = result
  if (statusCode >= 300 && statusCode < 400) return `receiver answered ${statusCode}; redirects are not followed`
  const body = result.body.trim().slice(0, ERROR_BODY_CHARS)
  return body === '' ? `receiver answered ${statusCode}` : `receiver answered ${statusCode}: ${body}`
}
