/**
 * Waits for activity to stop: calls `fire` once `lastActivityAt()` lies `quietMs` in the past, or
 * `maxWaitMs` after the wait began, whichever comes first. Activity itself costs nothing: the one timer
 * re-arms for the rest of the period when it wakes early, instead of being reset on every event (a busy
 * room would otherwise clear and set a timer per update). Times are `monotonicNow()` milliseconds
 * (clock.ts), so a step of the wall clock neither delays nor hastens the wait.
 */
import { monotonicNow } from './clock.js'

export interface QuietWait {
  cancel(): void
}

export interface QuietWaitOptions {
  quietMs: number
  /** @default Infinity */
  maxWaitMs?: number
  /** `monotonicNow()` of the last activity. */
  lastActivityAt: () => number
  fire: () => void
}

export function afterQuiet(opts: QuietWaitOptions): QuietWait {
  const startedAt = monotonicNow()
  const maxWaitMs = opts.maxWaitMs ?? Infinity
  let timer: NodeJS.Timeout
  const arm = (ms: number): void => {
    timer = setTimeout(check, ms)
    timer.unref()
  }
  const check = (): void => {
    const dueAt = Math.min(opts.lastActivityAt() + opts.quietMs, startedAt + maxWaitMs)
    const waitMs = dueAt - monotonicNow()
    if (waitMs > 0) arm(Math.ceil(waitMs))
    else opts.fire()
  }
  arm(Math.min(opts.quietMs, maxWaitMs))
  return { cancel: () => clearTimeout(timer) }
}
