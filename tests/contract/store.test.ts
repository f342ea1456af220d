import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from 'vitest'
import * as Y from 'yjs'
import { createMemoryStore } from '@tandem/server/persistence/memory'
import { createSqliteStore } from '@tandem/server/persistence/sqlite'
import type { Store } from '@tandem/server/persistence/store'

const repoRoot = fileURLToPath(new URL('../..', import.meta.url))
const silent = pino({ level: 'silent' })

let tmpRoot = ''
let dbCounter = 0
beforeAll(async () => {
  tmpRoot = await mkdtemp(join(tmpdir(), 'tandem-store-'))
})
afterAll(async () => {
  await rm(tmpRoot, { recursive: true, force: true })
})

function freshDbPath(): string {
  return join(tmpRoot, `db-${++dbCounter}`, 'tandem.sqlite')
}

interface Fixture {
  store: Store
  /** Committed append transactions so far, when the adapter reports them (SQLite logs one line per batch). */
  transactions?: () => number
}

/** A debug logger that counts the store's one-per-transaction 'batch committed' lines. */
function countingLogger(): { log: pino.Logger; count: () => number } {
  let n = 0
  const log = pino(
    { level: 'debug' },
    {
      write(line: string) {
        if ((JSON.parse(line) as { msg?: string }).msg === 'batch committed') n++
      },
    },
  )
  return { log, count: () => n }
}

const adapters: { name: string; open: () => Promise<Fixture> }[] = [
  { name: 'memory', open: async () => ({ store: createMemoryStore() }) },
  {
    name: 'sqlite',
    open: async () => {
      const { log, count } = countingLogger()
      const store = await createSqliteStore({ path: freshDbPath() }, log)
      return { store, transactions: count }
    },
  },
]

/** Real Yjs updates: one per insert, so applying them in any grouping must rebuild `text`. */
function textUpdates(n: number, tag = 'u'): { updates: Uint8Array[]; text: string } {
  const doc = new Y.Doc()
  const updates: Uint8Array[] = []
  doc.on('update', (u: Uint8Array) => updates.push(u))
  const t = doc.getText('t')
  for (let i = 0; i < n; i++) t.insert(t.length, `${tag}${i};`)
  const text = t.toString()
  doc.destroy()
  return { updates, text }
}

function textOf(updates: readonly Uint8Array[]): string {
  const doc = new Y.Doc()
  for (const u of updates) Y.applyUpdate(doc, u)
  const text = doc.getText('t').toString()
  doc.destroy()
  return text
}

function bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s)
}

function decode(u: Uint8Array): string {
  return new TextDecoder().decode(u)
}

function sumBytes(updates: readonly Uint8Array[]): number {
  return updates.reduce((n, u) => n + u.byteLength, 0)
}

async function openStore(open: () => Promise<Fixture>): Promise<Fixture> {
  const fixture = await open()
  onTestFinished(() => fixture.store.close())
  return fixture
}

