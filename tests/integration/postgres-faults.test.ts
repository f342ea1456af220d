/**
 * "Saved" on PostgreSQL under faults. Every test records the saved acknowledgements its writers got
 * (single framing: the echo of the update; multiplexed: SyncStatus), puts a fault between the server and
 * Postgres (SIGKILL of a child server, or a TCP proxy this file starts that cuts or stalls the
 * connections) and then checks that every acknowledged update is in the document a fresh client reads
 * and in the rows Postgres holds (replayed the way a room loads them).
 *
 * Waits are conditions with deadlines; the length of an outage is counted in the server's failed
 * reconnects through the proxy, not in wall-clock time. Skipped with a message when Postgres is
 * unreachable outside CI; fails under CI=true.
 */
import { afterAll, afterEach, expect, test } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { replayLog } from '#server/persistence/compaction'
import { TandemClient } from '../../client-sdk/src/index.js'
import { describePostgres, POSTGRES_HOST, POSTGRES_PORT, POSTGRES_URL, pgQuery, postgresUrlVia, quoteSchema, schemaNames } from '../helpers/postgres.js'
import { closeOpenConns, join, multiplexed, single, type Conn } from '../helpers/raw-client.js'
import { spawnServer, startServer, tempDir, token, waitFor, type ChildServer, type RunningServer } from '../helpers/server.js'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js'
import { ADMIN_KEY } from './rest-client.js'
import { prng } from '../helpers/prng.js'

const schemas = schemaNames()
const cleanups: (() => void | Promise<void>)[] = []
afterEach(async () => {
  closeOpenConns()
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})
afterAll(() => schemas.dropAll())

const LOCAL = Symbol('local')

/**
 * One writer on a raw connection: every `type()` pushes a new marker onto the array `log` (one update
 * each), and `poll()` reads the saved acknowledgements received so far, in the order they arrived.
 * Single framing: the echo identifies the update byte for byte. Multiplexed: SyncStatus names no update,
 * so the k-th one acknowledges the k-th update sent (the server answers them in arrival order).
 */
class Typist {
  readonly sent: { marker: string; update: Buffer }[] = []
  readonly acked: string[] = []
  #scanned: number

  constructor(
    readonly conn: Conn,
    readonly room: string,
    readonly name: string,
  ) {
    this.#scanned = conn.mark() // the handshake is settled: what comes later answers our updates
  }

  get doc(): Y.Doc {
    const doc = this.conn.docs.get(this.room)
    if (!doc) throw new Error(`not tracking ${this.room}`)
    return doc
  }

  type(): string {
    const marker = `${this.name}-${this.sent.length}`
    let update: Uint8Array | null = null
    const capture = (u: Uint8Array, origin: unknown): void => {
      if (origin === LOCAL) update = u
    }
    this.doc.on('update', capture)
    this.doc.transact(() => this.doc.getArray<string>('log').push([marker]), LOCAL)
    this.doc.off('update', capture)
    if (update === null) throw new Error('typing changed nothing')
    this.sent.push({ marker, update: Buffer.from(update) })
    return marker
  }

