import { CommitSpacing } from './commit-spacing.js'

/**
 * Natural group commit: while one `commit(items)` is in flight, new items wait; when it settles, everything
 * that arrived meanwhile (up to a bound) commits as the next batch. A lone write commits at once and heavy
 * load turns into few large transactions instead of a queue of tiny ones.
 *
 * `minIntervalMs` spaces commits out when they come back faster than that (see commit-spacing.ts).
 */
export interface GroupCommitOptions<T> {
  /** Makes one batch durable. Never called again before the previous call settles. */
  commit(items: T[]): Promise<void>
  /** Most items in one batch. @default 2_000 */
  maxItems?: number
  /** Most bytes in one batch, as counted by `sizeOf`. One larger item still commits, alone. @default 16 MiB */
  maxBytes?: number
  /** Byte size of an item, for `maxBytes`. @default () => 0 */
  sizeOf?: (item: T) => number
  /** Least time between the starts of two commits... @default 0 */
  minIntervalMs?: number
  /** ...unless this many items are waiting: a batch that size is worth its commit. @default maxItems */
  enoughItems?: number
}

interface Entry<T> {
  item: T
  bytes: number
  resolve: () => void
  reject: (err: unknown) => void
}

const noop = (): void => {}

export class GroupCommitter<T> {
  readonly #commit: (items: T[]) => Promise<void>
  readonly #maxItems: number
  readonly #maxBytes: number
  readonly #sizeOf: (item: T) => number
  readonly #spacing: CommitSpacing
  #queue: Entry<T>[] = []
  #running = false
  #closed = false
  /** Settles (never rejects) when the most recently enqueued item has settled. */
  #tail: Promise<void> = Promise.resolve()

  constructor(opts: GroupCommitOptions<T>) {
    this.#commit = opts.commit
    this.#maxItems = Math.max(1, opts.maxItems ?? 2_000)
    this.#maxBytes = opts.maxBytes ?? 16 * 1024 * 1024
    this.#sizeOf = opts.sizeOf ?? (() => 0)
    this.#spacing = new CommitSpacing(opts.minIntervalMs ?? 0, Math.min(this.#maxItems, opts.enoughItems ?? this.#maxItems))
  }

  /** Resolves after the commit containing `item`; rejects with that commit's error. */
  enqueue(item: T): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('group committer is closed; no new items accepted'))
    const p = new Promise<void>((resolve, reject) => {
      this.#queue.push({ item, bytes: this.#sizeOf(item), resolve, reject })
    })
    this.#tail = p.then(noop, noop)
    this.#spacing.enqueued(this.#queue.length)
    if (!this.#running) {
      this.#running = true
      // Start on a microtask so that everything enqueued in the same tick shares the first batch.
      queueMicrotask(() => void this.#drain())
    }
    return p
  }

  /** Resolves when every item enqueued so far has settled (committed or failed). Never rejects. */
  flush(): Promise<void> {
    return this.#tail
  }

  /** Refuses new items from now on, then waits for the queued ones. Idempotent. */
  close(): Promise<void> {
    this.#closed = true
    return this.flush()
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      await this.#spacing.beforeCommit(this.#queue.length)
      const batch = this.#takeBatch()
      try {
        await this.#commit(batch.map((e) => e.item))
        for (const e of batch) e.resolve()
      } catch (err) {
        // Only this batch failed; the loop goes on so later items get their own attempt.
        for (const e of batch) e.reject(err)
      }
    }
    this.#running = false
  }

  #takeBatch(): Entry<T>[] {
    let n = 0
    let bytes = 0
    for (const e of this.#queue) {
      if (n >= this.#maxItems || (n > 0 && bytes + e.bytes > this.#maxBytes)) break
      n++
      bytes += e.bytes
    }
    return this.#queue.splice(0, n)
  }
}
