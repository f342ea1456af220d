/**
 * Per-test teardown for files that open many short-lived resources (servers, providers, sockets): what a
 * test registers is undone after it, in reverse order, even when the test failed half-way.
 */
import { afterEach } from 'vitest'

export interface TestScope {
  /** Undone after each test, last registered first. */
  cleanups: Array<() => void | Promise<void>>
  /** Gates still closed when a test ends (it failed half-way) open before anything shuts down. */
  releases: Array<() => void>
  /** A room name no other test in this file uses: `${prefix}-${label}-${n}-${time}`. */
  freshRoom(label: string): string
}

/** Registers the `afterEach` that runs `releases`, then `cleanups` in reverse; call once at a file's top level. */
export function testScope(prefix: string): TestScope {
  const cleanups: TestScope['cleanups'] = []
  const releases: TestScope['releases'] = []
  let roomCounter = 0

  afterEach(async () => {
    for (const release of releases.splice(0)) release()
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  return {
    cleanups,
    releases,
    freshRoom: (label) => `${prefix}-${label}-${++roomCounter}-${Date.now().toString(36)}`,
  }
}