  poll(): string[] {
    const { received } = this.conn
    for (; this.#scanned < received.length; this.#scanned++) {
      const { room, message } = received[this.#scanned] as (typeof received)[number]
      if (room !== this.room) continue
      if (this.conn.framing === 'single' && message.type === 'update') {
        const echoed = Buffer.from(message.update)
        const sent = this.sent.find((s) => s.update.equals(echoed))
        if (sent) this.acked.push(sent.marker)
      } else if (this.conn.framing === 'multiplexed' && message.type === 'sync-status' && message.applied) {
        const sent = this.sent[this.acked.length]
        if (sent) this.acked.push(sent.marker)
      }
    }
    return this.acked
  }

  /** The markers of `other` this writer's document holds: what reached it live. */
  holds(markers: readonly string[]): boolean {
    const log = new Set(this.doc.getArray<string>('log').toArray())
    return markers.every((m) => log.has(m))
  }
}

async function typist(base: string, framing: 'single' | 'multiplexed', room: string, name: string): Promise<Typist> {
  const jwt = await token({ sub: name, rooms: { [room]: 'write' } })
  if (framing === 'single') return new Typist(await single(base, room, { token: jwt }), room, name)
  const conn = await multiplexed(base)
  const answer = await join(conn, room, jwt)
  if (answer.type !== 'authenticated') throw new Error(`join refused: ${JSON.stringify(answer)}`)
  return new Typist(conn, room, name)
}

async function proxyToPostgres(): Promise<TcpProxy> {
  const proxy = await startTcpProxy({ targetHost: POSTGRES_HOST, targetPort: POSTGRES_PORT })
  cleanups.push(() => proxy.close())
  return proxy
}

/** An in-process server on `schema`, reaching Postgres at `url` (through a proxy, or not). */
async function pgServer(url: string, schema: string, env: Record<string, string> = {}): Promise<RunningServer> {
  const srv = await startServer({
    TANDEM_DATABASE_URL: url,
    TANDEM_DATABASE_SCHEMA: schema,
    // A stalled connection is given up after 1 s instead of 10 s: the stall test's outage is then seen soon.
    TANDEM_DATABASE_TIMEOUT_MS: '1000',
    TANDEM_ROOM_IDLE_MS: '200',
    ...env,
  })
  let stopped = false
  cleanups.push(() => (stopped ? undefined : srv.stop()))
  return {
    ...srv,
    stop: async () => {
      stopped = true
      await srv.stop()
    },
  }
}

async function status(port: number, path: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(8_000) })
  await res.arrayBuffer()
  return res.status
}

/** The room as a fresh read-only client gets it, after its first sync. */
async function freshRead(base: string, room: string): Promise<Y.Doc> {
  const conn = await single(base, room, { token: await token({ sub: 'reader', rooms: { [room]: 'read' } }) })
  const doc = conn.docs.get(room) as Y.Doc
  conn.close()
  return doc
}

/** The room as its rows in Postgres rebuild it (the replay a room load does). */
async function storedDoc(schema: string, room: string): Promise<Y.Doc> {
  const { rows } = await pgQuery<{ data: Buffer }>(`SELECT data FROM ${quoteSchema(schema)}.updates WHERE room = $1 ORDER BY id`, [room])
  const doc = new Y.Doc()
  Y.applyUpdate(doc, replayLog(rows.map((r) => new Uint8Array(r.data))).integrated)
  return doc
}

/**
 * The order in which each writer's markers first appear when the rows are replayed one by one: the order
 * of the commits. Returns, per writer name, its markers in that order.
 */
async function commitOrder(schema: string, room: string): Promise<Map<string, string[]>> {
  const { rows } = await pgQuery<{ data: Buffer }>(`SELECT data FROM ${quoteSchema(schema)}.updates WHERE room = $1 ORDER BY id`, [room])
  const doc = new Y.Doc()
  const seen = new Set<string>()
  const order = new Map<string, string[]>()
  for (const row of rows) {
    Y.applyUpdate(doc, new Uint8Array(row.data))
    for (const marker of doc.getArray<string>('log').toArray()) {
      if (seen.has(marker)) continue
      seen.add(marker)
      const writer = marker.slice(0, marker.lastIndexOf('-'))
      order.set(writer, [...(order.get(writer) ?? []), marker])
    }
  }
  return order
}

function missingFrom(doc: Y.Doc, acked: Iterable<string>): string[] {
  const log = new Set(doc.getArray<string>('log').toArray())
  return [...acked].filter((m) => !log.has(m))
}


/**
 * A cut or a stall: two writers (one per framing) type before, during and after it. Checks: no saved
 * acknowledgement while it lasts; /readyz 503 during it and 200 after; the two writers see each other's
 * edits live; after healing, everything is acknowledged, each writer's acks in the order it typed, the
 * commits in that order too; and after a restart nothing acknowledged is missing.
 */
