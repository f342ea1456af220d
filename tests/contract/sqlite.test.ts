/**
 * What only the SQLite adapter promises beyond the store contract (tests/contract/*.test.ts run that
 * against every adapter): migrations, a reader beside the writer, WAL checkpoints, clear errors for bad
 * paths, and no acknowledged append lost to SIGKILL.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from 'vitest'
import { createSqliteStore } from '#server/persistence/sqlite'
import { bytes, countingLogger, decode, newDelivery, sumBytes, textOf, textUpdates } from './fixtures.js'

const repoRoot = fileURLToPath(new URL('../..', import.meta.url))
const silent = pino({ level: 'silent' })

let tmpRoot = ''
let dbCounter = 0
beforeAll(async () => {
  tmpRoot = await mkdtemp(join(tmpdir(), 'tandem-sqlite-'))
})
afterAll(async () => {
  await rm(tmpRoot, { recursive: true, force: true })
})

function freshDbPath(): string {
  return join(tmpRoot, `db-${++dbCounter}`, 'tandem.sqlite')
}

describe('SQLite store', () => {
  test('a database written by migration 1 opens, migrates, and keeps its rooms', async () => {
    const path = freshDbPath()
    await mkdir(dirname(path), { recursive: true })
    const old = new Database(path)
    // Migration 1 exactly as it shipped.
    old.exec(`
      CREATE TABLE updates (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        room TEXT NOT NULL,
        data BLOB NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX updates_room_id ON updates (room, id);
    `)
    old.pragma('user_version = 1')
    const { updates, text } = textUpdates(3)
    const insert = old.prepare('INSERT INTO updates (room, data, created_at) VALUES (?, ?, ?)')
    insert.run('alpha', updates[0], 3_000)
    insert.run('beta', bytes('b'), 2_000)
    insert.run('alpha', updates[1], 1_000)
    insert.run('alpha', updates[2], 5_000)
    old.close()

    const store = await createSqliteStore({ path }, silent)
    expect(await store.listRooms({ limit: 10 })).toEqual([
      { name: 'alpha', createdAt: 1_000, updatedAt: 5_000, metadata: {}, sizeBytes: sumBytes(updates) },
      { name: 'beta', createdAt: 2_000, updatedAt: 2_000, metadata: {}, sizeBytes: 1 },
    ])
    expect(textOf((await store.loadUpdates('alpha')).updates)).toBe(text)
    expect((await store.loadUpdates('alpha')).tombstone).toBeNull()
    expect((await store.ensureRoom('alpha')).created).toBe(false)
    await store.enqueueDeliveries([newDelivery('msg_1')])
    await store.close()

    const reopened = new Database(path, { readonly: true })
    expect(reopened.pragma('user_version', { simple: true })).toBe(8)
    reopened.close()
    // Reopening runs no migration again: the rooms are there once, with what was written since.
    const again = await createSqliteStore({ path }, silent)
    onTestFinished(() => again.close())
    expect((await again.listRooms({ limit: 10 })).map((r) => r.name)).toEqual(['alpha', 'beta'])
    expect(await again.countPendingDeliveries()).toBe(1)
  })

  test('a database from a newer schema version is refused with a clear error', async () => {
    const path = freshDbPath()
    await mkdir(dirname(path), { recursive: true })
    const future = new Database(path)
    future.pragma('user_version = 99')
    future.close()
    await expect(createSqliteStore({ path }, silent)).rejects.toThrow(/schema version 99 is newer/)
  })

  test(':memory: gives a working throwaway database', async () => {
    const store = await createSqliteStore({ path: ':memory:' }, silent)
    onTestFinished(() => store.close())
    await store.appendUpdate('m', bytes('x'))
    expect((await store.loadUpdates('m')).rowCount).toBe(1)
  })

  test('reads are answered while a large write transaction is in flight, and see only committed data', async () => {
    const store = await createSqliteStore({ path: freshDbPath() }, silent)
    onTestFinished(() => store.close())
    await store.createRoom('other', { k: 1 })
    await store.appendUpdate('other', bytes('o'))
    const order: string[] = []
    const payload = JSON.stringify({ padding: 'x'.repeat(200) })
    // One transaction of 20,000 rows keeps the writer busy for a long while.
    const big = store
      .enqueueDeliveries(Array.from({ length: 20_000 }, (_, i) => newDelivery(`msg_big_${i}`, { payload })))
      .then(() => order.push('enqueueDeliveries'))
    const reads = Promise.all([
      store.getRoom('other').finally(() => order.push('getRoom')),
      store.loadUpdates('other').finally(() => order.push('loadUpdates')),
      store.countPendingDeliveries().finally(() => order.push('countPendingDeliveries')),
      store.ping().finally(() => order.push('ping')),
    ])
    const [room, doc, pending] = await reads
    await big

    expect(order).toEqual(['getRoom', 'loadUpdates', 'countPendingDeliveries', 'ping', 'enqueueDeliveries'])
    expect(room).toMatchObject({ name: 'other', metadata: { k: 1 }, sizeBytes: 1 })
    expect(doc.updates.map(decode)).toEqual(['o'])
    // The transaction was in flight: a read snapshot holds none of it.
    expect(pending).toBe(0)
    expect(await store.countPendingDeliveries()).toBe(20_000)
  })

  test('reads keep being answered during a 20,000-row append burst', async () => {
    const { log, count } = countingLogger()
    const store = await createSqliteStore({ path: freshDbPath() }, log)
    onTestFinished(() => store.close())
    await store.createRoom('other', {})
    await store.appendUpdate('other', bytes('o'))
    const commitsBefore = count()

    let burstDone = false
    const update = new Uint8Array(100).fill(7)
    const burst = Promise.all(Array.from({ length: 20_000 }, (_, i) => store.appendUpdate(`burst-${i % 50}`, update))).then(
      () => (burstDone = true),
    )
    // The burst's first batch is on its way to the writer before the first read is issued.
    await new Promise((resolve) => setImmediate(resolve))

    const first = await store.getRoom('other')
    expect(first?.sizeBytes).toBe(1)
    expect(burstDone, 'getRoom resolved before the burst').toBe(false)
    let readsDuringBurst = 1
    while (!burstDone) {
      await store.getRoom('other')
      if (!burstDone) readsDuringBurst++
    }
    await burst

    const commits = count() - commitsBefore
    expect(commits).toBeGreaterThan(1)
    // Behind the writer, a read waits for the commit in flight ahead of it: at most one read per commit.
    // Served beside it, reads go on while every commit is running.
    expect(readsDuringBurst).toBeGreaterThan(commits)
    expect((await store.getRoom('burst-0'))).toBeNull()
    expect((await store.loadUpdates('burst-0')).rowCount).toBe(400)
  })

  test('better-sqlite3 gives a read-only WAL connection a fresh snapshot per statement and keeps none after it', async () => {
    // The reader's read-your-writes rests on this: each statement (or read transaction) outside a
    // transaction sees every commit made before it started, and nothing holds a snapshot between requests.
    const path = freshDbPath()
    await mkdir(dirname(path), { recursive: true })
    const writer = new Database(path)
    writer.pragma('journal_mode = WAL')
    writer.pragma('busy_timeout = 0')
    writer.exec('CREATE TABLE t (v INTEGER NOT NULL)')
    const reader = new Database(path, { readonly: true, fileMustExist: true })
    reader.pragma('query_only = ON')
    onTestFinished(() => {
      reader.close()
      writer.close()
    })
    const insert = writer.prepare<[number]>('INSERT INTO t (v) VALUES (?)')
    const count = reader.prepare<[], number>('SELECT COUNT(*) FROM t').pluck()
    const values = reader.prepare<[], number>('SELECT v FROM t ORDER BY v').pluck()
    const readTransaction = reader.transaction(() => [count.get(), values.all().length])

    for (let i = 1; i <= 50; i++) {
      writer.transaction(() => insert.run(i))()
      expect(count.get()).toBe(i)
      expect(values.all()).toHaveLength(i)
      expect(readTransaction()).toEqual([i, i])
      expect(reader.inTransaction).toBe(false)
    }

    // A TRUNCATE checkpoint must wait for every reader's snapshot to end: it succeeds only when none is held.
    const checkpoint = () => (writer.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[])[0]?.busy
    expect(checkpoint()).toBe(0)
    // Control: a statement left mid-iteration does hold its snapshot, and the check sees it.
    insert.run(51)
    const open = values.iterate()
    open.next()
    expect(checkpoint()).toBe(1)
    open.return?.()
    expect(checkpoint()).toBe(0)

    expect(() => reader.exec('INSERT INTO t (v) VALUES (0)')).toThrow(/readonly|read-only/i)
  })

  test('close checkpoints the WAL into the database file (the reader closes first)', async () => {
    const path = freshDbPath()
    const store = await createSqliteStore({ path }, silent)
    await store.createRoom('r', { k: 'v' })
    await store.appendUpdate('r', bytes('abc'))
    expect(await store.getRoom('r')).toMatchObject({ sizeBytes: 3 })
    expect(existsSync(`${path}-wal`)).toBe(true)
    await store.close()

    // The last connection to close checkpoints and removes the WAL, unless it is a read-only one.
    expect(existsSync(`${path}-wal`)).toBe(false)
    const db = new Database(path, { readonly: true })
    onTestFinished(() => {
      db.close()
    })
    expect(db.prepare('SELECT metadata FROM rooms WHERE name = ?').pluck().get('r')).toBe('{"k":"v"}')
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
        import Database from 'better-sqlite3'
import pino from 'pino'
        import { createSqliteStore } from '#server/persistence/sqlite'
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