describe.each(adapters)('Store contract: $name', ({ open }) => {
  test('an unknown room loads empty', async () => {
    const { store } = await openStore(open)
    expect(await store.loadUpdates('never-written')).toEqual({ updates: [], rowCount: 0, byteSize: 0 })
  })

  test('appends load back in order and rebuild the document', async () => {
    const { store } = await openStore(open)
    const { updates, text } = textUpdates(25)
    for (const u of updates) await store.appendUpdate('doc', u)

    const loaded = await store.loadUpdates('doc')
    expect(loaded.rowCount).toBe(25)
    expect(loaded.byteSize).toBe(sumBytes(updates))
    expect(loaded.updates.map((u) => Array.from(u))).toEqual(updates.map((u) => Array.from(u)))
    expect(textOf(loaded.updates)).toBe(text)
  })

  test('many concurrent appends across rooms all resolve, all are stored, and share transactions', async () => {
    const { store, transactions } = await openStore(open)
    const rooms = Array.from({ length: 100 }, (_, r) => ({ name: `room-${r}`, ...textUpdates(20, `r${r}-`) }))
    const before = transactions?.() ?? 0

    const appends: Promise<void>[] = []
    for (let i = 0; i < 20; i++) {
      for (const room of rooms) appends.push(store.appendUpdate(room.name, room.updates[i] ?? new Uint8Array()))
    }
    await Promise.all(appends)

    for (const room of rooms) {
      const loaded = await store.loadUpdates(room.name)
      expect(loaded.rowCount).toBe(20)
      expect(textOf(loaded.updates)).toBe(room.text)
    }
    if (transactions) {
      const used = transactions() - before
      expect(used).toBeGreaterThan(0)
      // 2,000 appends issued in one tick: one per transaction would be 2,000.
      expect(used).toBeLessThanOrEqual(10)
    }
  })

  test('appends resolve in call order, and a resolved append has every earlier one stored', async () => {
    const { store } = await openStore(open)
    const updates = Array.from({ length: 200 }, (_, i) => bytes(`update-${i}`))
    const resolved: number[] = []
    const snapshots: Promise<{ i: number; stored: string[] }>[] = []

    await Promise.all(
      updates.map((u, i) =>
        store.appendUpdate('ordered', u).then(() => {
          resolved.push(i)
          if (i % 40 === 0 || i === 199) {
            snapshots.push(
              store.loadUpdates('ordered').then((d) => ({ i, stored: d.updates.map(decode) })),
            )
          }
        }),
      ),
    )

    expect(resolved).toEqual(updates.map((_, i) => i))
    for (const { i, stored } of await Promise.all(snapshots)) {
      expect(stored.length).toBeGreaterThanOrEqual(i + 1)
      expect(stored.slice(0, i + 1)).toEqual(updates.slice(0, i + 1).map((_, j) => `update-${j}`))
    }
  })

  test('compact merges the rows into one and keeps the content', async () => {
    const { store } = await openStore(open)
    const { updates, text } = textUpdates(30)
    await Promise.all(updates.map((u) => store.appendUpdate('c', u)))

    const result = await store.compact('c')
    expect(result.rowsMerged).toBe(30)
    const loaded = await store.loadUpdates('c')
    expect(loaded.rowCount).toBe(1)
    expect(result.bytesAfter).toBe(loaded.byteSize)
    expect(textOf(loaded.updates)).toBe(text)

    // One row, or none, leaves nothing to do.
    expect(await store.compact('c')).toEqual({ rowsMerged: 0, bytesAfter: 0 })
    expect(await store.compact('empty')).toEqual({ rowsMerged: 0, bytesAfter: 0 })
    expect(textOf((await store.loadUpdates('c')).updates)).toBe(text)
  })

  test('appends racing with compaction are not lost', async () => {
    const { store } = await openStore(open)
    const { updates, text } = textUpdates(120)
    const settled: Promise<unknown>[] = []
    let merged = 0
    // Interleave: each round issues appends, then a compaction, without waiting for either.
    for (let round = 0; round < 6; round++) {
      for (const u of updates.slice(round * 20, round * 20 + 20)) settled.push(store.appendUpdate('race', u))
      settled.push(store.compact('race').then((r) => (merged += r.rowsMerged > 0 ? r.rowsMerged - 1 : 0)))
    }
    await Promise.all(settled)

    const loaded = await store.loadUpdates('race')
    // Each compaction turned exactly rowsMerged rows into one; nothing else disappeared.
    expect(loaded.rowCount).toBe(120 - merged)
    expect(textOf(loaded.updates)).toBe(text)

    await store.compact('race')
    const final = await store.loadUpdates('race')
    expect(final.rowCount).toBe(1)
    expect(textOf(final.updates)).toBe(text)
  })

  test('deleteRoom removes the room, including appends issued just before it', async () => {
    const { store } = await openStore(open)
    await store.appendUpdate('gone', bytes('a'))
    await store.appendUpdate('kept', bytes('k'))
    const late = store.appendUpdate('gone', bytes('b'))
    await store.deleteRoom('gone')
    await late

    expect(await store.loadUpdates('gone')).toEqual({ updates: [], rowCount: 0, byteSize: 0 })
    expect((await store.loadUpdates('kept')).rowCount).toBe(1)
    await store.deleteRoom('never-existed')

    await store.appendUpdate('gone', bytes('again'))
    expect((await store.loadUpdates('gone')).rowCount).toBe(1)
  })

  test('rooms are isolated', async () => {
    const { store } = await openStore(open)
    // Names that would collide under careless SQL (LIKE wildcards, prefixes) or encodings.
    const names = ['a', 'ab', 'a%', 'a_', 'A', 'ルーム', 'a b']
    const docs = names.map((name) => ({ name, ...textUpdates(3, name) }))
    await Promise.all(docs.flatMap((d) => d.updates.map((u) => store.appendUpdate(d.name, u))))

    await store.compact('a')
    await store.deleteRoom('ab')
    for (const d of docs) {
      const loaded = await store.loadUpdates(d.name)
      if (d.name === 'ab') expect(loaded.rowCount).toBe(0)
      else expect(textOf(loaded.updates)).toBe(d.text)
      if (d.name !== 'a' && d.name !== 'ab') expect(loaded.rowCount).toBe(3)
    }
  })

  test('binary data round-trips exactly, and the store keeps its own copy', async () => {
    const { store } = await openStore(open)
    const all = Uint8Array.from({ length: 256 }, (_, i) => i)
    const reused = Uint8Array.from(all)
    const backing = new Uint8Array(64).fill(0xee)
    backing.set([1, 2, 3], 10)
    const view = backing.subarray(10, 13)
    const pooled = Buffer.from('pooled buffer with a byteOffset')

    const p1 = store.appendUpdate('bin', reused)
    reused.fill(0) // callers may reuse their buffer as soon as appendUpdate returns
    const p2 = store.appendUpdate('bin', view)
    backing.fill(0)
    const p3 = store.appendUpdate('bin', pooled)
    const p4 = store.appendUpdate('bin', new Uint8Array(0))
    await Promise.all([p1, p2, p3, p4])

    const loaded = await store.loadUpdates('bin')
    expect(loaded.updates.map((u) => Array.from(u))).toEqual([
      Array.from(all),
      [1, 2, 3],
      Array.from(Buffer.from('pooled buffer with a byteOffset')),
      [],
    ])
    expect(loaded.byteSize).toBe(256 + 3 + pooled.byteLength)
  })

  test('ping resolves while open', async () => {
    const { store } = await openStore(open)
    await expect(store.ping()).resolves.toBeUndefined()
  })

  test('close waits for pending appends, then every call rejects', async () => {
    const { store } = await openStore(open)
    const pending = Array.from({ length: 50 }, (_, i) => store.appendUpdate('c', bytes(`p${i}`)))
    await store.close()
    await expect(Promise.all(pending)).resolves.toHaveLength(50)

    await expect(store.loadUpdates('c')).rejects.toThrow(/closed/)
    await expect(store.appendUpdate('c', bytes('x'))).rejects.toThrow(/closed/)
    await expect(store.compact('c')).rejects.toThrow(/closed/)
    await expect(store.deleteRoom('c')).rejects.toThrow(/closed/)
    await expect(store.ping()).rejects.toThrow(/closed/)
    await expect(store.close()).resolves.toBeUndefined()
  })
})