async function outageCase(
  fault: 'cut' | 'stall',
  during?: (srv: RunningServer) => Promise<void>,
): Promise<void> {
  const proxy = await proxyToPostgres()
  const schema = schemas.fresh()
  const srv = await pgServer(postgresUrlVia(proxy), schema)
  const room = `outage-${fault}`
  const a = await typist(srv.url, 'single', room, 'a')
  const b = await typist(srv.url, 'multiplexed', room, 'b')
  const both = [a, b]

  for (let i = 0; i < 5; i++) both.forEach((w) => w.type())
  await waitFor(() => both.every((w) => w.poll().length === 5), 'the first edits to be acknowledged')
  expect(await status(srv.port, '/readyz')).toBe(200)

  const before = proxy.stats()
  if (fault === 'cut') proxy.cut()
  else proxy.stall()
  const typed = { a: [] as string[], b: [] as string[] }
  for (let i = 0; i < 10; i++) {
    typed.a.push(a.type())
    typed.b.push(b.type())
  }
  // Relayed before their commit: each sees the other's edits although nothing can be stored.
  await waitFor(() => a.holds(typed.b) && b.holds(typed.a), 'the writers to see each other live during the outage')
  await waitFor(async () => (await status(srv.port, '/readyz')) === 503, '/readyz to report the outage')
  await during?.(srv)
  // The outage lasts until the server has failed to reach Postgres several times (a few seconds of backoff).
  await waitFor(
    () => {
      const now = proxy.stats()
      return fault === 'cut' ? now.refused >= 6 : now.accepted - before.accepted >= 3
    },
    'the server to retry a few times',
    30_000,
  )
  expect(a.poll()).toHaveLength(5)
  expect(b.poll()).toHaveLength(5)
  expect(await status(srv.port, '/readyz')).toBe(503)

  if (fault === 'cut') proxy.restore()
  else proxy.resume()
  await waitFor(() => both.every((w) => w.poll().length === 15), 'the waiting edits to be acknowledged after healing', 30_000)
  await waitFor(async () => (await status(srv.port, '/readyz')) === 200, '/readyz to recover', 15_000)
  // In order: each writer's acks arrive in the order it typed (the echo names its update).
  expect(a.acked).toEqual(a.sent.map((s) => s.marker))
  expect(b.acked).toEqual(b.sent.map((s) => s.marker))
  // And committed in that order: replaying the rows one by one reveals each writer's markers in order.
  const order = await commitOrder(schema, room)
  expect(order.get('a')).toEqual(a.sent.map((s) => s.marker))
  expect(order.get('b')).toEqual(b.sent.map((s) => s.marker))

  const acked = [...a.acked, ...b.acked]
  await srv.stop()
  const again = await pgServer(POSTGRES_URL, schema)
  expect(missingFrom(await freshRead(again.url, room), acked)).toEqual([])
  expect(missingFrom(await storedDoc(schema, room), acked)).toEqual([])
}

/**
 * Two writers on a child server whose Postgres is cut; edits typed during the cut are relayed live but
 * never stored, then the server is SIGKILLed. Checks that everything acknowledged is stored, and that once
 * the writers rejoin a new process with the documents they kept (a reload with offline storage), A first,
 * every edit either of them typed is stored.
 */
