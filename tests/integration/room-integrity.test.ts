/**
 * What a room refuses, and that a saved acknowledgement is only ever sent for content the room holds:
 * acks and refusals in message order, the document-size and pending-content limits, updates that repeat
 * stored ids with other content, and a store that cannot commit.
 */
import { afterEach, describe, expect, test } from 'vitest'
import * as Y from 'yjs'
import { createMemoryStore } from '#server/persistence/memory'
import type { Store } from '#server/persistence/store'
import { startServer, tempDir, token, waitFor, type RunningServer } from '../helpers/server.js'
import { closeOpenConns, join, multiplexed, single, type Conn } from '../helpers/raw-client.js'
import { testScope } from '../helpers/cleanup.js'
import { manyStructDoc } from '../helpers/many-structs.js'
import { SLICE_STRUCTS } from '#server/rooms/sliced-apply'

const scope = testScope('integrity')
const ADMIN_KEY = 'integrity-test-admin-key-0123456789'
afterEach(closeOpenConns)

/** A memory store whose commits can be held back (a slow disk) or made to fail (a full one). */
function controllableStore(): { store: Store; hold(): void; release(): void; releaseFailing(): void; fail(on: boolean): void } {
  const inner = createMemoryStore()
  let gate: Promise<void> = Promise.resolve()
  let open: () => void = () => {}
  let failing = false
  let heldFail = false
  const full = (): Promise<void> => Promise.reject(new Error('SQLITE_FULL: database or disk is full'))
  const appendUpdate: Store['appendUpdate'] = (room, update) => {
    if (failing) return full()
    // Chained on one gate, so commits stay in call order as the contract requires.
    return gate.then(() => (heldFail ? full() : inner.appendUpdate(room, update)))
  }
  const store = new Proxy(inner, {
    get(target, key) {
      if (key === 'appendUpdate') return appendUpdate
      const value: unknown = Reflect.get(target, key, target)
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    },
  })
  return {
    store,
    hold() {
      gate = new Promise<void>((resolve) => (open = resolve))
      scope.releases.push(() => open())
    },
    release: () => open(),
    /** The held commits fail (the disk filled up while they waited). */
    releaseFailing() {
      heldFail = true
      open()
    },
    fail(on) {
      failing = on
    },
  }
}

async function serve(env: Record<string, string> = {}, store?: Store): Promise<RunningServer> {
  const running = await startServer({ TANDEM_STORE: 'memory', TANDEM_ADMIN_KEY: ADMIN_KEY, ...env }, store ? { store } : {})
  scope.cleanups.push(() => running.stop())
  return running
}

function syncStatuses(conn: Conn, room: string, from: number): boolean[] {
  return conn.received
    .slice(from)
    .filter((r) => r.room === room && r.message.type === 'sync-status')
    .map((r) => (r.message as { applied: boolean }).applied)
}

async function storedText(running: RunningServer, room: string): Promise<string> {
  const doc = new Y.Doc()
  for (const update of (await running.server.store.loadUpdates(room)).updates) Y.applyUpdate(doc, update)
  return doc.getText('t').toString()
}

describe('acknowledgements', () => {
  test('a refusal never overtakes the saved ack of an earlier update on the same socket', async () => {
    const control = controllableStore()
    const running = await serve({}, control.store)
    const room = scope.freshRoom('order')
    const conn = await multiplexed(running.url)
    expect(await join(conn, room, await token({ rooms: { [room]: 'write' } }))).toMatchObject({ scope: 'read-write' })
    const doc = conn.docs.get(room) as Y.Doc

    control.hold() // U1's commit is slow...
    const from = conn.mark()
    doc.getText('t').insert(0, 'accepted ')
    // ...and meanwhile the token is refreshed to read-only, so U2 is refused at once.
    conn.send(room, { type: 'auth-token', token: await token({ rooms: { [room]: 'read' } }), providerVersion: null })
    await conn.next('authenticated', { room, from, where: (m) => m.scope === 'readonly' })
    doc.getText('t').insert(0, 'refused ')
    await conn.roundTrip(room) // the server has handled U2
    expect(syncStatuses(conn, room, from), 'nothing may be said about U2 before U1 is saved').toEqual([])

    control.release()
    await waitFor(() => syncStatuses(conn, room, from).length === 2, 'both statuses')
    expect(syncStatuses(conn, room, from)).toEqual([true, false])
    expect(await storedText(running, room)).toBe('accepted ')
  })
})