describe('SQLite store', () => {
  test('content survives close and reopen', async () => {
    const path = freshDbPath()
    const { updates, text } = textUpdates(40)
    const first = await createSqliteStore({ path }, silent)
    await Promise.all(updates.slice(0, 30).map((u) => first.appendUpdate('doc', u)))
    await first.compact('doc')
    await Promise.all(updates.slice(30).map((u) => first.appendUpdate('doc', u)))
    await first.close()

    const second = await createSqliteStore({ path }, silent)
    onTestFinished(() => second.close())
    const loaded = await second.loadUpdates('doc')
    expect(loaded.rowCount).toBe(11)
    expect(textOf(loaded.updates)).toBe(text)
  })

  test(':memory: gives a working throwaway database', async () => {
    const store = await createSqliteStore({ path: ':memory:' }, silent)
    onTestFinished(() => store.close())
    await store.appendUpdate('m', bytes('x'))
    expect((await store.loadUpdates('m')).rowCount).toBe(1)
  })

  test('a path that is a directory fails at creation with a clear error', async () => {
    const dir = join(tmpRoot, 'a-directory')
    await mkdir(dir, { recursive: true })
    const err = await createSqliteStore({ path: dir }, silent).then(
      () => null,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(Error)
    expect((err as Error).message).toContain(`cannot open SQLite database at ${dir}`)
    expect((err as Error).cause).toBeInstanceOf(Error)
  })

  test('a path under a regular file fails at creation with a clear error', async () => {
    // Permission bits do not stop root (CI containers); a file where a directory should be stops everyone.
    const file = join(tmpRoot, 'not-a-directory')
    await writeFile(file, 'x')
    const path = join(file, 'tandem.sqlite')
    await expect(createSqliteStore({ path }, silent)).rejects.toThrow(`cannot open SQLite database at ${path}`)
  })

  // 'test': the child is killed from outside as soon as "acked" is read. 'itself': the child kills itself in
  // the same tick the acks resolve, leaving no grace time for a commit that was acknowledged too early.
  test.each(['test', 'itself'] as const)(
    'SIGKILL right after appends are acked loses none of them (killed by %s)',
    async (killer) => {
      const path = freshDbPath()
      const n = 500
      // After the acks it keeps writing, so the kill lands on a busy database rather than an idle one.
      const script = `
        import pino from 'pino'
        import { createSqliteStore } from '@tandem/server/persistence/sqlite'
        const store = await createSqliteStore({ path: process.env.DB_PATH }, pino({ level: 'silent' }))
        const enc = new TextEncoder()
        const n = Number(process.env.N)
        await Promise.all(Array.from({ length: n }, (_, i) => store.appendUpdate('killed', enc.encode('acked-' + i))))
        const more = store.appendUpdate('killed', enc.encode('extra-0'))
        if (process.env.KILLER === 'itself') process.kill(process.pid, 'SIGKILL')
        process.stdout.write('acked\\n')
        await more
        for (let i = 1; ; i++) await store.appendUpdate('killed', enc.encode('extra-' + i))
      `
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        cwd: repoRoot,
        env: { ...process.env, DB_PATH: path, N: String(n), KILLER: killer },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      onTestFinished(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString()
        if (stdout.includes('acked\n')) child.kill('SIGKILL')
      })
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))

      const exit = await withDeadline(
        new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
          child.once('exit', (code, signal) => resolve({ code, signal })),
        ),
        20_000,
        () => `child did not ack and die in time; stdout=${stdout} stderr=${stderr}`,
      )
      expect(exit.signal, stderr).toBe('SIGKILL')
      if (killer === 'test') expect(stdout).toContain('acked')

      const store = await createSqliteStore({ path }, silent)
      onTestFinished(() => store.close())
      const stored = (await store.loadUpdates('killed')).updates.map(decode)
      expect(stored.slice(0, n)).toEqual(Array.from({ length: n }, (_, i) => `acked-${i}`))
      // Whatever followed must be whole updates from the post-ack writes, in order.
      expect(stored.slice(n)).toEqual(stored.slice(n).map((_, i) => `extra-${i}`))
    },
  )
})

function withDeadline<T>(promise: Promise<T>, ms: number, message: () => string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message())), ms)
  })
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer))
}
