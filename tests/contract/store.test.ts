import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from 'vitest'
import * as Y from 'yjs'
import { createMemoryStore } from '#server/persistence/memory'
import { createSqliteStore } from '#server/persistence/sqlite'
import type {
  ListDeliveriesOptions,
  NewWebhookDelivery,
  Store,
  StoredDocument,
  WebhookEndpoint,
} from '#server/persistence/store'
import { waitFor } from '../helpers/server.js'

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

function endpoint(id: string, overrides: Partial<WebhookEndpoint> = {}): WebhookEndpoint {
  return {
    id,
    url: `https://receiver.example/${id}`,
    secret: 'whsec_c2VjcmV0LWtleS1mb3ItdGVzdHM=',
    events: null,
    createdAt: 1_000,
    disabledAt: null,
    previousSecret: null,
    previousSecretExpiresAt: null,
    ...overrides,
  }
}

function newDelivery(id: string, overrides: Partial<NewWebhookDelivery> = {}): NewWebhookDelivery {
  return {
    id,
    endpointId: 'ep_1',
    eventType: 'room.changed',
    payload: JSON.stringify({ type: 'room.changed', id }),
    createdAt: 1_000,
    ...overrides,
  }
}

/** An encoded Yjs state vector from `{ clientId: clock }`. */
function stateVector(clocks: Record<number, number>): Uint8Array {
  return Y.encodeStateVector(new Map(Object.entries(clocks).map(([client, clock]) => [Number(client), clock])))
}

function tombstoneOf(doc: StoredDocument): Record<number, number> | null {
  return doc.tombstone ? Object.fromEntries(Y.decodeStateVector(doc.tombstone)) : null
}

/** Waits until the wall clock has moved past `ms`, so a later timestamp is observably later. */
async function nextMillisecond(ms: number): Promise<void> {
  await waitFor(() => Date.now() > ms, `the clock to pass ${ms}`, 1_000)
}

/** What an unknown (or deleted) room loads as. */
const EMPTY_DOC: StoredDocument = { updates: [], rowCount: 0, byteSize: 0, tombstone: null, clientOwners: new Map() }

async function openStore(open: () => Promise<Fixture>): Promise<Fixture> {
  const fixture = await open()
  onTestFinished(() => fixture.store.close())
  return fixture
}