/** Two consecutive edits of one doc: the second depends on the first. */
function dependentPair(): { first: Uint8Array; second: Uint8Array } {
  const doc = new Y.Doc()
  const updates: Uint8Array[] = []
  doc.on('update', (u: Uint8Array) => updates.push(u))
  doc.getText('t').insert(0, 'hello')
  doc.getText('t').insert(5, ' world')
  return { first: updates[0] as Uint8Array, second: updates[1] as Uint8Array }
}

describe('large updates (decoded, then applied a turn later)', () => {
  /** An update of about 2 MiB: over the size from which the server decodes and applies in separate turns. */
  function largeUpdate(fill: string): Uint8Array {
    const doc = new Y.Doc()
    doc.getText('t').insert(0, fill.repeat(2 * 1024 * 1024))
    return Y.encodeStateAsUpdate(doc)
  }

  test('what a socket sends after a large update waits behind it: acks and refusals stay in message order', async () => {
    const running = await serve({ TANDEM_MAX_PENDING_BYTES: '0' })
    const room = scope.freshRoom('staged-order')
    const conn = await multiplexed(running.url)
    await join(conn, room, await token())
    const from = conn.mark()
    // Sent back to back: the refused one (its content waits for an update nobody sent) reaches the
    // server before the large one is applied.
    conn.send(room, { type: 'update', update: largeUpdate('a') })
    conn.send(room, { type: 'update', update: dependentPair().second })
    await waitFor(() => syncStatuses(conn, room, from).length >= 2, 'both statuses')
    expect(syncStatuses(conn, room, from).slice(0, 2)).toEqual([true, false])
    expect((await storedText(running, room)).length).toBe(2 * 1024 * 1024)
  })

  function manyStructUpdate(seed: number): { update: Uint8Array; text: string } {
    const doc = manyStructDoc(seed)
    const update = Y.encodeStateAsUpdate(doc)
    expect(update.byteLength).toBeGreaterThan(1024 * 1024)
    expect(Y.decodeUpdate(update).structs.length).toBeGreaterThan(3 * SLICE_STRUCTS)
    return { update, text: doc.getText('t').toString() }
  }

  test('an update of many structs is applied in slices: others see all of it, the sender is acknowledged once, after it, and the store replays it', async () => {
    const running = await serve({ TANDEM_MAX_PENDING_BYTES: '0' })
    const room = scope.freshRoom('sliced')
    const jwt = await token()
    const writer = await multiplexed(running.url)
    await join(writer, room, jwt)
    const reader = await single(running.url, room, { token: jwt })
    const { update, text } = manyStructUpdate(11)
    const from = writer.mark()
    writer.send(room, { type: 'update', update })
    // Right behind it, content waiting on an update nobody sent: refused, and only after the large one's ack.
    writer.send(room, { type: 'update', update: dependentPair().second })
    await waitFor(() => syncStatuses(writer, room, from).length >= 2, 'both statuses')
    expect(syncStatuses(writer, room, from)).toEqual([true, false])
    await waitFor(() => reader.docs.get(room)?.getText('t').length === text.length, 'the reader to receive every slice')
    expect(reader.docs.get(room)?.getText('t').toString() === text).toBe(true)
    expect((await storedText(running, room)) === text).toBe(true)
    // Each slice is stored as it is applied (compaction merges the rows later).
    expect((await running.server.store.loadUpdates(room)).updates.length).toBeGreaterThanOrEqual(3)
    const whole = new Y.Doc()
    Y.applyUpdate(whole, update)
    const live = running.server.registry.get(room)?.doc as Y.Doc
    expect(Buffer.from(Y.encodeStateAsUpdate(live)).equals(Y.encodeStateAsUpdate(whole)), 'the same structs as applying it whole').toBe(true)
  })

  test('a token refresh to read-only right after a large update does not refuse it', async () => {
    const running = await serve()
    const room = scope.freshRoom('staged-scope')
    const conn = await multiplexed(running.url)
    await join(conn, room, await token({ rooms: { [room]: 'write' } }))
    const from = conn.mark()
    const readOnly = await token({ rooms: { [room]: 'read' } })
    conn.send(room, { type: 'update', update: largeUpdate('b') })
    conn.send(room, { type: 'auth-token', token: readOnly, providerVersion: null })
    await conn.next('authenticated', { room, from, where: (m) => m.scope === 'readonly' })
    await waitFor(() => syncStatuses(conn, room, from).length === 1, 'the status of the large update')
    expect(syncStatuses(conn, room, from)).toEqual([true])
    expect((await storedText(running, room)).length).toBe(2 * 1024 * 1024)
  })

  test('a malformed large update closes with 1007, and a large REST update is applied', async () => {
    const running = await serve({ TANDEM_MAX_BODY_BYTES: String(4 * 1024 * 1024) })
    const room = scope.freshRoom('staged-rest')
    const conn = await multiplexed(running.url)
    await join(conn, room, await token())
    const broken = largeUpdate('c')
    broken[broken.length - 3] = 0xff // inside the delete set's lengths: runs past the end
    conn.send(room, { type: 'update', update: broken.subarray(0, broken.length - 1) })
    expect(await conn.closedWith()).toMatchObject({ code: 1007 })

    const res = await fetch(`http://127.0.0.1:${running.port}/v1/rooms/${room}/doc`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/octet-stream' },
      body: Buffer.from(largeUpdate('d')),
    })
    expect(res.status).toBe(204)
    expect(await storedText(running, room)).toBe('d'.repeat(2 * 1024 * 1024))
  })
})

