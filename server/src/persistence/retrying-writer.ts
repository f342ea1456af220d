/**
 * Group commit on one ordered writer that outlives outages of the database it writes to.
 *
 * Items wait in one queue, in call order. While a commit is in flight new items wait; then everything
 * that arrived (up to a bound) commits as the next batch. When a commit fails for a reason that retrying
 * can fix (the connection refused, reset or stalled, the server restarting, a deadlock), the batch is not
 * rejected: it stays at the head of the queue and the writer tries again after a capped, jittered backoff,
 * so nobody is told "saved" before the commit and, once the database answers, the waiting items commit in
 * order. What may wait is bounded in bytes: past `maxWaitingBytes` new items are refused at once with
 * `WriterUnavailableError`. A failure retrying cannot fix rejects the items involved: a batch that fails
 * so is retried one item at a time, so only the item at fault is rejected.
 *
 * A commit whose answer was lost (the connection died after COMMIT was sent) is retried, so an item can be
 * committed twice. Callers store idempotent things (Yjs updates, first-wins bindings, upserts).
 *
 * Pure of any driver: `commit` and `isTransient` are given, which makes the retry behaviour unit-testable.
 */
import { CommitSpacing } from './commit-spacing.js'
import { StoreUnavailableError } from './unavailable.js'

export interface RetryingWriterOptions<T> {
  /**
   * Commits `items` in one transaction. Returns one entry per item: null when it committed, or an Error
   * that rejects that item alone (the others committed). Throws when the transaction did not commit.
   */
  commit(items: T[]): Promise<(Error | null)[]>
  /** True when retrying the same commit later may succeed (connection errors, not constraint errors). */
  isTransient(err: unknown): boolean
  /** Byte size of an item: counts toward `maxBatchBytes` and `maxWaitingBytes`. */
  sizeOf(item: T): number
  /** Most items in one batch. @default 2_000 */
  maxItems?: number
  /** Most bytes in one batch; one larger item still commits alone. @default 16 MiB */
  maxBatchBytes?: number
  /** Most bytes that may wait (queued or being retried); past it new items are refused. @default 64 MiB */
  maxWaitingBytes?: number
  /** Least time between the starts of two commits (ms)... (see commit-spacing.ts) @default 0 */
  minIntervalMs?: number
  /** ...unless this many items are waiting: a batch that size is worth its commit. @default maxItems */
  enoughItems?: number
  /** Backoff between retries: base * 2^(attempt-1), capped at max, times a jitter in [0.5, 1). */
  retryBaseMs?: number
  retryMaxMs?: number
  /** @default Math.random */
  random?: () => number
  /** Told about every transient failure, before the wait (e.g. to drop the connection and log). */
  onRetry?(err: unknown, attempt: number, delayMs: number): void
  /** Told when a commit succeeds after transient failures. */
  onRecovered?(attempts: number): void
}

/** Refused because too much is already waiting for an unreachable database. */
export class WriterUnavailableError extends StoreUnavailableError {
  constructor(
    message: string,
    readonly waitingBytes: number,
    options?: ErrorOptions,
  ) {
    super(message, options)
    this.name = 'WriterUnavailableError'
  }
}

interface Entry<T> {
  item: T
  bytes: number
  resolve: () => void
  reject: (err: unknown) => void
}

const noop = (): void => {}

export class RetryingWriter<T> {
  readonly #opts: RetryingWriterOptions<T>
  readonly #maxItems: number
  readonly #maxBatchBytes: number
  readonly #maxWaitingBytes: number
  readonly #retryBaseMs: number
  readonly #retryMaxMs: number
  readonly #random: () => number
  readonly #spacing: CommitSpacing
  #queue: Entry<T>[] = []
  #waitingBytes = 0
  #running = false
  #closed = false
  /** The last transient failure while the writer is retrying; null while commits succeed. */
  #outage: unknown = null
  #attempt = 0
  /** After a batch failed for good: this many of the next items commit one at a time. */
  #singles = 0
  /** Ends the backoff wait early (close). */
  #wake: (() => void) | null = null
  #tail: Promise<void> = Promise.resolve()

  constructor(opts: RetryingWriterOptions<T>) {
    this.#opts = opts
    this.#maxItems = Math.max(1, opts.maxItems ?? 2_000)
    this.#maxBatchBytes = opts.maxBatchBytes ?? 16 * 1024 * 1024
    this.#maxWaitingBytes = opts.maxWaitingBytes ?? 64 * 1024 * 1024
    this.#retryBaseMs = Math.max(1, opts.retryBaseMs ?? 50)
    this.#retryMaxMs = Math.max(this.#retryBaseMs, opts.retryMaxMs ?? 2_000)
    this.#random = opts.random ?? Math.random
    this.#spacing = new CommitSpacing(opts.minIntervalMs ?? 0, Math.min(this.#maxItems, opts.enoughItems ?? this.#maxItems))
  }

