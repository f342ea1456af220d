import { describe, expect, test, vi } from 'vitest'
import { GroupCommitter } from '#server/persistence/group-commit'

interface Deferred {
  promise: Promise<void>
  resolve: () => void
  reject: (err: unknown) => void
}

function deferred(): Deferred {
  let resolve!: () => void
  let reject!: (err: unknown) => void
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** A committer whose commits finish only when the test says so, recording every batch it was given. */
function controlled<T>(opts: { maxItems?: number; maxBytes?: number; sizeOf?: (item: T) => number } = {}) {
  const batches: T[][] = []
  const gates: Deferred[] = []
  let inFlight = 0
  let maxInFlight = 0
  const committer = new GroupCommitter<T>({
    ...opts,
    commit: async (items) => {
      batches.push([...items])
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      const gate = deferred()
      gates.push(gate)
      try {
        await gate.promise
      } finally {
        inFlight--
      }
    },
  })
  return {
    committer,
    batches,
    maxInFlight: () => maxInFlight,
    /** Waits until commit number `i` (0-based) has started, then settles it. */
    async finish(i: number, err?: Error) {
      await until(() => gates.length > i)
      if (err) gates[i]?.reject(err)
      else gates[i]?.resolve()
    },
  }
}

/** Lets queued microtasks and promise callbacks run until `cond` holds; fails instead of hanging. */
async function until(cond: () => boolean, maxTurns = 1_000): Promise<void> {
  for (let i = 0; i < maxTurns; i++) {
    if (cond()) return
    await new Promise<void>((r) => setImmediate(r))
  }
  throw new Error('condition not reached')
}

async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r))
}

function settledState(p: Promise<unknown>): () => 'pending' | 'resolved' | 'rejected' {
  let state: 'pending' | 'resolved' | 'rejected' = 'pending'
  p.then(
    () => (state = 'resolved'),
    () => (state = 'rejected'),
  )
  return () => state
}