describe('document size limit', () => {
  const MAX = 64 * 1024

  test('an update that would grow the document past the limit is refused with 4413 (REST: 413); a repeat of stored content is not', async () => {
    const running = await serve({ TANDEM_MAX_DOC_BYTES: String(MAX) })
    const room = scope.freshRoom('size')
    const jwt = await token()
    const writer = await single(running.url, room, { token: jwt })
    await writer.write(room, (d) => d.getText('t').insert(0, 'a'.repeat(40_000)))

    // A client that holds the whole document rejoins: its sync step 2 repeats it, which adds nothing.
    const copy = new Y.Doc()
    Y.applyUpdate(copy, Y.encodeStateAsUpdate(writer.docs.get(room) as Y.Doc))
    const rejoined = await single(running.url, room, { token: jwt }, copy)
    expect(rejoined.closeInfo).toBeNull()

    writer.docs.get(room)?.getText('t').insert(0, 'b'.repeat(40_000))
    expect(await writer.closedWith()).toMatchObject({ code: 4413 })

    const big = new Y.Doc()
    big.getText('t').insert(0, 'c'.repeat(80_000))
    const res = await fetch(`http://127.0.0.1:${running.port}/v1/rooms/${room}/doc`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/octet-stream' },
      body: Buffer.from(Y.encodeStateAsUpdate(big)),
    })
    expect(res.status).toBe(413)
    expect(await res.json()).toMatchObject({ error: { code: 'document_too_large' } })
    expect((await storedText(running, room)).length).toBe(40_000)
  })
})