  /** The transient error the writer is retrying after, or null when the last commit got through. */
  get outage(): unknown {
    return this.#outage
  }

  /** Bytes queued or being retried. */
  get waitingBytes(): number {
    return this.#waitingBytes
  }

  /** Resolves after the commit that contains `item`; rejects if it was refused or failed for good. */
  enqueue(item: T): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('writer is closed; no new items accepted'))
    const bytes = this.#opts.sizeOf(item)
    // One item alone is always let in when nothing waits, however large: otherwise it could never commit.
    if (this.#queue.length > 0 && this.#waitingBytes + bytes > this.#maxWaitingBytes) {
      const why = this.#outage === null ? 'the database is slow' : `the database is unreachable (${messageOf(this.#outage)})`
      return Promise.reject(
        new WriterUnavailableError(`${this.#waitingBytes} bytes are already waiting to be committed and ${why}`, this.#waitingBytes, {
          cause: this.#outage ?? undefined,
        }),
      )
    }
    const p = new Promise<void>((resolve, reject) => {
      this.#queue.push({ item, bytes, resolve, reject })
    })
    this.#waitingBytes += bytes
    this.#tail = p.then(noop, noop)
    this.#spacing.enqueued(this.#queue.length)
    if (!this.#running) {
      this.#running = true
      // On a microtask, so that everything enqueued in the same tick shares the first batch.
      queueMicrotask(() => void this.#drain())
    }
    return p
  }

  /** Resolves when every item enqueued so far has settled. Never rejects. */
  flush(): Promise<void> {
    return this.#tail
  }

  /**
   * Refuses new items, then waits for the queued ones. If the database is unreachable (now, or at any
   * point while closing) the waiting items are rejected instead of waited for: they were never
   * acknowledged, so their writers still hold them and send them again. Idempotent.
   */
  close(): Promise<void> {
    this.#closed = true
    if (this.#outage !== null) this.#wake?.()
    return this.flush()
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      await this.#spacing.beforeCommit(this.#queue.length)
      const n = this.#batchSize()
      const batch = this.#queue.slice(0, n)
      let results: (Error | null)[]
      try {
        results = await this.#opts.commit(batch.map((e) => e.item))
      } catch (err) {
        if (this.#opts.isTransient(err)) {
          if (this.#closed) {
            this.#rejectAll(err)
            break
          }
          this.#outage = err
          this.#attempt += 1
          const delay = this.#delayMs(this.#attempt)
          this.#opts.onRetry?.(err, this.#attempt, delay)
          await this.#sleep(delay)
          if (this.#closed) {
            this.#rejectAll(err)
            break
          }
          continue
        }
        if (n > 1) {
          // Find the item at fault: the same items again, one per transaction, in order.
          this.#singles = n
          this.#answered()
          continue
        }
        results = [err instanceof Error ? err : new Error(String(err))]
      }
      this.#answered()
      this.#queue.splice(0, n)
      if (this.#singles > 0) this.#singles = Math.max(0, this.#singles - n)
      for (let i = 0; i < batch.length; i++) {
        const e = batch[i] as Entry<T>
        this.#waitingBytes -= e.bytes
        const failure = results[i] ?? null
        if (failure === null) e.resolve()
        else e.reject(failure)
      }
    }
    this.#running = false
  }

  /** The database answered (a commit, or a failure that was not transient): the outage is over. */
  #answered(): void {
    if (this.#outage === null) return
    const attempts = this.#attempt
    this.#outage = null
    this.#attempt = 0
    this.#opts.onRecovered?.(attempts)
  }

  #rejectAll(err: unknown): void {
    const entries = this.#queue
    this.#queue = []
    this.#waitingBytes = 0
    for (const e of entries) e.reject(err)
  }

  #batchSize(): number {
    if (this.#singles > 0) return 1
    let n = 0
    let bytes = 0
    for (const e of this.#queue) {
      if (n >= this.#maxItems || (n > 0 && bytes + e.bytes > this.#maxBatchBytes)) break
      n++
      bytes += e.bytes
    }
    return n
  }

  #delayMs(attempt: number): number {
    const exp = Math.min(this.#retryMaxMs, this.#retryBaseMs * 2 ** Math.min(attempt - 1, 30))
    return Math.round(exp * (0.5 + this.#random() / 2))
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        this.#wake = null
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.#wake = done
    })
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