describe.each(adapters)('Store contract: $name', ({ open }) => {
  test('an unknown room loads empty', async () => {
    const { store } = await openStore(open)
    expect(await store.loadUpdates('never-written')).toEqual(EMPTY_DOC)
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
    expect(result).toMatchObject({ outcome: 'compacted', rowsRead: 30, rowsMerged: 30, rowsWritten: 1 })
    const loaded = await store.loadUpdates('c')
    expect(loaded.rowCount).toBe(1)
    expect(result.bytesAfter).toBe(loaded.byteSize)
    expect(textOf(loaded.updates)).toBe(text)

    // One row, or none, leaves nothing to do.
    const nothing = { outcome: 'nothing', rowsMerged: 0, rowsWritten: 0, bytesAfter: 0 }
    expect(await store.compact('c')).toEqual({ ...nothing, rowsRead: 1 })
    expect(await store.compact('empty')).toEqual({ ...nothing, rowsRead: 0 })
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
      settled.push(store.compact('race').then((r) => (merged += r.rowsMerged - r.rowsWritten)))
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
    expect(await store.deleteRoom('gone', null)).toBe(true)
    await late

    expect(await store.loadUpdates('gone')).toEqual(EMPTY_DOC)
    expect((await store.loadUpdates('kept')).rowCount).toBe(1)
    expect(await store.deleteRoom('never-existed', null)).toBe(false)

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
    await store.deleteRoom('ab', null)
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

  test('a read issued after a write resolved sees it, while other writes are in flight', async () => {
    const { store } = await openStore(open)
    const rooms = Array.from({ length: 8 }, (_, r) => `ryw-${r}`)
    for (const room of rooms) await store.createRoom(room, {})
    /** Per room: every update issued, in call order, and how many of them have resolved. */
    const issued = new Map(rooms.map((room) => [room, [] as string[]]))
    const acked = new Map(rooms.map((room) => [room, 0]))
    const checks: Promise<void>[] = []

    /** Starts a load and a record read now; both must hold at least what was acknowledged by now. */
    const readBack = (room: string): void => {
      const ackedNow = acked.get(room) ?? 0
      const mustHave = (issued.get(room) ?? []).slice(0, ackedNow)
      const mustHaveBytes = sumBytes(mustHave.map(bytes))
      checks.push(
        store.loadUpdates(room).then((doc) => {
          const got = doc.updates.map(decode)
          expect(got.length, `${room} after ${ackedNow} acks`).toBeGreaterThanOrEqual(ackedNow)
          // Commits happen in call order, so what is stored is always a prefix of what was issued.
          expect(got).toEqual((issued.get(room) ?? []).slice(0, got.length))
        }),
        store.getRoom(room).then((record) => {
          expect(record?.sizeBytes, `${room} size after ${ackedNow} acks`).toBeGreaterThanOrEqual(mustHaveBytes)
        }),
      )
    }

    const appends: Promise<void>[] = []
    for (let i = 0; i < 200; i++) {
      const room = rooms[(i * 5) % rooms.length] ?? 'ryw-0'
      const text = `${room}:${i}`
      issued.get(room)?.push(text)
      appends.push(
        store.appendUpdate(room, bytes(text)).then(() => {
          acked.set(room, (acked.get(room) ?? 0) + 1)
          readBack(room)
        }),
      )
      // Loads of other rooms race with the commits in flight.
      if (i % 7 === 0) readBack(rooms[(i * 3 + 1) % rooms.length] ?? 'ryw-0')
      // Spread the appends over several commits rather than one batch: every 25, wait until the 25 before
      // these are acknowledged (the first time, until the first batch has been taken), so the latest ones
      // are still in flight.
      if (i % 25 === 24) await (appends[i - 25] ?? Promise.resolve())
    }

    // Other writes, each followed by a read once it resolved, while the appends above commit.
    const metadataChain = (async () => {
      for (let v = 1; v <= 10; v++) {
        const updated = await store.updateRoomMetadata('ryw-1', { v })
        if (!updated) throw new Error('room ryw-1 missing')
        // Appends to the room may commit in between (bumping updatedAt and size), never undo the update.
        const read = await store.getRoom('ryw-1')
        expect(read?.metadata).toEqual({ v })
        expect(read?.updatedAt).toBeGreaterThanOrEqual(updated.updatedAt)
        expect(read?.sizeBytes).toBeGreaterThanOrEqual(updated.sizeBytes)
        expect((await store.listRooms({ prefix: 'ryw-1', limit: 1 }))[0]?.metadata).toEqual({ v })
      }
      await store.createRoom('ryw-new', {})
      expect(await store.getRoom('ryw-new')).not.toBeNull()
      await store.deleteRoom('ryw-new', null)
      expect(await store.getRoom('ryw-new')).toBeNull()
    })()
    const outboxChain = (async () => {
      for (let n = 1; n <= 10; n++) {
        await store.enqueueDeliveries([newDelivery(`msg_${n}`, { createdAt: n })])
        expect(await store.countPendingDeliveries()).toBe(n)
        await store.completeDelivery(`msg_${n}`, { status: 'pending', nextAttemptAt: 1_000 + n, error: 'x', statusCode: null }, n)
        expect(await store.getDelivery(`msg_${n}`)).toMatchObject({ attempts: 1, nextAttemptAt: 1_000 + n })
      }
      expect(await store.nextDeliveryDueAt()).toBe(1_001)
      await store.saveWebhookEndpoint(endpoint('ep_ryw'))
      expect((await store.listWebhookEndpoints()).map((e) => e.id)).toEqual(['ep_ryw'])
    })()

    await Promise.all([...appends, metadataChain, outboxChain])
    await Promise.all(checks)
    expect(checks.length).toBeGreaterThanOrEqual(2 * 200)
    for (const room of rooms) {
      expect((await store.loadUpdates(room)).updates.map(decode)).toEqual(issued.get(room))
    }
  })

  test('close waits for pending appends, then every call rejects', async () => {
    const { store } = await openStore(open)
    const pending = Array.from({ length: 50 }, (_, i) => store.appendUpdate('c', bytes(`p${i}`)))
    await store.close()
    await expect(Promise.all(pending)).resolves.toHaveLength(50)

    const calls: [string, () => Promise<unknown>][] = [
      ['loadUpdates', () => store.loadUpdates('c')],
      ['appendUpdate', () => store.appendUpdate('c', bytes('x'))],
      ['compact', () => store.compact('c')],
      ['createRoom', () => store.createRoom('c', {})],
      ['ensureRoom', () => store.ensureRoom('c')],
      ['getRoom', () => store.getRoom('c')],
      ['listRooms', () => store.listRooms({ limit: 10 })],
      ['updateRoomMetadata', () => store.updateRoomMetadata('c', {})],
      ['deleteRoom', () => store.deleteRoom('c', null)],
      ['saveWebhookEndpoint', () => store.saveWebhookEndpoint(endpoint('ep_1'))],
      ['listWebhookEndpoints', () => store.listWebhookEndpoints()],
      ['deleteWebhookEndpoint', () => store.deleteWebhookEndpoint('ep_1')],
      ['disableWebhookEndpoint', () => store.disableWebhookEndpoint('ep_1', 1)],
      ['enqueueDeliveries', () => store.enqueueDeliveries([newDelivery('msg_1')])],
      ['claimDueDeliveries', () => store.claimDueDeliveries(1, 10, 1_000)],
      ['completeDelivery', () => store.completeDelivery('msg_1', { status: 'delivered', statusCode: 200 }, 1)],
      ['getDelivery', () => store.getDelivery('msg_1')],
      ['listDeliveries', () => store.listDeliveries({ limit: 10 })],
      ['replayDelivery', () => store.replayDelivery('msg_1', 1)],
      ['countPendingDeliveries', () => store.countPendingDeliveries()],
      ['nextDeliveryDueAt', () => store.nextDeliveryDueAt()],
      ['ping', () => store.ping()],
    ]
    for (const [name, call] of calls) {
      await expect(call(), name).rejects.toThrow(/closed/)
    }
    await expect(store.close()).resolves.toBeUndefined()
  })
})

describe.each(adapters)('Room records: $name', ({ open }) => {
  test('createRoom creates a record once, and getRoom returns it', async () => {
    const { store } = await openStore(open)
    const before = Date.now()
    const metadata = { title: 'Hello', tags: ['a', 'b'], nested: { n: 1, ok: true, none: null } }
    const created = await store.createRoom('r1', metadata)
    expect(created).toEqual({
      name: 'r1',
      createdAt: expect.any(Number),
      updatedAt: created?.createdAt,
      metadata,
      sizeBytes: 0,
    })
    expect(created?.createdAt).toBeGreaterThanOrEqual(before)
    expect(created?.createdAt).toBeLessThanOrEqual(Date.now())

    expect(await store.createRoom('r1', { other: 1 })).toBeNull()
    expect(await store.getRoom('r1')).toEqual(created)
    expect(await store.getRoom('missing')).toBeNull()
  })

  test('ensureRoom creates a record with empty metadata once, then returns the existing one', async () => {
    const { store } = await openStore(open)
    const first = await store.ensureRoom('e')
    expect(first.created).toBe(true)
    expect(first.record).toEqual({ name: 'e', createdAt: expect.any(Number), updatedAt: first.record.createdAt, metadata: {}, sizeBytes: 0 })

    const second = await store.ensureRoom('e')
    expect(second).toEqual({ created: false, record: first.record })

    await store.createRoom('with-meta', { k: 'v' })
    const existing = await store.ensureRoom('with-meta')
    expect(existing.created).toBe(false)
    expect(existing.record.metadata).toEqual({ k: 'v' })
  })

  test('appends bump an existing record and its size but never create a record', async () => {
    const { store } = await openStore(open)
    await store.appendUpdate('orphan', bytes('abc'))
    expect(await store.getRoom('orphan')).toBeNull()
    expect(await store.listRooms({ limit: 10 })).toEqual([])

    const created = await store.createRoom('r', { k: 1 })
    if (!created) throw new Error('room not created')
    await nextMillisecond(created.updatedAt)
    const { updates } = textUpdates(5)
    await Promise.all(updates.map((u) => store.appendUpdate('r', u)))

    const after = await store.getRoom('r')
    expect(after?.createdAt).toBe(created.createdAt)
    expect(after?.updatedAt).toBeGreaterThan(created.updatedAt)
    expect(after?.updatedAt).toBeLessThanOrEqual(Date.now())
    expect(after?.sizeBytes).toBe(sumBytes(updates))
    expect(after?.metadata).toEqual({ k: 1 })

    await store.compact('r')
    expect((await store.getRoom('r'))?.sizeBytes).toBe((await store.loadUpdates('r')).byteSize)

    // A record created over rows written earlier counts them.
    expect((await store.createRoom('orphan', {}))?.sizeBytes).toBe(3)
  })

  test('updateRoomMetadata replaces the metadata and bumps updatedAt', async () => {
    const { store } = await openStore(open)
    const created = await store.createRoom('m', { a: 1, b: 2 })
    if (!created) throw new Error('room not created')
    await nextMillisecond(created.updatedAt)

    const updated = await store.updateRoomMetadata('m', { c: [3] })
    expect(updated?.metadata).toEqual({ c: [3] })
    expect(updated?.createdAt).toBe(created.createdAt)
    expect(updated?.updatedAt).toBeGreaterThan(created.updatedAt)
    expect(await store.getRoom('m')).toEqual(updated)

    expect(await store.updateRoomMetadata('missing', { a: 1 })).toBeNull()
    expect(await store.getRoom('missing')).toBeNull()
  })

  test('metadata is copied in and out: callers cannot change what is stored', async () => {
    const { store } = await openStore(open)
    const input = { list: [1, 2], inner: { x: 'y' } }
    const created = await store.createRoom('copy', input)
    input.list.push(3)
    input.inner.x = 'changed'
    ;((created?.metadata as { list: number[] }).list).push(4)

    const read = await store.getRoom('copy')
    expect(read?.metadata).toEqual({ list: [1, 2], inner: { x: 'y' } })
    ;((read?.metadata as { inner: { x: string } }).inner).x = 'mutated'
    const [listed] = await store.listRooms({ limit: 1 })
    expect(listed?.metadata).toEqual({ list: [1, 2], inner: { x: 'y' } })
  })

  test('listRooms orders by name (code point order), pages with after, and matches prefixes literally', async () => {
    const { store } = await openStore(open)
    // LIKE wildcards, case, characters beyond the BMP (UTF-16 order differs from UTF-8 there),
    // and prefixes whose range bound needs care (U+D7FF is followed by U+E000; U+10FFFF has no successor).
    const names = [
      'b', 'a', 'a%', 'a_', 'a_b', 'ab', 'a%c', 'ac', 'A', 'b1', 'a b',
      '\uFF01', '\u{1F600}', '\u{1F600}x', 'ルーム', '\uD7FF', '\uD7FFz', '\uE000',
      '\u{10FFFF}', '\u{10FFFF}\u{10FFFF}', '\u{10FFFF}a',
    ]
    for (const name of names) await store.createRoom(name, {})
    const expected = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
    const list = async (opts: { prefix?: string; after?: string; limit: number }) =>
      (await store.listRooms(opts)).map((r) => r.name)

    expect(await list({ limit: 100 })).toEqual(expected)
    expect(await list({ limit: 0 })).toEqual([])
    expect(await list({ limit: 3 })).toEqual(expected.slice(0, 3))

    const paged: string[] = []
    let after: string | undefined
    for (;;) {
      const page = await list({ limit: 4, ...(after === undefined ? {} : { after }) })
      paged.push(...page)
      if (page.length < 4) break
      after = page[page.length - 1]
    }
    expect(paged).toEqual(expected)

    const withPrefix = (prefix: string) => expected.filter((n) => n.startsWith(prefix))
    for (const prefix of ['a', 'a_', 'a%', 'A', 'b', '', 'zzz', '\u{1F600}', '\uD7FF', '\u{10FFFF}', 'ルーム']) {
      expect(await list({ prefix, limit: 100 }), `prefix ${JSON.stringify(prefix)}`).toEqual(withPrefix(prefix))
    }
    expect(await list({ prefix: 'a_', limit: 100 })).toEqual(['a_', 'a_b'])
    expect(await list({ prefix: 'a%', limit: 100 })).toEqual(['a%', 'a%c'])

    // Prefix and cursor together: the second page of 'a' rooms.
    const aRooms = withPrefix('a')
    const firstPage = await list({ prefix: 'a', limit: 2 })
    expect(firstPage).toEqual(aRooms.slice(0, 2))
    expect(await list({ prefix: 'a', after: firstPage[1], limit: 100 })).toEqual(aRooms.slice(2))
    // A cursor before the prefix range starts at the range; one after it ends the listing.
    expect(await list({ prefix: 'b', after: 'a', limit: 100 })).toEqual(withPrefix('b'))
    expect(await list({ prefix: 'a', after: 'b', limit: 100 })).toEqual([])
  })

  test('listRooms reports each room\'s size', async () => {
    const { store } = await openStore(open)
    await store.createRoom('big', {})
    await store.createRoom('empty', {})
    await store.createRoom('small', {})
    await store.appendUpdate('big', new Uint8Array(1000))
    await store.appendUpdate('big', new Uint8Array(24))
    await store.appendUpdate('small', new Uint8Array(7))
    await store.appendUpdate('no-record', new Uint8Array(50))
    const rooms = await store.listRooms({ limit: 10 })
    expect(rooms.map((r) => [r.name, r.sizeBytes])).toEqual([
      ['big', 1024],
      ['empty', 0],
      ['small', 7],
    ])
  })

  test('deleteRoom removes record and log, merges the tombstone, and says whether anything existed', async () => {
    const { store } = await openStore(open)
    await store.createRoom('d', { k: 1 })
    await store.appendUpdate('d', bytes('a'))
    await store.createRoom('other', {})
    await store.appendUpdate('other', bytes('o'))
    const late = store.appendUpdate('d', bytes('issued just before the delete'))

    expect(await store.deleteRoom('d', stateVector({ 1: 5, 2: 3 }))).toBe(true)
    await late
    expect(await store.getRoom('d')).toBeNull()
    const gone = await store.loadUpdates('d')
    expect(gone.rowCount).toBe(0)
    expect(tombstoneOf(gone)).toEqual({ 1: 5, 2: 3 })
    expect(await store.listRooms({ limit: 10 })).toEqual([expect.objectContaining({ name: 'other', sizeBytes: 1 })])

    // Nothing exists any more, but the tombstone still merges: the higher clock per client wins.
    expect(await store.deleteRoom('d', stateVector({ 1: 2, 2: 7, 3: 1 }))).toBe(false)
    expect(tombstoneOf(await store.loadUpdates('d'))).toEqual({ 1: 5, 2: 7, 3: 1 })
    expect(await store.deleteRoom('d', null)).toBe(false)
    expect(tombstoneOf(await store.loadUpdates('d'))).toEqual({ 1: 5, 2: 7, 3: 1 })

    // Re-creation works and keeps the tombstone; so does writing the room again.
    const again = await store.createRoom('d', { second: true })
    expect(again?.metadata).toEqual({ second: true })
    await store.appendUpdate('d', bytes('new'))
    const reborn = await store.loadUpdates('d')
    expect(reborn.rowCount).toBe(1)
    expect(tombstoneOf(reborn)).toEqual({ 1: 5, 2: 7, 3: 1 })

    // The other room is untouched and has no tombstone.
    expect((await store.loadUpdates('other')).tombstone).toBeNull()
    expect((await store.getRoom('other'))?.sizeBytes).toBe(1)
  })

  test('deleteRoom counts a record alone or a log alone as existing', async () => {
    const { store } = await openStore(open)
    await store.createRoom('record-only', {})
    await store.appendUpdate('rows-only', bytes('r'))
    expect(await store.deleteRoom('record-only', null)).toBe(true)
    expect(await store.deleteRoom('rows-only', null)).toBe(true)
    expect(await store.getRoom('record-only')).toBeNull()
    expect(await store.loadUpdates('rows-only')).toEqual(EMPTY_DOC)
    expect(await store.deleteRoom('record-only', null)).toBe(false)
  })

  test('an empty tombstone is not remembered; a malformed one rejects and deletes nothing', async () => {
    const { store } = await openStore(open)
    await store.appendUpdate('e', bytes('x'))
    expect(await store.deleteRoom('e', Y.encodeStateVector(new Y.Doc()))).toBe(true)
    expect((await store.loadUpdates('e')).tombstone).toBeNull()

    await store.createRoom('kept', {})
    await store.appendUpdate('kept', bytes('k'))
    await expect(store.deleteRoom('kept', new Uint8Array([5]))).rejects.toThrow()
    expect(await store.getRoom('kept')).not.toBeNull()
    expect(await store.loadUpdates('kept')).toMatchObject({ rowCount: 1, tombstone: null })
  })

  test('a loaded tombstone is a copy', async () => {
    const { store } = await openStore(open)
    await store.deleteRoom('t', stateVector({ 9: 9 }))
    const first = await store.loadUpdates('t')
    first.tombstone?.fill(0)
    expect(tombstoneOf(await store.loadUpdates('t'))).toEqual({ 9: 9 })
  })
})

describe.each(adapters)('Webhook endpoints and outbox: $name', ({ open }) => {
  test('saveWebhookEndpoint inserts or replaces by id; list returns copies ordered by creation', async () => {
    const { store } = await openStore(open)
    expect(await store.listWebhookEndpoints()).toEqual([])
    const b = endpoint('ep_b', { createdAt: 200, events: ['room.created', 'room.deleted'] })
    const a = endpoint('ep_a', { createdAt: 300 })
    const config = endpoint('ep_config', { createdAt: 100, events: null })
    await store.saveWebhookEndpoint(b)
    await store.saveWebhookEndpoint(a)
    await store.saveWebhookEndpoint(config)
    expect(await store.listWebhookEndpoints()).toEqual([config, b, a])

    const replaced = endpoint('ep_b', { url: 'https://new.example/hook', secret: 'whsec_bmV3', createdAt: 200, events: null })
    await store.saveWebhookEndpoint(replaced)
    expect(await store.listWebhookEndpoints()).toEqual([config, replaced, a])

    // Copies both ways.
    const events = ['room.changed']
    await store.saveWebhookEndpoint(endpoint('ep_c', { createdAt: 400, events }))
    events.push('user.left')
    const listed = await store.listWebhookEndpoints()
    ;(listed[3]?.events as string[] | undefined)?.push('mutated')
    expect((await store.listWebhookEndpoints())[3]?.events).toEqual(['room.changed'])
  })

  test('disableWebhookEndpoint sets disabledAt; an unknown id is a no-op', async () => {
    const { store } = await openStore(open)
    await store.saveWebhookEndpoint(endpoint('ep_1'))
    await store.disableWebhookEndpoint('ep_1', 12_345)
    await store.disableWebhookEndpoint('ep_unknown', 1)
    expect(await store.listWebhookEndpoints()).toEqual([{ ...endpoint('ep_1'), disabledAt: 12_345 }])
  })

  test('deleteWebhookEndpoint removes the endpoint and its pending deliveries, keeping finished ones', async () => {
    const { store } = await openStore(open)
    await store.saveWebhookEndpoint(endpoint('ep_1'))
    await store.saveWebhookEndpoint(endpoint('ep_2'))
    await store.enqueueDeliveries([
      newDelivery('msg_1', { endpointId: 'ep_1' }),
      newDelivery('msg_2', { endpointId: 'ep_1' }),
      newDelivery('msg_3', { endpointId: 'ep_1' }),
      newDelivery('msg_4', { endpointId: 'ep_2' }),
    ])
    await store.completeDelivery('msg_2', { status: 'delivered', statusCode: 200 }, 2_000)
    await store.completeDelivery('msg_3', { status: 'failed', error: 'gave up', statusCode: 500 }, 2_000)

    expect(await store.deleteWebhookEndpoint('ep_1')).toBe(true)
    expect(await store.deleteWebhookEndpoint('ep_1')).toBe(false)
    expect((await store.listWebhookEndpoints()).map((e) => e.id)).toEqual(['ep_2'])
    expect(await store.getDelivery('msg_1')).toBeNull()
    expect((await store.listDeliveries({ limit: 10 })).map((d) => [d.id, d.status])).toEqual([
      ['msg_2', 'delivered'],
      ['msg_3', 'failed'],
      ['msg_4', 'pending'],
    ])
  })

  test('enqueued deliveries start pending with no attempts, due at their creation', async () => {
    const { store } = await openStore(open)
    const d = newDelivery('msg_a', { createdAt: 5_000, payload: '{"type":"room.created","data":{"room":"r"}}' })
    await store.enqueueDeliveries([d])
    await store.enqueueDeliveries([])
    expect(await store.getDelivery('msg_a')).toEqual({
      ...d,
      status: 'pending',
      attempts: 0,
      nextAttemptAt: 5_000,
      lastError: null,
      lastStatusCode: null,
      updatedAt: 5_000,
    })
    expect(await store.getDelivery('msg_unknown')).toBeNull()

    // Copies: changing what was read changes nothing stored.
    const read = await store.getDelivery('msg_a')
    ;(read as { attempts: number }).attempts = 99
    expect((await store.getDelivery('msg_a'))?.attempts).toBe(0)
  })

  test('enqueueDeliveries is all or nothing', async () => {
    const { store } = await openStore(open)
    await store.enqueueDeliveries([newDelivery('msg_1')])
    await expect(store.enqueueDeliveries([newDelivery('msg_2'), newDelivery('msg_1')])).rejects.toThrow()
    await expect(store.enqueueDeliveries([newDelivery('msg_3'), newDelivery('msg_3')])).rejects.toThrow()
    expect((await store.listDeliveries({ limit: 10 })).map((d) => d.id)).toEqual(['msg_1'])
  })

  test('claimDueDeliveries returns due deliveries oldest first and leases them', async () => {
    const { store } = await openStore(open)
    await store.enqueueDeliveries([
      newDelivery('msg_late', { createdAt: 3_000 }),
      newDelivery('msg_b', { createdAt: 1_000 }),
      newDelivery('msg_a', { createdAt: 1_000 }),
      newDelivery('msg_first', { createdAt: 500 }),
      newDelivery('msg_future', { createdAt: 9_000 }),
    ])
    // Retried deliveries are ordered by when they are due, not when they were created.
    await store.completeDelivery('msg_first', { status: 'pending', nextAttemptAt: 2_000, error: 'HTTP 503', statusCode: 503 }, 600)

    const claimed = await store.claimDueDeliveries(3_000, 3, 10_000)
    expect(claimed.map((d) => d.id)).toEqual(['msg_a', 'msg_b', 'msg_first'])
    expect(claimed.map((d) => d.nextAttemptAt)).toEqual([13_000, 13_000, 13_000])
    // Nothing but the lease changes: a claim is not an attempt.
    expect(claimed[2]).toMatchObject({ status: 'pending', attempts: 1, lastError: 'HTTP 503', lastStatusCode: 503, updatedAt: 600 })
    expect(await store.getDelivery('msg_a')).toEqual(claimed[0])

    // Leased deliveries are not handed out again until the lease runs out.
    expect((await store.claimDueDeliveries(3_000, 10, 10_000)).map((d) => d.id)).toEqual(['msg_late'])
    expect(await store.claimDueDeliveries(8_999, 10, 10_000)).toEqual([])
    // All due now: by due time, then creation, then id.
    expect((await store.claimDueDeliveries(13_000, 10, 1_000)).map((d) => d.id)).toEqual([
      'msg_future',
      'msg_first',
      'msg_a',
      'msg_b',
      'msg_late',
    ])
    expect(await store.claimDueDeliveries(100_000, 0, 1_000)).toEqual([])
  })

  test('only pending deliveries are claimed', async () => {
    const { store } = await openStore(open)
    await store.enqueueDeliveries([newDelivery('msg_1'), newDelivery('msg_2'), newDelivery('msg_3')])
    await store.completeDelivery('msg_1', { status: 'delivered', statusCode: 204 }, 1_500)
    await store.completeDelivery('msg_2', { status: 'failed', error: 'gone', statusCode: 410 }, 1_500)
    expect((await store.claimDueDeliveries(1_000_000, 10, 1_000)).map((d) => d.id)).toEqual(['msg_3'])
  })

  test('completeDelivery records each outcome and counts the attempt', async () => {
    const { store } = await openStore(open)
    await store.enqueueDeliveries([newDelivery('msg_ok'), newDelivery('msg_retry'), newDelivery('msg_fail')])

    await store.completeDelivery('msg_retry', { status: 'pending', nextAttemptAt: 4_000, error: 'timeout', statusCode: null }, 2_000)
    expect(await store.getDelivery('msg_retry')).toMatchObject({
      status: 'pending',
      attempts: 1,
      nextAttemptAt: 4_000,
      lastError: 'timeout',
      lastStatusCode: null,
      updatedAt: 2_000,
    })

    await store.completeDelivery('msg_ok', { status: 'pending', nextAttemptAt: 3_000, error: 'HTTP 500', statusCode: 500 }, 2_000)
    await store.completeDelivery('msg_ok', { status: 'delivered', statusCode: 200 }, 3_100)
    expect(await store.getDelivery('msg_ok')).toMatchObject({
      status: 'delivered',
      attempts: 2,
      lastStatusCode: 200,
      // The earlier failure stays visible for inspection.
      lastError: 'HTTP 500',
      updatedAt: 3_100,
    })

    await store.completeDelivery('msg_fail', { status: 'failed', error: 'HTTP 410 Gone', statusCode: 410 }, 2_500)
    expect(await store.getDelivery('msg_fail')).toMatchObject({
      status: 'failed',
      attempts: 1,
      lastError: 'HTTP 410 Gone',
      lastStatusCode: 410,
      updatedAt: 2_500,
    })

    // An unknown id changes nothing and does not throw.
    await store.completeDelivery('msg_unknown', { status: 'delivered', statusCode: 200 }, 1)
    expect(await store.getDelivery('msg_unknown')).toBeNull()
  })

  test('replayDelivery puts a delivery back to pending now, keeping its history', async () => {
    const { store } = await openStore(open)
    await store.enqueueDeliveries([newDelivery('msg_1', { createdAt: 1_000 })])
    await store.completeDelivery('msg_1', { status: 'pending', nextAttemptAt: 2_000, error: 'HTTP 502', statusCode: 502 }, 1_500)
    await store.completeDelivery('msg_1', { status: 'failed', error: 'HTTP 503', statusCode: 503 }, 2_500)
    expect(await store.claimDueDeliveries(50_000, 10, 1_000)).toEqual([])

    const replayed = await store.replayDelivery('msg_1', 60_000)
    expect(replayed).toEqual({
      ...newDelivery('msg_1', { createdAt: 1_000 }),
      status: 'pending',
      attempts: 0,
      nextAttemptAt: 60_000,
      lastError: 'HTTP 503',
      lastStatusCode: 503,
      updatedAt: 60_000,
    })
    expect(await store.getDelivery('msg_1')).toEqual(replayed)
    expect(await store.claimDueDeliveries(59_999, 10, 1_000)).toEqual([])
    expect((await store.claimDueDeliveries(60_000, 10, 1_000)).map((d) => d.id)).toEqual(['msg_1'])
    expect(await store.replayDelivery('msg_unknown', 1)).toBeNull()
  })

  test('listDeliveries pages by id and filters by status', async () => {
    const { store } = await openStore(open)
    const ids = ['msg_05', 'msg_01', 'msg_04', 'msg_02', 'msg_03', 'msg_06']
    await store.enqueueDeliveries(ids.map((id, i) => newDelivery(id, { createdAt: 1_000 + i })))
    await store.completeDelivery('msg_02', { status: 'delivered', statusCode: 200 }, 2_000)
    await store.completeDelivery('msg_04', { status: 'failed', error: 'x', statusCode: null }, 2_000)
    await store.completeDelivery('msg_05', { status: 'delivered', statusCode: 201 }, 2_000)
    const list = async (opts: ListDeliveriesOptions) => (await store.listDeliveries(opts)).map((d) => d.id)

    expect(await list({ limit: 100 })).toEqual([...ids].sort())
    expect(await list({ limit: 2 })).toEqual(['msg_01', 'msg_02'])
    expect(await list({ after: 'msg_02', limit: 2 })).toEqual(['msg_03', 'msg_04'])
    expect(await list({ after: 'msg_06', limit: 2 })).toEqual([])
    expect(await list({ status: 'pending', limit: 100 })).toEqual(['msg_01', 'msg_03', 'msg_06'])
    expect(await list({ status: 'delivered', limit: 100 })).toEqual(['msg_02', 'msg_05'])
    expect(await list({ status: 'failed', limit: 100 })).toEqual(['msg_04'])
    expect(await list({ status: 'pending', after: 'msg_01', limit: 1 })).toEqual(['msg_03'])
    expect(await list({ limit: 0 })).toEqual([])
    expect((await store.listDeliveries({ status: 'delivered', limit: 1 }))[0]).toEqual(await store.getDelivery('msg_02'))
  })

  test('countPendingDeliveries and nextDeliveryDueAt follow the pending deliveries', async () => {
    const { store } = await openStore(open)
    expect(await store.countPendingDeliveries()).toBe(0)
    expect(await store.nextDeliveryDueAt()).toBeNull()

    await store.enqueueDeliveries([
      newDelivery('msg_1', { createdAt: 3_000 }),
      newDelivery('msg_2', { createdAt: 1_000 }),
      newDelivery('msg_3', { createdAt: 2_000 }),
    ])
    expect(await store.countPendingDeliveries()).toBe(3)
    expect(await store.nextDeliveryDueAt()).toBe(1_000)

    await store.claimDueDeliveries(1_000, 10, 5_000) // leases msg_2 until 6_000
    expect(await store.nextDeliveryDueAt()).toBe(2_000)
    await store.completeDelivery('msg_3', { status: 'delivered', statusCode: 200 }, 2_000)
    expect(await store.countPendingDeliveries()).toBe(2)
    expect(await store.nextDeliveryDueAt()).toBe(3_000)
    await store.completeDelivery('msg_1', { status: 'failed', error: 'x', statusCode: 500 }, 3_000)
    expect(await store.nextDeliveryDueAt()).toBe(6_000)
    await store.completeDelivery('msg_2', { status: 'delivered', statusCode: 200 }, 3_000)
    expect(await store.countPendingDeliveries()).toBe(0)
    expect(await store.nextDeliveryDueAt()).toBeNull()
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

  test('rooms, tombstones, endpoints and deliveries survive close and reopen', async () => {
    const path = freshDbPath()
    const first = await createSqliteStore({ path }, silent)
    const room = await first.createRoom('kept', { title: 'T' })
    await first.appendUpdate('kept', bytes('12345'))
    await first.deleteRoom('deleted', stateVector({ 7: 3 }))
    await first.saveWebhookEndpoint(endpoint('ep_1', { events: ['room.created'] }))
    await first.enqueueDeliveries([newDelivery('msg_1'), newDelivery('msg_2')])
    await first.completeDelivery('msg_2', { status: 'failed', error: 'HTTP 500', statusCode: 500 }, 2_000)
    const before = {
      room: await first.getRoom('kept'),
      deliveries: await first.listDeliveries({ limit: 10 }),
    }
    await first.close()

    const second = await createSqliteStore({ path }, silent)
    onTestFinished(() => second.close())
    expect(before.room).toMatchObject({ name: 'kept', createdAt: room?.createdAt, sizeBytes: 5 })
    expect(await second.getRoom('kept')).toEqual(before.room)
    expect(tombstoneOf(await second.loadUpdates('deleted'))).toEqual({ 7: 3 })
    expect(await second.listWebhookEndpoints()).toEqual([endpoint('ep_1', { events: ['room.created'] })])
    expect(await second.listDeliveries({ limit: 10 })).toEqual(before.deliveries)
    expect(await second.countPendingDeliveries()).toBe(1)
  })

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
    expect(reopened.pragma('user_version', { simple: true })).toBe(5)
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