describe('pending content', () => {
  test('is acknowledged, counted in tandem_pending_bytes and integrates when its dependency arrives', async () => {
    const running = await serve({ TANDEM_MAX_PENDING_BYTES: '4096' })
    const room = scope.freshRoom('pending')
    const conn = await multiplexed(running.url)
    await join(conn, room, await token())
    const { first, second } = dependentPair()
    const from = conn.mark()
    conn.send(room, { type: 'update', update: second })
    await waitFor(() => syncStatuses(conn, room, from).length === 1, 'the ack of the waiting update')
    expect(syncStatuses(conn, room, from)).toEqual([true])
    expect(running.server.registry.pendingBytes).toBeGreaterThan(0)
    const metrics = await (await fetch(`http://127.0.0.1:${running.port}/metrics`)).text()
    expect(metrics).toMatch(/^tandem_pending_bytes [1-9]/m)

    conn.send(room, { type: 'update', update: first })
    await waitFor(() => syncStatuses(conn, room, from).length === 2, 'the ack of the dependency')
    expect(running.server.registry.pendingBytes).toBe(0)
    expect(running.server.registry.get(room)?.doc.getText('t').toString()).toBe('hello world')
  })

  test('past the limit the sender is asked to resync (sync step 1), then closed with 4409', async () => {
    const running = await serve({ TANDEM_MAX_PENDING_BYTES: '0' })
    const room = scope.freshRoom('overflow')
    const conn = await multiplexed(running.url)
    await join(conn, room, await token())
    const from = conn.mark()
    conn.send(room, { type: 'update', update: dependentPair().second })
    await conn.next('sync-step-1', { room, from })
    await waitFor(() => syncStatuses(conn, room, from).length >= 1, 'the refusal')
    // (Our answer to the server's sync step 1 is acknowledged after it.)
    expect(syncStatuses(conn, room, from)[0]).toBe(false)
    expect(running.server.registry.pendingBytes).toBe(0)

    conn.send(room, { type: 'update', update: dependentPair().second })
    expect(await conn.closedWith()).toMatchObject({ code: 4409 })
    expect(await storedText(running, room)).toBe('')
  })
})

describe('repeated ids', () => {
  test('an update that reuses stored ids with other content is refused with 1008 and never acknowledged', async () => {
    const running = await serve()
    const room = scope.freshRoom('forged')
    const jwt = await token()
    const owner = await single(running.url, room, { token: jwt })
    const ownerDoc = owner.docs.get(room) as Y.Doc
    await owner.write(room, (d) => d.getText('t').insert(0, 'hello'))

    // Same clientID, same clocks, other text: Yjs would keep "hello" and drop this silently.
    const forgedDoc = new Y.Doc()
    forgedDoc.clientID = ownerDoc.clientID
    forgedDoc.getText('t').insert(0, 'HELLO')
    const forger = await single(running.url, room, { token: jwt })
    const from = forger.mark()
    forger.send(room, { type: 'update', update: Y.encodeStateAsUpdate(forgedDoc) })
    expect(await forger.closedWith()).toMatchObject({ code: 1008 })
    expect(forger.since(from).filter((m) => m.type === 'update')).toEqual([])
    expect(await storedText(running, room)).toBe('hello')
  })
})

