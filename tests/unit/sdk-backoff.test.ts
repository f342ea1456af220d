/**
 * The SDK's small pure pieces: reconnect backoff, the typed emitter, TandemError, the version constant.
 */
import { describe, expect, test } from 'vitest'
import { backoffDelay, DEFAULT_BACKOFF, resolveBackoff } from '../../client-sdk/src/backoff.js'
import { Emitter } from '../../client-sdk/src/emitter.js'
import { readFileSync } from 'node:fs'
import { CLIENT_VERSION, TandemError } from '../../client-sdk/src/index.js'

describe('backoff', () => {
  test('defaults are 250 ms base, 10 s cap, 0.3 jitter', () => {
    expect(resolveBackoff(undefined)).toEqual({ baseMs: 250, maxMs: 10_000, jitter: 0.3 })
    expect(DEFAULT_BACKOFF).toEqual({ baseMs: 250, maxMs: 10_000, jitter: 0.3 })
  })

  test('doubles per attempt up to the cap (no jitter)', () => {
    const opts = resolveBackoff({ jitter: 0 })
    expect([0, 1, 2, 3, 4, 5, 6, 10, 1_000].map((a) => backoffDelay(a, opts))).toEqual([250, 500, 1_000, 2_000, 4_000, 8_000, 10_000, 10_000, 10_000])
  })

  test('jitter lowers a delay by at most `jitter` of it and never exceeds the cap', () => {
    const opts = resolveBackoff({})
    expect(backoffDelay(2, opts, () => 0)).toBe(1_000)
    expect(backoffDelay(2, opts, () => 1)).toBe(700)
    for (let i = 0; i < 1_000; i++) {
      const d = backoffDelay(i % 12, opts)
      const ceiling = Math.min(10_000, 250 * 2 ** (i % 12))
      expect(d).toBeLessThanOrEqual(ceiling)
      expect(d).toBeGreaterThanOrEqual(Math.floor(ceiling * 0.7))
    }
  })

  test('rejects options that cannot work', () => {
    expect(() => resolveBackoff({ baseMs: -1 })).toThrow(TandemError)
    expect(() => resolveBackoff({ baseMs: 500, maxMs: 100 })).toThrow(/maxMs/)
    expect(() => resolveBackoff({ jitter: 1.5 })).toThrow(/jitter/)
  })
})

class Probe extends Emitter<{ a: [n: number]; b: [] }> {
  fire(n: number): void {
    this.emit('a', n)
  }
}

describe('emitter', () => {
  test('on returns an unsubscribe; off removes; listeners run in order', () => {
    const p = new Probe()
    const seen: string[] = []
    const stop = p.on('a', (n) => seen.push(`1:${n}`))
    const second = (n: number): void => {
      seen.push(`2:${n}`)
    }
    p.on('a', second)
    p.fire(1)
    stop()
    p.fire(2)
    p.off('a', second)
    p.fire(3)
    expect(seen).toEqual(['1:1', '2:1', '2:2'])
  })

  test('a throwing listener does not stop the others; its error surfaces asynchronously', async () => {
    const p = new Probe()
    const seen: number[] = []
    p.on('a', () => {
      throw new Error('boom')
    })
    p.on('a', (n) => seen.push(n))
    const thrown = new Promise<unknown>((resolve) => {
      const original = globalThis.queueMicrotask
      globalThis.queueMicrotask = (cb) => {
        globalThis.queueMicrotask = original
        try {
          cb()
        } catch (err) {
          resolve(err)
        }
      }
    })
    p.fire(7)
    expect(seen).toEqual([7])
    expect(await thrown).toMatchObject({ message: 'boom' })
  })
})

describe('TandemError', () => {
  test('carries code, status and cause', () => {
    const cause = new Error('inner')
    const e = new TandemError('forbidden', 'no access', { status: 403, cause })
    expect(e).toBeInstanceOf(Error)
    expect(e.name).toBe('TandemError')
    expect([e.code, e.status, e.message, e.cause]).toEqual(['forbidden', 403, 'no access', cause])
    expect(new TandemError('x').status).toBeUndefined()
  })
})

test('CLIENT_VERSION matches client-sdk/package.json', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../client-sdk/package.json', import.meta.url), 'utf8')) as { version: string }
  expect(CLIENT_VERSION).toBe(pkg.version)
})
