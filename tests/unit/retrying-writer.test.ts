/**
 * RetryingWriter (persistence/retrying-writer.ts): the Postgres writer's behaviour while the database is
 * unreachable, driven by a fake commit that fails on demand. Time is real but tiny (1–4 ms backoff), and
 * every wait is for a condition.
 */
import { describe, expect, test } from 'vitest'
import { RetryingWriter, WriterUnavailableError } from '#server/persistence/retrying-writer'
import { waitFor } from '../helpers/server.js'

class Unreachable extends Error {
  readonly transient = true
}

/** A database the test switches off and on; records every committed item in commit order. */
function fakeDatabase() {
  const db = {
    up: true,
    committed: [] as string[],
    attempts: 0,
    /** Items that fail for good (not transient) whenever they are in a batch. */
    poison: new Set<string>(),
    batches: [] as string[][],
  }
  const writer = (maxWaitingBytes = 1_000) =>
    new RetryingWriter<string>({
      commit: async (items) => {
        db.attempts++
        await Promise.resolve()
        if (!db.up) throw new Unreachable('connect ECONNREFUSED')
        const bad = items.find((i) => db.poison.has(i))
        if (bad !== undefined) throw new Error(`constraint violated by ${bad}`)
        db.batches.push([...items])
        db.committed.push(...items)
        return items.map(() => null)
      },
      isTransient: (err) => err instanceof Unreachable,
      sizeOf: (item) => item.length,
      maxWaitingBytes,
      retryBaseMs: 1,
      retryMaxMs: 4,
    })
  return { db, writer }
}

describe('RetryingWriter', () => {
  test('while the database is down nothing resolves; once it is back everything commits, in call order', async () => {
    const { db, writer } = fakeDatabase()
    const w = writer()
    db.up = false
    const resolved: string[] = []
    const items = Array.from({ length: 30 }, (_, i) => `item-${i}`)
    const all = items.map((item) => w.enqueue(item).then(() => void resolved.push(item)))
    await waitFor(() => db.attempts >= 5, 'several failed attempts')
    expect(resolved).toEqual([])
    expect(w.outage).toBeInstanceOf(Unreachable)
    db.up = true
    await Promise.all(all)
    expect(db.committed).toEqual(items)
    expect(resolved).toEqual(items)
    expect(w.outage).toBeNull()
    expect(w.waitingBytes).toBe(0)
  })

  test('past maxWaitingBytes new items are refused at once; the waiting ones still commit', async () => {
    const { db, writer } = fakeDatabase()
    const w = writer(20)
    db.up = false
    const first = w.enqueue('0123456789') // 10 bytes
    const second = w.enqueue('0123456789') // 20: at the bound
    await waitFor(() => db.attempts >= 2, 'a failed attempt')
    const refused = w.enqueue('x')
    await expect(refused).rejects.toBeInstanceOf(WriterUnavailableError)
    await expect(refused).rejects.toThrow(/unreachable/)
    db.up = true
    await Promise.all([first, second])
    expect(db.committed).toEqual(['0123456789', '0123456789'])
    await w.enqueue('after') // room again
  })

  test('a failure that retrying cannot fix rejects only the item at fault', async () => {
    const { db, writer } = fakeDatabase()
    const w = writer()
    db.poison.add('bad')
    const results = await Promise.allSettled(['a', 'b', 'bad', 'c'].map((i) => w.enqueue(i)))
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled'])
    expect(db.committed).toEqual(['a', 'b', 'c'])
    // Back to batching afterwards.
    await Promise.all(['d', 'e', 'f'].map((i) => w.enqueue(i)))
    expect(db.batches.at(-1)).toEqual(['d', 'e', 'f'])
  })

  test('per-item answers: an item the commit refuses is rejected, the rest resolve', async () => {
    const w = new RetryingWriter<string>({
      commit: async (items) => items.map((i) => (i.startsWith('stale') ? new Error(`${i} refused`) : null)),
      isTransient: () => false,
      sizeOf: () => 1,
    })
    const results = await Promise.allSettled(['ok-1', 'stale-1', 'ok-2'].map((i) => w.enqueue(i)))
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
  })

  test('close during an outage rejects what waits (never acknowledged) instead of hanging', async () => {
    const { db, writer } = fakeDatabase()
    const w = writer()
    db.up = false
    const pending = w.enqueue('unsaved')
    await waitFor(() => db.attempts >= 2, 'a failed attempt')
    await w.close()
    await expect(pending).rejects.toBeInstanceOf(Unreachable)
    await expect(w.enqueue('late')).rejects.toThrow(/closed/)
    expect(db.committed).toEqual([])
  })

  test('minIntervalMs spaces commits out unless enoughItems are waiting; the first commits at once', async () => {
    const batches: string[][] = []
    const w = new RetryingWriter<string>({
      commit: async (items) => {
        batches.push([...items])
        return items.map(() => null)
      },
      isTransient: () => false,
      sizeOf: () => 1,
      minIntervalMs: 60_000,
      enoughItems: 3,
    })
    await w.enqueue('a')
    expect(batches).toEqual([['a']])
    const next = [w.enqueue('b'), w.enqueue('c')]
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
    expect(batches).toEqual([['a']]) // two are not enough: the next commit waits out the interval
    next.push(w.enqueue('d'))
    await Promise.all(next)
    expect(batches).toEqual([['a'], ['b', 'c', 'd']])
  })

  test('close while healthy waits for the queued items to commit', async () => {
    const { db, writer } = fakeDatabase()
    const w = writer()
    const items = ['a', 'b', 'c'].map((i) => w.enqueue(i))
    await w.close()
    await Promise.all(items)
    expect(db.committed).toEqual(['a', 'b', 'c'])
  })
})