async function killDuringCut(opts: { bothTypeDuringCut: boolean }): Promise<void> {
  const proxy = await proxyToPostgres()
  const schema = schemas.fresh()
  const { dir, remove } = await tempDir()
  cleanups.push(remove)
  const env = { TANDEM_DATABASE_URL: postgresUrlVia(proxy), TANDEM_DATABASE_SCHEMA: schema }
  const room = 'kill-in-outage'
  const first = await spawnServer(dir, env)
  cleanups.push(() => killed(first))
  const base = `ws://127.0.0.1:${first.port}`
  const a = await typist(base, 'single', room, 'a')
  const b = await typist(base, 'multiplexed', room, 'b')
  for (let i = 0; i < 5; i++) [a, b].forEach((w) => w.type())
  await waitFor(() => a.poll().length === 5 && b.poll().length === 5, 'the first edits to be acknowledged')

  proxy.cut()
  const waiting = Array.from({ length: 5 }, () => a.type())
  if (opts.bothTypeDuringCut) waiting.push(...Array.from({ length: 5 }, () => b.type()))
  await waitFor(() => a.holds(waiting) && b.holds(waiting), 'the waiting edits to be relayed live')
  first.child.kill('SIGKILL')
  expect(await first.exited).toBe('SIGKILL')
  expect(a.poll()).toHaveLength(5)
  expect(b.poll()).toHaveLength(5)
  proxy.restore()

  const second = await spawnServer(dir, { ...env, TANDEM_DATABASE_URL: POSTGRES_URL })
  cleanups.push(() => killed(second))
  const base2 = `ws://127.0.0.1:${second.port}`
  expect(missingFrom(await storedDoc(schema, room), [...a.acked, ...b.acked])).toEqual([])
  await single(base2, room, { token: await token({ sub: 'a', rooms: { [room]: 'write' } }) }, a.doc)
  const rejoined = await multiplexed(base2)
  const answer = await join(rejoined, room, await token({ sub: 'b', rooms: { [room]: 'write' } }), b.doc)
  expect(answer.type).toBe('authenticated')
  await waitFor(async () => missingFrom(await storedDoc(schema, room), waiting).length === 0, 'the waiting edits to be stored once resent', 15_000)
  expect(missingFrom(await freshRead(base2, room), [...a.sent, ...b.sent].map((s) => s.marker))).toEqual([])
}

/** SIGKILLs a child server unless it already exited, and waits for it. */
async function killed(child: ChildServer): Promise<void> {
  if (child.child.exitCode === null && child.child.signalCode === null) child.child.kill('SIGKILL')
  await child.exited
}