describe('repeated ids with other non-text content', () => {
  /** The owner's edit and a forgery under the same clientID and clocks (found by the fuzz suite). */
  const cases: { name: string; edit: (d: Y.Doc) => void; forged: (d: Y.Doc) => void }[] = [
    { name: 'a map value', edit: (d) => d.getMap('m').set('k', 'saved'), forged: (d) => d.getMap('m').set('k', 'other') },
    { name: 'an array element', edit: (d) => d.getArray('a').push(['saved']), forged: (d) => d.getArray('a').push([42]) },
    { name: 'the parent type', edit: (d) => d.getArray('a').push(['saved']), forged: (d) => d.getArray('b').push(['saved']) },
  ]
  test.each(cases)('a repeat of stored ids with other content ($name) is refused with 1008, never acknowledged', async ({ edit, forged }) => {
    const running = await serve()
    const room = scope.freshRoom('forged-any')
    const jwt = await token()
    const owner = await single(running.url, room, { token: jwt })
    const ownerDoc = owner.docs.get(room) as Y.Doc
    await owner.write(room, edit)
    const forgedDoc = new Y.Doc()
    forgedDoc.clientID = ownerDoc.clientID
    forged(forgedDoc)
    const forger = await single(running.url, room, { token: jwt })
    const from = forger.mark()
    forger.send(room, { type: 'update', update: Y.encodeStateAsUpdate(forgedDoc) })
    expect(await forger.closedWith()).toMatchObject({ code: 1008 })
    expect(forger.since(from).filter((m) => m.type === 'update')).toEqual([])
  })

  test('a repeat of a map overwrite (its key is implied by its neighbour, not encoded) is a plain duplicate', async () => {
    const running = await serve()
    const room = scope.freshRoom('map-overwrite')
    const conn = await multiplexed(running.url)
    await join(conn, room, await token())
    const doc = conn.docs.get(room) as Y.Doc
    const updates: Uint8Array[] = []
    doc.on('update', (u: Uint8Array) => updates.push(u))
    doc.getMap('m').set('k', 1)
    doc.getMap('m').set('k', 2)
    await waitFor(() => syncStatuses(conn, room, 0).length >= 3, 'both edits to be saved')
    const from = conn.mark()
    conn.send(room, { type: 'update', update: updates[1] as Uint8Array })
    await waitFor(() => syncStatuses(conn, room, from).length === 1, 'the duplicate to be answered')
    expect(syncStatuses(conn, room, from)).toEqual([true])
    expect(conn.closeInfo).toBeNull()
  })
})