describe('GroupCommitter', () => {
  test('items enqueued in the same tick share one commit', async () => {
    const c = controlled<number>()
    const ps = [1, 2, 3].map((n) => c.committer.enqueue(n))
    await c.finish(0)
    await Promise.all(ps)
    expect(c.batches).toEqual([[1, 2, 3]])
  })

  test('items arriving while a commit is in flight form the next batch; commits never overlap', async () => {
    const c = controlled<string>()
    const first = c.committer.enqueue('a')
    await until(() => c.batches.length === 1)
    const rest = ['b', 'c', 'd'].map((s) => c.committer.enqueue(s))
    const firstState = settledState(first)
    await turns(5) // give a would-be overlapping commit every chance to start
    expect(c.batches).toEqual([['a']])
    expect(firstState()).toBe('pending')

    await c.finish(0)
    await first
    await c.finish(1)
    await Promise.all(rest)
    expect(c.batches).toEqual([['a'], ['b', 'c', 'd']])
    expect(c.maxInFlight()).toBe(1)
  })

  test('minIntervalMs spaces commits out; a write after a quiet spell commits at once', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'performance'] })
    try {
      const batches: number[][] = []
      const committer = new GroupCommitter<number>({ commit: async (items) => void batches.push([...items]), minIntervalMs: 10 })
      await committer.enqueue(1)
      expect(batches).toEqual([[1]])

      const next = [committer.enqueue(2), committer.enqueue(3)]
      await turns(5)
      expect(batches).toEqual([[1]]) // the disk answered at once, but the next commit waits its turn
      await vi.advanceTimersByTimeAsync(10)
      await Promise.all(next)
      expect(batches).toEqual([[1], [2, 3]])

      vi.advanceTimersByTime(50)
      const lone = committer.enqueue(4)
      await turns(2)
      expect(batches).toEqual([[1], [2, 3], [4]])
      await lone
    } finally {
      vi.useRealTimers()
    }
  })

  test('minIntervalMs does not hold back a full batch', async () => {
    const batches: number[][] = []
    const committer = new GroupCommitter<number>({ commit: async (items) => void batches.push([...items]), minIntervalMs: 60_000, maxItems: 2 })
    await Promise.all([1, 2, 3, 4].map((n) => committer.enqueue(n)))
    expect(batches).toEqual([[1, 2], [3, 4]])
  })

  test('the wait between commits ends as soon as enoughItems are waiting', async () => {
    const batches: number[][] = []
    const committer = new GroupCommitter<number>({ commit: async (items) => void batches.push([...items]), minIntervalMs: 60_000, enoughItems: 3 })
    await committer.enqueue(1)
    const next = [committer.enqueue(2), committer.enqueue(3)]
    await turns(5)
    expect(batches).toEqual([[1]]) // two are not enough: waiting out the interval
    next.push(committer.enqueue(4))
    await Promise.all(next)
    expect(batches).toEqual([[1], [2, 3, 4]])
  })

  test('promises resolve in enqueue order', async () => {
    const committer = new GroupCommitter<number>({ commit: async () => {}, maxItems: 7 })
    const order: number[] = []
    await Promise.all(Array.from({ length: 50 }, (_, i) => committer.enqueue(i).then(() => order.push(i))))
    expect(order).toEqual(Array.from({ length: 50 }, (_, i) => i))
  })

  test('a batch holds at most maxItems items', async () => {
    const batches: number[][] = []
    const committer = new GroupCommitter<number>({ commit: async (items) => void batches.push(items), maxItems: 3 })
    await Promise.all(Array.from({ length: 7 }, (_, i) => committer.enqueue(i)))
    expect(batches).toEqual([[0, 1, 2], [3, 4, 5], [6]])
  })

  test('a batch holds at most maxBytes, but an oversized item still commits alone', async () => {
    const batches: number[][] = []
    const committer = new GroupCommitter<number>({
      commit: async (items) => void batches.push(items),
      maxBytes: 10,
      sizeOf: (n) => n,
    })
    await Promise.all([4, 4, 4, 25, 1, 9].map((n) => committer.enqueue(n)))
    expect(batches).toEqual([[4, 4], [4], [25], [1, 9]])
  })

  test('defaults bound a batch at 2,000 items', async () => {
    const sizes: number[] = []
    const committer = new GroupCommitter<number>({ commit: async (items) => void sizes.push(items.length) })
    await Promise.all(Array.from({ length: 4_500 }, (_, i) => committer.enqueue(i)))
    expect(sizes).toEqual([2_000, 2_000, 500])
  })

  test('a failed commit rejects exactly its own batch; later batches still commit', async () => {
    const c = controlled<string>()
    const a = c.committer.enqueue('a')
    await until(() => c.batches.length === 1)
    const b = c.committer.enqueue('b')
    const cc = c.committer.enqueue('c')
    const boom = new Error('disk on fire')

    await c.finish(0, boom)
    await expect(a).rejects.toBe(boom)
    await c.finish(1)
    await expect(Promise.all([b, cc])).resolves.toEqual([undefined, undefined])
    expect(c.batches).toEqual([['a'], ['b', 'c']])
  })

  test('a commit that throws synchronously is a failed commit, not a crash', async () => {
    let calls = 0
    const committer = new GroupCommitter<number>({
      commit: (() => {
        calls++
        if (calls === 1) throw new Error('sync throw')
        return Promise.resolve()
      }) as (items: number[]) => Promise<void>,
    })
    await expect(committer.enqueue(1)).rejects.toThrow('sync throw')
    await expect(committer.enqueue(2)).resolves.toBeUndefined()
  })

  test('flush waits for everything enqueued so far, and does not reject when a batch failed', async () => {
    const c = controlled<number>()
    const one = c.committer.enqueue(1)
    one.catch(() => {})
    await until(() => c.batches.length === 1)
    const two = c.committer.enqueue(2)
    const flushed = settledState(c.committer.flush())

    await c.finish(0, new Error('first batch fails'))
    await expect(one).rejects.toThrow()
    expect(flushed()).toBe('pending')
    await c.finish(1)
    await two
    await until(() => flushed() === 'resolved')

    await expect(new GroupCommitter<number>({ commit: async () => {} }).flush()).resolves.toBeUndefined()
  })

  test('close flushes pending items, then refuses new ones with a clear error', async () => {
    const c = controlled<number>()
    const pending = [1, 2].map((n) => c.committer.enqueue(n))
    const closed = settledState(c.committer.close())
    await expect(c.committer.enqueue(3)).rejects.toThrow(/closed/)
    expect(closed()).toBe('pending')

    await c.finish(0)
    await Promise.all(pending)
    await until(() => closed() === 'resolved')
    expect(c.batches).toEqual([[1, 2]])
    await expect(c.committer.close()).resolves.toBeUndefined()
  })
})