describePostgres('saved on PostgreSQL under faults', () => {
  test('SIGKILL at random moments while two writers type: every acknowledged update survives', async () => {
    const seed = Number(process.env.TANDEM_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31))
    const random = prng(seed)
    const schema = schemas.fresh()
    const { dir, remove } = await tempDir()
    cleanups.push(remove)
    const env = { TANDEM_DATABASE_URL: POSTGRES_URL, TANDEM_DATABASE_SCHEMA: schema, TANDEM_ROOM_IDLE_MS: '200' }
    const children: ChildServer[] = []
    cleanups.push(async () => {
      for (const c of children) {
        if (c.child.exitCode === null && c.child.signalCode === null) {
          c.child.kill('SIGKILL')
          await c.exited
        }
      }
    })
    const room = 'kill-room'
    const acked = new Set<string>()
    const rounds = 3
    for (let round = 0; round < rounds; round++) {
      const child = await spawnServer(dir, env)
      children.push(child)
      const base = `ws://127.0.0.1:${child.port}`
      const writers = [await typist(base, 'single', room, `r${round}s`), await typist(base, 'multiplexed', room, `r${round}m`)]
      // Kill once this many acknowledgements arrived, while both keep typing (bounded: 400 edits each, and the burst).
      const killAt = 10 + Math.floor(random() * 90)
      let killed = false
      const typing = setInterval(() => {
        if (killed) return
        for (const w of writers) if (w.sent.length < 400 && w.conn.closeInfo === null) w.type()
      }, 2)
      cleanups.push(() => clearInterval(typing))
      try {
        await waitFor(() => writers.reduce((n, w) => n + w.poll().length, 0) >= killAt, `${killAt} acknowledgements (seed ${seed})`, 20_000)
        // A burst right before the kill, so that edits are certainly in flight (sent, not yet acknowledged).
        for (const w of writers) for (let i = 0; i < 20; i++) w.type()
        child.child.kill('SIGKILL')
        killed = true
      } finally {
        clearInterval(typing)
      }
      expect(await child.exited).toBe('SIGKILL')
      // Acknowledgements read after the kill were sent before the process died: they count too.
      await waitFor(() => writers.every((w) => w.conn.closeInfo !== null), 'the sockets to close')
      for (const w of writers) w.poll().forEach((m) => acked.add(m))
      const sent = writers.reduce((n, w) => n + w.sent.length, 0)
      const ackedNow = writers.reduce((n, w) => n + w.acked.length, 0)
      expect(sent, `seed ${seed}`).toBeGreaterThan(ackedNow) // killed mid-stream: some edits were in flight
    }
    expect(acked.size).toBeGreaterThanOrEqual(rounds * 10)

    const last = await spawnServer(dir, env)
    children.push(last)
    const fresh = await freshRead(`ws://127.0.0.1:${last.port}`, room)
    expect(missingFrom(fresh, acked), `seed ${seed}`).toEqual([])
    expect(missingFrom(await storedDoc(schema, room), acked), `seed ${seed}`).toEqual([])
    // The fresh client and the rows agree.
    expect(fresh.getArray('log').toArray().sort()).toEqual((await storedDoc(schema, room)).getArray('log').toArray().sort())
  }, 60_000)

  test('SIGKILL during a Postgres cut: acknowledged edits survive, and the waiting ones come back from their writer', async () => {
    await killDuringCut({ bothTypeDuringCut: false })
  }, 60_000)

  // When both writers typed during the outage, each holds the other's relayed, never-stored edits. After the
  // restart whichever rejoins first sends content under the other user's Yjs clientID that the server does
  // not hold: it is left out (only its author may store it), so neither is locked out, and each author's
  // own resync stores its edits.
  test('SIGKILL during a Postgres cut after both writers typed: both can rejoin, each storing its own edits', async () => {
    await killDuringCut({ bothTypeDuringCut: true })
  }, 60_000)

  test('Postgres cut while two clients edit: no acks during it, 503, live edits, then acks in order and nothing lost', async () => {
    await outageCase('cut')
  }, 60_000)

  test('Postgres stalled: the same, and the event loop stays responsive (/healthz answers)', async () => {
    await outageCase('stall', async (srv) => {
      expect(await status(srv.port, '/healthz')).toBe(200)
      // REST that needs no store answers too.
      expect(await status(srv.port, '/v1/openapi.json')).toBe(200)
    })
  }, 60_000)

  test('past TANDEM_DATABASE_MAX_WAITING_BYTES during a cut the writer gets 1013; after restore it reconnects and its content is stored', async () => {
    const proxy = await proxyToPostgres()
    const schema = schemas.fresh()
    const srv = await pgServer(postgresUrlVia(proxy), schema, { TANDEM_DATABASE_MAX_WAITING_BYTES: String(1024 * 1024) })
    const room = 'bounded'

    // Acknowledged before the cut, by another client.
    const early = await single(srv.url, room, { token: await token({ sub: 'early', rooms: { [room]: 'write' } }) })
    await early.write(room, (d) => d.getText('t').insert(0, 'acknowledged before the cut'))

    const doc = new Y.Doc()
    const provider = new WebsocketProvider(`${srv.url}/ws`, room, doc, {
      WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
      params: { token: await token({ sub: 'pusher', rooms: { [room]: 'write' } }) },
      disableBc: true,
      maxBackoffTime: 500,
    })
    cleanups.push(() => provider.destroy())
    const closeCodes: number[] = []
    provider.on('connection-close', (event) => {
      if (event) closeCodes.push(event.code)
    })
    await waitFor(() => provider.synced && doc.getText('t').toString() === 'acknowledged before the cut', 'the pusher to sync')

    proxy.cut()
    // 16 edits of 96 KiB each: 1.5 MiB, past the 1 MiB that may wait.
    const chunk = 'x'.repeat(96 * 1024)
    const chunks = 16
    // One update each, all sent at once. The server lets about ten of them wait and refuses the next: the
    // room closes its clients (a cut alone does not, see the cut case above). What was refused stays in the
    // pusher's doc, unacknowledged, and goes back in its sync step 2 when it reconnects.
    for (let i = 0; i < chunks; i++) doc.getArray<string>('big').push([`${i}:${chunk}`])
    await waitFor(() => closeCodes.length > 0, 'the pusher to be closed')
    expect(closeCodes[0]).toBe(1013)
    expect((await early.closedWith()).code).toBe(1013)
    expect(await status(srv.port, '/readyz')).toBe(503)

    proxy.restore()
    await waitFor(
      async () => {
        const stored = await storedDoc(schema, room)
        return stored.getArray('big').length === chunks && stored.getText('t').toString() === 'acknowledged before the cut'
      },
      'the pusher to reconnect and its content to be stored',
      30_000,
    )
    await waitFor(() => provider.synced && provider.wsconnected, 'the pusher to be connected and synced again')
    const fresh = await freshRead(srv.url, room)
    expect(fresh.getText('t').toString()).toBe('acknowledged before the cut')
    expect(fresh.getArray<string>('big').toArray().map((s) => s.slice(0, s.indexOf(':')))).toEqual(
      doc.getArray<string>('big').toArray().map((s) => s.slice(0, s.indexOf(':'))),
    )
  }, 60_000)

  test('a room whose load fails (Postgres cut) is never served empty: 1013 (REST 503), then the real content after restore', async () => {
    const proxy = await proxyToPostgres()
    const schema = schemas.fresh()
    const room = 'load-fails'
    // Content stored by an earlier server; this one has never loaded the room.
    const first = await pgServer(POSTGRES_URL, schema)
    const writer = await single(first.url, room, { token: await token({ sub: 'w', rooms: { [room]: 'write' } }) })
    await writer.write(room, (d) => d.getText('t').insert(0, 'the real content'))
    writer.close()
    await first.stop()

    const srv = await pgServer(postgresUrlVia(proxy), schema, { TANDEM_ADMIN_KEY: ADMIN_KEY })
    expect(await status(srv.port, '/readyz')).toBe(200) // the pool connected through the proxy
    proxy.cut()
    const jwt = await token({ sub: 'r', rooms: { [room]: 'write' } })

    // y-websocket (single framing): the socket closes with 1013, and the provider never reports synced.
    const yDoc = new Y.Doc()
    const yws = new WebsocketProvider(`${srv.url}/ws`, room, yDoc, {
      WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
      params: { token: jwt },
      disableBc: true,
      maxBackoffTime: 500,
    })
    cleanups.push(() => yws.destroy())
    const ywsCodes: number[] = []
    yws.on('connection-close', (event) => {
      if (event) ywsCodes.push(event.code)
    })
    let syncedEmpty = false
    yws.on('sync', (synced: boolean) => {
      if (synced && yDoc.getText('t').toString() === '') syncedEmpty = true
    })

    // The SDK (multiplexed): the room is closed on its address with 1013, and it retries.
    const sdk = new TandemClient({ url: `${srv.url}/ws`, getToken: () => jwt, WebSocket, backoff: { baseMs: 50, maxMs: 500 } })
    cleanups.push(() => sdk.destroy())
    const sdkRoom = sdk.room(room)
    const sdkCodes: number[] = []
    sdkRoom.on('status', (_status, detail) => {
      if (detail.closeCode !== undefined) sdkCodes.push(detail.closeCode)
    })

    await waitFor(() => ywsCodes.length >= 2 && sdkCodes.length >= 2, 'both clients to be refused (and to retry) while Postgres is cut', 20_000)
    expect(new Set(ywsCodes)).toEqual(new Set([1013]))
    expect(new Set(sdkCodes)).toEqual(new Set([1013]))
    expect(yws.synced).toBe(false)
    expect(sdkRoom.status).not.toBe('synced')
    expect(yDoc.getText('t').toString()).toBe('')
    // REST says the same: 503 unavailable (retry later), not 500, for the room's document and for listing.
    for (const path of [`/v1/rooms/${room}/doc?format=json`, '/v1/rooms']) {
      const res = await fetch(`http://127.0.0.1:${srv.port}${path}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
      expect([path, res.status, ((await res.json()) as { error?: { code?: string } }).error?.code]).toEqual([path, 503, 'unavailable'])
    }

    proxy.restore()
    await sdkRoom.whenSynced()
    expect(sdkRoom.doc.getText('t').toString()).toBe('the real content')
    await waitFor(() => yws.synced, 'the y-websocket client to sync after restore', 20_000)
    expect(yDoc.getText('t').toString()).toBe('the real content')
    expect(syncedEmpty).toBe(false)
  }, 60_000)
})