describe('clientID ownership', () => {
  /** An update under `clientID` (at clock 0: a repeat of stored ids with other content). */
  function updateAs(clientID: number, text: string): Uint8Array {
    const doc = new Y.Doc()
    doc.clientID = clientID
    doc.getText('t').insert(0, text)
    return Y.encodeStateAsUpdate(doc)
  }

  /** New content under `clientID` continuing from `base` (the clocks follow its history), as one update. */
  function continuing(base: Y.Doc, clientID: number, text: string): Uint8Array {
    const forged = new Y.Doc()
    Y.applyUpdate(forged, Y.encodeStateAsUpdate(base))
    forged.clientID = clientID
    const before = Y.encodeStateVector(forged)
    forged.getText('t').insert(0, text)
    return Y.encodeStateAsUpdate(forged, before)
  }

  /** New content under `clientID` at clocks far beyond its history: a jump ahead of the owner. */
  function jumpingAhead(clientID: number, text: string): Uint8Array {
    const doc = new Y.Doc()
    doc.clientID = clientID
    doc.getText('pad').insert(0, 'x'.repeat(10_000))
    const before = Y.encodeStateVector(doc)
    doc.getText('t').insert(0, text)
    return Y.encodeStateAsUpdate(doc, before)
  }

  test("content under another user's clientID is never stored, also after a restart; the owner keeps writing", async () => {
    const dir = await tempDir()
    scope.cleanups.push(() => dir.remove())
    const env = { TANDEM_DATA_DIR: dir.dir }
    let running = await startServer(env)
    const room = scope.freshRoom('owners')
    const alice = await token({ sub: 'alice' })
    const bob = await token({ sub: 'bob' })
    const aliceDoc = new Y.Doc()
    // Kept: Yjs gives aliceDoc a new clientID once it hears another tab write under this one.
    const aliceId = aliceDoc.clientID
    const owner = await single(running.url, room, { token: alice }, aliceDoc)
    await owner.write(room, (d) => d.getText('t').insert(0, 'alice '))

    // Bob jumps ahead of Alice's clock: the forgery that would make her next edits vanish. Closed, 1008.
    const intruder = await single(running.url, room, { token: bob })
    intruder.send(room, { type: 'update', update: jumpingAhead(aliceId, 'bob was here ') })
    expect(await intruder.closedWith()).toMatchObject({ code: 1008 })

    // Bob sends content that continues Alice's history, as a client holding her unsaved edit would: her
    // structs are left out (only she may store them), his own content in the same update is kept.
    const relay = await single(running.url, room, { token: bob })
    const bobsDoc = new Y.Doc()
    Y.applyUpdate(bobsDoc, continuing(aliceDoc, aliceId, 'not from alice '))
    bobsDoc.getMap('notes').set('bob', 'his own')
    relay.send(room, { type: 'update', update: Y.encodeStateAsUpdate(bobsDoc, Y.encodeStateVector(aliceDoc)) })
    await relay.roundTrip()
    expect(relay.closeInfo).toBeNull()
    const stored = async (): Promise<Y.Doc> => {
      const doc = new Y.Doc()
      for (const update of (await running.server.store.loadUpdates(room)).updates) Y.applyUpdate(doc, update)
      return doc
    }
    await waitFor(async () => (await stored()).getMap('notes').get('bob') === 'his own', "Bob's own edit to be stored")
    expect(await storedText(running, room)).not.toContain('not from alice')
    const metrics = await (await fetch(`http://127.0.0.1:${running.port}/metrics`)).text()
    expect(metrics).toMatch(/^tandem_updates_refused_total\{reason="foreign_client"\} 2$/m)

    // A second tab of the same user may write under the same clientID.
    const tabDoc = new Y.Doc()
    Y.applyUpdate(tabDoc, Y.encodeStateAsUpdate(aliceDoc))
    tabDoc.clientID = aliceId
    const tab = await single(running.url, room, { token: alice }, tabDoc)
    await tab.write(room, (d) => d.getText('t').insert(0, 'tab '))
    owner.close()
    tab.close()
    relay.close()
    await running.server.close()

    running = await startServer(env)
    scope.cleanups.push(() => running.server.close())
    // The binding was stored with the room: Bob still cannot write under Alice's clientID.
    const again = await single(running.url, room, { token: bob })
    again.send(room, { type: 'update', update: jumpingAhead(aliceId, 'bob again ') })
    expect(await again.closedWith()).toMatchObject({ code: 1008 })
    // And a repeat of stored ids with other content is refused as well.
    const repeat = await single(running.url, room, { token: bob })
    repeat.send(room, { type: 'update', update: updateAs(aliceId, 'x') })
    expect(await repeat.closedWith()).toMatchObject({ code: 1008 })
    const back = await single(running.url, room, { token: alice }, tabDoc)
    await back.write(room, (d) => d.getText('t').insert(0, 'after restart '))
    expect(await storedText(running, room)).toMatch(/^after restart tab /)
    expect(await storedText(running, room)).not.toContain('bob again')
  })

  test("two writers holding each other's lost edits both rejoin: each stores its own, neither is locked out", async () => {
    const control = controllableStore()
    const running = await serve({}, control.store)
    const room = scope.freshRoom('mutual')
    const aliceDoc = new Y.Doc()
    const bobDoc = new Y.Doc()
    const alice = await single(running.url, room, { token: await token({ sub: 'alice' }) }, aliceDoc)
    const bob = await single(running.url, room, { token: await token({ sub: 'bob' }) }, bobDoc)
    await alice.write(room, (d) => d.getText('t').insert(0, 'a0 '))
    await bob.write(room, (d) => d.getText('t').insert(0, 'b0 '))
    await waitFor(() => aliceDoc.getText('t').toString() === bobDoc.getText('t').toString(), 'both to converge')

    // Both type while commits fail; each edit reaches the other before its commit fails.
    control.fail(true)
    aliceDoc.getText('t').insert(0, 'a1 ')
    bobDoc.getText('t').insert(0, 'b1 ')
    await alice.closedWith()
    await bob.closedWith()
    // A restart with nothing of the failed room kept in memory: what the crash case leaves.
    running.server.registry.forgetUnsaved()
    control.fail(false)

    const bobAgain = await single(running.url, room, { token: await token({ sub: 'bob' }) }, bobDoc)
    const aliceAgain = await single(running.url, room, { token: await token({ sub: 'alice' }) }, aliceDoc)
    expect(bobAgain.closeInfo).toBeNull()
    expect(aliceAgain.closeInfo).toBeNull()
    await waitFor(async () => {
      const text = await storedText(running, room)
      return text.includes('a1') && text.includes('b1')
    }, 'both lost edits to be stored by their authors')
  })
})

