import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest'
import { afterQuiet } from '#server/quiet-wait'

describe('afterQuiet', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  test('fires once the activity has stopped for quietMs, however often it happened meanwhile', () => {
    let last = performance.now()
    const fire = vi.fn()
    afterQuiet({ quietMs: 100, lastActivityAt: () => last, fire })
    for (let i = 0; i < 10; i++) {
      vi.advanceTimersByTime(50)
      last = performance.now()
    }
    expect(fire).not.toHaveBeenCalled()
    expect(vi.getTimerCount()).toBe(1) // one timer throughout, not one per event
    vi.advanceTimersByTime(99)
    expect(fire).not.toHaveBeenCalled()
    vi.advanceTimersByTime(1)
    expect(fire).toHaveBeenCalledTimes(1)
    expect(vi.getTimerCount()).toBe(0)
  })

  test('fires at maxWaitMs when the activity never stops', () => {
    let last = performance.now()
    const fire = vi.fn()
    afterQuiet({ quietMs: 100, maxWaitMs: 250, lastActivityAt: () => last, fire })
    for (let i = 0; i < 4; i++) {
      vi.advanceTimersByTime(60)
      last = performance.now()
    }
    expect(fire).not.toHaveBeenCalled()
    vi.advanceTimersByTime(10)
    expect(fire).toHaveBeenCalledTimes(1)
  })

  test('cancel stops it', () => {
    const fire = vi.fn()
    const wait = afterQuiet({ quietMs: 100, lastActivityAt: () => 0, fire })
    wait.cancel()
    vi.advanceTimersByTime(1_000)
    expect(fire).not.toHaveBeenCalled()
    expect(vi.getTimerCount()).toBe(0)
  })
})
