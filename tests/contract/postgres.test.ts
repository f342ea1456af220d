/**
 * Postgres-only contract: what several instances on one schema must get right, with real concurrent
 * connections (two or more adapters on one schema): migrations raced at boot, a newer schema refused,
 * compactions of one room across instances, a row committed after a compaction's read, and a deletion
 * racing another instance's appends.
 */
import net, { type AddressInfo } from 'node:net'
import pino from 'pino'
import { afterAll, describe, expect, onTestFinished, test } from 'vitest'
import * as Y from 'yjs'
import { PostgresOpenError, StaleRoomError, createPostgresStore } from '#server/persistence/postgres'
import { SCHEMA_VERSION } from '#server/persistence/postgres-schema'
import type { Store } from '#server/persistence/store'
import { waitFor } from '../helpers/server.js'
import { POSTGRES_HOST, POSTGRES_PORT, POSTGRES_URL, pgQuery, postgresSkip, postgresUrlVia, schemaNames } from '../helpers/postgres.js'
import { startTcpProxy } from '../helpers/tcp-proxy.js'

const silent = pino({ level: 'silent' })
const schemas = schemaNames()
afterAll(() => schemas.dropAll())

function newSchema(): string {
  return schemas.fresh()
}

async function open(schema: string): Promise<Store> {
  const store = await createPostgresStore({ url: POSTGRES_URL, schema }, silent)
  onTestFinished(() => store.close())
  return store
}

/** One Yjs update per insert, so the stored rows must rebuild `text` in any grouping. */
function textUpdates(n: number, tag: string): { updates: Uint8Array[]; text: string } {
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
  Y.transact(doc, () => {
    for (const u of updates) Y.applyUpdate(doc, u)
  })
  const text = doc.getText('t').toString()
  doc.destroy()
  return text
}

