/**
 * Two clocks, so that a step of the system clock (NTP correcting a drift, an operator, a VM resumed from
 * a snapshot) moves no deadline.
 *
 * - `monotonicNow()`: milliseconds that only ever move forward at the rate of real time (performance.now()).
 *   For durations and in-process deadlines: quiet waits, timers re-armed from a remembered instant.
 * - `processNow()`: the wall clock as it was when this process started, advanced by monotonic time since.
 *   For times that are stored and compared later (the outbox's due times, leases, retry schedules): they
 *   look like epoch milliseconds, survive a restart (the next process re-anchors to the wall clock), and a
 *   clock step during the process's life does not move them.
 *
 * Only timestamps that leave the process for other machines (the `webhook-timestamp` header, JSON bodies
 * that say when something happened) read the wall clock, `Date.now()`, directly.
 */
const startedAtWall = Date.now()
const startedAtMono = performance.now()

export function monotonicNow(): number {
  return performance.now()
}

export function processNow(): number {
  return Math.round(startedAtWall + (performance.now() - startedAtMono))
}

/** A source of `processNow()`-style times; replaced in tests that drive time with fake timers. */
export type Now = () => number