describe('storage failure', () => {
  test('clients are told to retry later (1013), nothing is acknowledged, and their edits are stored after recovery', async () => {
    const control = controllableStore()
    const running = await serve({}, control.store)
    const room = scope.freshRoom('full')
    const jwt = await token()
    const doc = new Y.Doc()
    const conn = await single(running.url, room, { token: jwt }, doc)
    await conn.write(room, (d) => d.getText('t').insert(0, 'saved '))

    control.fail(true)
    const from = conn.mark()
    doc.getText('t').insert(6, 'unsaved')
    expect(await conn.closedWith()).toMatchObject({ code: 1013 })
    expect(conn.since(from).filter((m) => m.type === 'update')).toEqual([])

    control.fail(false)
    // The client reconnects with its doc; its sync step 2 carries the edit that was never acknowledged.
    await single(running.url, room, { token: jwt }, doc)
    await waitFor(async () => (await storedText(running, room)) === 'saved unsaved', 'the re-sent edit to be stored')
  })

  test('a document read waiting for a commit that then fails answers 503, not the unsaved content', async () => {
    const control = controllableStore()
    const running = await serve({}, control.store)
    const room = scope.freshRoom('read-full')
    const conn = await single(running.url, room, { token: await token() })
    await conn.write(room, (d) => d.getText('t').insert(0, 'saved '))
    control.hold()
    ;(conn.docs.get(room) as Y.Doc).getText('t').insert(6, 'unsaved')
    await waitFor(() => running.server.registry.get(room)?.doc.getText('t').toString() === 'saved unsaved', 'the edit to be applied')
    const read = fetch(`http://127.0.0.1:${running.port}/v1/rooms/${room}/doc?format=json`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
    // A request after it is answered first: the read reached the server and waits for the commit.
    expect((await fetch(`http://127.0.0.1:${running.port}/v1/rooms/${room}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).status).toBe(200)
    control.releaseFailing()
    const res = await read
    expect(res.status).toBe(503)
    expect(await res.json()).toMatchObject({ error: { code: 'unavailable' } })
    expect(await conn.closedWith()).toMatchObject({ code: 1013 })
  })

  // The room relays an edit to the other peers before its commit. When the commit fails, another user's
  // client holds content under the author's clientID that the store lacks; the room keeps what it held
  // and stores it on its next load, so that client's resync finds it there.
  test("a client holding another user's relayed edit whose commit failed can rejoin after recovery", async () => {
    const control = controllableStore()
    const running = await serve({}, control.store)
    const room = scope.freshRoom('relayed')
    const aliceDoc = new Y.Doc()
    const bobDoc = new Y.Doc()
    const alice = await single(running.url, room, { token: await token({ sub: 'alice' }) }, aliceDoc)
    const bob = await single(running.url, room, { token: await token({ sub: 'bob' }) }, bobDoc)
    await alice.write(room, (d) => d.getText('t').insert(0, 'saved '))

    control.fail(true)
    aliceDoc.getText('t').insert(6, 'relayed, never committed')
    // The edit reaches Bob before its commit fails; then both are told to retry later.
    await waitFor(() => bobDoc.getText('t').toString() === 'saved relayed, never committed', 'the relayed edit at Bob')
    expect(await alice.closedWith()).toMatchObject({ code: 1013 })
    expect(await bob.closedWith()).toMatchObject({ code: 1013 })

    control.fail(false)
    // Bob reconnects first: his sync step 2 carries Alice's edit, which the server never stored.
    const again = await single(running.url, room, { token: await token({ sub: 'bob' }) }, bobDoc)
    await again.roundTrip()
    expect(again.closeInfo).toBeNull()
    await again.write(room, (d) => d.getText('t').insert(0, 'bob '))
    await single(running.url, room, { token: await token({ sub: 'alice' }) }, aliceDoc)
    await waitFor(async () => (await storedText(running, room)) === 'bob saved relayed, never committed', 'both edits to be stored')
  })
})

