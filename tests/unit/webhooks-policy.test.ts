import { describe, expect, test } from 'vitest'
import { backoffMs, decide, parseRetryAfter, type AttemptResult } from '#server/webhooks/policy'

const opts = { maxAttempts: 5, retryBaseMs: 1_000, retryMaxMs: 60_000 }
const NOW = Date.UTC(2026, 0, 1, 12, 0, 0)
const response = (statusCode: number, retryAfter: string | null = null, body = ''): AttemptResult => ({ kind: 'response', statusCode, retryAfter, body })

describe('backoff schedule', () => {
  test('the ceiling doubles per attempt from retryBaseMs and is capped at retryMaxMs', () => {
    const almostOne = () => 0.999_999_999
    const ceilings = [1, 2, 3, 4, 5, 6, 7, 8, 20, 100].map((attempt) => backoffMs(attempt, opts, almostOne) + 1)
    expect(ceilings).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000, 60_000])
  })

  test('full jitter: uniform between 0 and the ceiling', () => {
    expect(backoffMs(3, opts, () => 0)).toBe(0)
    expect(backoffMs(3, opts, () => 0.5)).toBe(2_000)
    const samples = Array.from({ length: 2_000 }, () => backoffMs(4, opts))
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(0)
    expect(Math.max(...samples)).toBeLessThan(8_000)
    const mean = samples.reduce((a, b) => a + b, 0) / samples.length
    expect(mean).toBeGreaterThan(3_400)
    expect(mean).toBeLessThan(4_600)
  })
})

describe('Retry-After', () => {
  test.each([
    ['0', 0],
    ['1', 1_000],
    ['120', 120_000],
    [' 30 ', 30_000],
  ])('delta-seconds %j is %i ms', (header, ms) => {
    expect(parseRetryAfter(header, NOW)).toBe(ms)
  })

  test('an HTTP date is the time until then', () => {
    expect(parseRetryAfter(new Date(NOW + 90_000).toUTCString(), NOW)).toBe(90_000)
    expect(parseRetryAfter('Thu, 01 Jan 2026 12:00:30 GMT', NOW)).toBe(30_000)
    // obsolete RFC 850 and asctime forms are still HTTP dates
    expect(parseRetryAfter('Thursday, 01-Jan-26 12:01:00 GMT', NOW)).toBe(60_000)
  })

  test('a date in the past means now', () => {
    expect(parseRetryAfter('Wed, 31 Dec 2025 12:00:00 GMT', NOW)).toBe(0)
  })

  test.each([null, undefined, '', '-5', '1.5', '5 seconds', 'soon', '0x10'])('%j is ignored', (header) => {
    expect(parseRetryAfter(header, NOW)).toBeNull()
  })
})

describe('decide', () => {
  test('2xx is delivered', () => {
    for (const code of [200, 201, 202, 204, 299]) {
      expect(decide(response(code), 1, opts, NOW)).toEqual({ outcome: { status: 'delivered', statusCode: code }, metric: 'delivered', disableEndpoint: false })
    }
  })

  test('410 fails the delivery and disables the endpoint, even on the first attempt', () => {
    const d = decide(response(410), 1, opts, NOW)
    expect(d.disableEndpoint).toBe(true)
    expect(d.metric).toBe('gone')
    expect(d.outcome).toMatchObject({ status: 'failed', statusCode: 410 })
  })

  test('3xx is a failure that names the unfollowed redirect', () => {
    const d = decide(response(302), 1, opts, NOW, () => 0.5)
    expect(d.outcome).toEqual({ status: 'pending', nextAttemptAt: NOW + 500, error: 'receiver answered 302; redirects are not followed', statusCode: 302 })
    expect(d.metric).toBe('retry')
  })

  test('5xx, 4xx and network errors retry with backoff until maxAttempts, then fail', () => {
    expect(decide(response(500, null, 'boom'), 1, opts, NOW, () => 0.5).outcome).toEqual({
      status: 'pending',
      nextAttemptAt: NOW + 500,
      error: 'receiver answered 500: boom',
      statusCode: 500,
    })
    expect(decide(response(404), 3, opts, NOW, () => 0.5).outcome).toMatchObject({ status: 'pending', nextAttemptAt: NOW + 2_000 })
    expect(decide({ kind: 'error', message: 'ECONNREFUSED' }, 4, opts, NOW, () => 0.5).outcome).toEqual({
      status: 'pending',
      nextAttemptAt: NOW + 4_000,
      error: 'ECONNREFUSED',
      statusCode: null,
    })
    const last = decide(response(503), 5, opts, NOW)
    expect(last).toEqual({ outcome: { status: 'failed', error: 'receiver answered 503', statusCode: 503 }, metric: 'failed', disableEndpoint: false })
  })

  test('Retry-After replaces the backoff, capped at retryMaxMs', () => {
    expect(decide(response(429, '7'), 1, opts, NOW, () => 0).outcome).toMatchObject({ status: 'pending', nextAttemptAt: NOW + 7_000 })
    expect(decide(response(503, '86400'), 1, opts, NOW).outcome).toMatchObject({ nextAttemptAt: NOW + 60_000 })
    expect(decide(response(503, new Date(NOW + 20_000).toUTCString()), 1, opts, NOW).outcome).toMatchObject({ nextAttemptAt: NOW + 20_000 })
    // unparseable: the backoff applies
    expect(decide(response(503, 'later'), 2, opts, NOW, () => 0.5).outcome).toMatchObject({ nextAttemptAt: NOW + 1_000 })
  })

  test('a long error body is cut to a short lastError', () => {
    const d = decide(response(500, null, 'x'.repeat(70_000)), 1, opts, NOW)
    expect(d.outcome.status === 'pending' && d.outcome.error.length).toBeLessThan(250)
  })
})