describe.skipIf(postgresSkip !== undefined)('Postgres store across instances', () => {
  test('four instances starting at once on one fresh schema all migrate it, once', async () => {
    const schema = newSchema()
    const stores = await Promise.all([open(schema), open(schema), open(schema), open(schema)])
    expect(stores).toHaveLength(4)
    const { rows } = await pgQuery<{ version: number }>(`SELECT version FROM "${schema}".tandem_schema_version`)
    expect(rows).toEqual([{ version: SCHEMA_VERSION }])
    // Every instance works on the same tables.
    await Promise.all(stores.map((s, i) => s.appendUpdate('shared', new Uint8Array([i]))))
    expect((await stores[3]!.loadUpdates('shared')).rowCount).toBe(4)
  })

  test('a schema newer than this code refuses to open, naming the schema setting', async () => {
    const schema = newSchema()
    const first = await createPostgresStore({ url: POSTGRES_URL, schema }, silent)
    await first.close()
    await pgQuery(`UPDATE "${schema}".tandem_schema_version SET version = $1`, [SCHEMA_VERSION + 1])
    const err: unknown = await createPostgresStore({ url: POSTGRES_URL, schema }, silent).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(PostgresOpenError)
    expect((err as PostgresOpenError).setting).toBe('TANDEM_DATABASE_SCHEMA')
    expect((err as Error).message).toMatch(new RegExp(`version ${SCHEMA_VERSION + 1}, newer than`))
  })

  test('a schema written by the previous version (before the one-statement append) is upgraded and keeps its rows', async () => {
    const schema = newSchema()
    const { updates, text } = textUpdates(4, 'u')
    const old = await createPostgresStore({ url: POSTGRES_URL, schema }, silent)
    await old.ensureRoom('room')
    await Promise.all(updates.slice(0, 2).map((u) => old.appendUpdate('room', u)))
    await old.close()
    // What version 5 left: no append function.
    await pgQuery(`DROP FUNCTION "${schema}".append_batch`)
    await pgQuery(`UPDATE "${schema}".tandem_schema_version SET version = 5`)
    const store = await open(schema)
    await Promise.all(updates.slice(2).map((u) => store.appendUpdate('room', u)))
    await store.bindClients('room', [[9, 'ada']])
    const loaded = await store.loadUpdates('room')
    expect(textOf(loaded.updates)).toBe(text)
    expect(loaded.clientOwners.get(9)).toBe('ada')
    const { rows } = await pgQuery<{ version: number }>(`SELECT version FROM "${schema}".tandem_schema_version`)
    expect(rows).toEqual([{ version: SCHEMA_VERSION }])
  })

  test('an unreachable server and a bad URL fail to open with the URL setting and no password', async () => {
    const refused = await createPostgresStore({ url: 'postgres://postgres:hunter2@127.0.0.1:1/test', timeoutMs: 2_000 }, silent).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(PostgresOpenError)
    expect((refused as PostgresOpenError).setting).toBe('TANDEM_DATABASE_URL')
    expect((refused as Error).message).toContain('postgres://postgres:***@127.0.0.1:1/test')
    expect((refused as Error).message).not.toContain('hunter2')
    const bad = await createPostgresStore({ url: 'postgres://u:hunter2@[nope' }, silent).catch((e: unknown) => e)
    expect(bad).toBeInstanceOf(PostgresOpenError)
    expect((bad as Error).message).not.toContain('hunter2')
  })

  test('compactions of one room on two instances never run together, and the document survives', async () => {
    const schema = newSchema()
    const [a, b] = await Promise.all([open(schema), open(schema)])
    const { updates, text } = textUpdates(400, 'c')
    await Promise.all(updates.slice(0, 300).map((u) => a.appendUpdate('room', u)))
    // Two compactions and more appends, from both instances, all at once.
    const late = updates.slice(300).map((u, i) => (i % 2 === 0 ? a : b).appendUpdate('room', u))
    const results = await Promise.all([a.compact('room'), b.compact('room'), a.compact('room'), b.compact('room')])
    await Promise.all(late)
    const outcomes = results.map((r) => r.outcome)
    expect(outcomes.filter((o) => o === 'kept')).toEqual([])
    expect(outcomes).toContain('compacted')
    // Serialised by the advisory lock: each compaction read what the previous one left (plus new appends),
    // so no two of them replaced the same rows (the row counts add up exactly).
    const rowsAfter = (await b.loadUpdates('room')).rowCount
    let expected = 300 + 100
    for (const r of results) if (r.outcome === 'compacted') expected += r.rowsWritten - r.rowsMerged
    expect(rowsAfter).toBe(expected)
    expect(textOf((await a.loadUpdates('room')).updates)).toBe(text)
  })

  test('a row allocated before a compaction read it but committed after survives the compaction', async () => {
    const schema = newSchema()
    const store = await open(schema)
    // Enough rows that planning (between the compaction's read and its delete) takes a while.
    const { updates, text } = textUpdates(3_000, 'r')
    const last = updates.pop()!
    await Promise.all(updates.slice(0, 10).map((u) => store.appendUpdate('room', u)))
    // A slow writer: its row's id is allocated now, below the ids of rows appended after it...
    const { Client } = (await import('pg')).default
    const slow = new Client({ connectionString: POSTGRES_URL })
    await slow.connect()
    onTestFinished(() => slow.end())
    await slow.query('BEGIN')
    const { rows } = await slow.query<{ id: string }>(`INSERT INTO "${schema}".updates (room, data, created_at) VALUES ('room', $1, 0) RETURNING id`, [
      Buffer.from(last),
    ])
    await Promise.all(updates.slice(10).map((u) => store.appendUpdate('room', u)))
    // ...and it commits after the compaction read the rows (without it), before the compaction deletes
    // them: a delete of `id <= max(read)` would take it too.
    let compactionDone = false
    const compaction = store.compact('room').finally(() => (compactionDone = true))
    await waitFor(async () => {
      const { rows: active } = await pgQuery(
        `SELECT 1 FROM pg_stat_activity WHERE application_name = 'tandem' AND state = 'idle in transaction' AND query LIKE 'SELECT id, data FROM%'`,
      )
      return active.length > 0 || compactionDone
    }, 'the compaction to have read its rows')
    await slow.query('COMMIT')
    expect(compactionDone, 'the slow row committed while the compaction was planning').toBe(false)
    const result = await compaction
    expect(result).toMatchObject({ outcome: 'compacted', rowsRead: updates.length, rowsMerged: updates.length })
    const ids = await pgQuery<{ id: string }>(`SELECT id FROM "${schema}".updates WHERE room = 'room' ORDER BY id`)
    expect(ids.rows.map((r) => r.id)).toContain(rows[0]!.id)
    const loaded = await store.loadUpdates('room')
    expect(loaded.rowCount).toBe(1 + result.rowsWritten)
    expect(textOf(loaded.updates)).toBe(text)
  })

  test('deleting a room while another instance appends to it resurrects nothing', async () => {
    const schema = newSchema()
    const [writer, deleter] = await Promise.all([open(schema), open(schema)])
    await writer.ensureRoom('doomed')
    await writer.loadUpdates('doomed') // what a room does when it loads: the writer now writes this incarnation
    const { updates } = textUpdates(300, 'd')
    // Some of this incarnation is committed for sure before the deletion starts.
    await Promise.all(updates.splice(0, 20).map((u) => writer.appendUpdate('doomed', u)))
    const outcomes: ('ok' | 'stale' | 'other')[] = []
    const appends: Promise<void>[] = []
    let deletion: Promise<boolean> | null = null
    for (let i = 0; i < updates.length; i++) {
      const index = i
      appends.push(
        writer.appendUpdate('doomed', updates[i]!).then(
          () => void (outcomes[index] = 'ok'),
          (err: unknown) => void (outcomes[index] = err instanceof StaleRoomError ? 'stale' : 'other'),
        ),
      )
      if (i === 100) deletion = deleter.deleteRoom('doomed', null)
      // Let commits happen between appends, so the deletion lands in the middle of the stream.
      if (i % 10 === 0) await new Promise((resolve) => setImmediate(resolve))
    }
    expect(await deletion).toBe(true)
    await Promise.all(appends)
    expect(outcomes.filter((o) => o === 'other')).toEqual([])
    // Commits are ordered: the appends committed before the deletion are a prefix, all later ones refused.
    const firstStale = outcomes.indexOf('stale')
    if (firstStale >= 0) expect(outcomes.slice(firstStale).every((o) => o === 'stale')).toBe(true)
    await expect(writer.appendUpdate('doomed', updates[0]!)).rejects.toBeInstanceOf(StaleRoomError)
    // Nothing of the deleted incarnation is left, and nothing written after the deletion came back.
    expect(await deleter.loadUpdates('doomed')).toMatchObject({ rowCount: 0, updates: [] })
    expect(await deleter.getRoom('doomed')).toBeNull()
    await expect(writer.bindClients('doomed', [[1, 'late-user']])).rejects.toBeInstanceOf(StaleRoomError)
    expect((await deleter.loadUpdates('doomed')).clientOwners.size).toBe(0)

    // Once the writer loads the room again (a rejoin after the 1013), it writes the new incarnation.
    await writer.loadUpdates('doomed')
    await writer.appendUpdate('doomed', updates[0]!)
    expect((await deleter.loadUpdates('doomed')).rowCount).toBe(1)
  })

  test('one batch with items for a deleted room and a live one: only the deleted room\'s items are refused', async () => {
    const schema = newSchema()
    const [writer, deleter] = await Promise.all([open(schema), open(schema)])
    await writer.ensureRoom('keep')
    await writer.ensureRoom('doomed')
    await Promise.all([writer.loadUpdates('keep'), writer.loadUpdates('doomed')])
    expect(await deleter.deleteRoom('doomed', null)).toBe(true)
    const { updates, text } = textUpdates(3, 'k')
    // Issued in one tick, so they share the writer's batch (one statement).
    const outcome = (p: Promise<void>): Promise<string> =>
      p.then(
        () => 'ok',
        (err: unknown) => (err instanceof StaleRoomError ? 'stale' : String(err)),
      )
    const results = await Promise.all([
      outcome(writer.appendUpdate('doomed', updates[0]!)),
      outcome(writer.appendUpdate('keep', updates[0]!)),
      outcome(writer.bindClients('doomed', [[7, 'mallory']])),
      outcome(writer.bindClients('keep', [[7, 'alice'], [8, 'bob']])),
      // Within the batch too, the first binding of a clientID wins.
      outcome(writer.bindClients('keep', [[7, 'eve']])),
      outcome(writer.appendUpdate('keep', updates[1]!)),
      outcome(writer.appendUpdate('keep', updates[2]!)),
    ])
    expect(results).toEqual(['stale', 'ok', 'stale', 'ok', 'ok', 'ok', 'ok'])
    const keep = await deleter.loadUpdates('keep')
    expect(textOf(keep.updates)).toBe(text)
    expect([...keep.clientOwners]).toEqual([
      [7, 'alice'],
      [8, 'bob'],
    ])
    expect(await deleter.loadUpdates('doomed')).toMatchObject({ rowCount: 0, updates: [] })
    expect((await deleter.loadUpdates('doomed')).clientOwners.size).toBe(0)
    // Only the live room's change is waiting to be announced.
    expect((await deleter.dueRoomChanges(2 ** 50, 0, 0, 10)).map((c) => c.room)).toEqual(['keep'])
  })

  test('a restore of a room waits for another instance\'s restore of it; other rooms do not wait, and a failed one releases the lock', async () => {
    const schema = newSchema()
    const [a, b] = await Promise.all([open(schema), open(schema)])
    const order: string[] = []
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    const first = a.exclusiveRestore('room', async ({ shared }) => {
      expect(shared).toBe(true)
      order.push('a start')
      await held
      order.push('a end')
    })
    await waitFor(() => order.includes('a start'), 'the first restore to hold the lock')
    const second = b.exclusiveRestore('room', async () => void order.push('b'))
    const waiting = async (): Promise<boolean> =>
      (await pgQuery<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid = $1`, [0x74616e04])).rows[0]!.n > 0
    await waitFor(waiting, 'the second restore to wait for the lock')
    await b.exclusiveRestore('another room', async () => void order.push('another room'))
    expect(order).toEqual(['a start', 'another room'])
    release()
    await Promise.all([first, second])
    expect(order).toEqual(['a start', 'another room', 'a end', 'b'])

    await expect(a.exclusiveRestore('room', () => Promise.reject(new Error('version too large')))).rejects.toThrow('version too large')
    await b.exclusiveRestore('room', async () => void order.push('after a failure'))
    expect(order.at(-1)).toBe('after a failure')
  })

  test('two instances settling the same room change leave one pending delivery per endpoint', async () => {
    const schema = newSchema()
    const [a, b] = await Promise.all([open(schema), open(schema)])
    await a.saveWebhookEndpoint({ id: 'ep_1', url: 'https://r.example/', secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', events: null, createdAt: 1, disabledAt: null, previousSecret: null, previousSecretExpiresAt: null })
    await a.appendUpdate('busy', new Uint8Array([0, 0]))
    const [change] = await a.dueRoomChanges(2 ** 50, 0, 0, 10)
    expect(change?.room).toBe('busy')
    const settle = (store: Store, id: string): Promise<void> =>
      store.settleRoomChanges([{ room: 'busy', lastAt: change!.lastAt, payload: `{"id":"${id}"}`, deliveries: [{ id, endpointId: 'ep_1' }] }], 5_000)
    await Promise.all([settle(a, 'msg_a'), settle(b, 'msg_b')])
    const pending = await a.listDeliveries({ status: 'pending', limit: 10 })
    expect(pending).toHaveLength(1)
  })
})

/** A TCP proxy to Postgres that the test can cut (drop every connection, refuse new ones) and heal. */
async function startProxy(): Promise<{ url: string; cut(): void; heal(): void; close(): Promise<void> }> {
  const target = new URL(POSTGRES_URL)
  const sockets = new Set<net.Socket>()
  let down = false
  const server = net.createServer((client) => {
    if (down) return client.destroy()
    const upstream = net.connect(Number(target.port || 5432), target.hostname)
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => undefined)
    }
    client.pipe(upstream).pipe(client)
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  const url = new URL(POSTGRES_URL)
  url.host = `127.0.0.1:${port}`
  return {
    url: url.toString(),
    cut() {
      down = true
      for (const s of sockets) s.destroy()
    },
    heal() {
      down = false
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}

describe.skipIf(postgresSkip !== undefined)('Postgres store while Postgres is unreachable', () => {
  test('appends wait unacknowledged, readiness fails, and once Postgres answers they commit in order', async () => {
    const schema = newSchema()
    const proxy = await startProxy()
    onTestFinished(() => proxy.close())
    const store = await createPostgresStore({ url: proxy.url, schema, timeoutMs: 2_000, retryBaseMs: 10, retryMaxMs: 50 }, silent)
    onTestFinished(() => store.close())
    await store.appendUpdate('room', new Uint8Array([0]))
    await store.ping()

    proxy.cut()
    const resolved: number[] = []
    const waiting = Array.from({ length: 50 }, (_, i) => store.appendUpdate('room', new Uint8Array([i + 1])).then(() => void resolved.push(i + 1)))
    await expect(store.ping()).rejects.toThrow(/unreachable/)
    // Give the writer time to fail and retry a few times (a condition: the readiness check keeps failing).
    await waitFor(async () => (await store.ping().then(() => false, () => true)) && resolved.length === 0, 'the outage to be noticed')
    expect(resolved).toEqual([])

    proxy.heal()
    await Promise.all(waiting)
    expect(resolved).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
    await waitFor(async () => store.ping().then(() => true, () => false), 'readiness to come back')
    const loaded = await store.loadUpdates('room')
    expect(loaded.updates.map((u) => u[0])).toEqual(Array.from({ length: 51 }, (_, i) => i))
  })

  test('a connection lost in the middle of a transaction fails that call with a storage error, and the process goes on', async () => {
    // A pooled client inside a transaction has no listener of the pool's; without one of ours, pg's
    // 'error' event on a dropped connection is uncaught and ends the process (vitest fails the run).
    const schema = newSchema()
    const proxy = await startTcpProxy({ targetHost: POSTGRES_HOST, targetPort: POSTGRES_PORT })
    onTestFinished(() => proxy.close())
    const store = await createPostgresStore({ url: postgresUrlVia(proxy), schema, timeoutMs: 5_000 }, silent)
    onTestFinished(() => store.close())
    await store.createRoom('doomed', {})
    await store.ping()

    proxy.stall()
    const deleting = store.deleteRoom('doomed', null).then(
      () => null,
      (err: unknown) => err,
    )
    await waitFor(() => proxy.stats().held > 0, 'the transaction to be under way')
    proxy.cut()
    const err = await deleting
    expect(err).toBeInstanceOf(Error)
    expect((err as Error).message).toMatch(/unreachable/)

    proxy.restore()
    proxy.resume()
    await waitFor(async () => store.ping().then(() => true, () => false), 'the store to answer again')
    expect(await store.deleteRoom('doomed', null)).toBe(true)
  })

  test('past the waiting-bytes bound new appends are refused at once with a storage error', async () => {
    const schema = newSchema()
    const proxy = await startProxy()
    onTestFinished(() => proxy.close())
    const store = await createPostgresStore({ url: proxy.url, schema, timeoutMs: 2_000, retryBaseMs: 10, retryMaxMs: 50, maxWaitingBytes: 1024 }, silent)
    onTestFinished(() => store.close())
    await store.ping()
    proxy.cut()
    const first = store.appendUpdate('room', new Uint8Array(1000))
    const refused = store.appendUpdate('room', new Uint8Array(100))
    await expect(refused).rejects.toThrow(/already waiting/)
    proxy.heal()
    await first
    expect((await store.loadUpdates('room')).rowCount).toBe(1)
  })
})
