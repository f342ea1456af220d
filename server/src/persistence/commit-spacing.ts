/**
 * Spaces commits out when they come back faster than `minIntervalMs`: under a steady trickle of writes, a
 * fast database would otherwise commit one or two items at a time, paying the whole per-commit cost (an
 * fsync, a round trip) for each. A write arriving after a quiet spell still commits at once, and so does a
 * batch of `enoughItems`: a closed-loop writer (who sends the next item only after the previous one was
 * saved) must not be slowed down for nothing. Shared by GroupCommitter and RetryingWriter.
 */
export class CommitSpacing {
  readonly #minIntervalMs: number
  readonly #enoughItems: number
  /** performance.now() when the last commit started. */
  #lastStart = -Infinity
  /** Ends the current wait early. */
  #wake: (() => void) | null = null

  constructor(minIntervalMs: number, enoughItems: number) {
    this.#minIntervalMs = Math.max(0, minIntervalMs)
    this.#enoughItems = Math.max(1, enoughItems)
  }

  /** Told after every enqueue, with how many items now wait: enough of them end the wait. */
  enqueued(waiting: number): void {
    if (this.#wake !== null && waiting >= this.#enoughItems) this.#wake()
  }

  /** Resolves when the next commit may start (with `waiting` items queued), and counts it as started. */
  async beforeCommit(waiting: number): Promise<void> {
    const wait = this.#lastStart + this.#minIntervalMs - performance.now()
    if (wait >= 1 && waiting < this.#enoughItems) await this.#pause(wait)
    this.#lastStart = performance.now()
  }

  #pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.#wake?.(), ms)
      this.#wake = () => {
        clearTimeout(timer)
        this.#wake = null
        resolve()
      }
    })
  }
}
