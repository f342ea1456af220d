/**
 * Malformed input on both framings (DESIGN.md §1, errors.ts CLOSE_CODE): every bad frame closes the
 * offending socket with its documented code, and nothing of it is applied, broadcast or stored. A
 * well-behaved client in the same room hears nothing, the room's state vector and stored rows do not
 * move, clients in other rooms keep working, and the process stays up. Finally the server restarts on
 * the same data directory and every room written here loads with its content.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import * as Y from 'yjs'
import {
  awarenessEntry,
  bytes,
  closeOpenConns,
  join,
  multiplexed,
  openConns,
  prefix,
  single,
  textUpdate,
  utf8,
  withLength,
  type Conn,
  type Framing,
} from '../helpers/raw-client.js'
import { hex, roomState, textOf, type RoomState } from '../helpers/room-state.js'
import { startServer, token, waitFor, type RunningServer } from '../helpers/server.js'

// ---------------------------------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------------------------------

/** lib0 would read these; Tandem's codec refuses them (PROTOCOL.md: varUint ≤ 8 bytes, ≤ 2^53 − 1). */
const VARUINT_2_POW_53 = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]
const VARUINT_2_POW_56_MINUS_1 = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]
const VARUINT_ZERO_IN_9_BYTES = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]
const GARBAGE_UPDATE = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02, 0x03)

interface BadFrame {
  name: string
  code: number
  frame: (framing: Framing, room: string) => Uint8Array | string
}

const BAD_FRAMES: BadFrame[] = [
  { name: 'text frame', code: 1003, frame: () => 'hello' },
  // The bytes of a valid sync step 1, sent as text: refused for being text, never answered.
  { name: 'text frame holding a valid sync step 1', code: 1003, frame: (f, r) => Buffer.from(bytes(prefix(f, r), 0, 0, 1, 0)).toString('latin1') },
  { name: 'empty frame', code: 1002, frame: () => new Uint8Array(0) },
  { name: 'truncated varint (message type)', code: 1002, frame: (f, r) => bytes(prefix(f, r), 0x80) },
  { name: 'truncated varint (update length)', code: 1002, frame: (f, r) => bytes(prefix(f, r), 0, 2, 0x85) },
  { name: 'out-of-range varint: message type 2^53', code: 1002, frame: (f, r) => bytes(prefix(f, r), VARUINT_2_POW_53, 0) },
  { name: 'out-of-range varint: update length 2^56-1', code: 1002, frame: (f, r) => bytes(prefix(f, r), 0, 2, VARUINT_2_POW_56_MINUS_1, 1, 2, 3) },
  { name: 'over-long varint (0 in 9 bytes)', code: 1002, frame: (f, r) => bytes(prefix(f, r), VARUINT_ZERO_IN_9_BYTES, 0, 1, 0) },
  { name: 'length prefix longer than the frame', code: 1002, frame: (f, r) => bytes(prefix(f, r), 0, 2, 50, 1, 2, 3) },
  { name: 'unknown message type', code: 1002, frame: (f, r) => bytes(prefix(f, r), 99, 0) },
  { name: 'server-internal message type (4, SyncReply)', code: 1002, frame: (f, r) => bytes(prefix(f, r), 4, 0, 1, 0) },
  { name: 'unknown sync sub-type', code: 1002, frame: (f, r) => bytes(prefix(f, r), 0, 3, 1, 0) },
  { name: 'garbage Yjs update (sync update)', code: 1007, frame: (f, r) => bytes(prefix(f, r), 0, 2, withLength(GARBAGE_UPDATE)) },
  { name: 'garbage Yjs update (sync step 2)', code: 1007, frame: (f, r) => bytes(prefix(f, r), 0, 1, withLength(GARBAGE_UPDATE)) },
  { name: 'garbage state vector (sync step 1)', code: 1007, frame: (f, r) => bytes(prefix(f, r), 0, 0, withLength([0xff])) },
  { name: 'awareness with invalid JSON', code: 1007, frame: (f, r) => bytes(prefix(f, r), 1, withLength(awarenessEntry(777, '{"cursor": nope'))) },
  { name: 'awareness with more entries than bytes', code: 1007, frame: (f, r) => bytes(prefix(f, r), 1, withLength([9, 1, 1, 2, 0x7b, 0x7d])) },
  {
    // The whole frame is refused, so the valid message in front of the garbage is not applied either.
    name: 'valid update followed by garbage in the same frame',
    code: 1002,
    frame: (f, r) => bytes(prefix(f, r), 0, 2, withLength(textUpdate('SMUGGLED')), f === 'single' ? 0x80 : 0xaa),
  },
  {
    name: 'a server-to-client message sent by the client',
    code: 1002,
    frame: (f, r) => (f === 'single' ? bytes(2, 0, withLength(utf8('nope'))) : bytes(prefix(f, r), 8, 1)),
  },
]

// ---------------------------------------------------------------------------------------------------
// Flipped updates
// ---------------------------------------------------------------------------------------------------

/** What the room holds before a flipped update arrives; written by a client whose clientID is 1. */
function seedEdit(doc: Y.Doc): void {
  doc.getText('t').insert(0, 'hello')
  doc.getArray('a').push([1, 'x', new Y.Map()])
}

type FlipKind = 'rejected' | 'applies' | 'partial'

interface Flip {
  label: string
  update: Uint8Array
  /** What Yjs does with it locally, against the same document the room holds. */
  kind: FlipKind
}

/**
 * A valid update (clientID 2, several edit kinds) and copies of it with bytes flipped: fixed positions plus
 * seeded pseudo-random 1–3 bit flips, classified by running them against a local copy of the room.
 */
function flippedUpdates(): Flip[] {
  const seedDoc = new Y.Doc()
  seedDoc.clientID = 1
  seedDoc.transact(() => seedEdit(seedDoc))
  const seed = Y.encodeStateAsUpdate(seedDoc)
  const editor = new Y.Doc()
  editor.clientID = 2
  Y.applyUpdate(editor, seed)
  const sv = Y.encodeStateVector(editor)
  editor.transact(() => {
    const text = editor.getText('t')
    text.insert(5, ' world')
    text.delete(0, 2)
    text.format(0, 2, { bold: true })
    editor.getMap('m').set('k', 42)
    editor.getMap('m').set('sub', new Y.Text('x'))
    editor.getArray('a').delete(0, 1)
    editor.getArray('a').insert(0, [Uint8Array.of(1, 2)])
    editor.getXmlFragment('x').insert(0, [new Y.XmlElement('p')])
  })
  const valid = Y.encodeStateAsUpdate(editor, sv)

  const classify = (update: Uint8Array): FlipKind => {
    try {
      Y.decodeUpdate(update)
    } catch {
      return 'rejected'
    }
    const replica = new Y.Doc()
    Y.applyUpdate(replica, seed)
    try {
      Y.applyUpdate(replica, update)
      return 'applies'
    } catch {
      return 'partial'
    }
  }

  const flips: Flip[] = []
  const n = valid.length
  for (const pos of [0, 1, 2, 3, Math.floor(n / 4), Math.floor(n / 2), Math.floor((3 * n) / 4), n - 1]) {
    for (const mask of [0x01, 0x80]) {
      const update = valid.slice()
      update[pos] = (update[pos] ?? 0) ^ mask
      flips.push({ label: `byte ${pos} ^ 0x${mask.toString(16)}`, update, kind: classify(update) })
    }
  }
  // Seeded LCG: the same candidates on every run.
  let state = 1
  const rand = (): number => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648
  const wanted: Record<FlipKind, number> = { rejected: 2, applies: 4, partial: 2 }
  for (let i = 0; i < 20_000 && Object.values(wanted).some((w) => w > 0); i++) {
    const update = valid.slice()
    const count = 1 + Math.floor(rand() * 3)
    const where: string[] = []
    for (let f = 0; f < count; f++) {
      const pos = Math.floor(rand() * n)
      const bit = Math.floor(rand() * 8)
      update[pos] = (update[pos] ?? 0) ^ (1 << bit)
      where.push(`${pos}.${bit}`)
    }
    const kind = classify(update)
    if (wanted[kind] <= 0) continue
    wanted[kind] -= 1
    flips.push({ label: `bits ${where.join(' ')}`, update, kind })
  }
  return flips
}

// ---------------------------------------------------------------------------------------------------

afterEach(closeOpenConns)

describe('malformed input', () => {
  const MAX_MESSAGE_BYTES = '4096'
  const BYSTANDER = 'mal-bystander'
  const BYSTANDER_MUX = 'mal-bystander-mux'
  let running: RunningServer
  let restarted: RunningServer | null = null
  let base: string
  let jwt: string
  let bystander: Conn
  let bystanderMux: Conn
  let edits = 0
  /** Every room written in this file, with the text it must hold. */
  const written = new Map<string, string>()

  beforeAll(async () => {
    running = await startServer({ TANDEM_MAX_MESSAGE_BYTES: MAX_MESSAGE_BYTES })
    base = running.url
    jwt = await token({ rooms: { '*': 'write' } })
    bystander = await single(base, BYSTANDER, { token: jwt })
    bystanderMux = await multiplexed(base)
    expect(await join(bystanderMux, BYSTANDER_MUX, jwt)).toMatchObject({ type: 'authenticated' })
    openConns.delete(bystander) // live for the whole file
    openConns.delete(bystanderMux)
  })

  afterAll(async () => {
    bystander?.close()
    bystanderMux?.close()
    await restarted?.stop()
    await running?.stop() // also removes the data directory the restarted server reused
  })

  async function attacker(framing: Framing, room: string): Promise<Conn> {
    if (framing === 'single') return single(base, room, { token: jwt })
    const conn = await multiplexed(base)
    expect(await join(conn, room, jwt)).toEqual({ type: 'authenticated', scope: 'read-write' })
    return conn
  }

  /** A room with a well-behaved writer (clientID 1) that has written `seedEdit`. */
  async function seededRoom(room: string): Promise<{ observer: Conn; observerDoc: Y.Doc }> {
    const observerDoc = new Y.Doc()
    observerDoc.clientID = 1
    const observer = await single(base, room, { token: jwt }, observerDoc)
    await observer.write(room, seedEdit)
    return { observer, observerDoc }
  }

  /** Everything `conn` heard since `mark` except the round-trip answer and empty keepalive awareness (summarised). */
  function heardSince(conn: Conn, mark: number): string[] {
    return conn.received
      .slice(mark)
      .map((r) => r.message)
      .filter((m) => m.type !== 'sync-step-2' && !(m.type === 'awareness' && m.update.length === 1 && m.update[0] === 0))
      .map((m) => ('update' in m ? `${m.type} (${m.update.length} bytes)` : JSON.stringify(m)))
  }

  async function expectNothingChanged(room: string, observer: Conn, mark: number, before: RoomState): Promise<void> {
    await observer.roundTrip()
    expect(heardSince(observer, mark), 'the other client in the room heard something').toEqual([])
    expect(await roomState(running, room), 'the room changed').toEqual(before)
  }

  /** Clients in other rooms keep working and the process answers HTTP. */
  async function expectOthersFine(): Promise<void> {
    edits += 1
    await bystander.write(BYSTANDER, (doc) => doc.getText('t').insert(0, 's'))
    await bystanderMux.write(BYSTANDER_MUX, (doc) => doc.getText('t').insert(0, 'm'))
    written.set(BYSTANDER, 's'.repeat(edits))
    written.set(BYSTANDER_MUX, 'm'.repeat(edits))
    const health = await fetch(`http://127.0.0.1:${running.port}/healthz`)
    expect(health.status).toBe(200)
  }

  async function expectRejected(framing: Framing, room: string, frame: Uint8Array | string, code: number): Promise<void> {
    const { observer } = await seededRoom(room)
    const bad = await attacker(framing, room)
    const before = await roomState(running, room)
    expect(before.text).toBe('hello')
    written.set(room, 'hello')
    const mark = observer.mark()
    const badMark = bad.mark()

    bad.ws.send(frame, { binary: typeof frame !== 'string' })
    const closed = await bad.closedWith()
    expect(closed.code, `close reason: ${closed.reason}`).toBe(code)
    expect(bad.since(badMark, room), 'the bad frame was answered').toEqual([])
    await expectNothingChanged(room, observer, mark, before)
    await expectOthersFine()
  }

  /** Sends one flipped update; returns whether the socket was closed (with nothing changed) or it applied consistently. */
  async function sendFlipped(framing: Framing, room: string, flipped: Uint8Array): Promise<'closed' | 'applied'> {
    const { observer, observerDoc } = await seededRoom(room)
    const bad = await attacker(framing, room)
    const before = await roomState(running, room)
    const mark = observer.mark()
    const badMark = bad.mark()

    bad.send(room, { type: 'update', update: flipped })
    const acknowledged = (): boolean =>
      bad.received.slice(badMark).some(({ message: m }) =>
        framing === 'single' ? m.type === 'update' && Buffer.from(m.update).equals(Buffer.from(flipped)) : m.type === 'sync-status',
      )
    await waitFor(() => bad.closeInfo !== null || acknowledged(), 'the flipped update to be acknowledged or refused')

    if (bad.closeInfo !== null) {
      // 1007: the payload is not a Yjs update that applies; 1008: it repeats stored ids with other content.
      expect([1007, 1008], `close ${bad.closeInfo.code}: ${bad.closeInfo.reason}`).toContain(bad.closeInfo.code)
      await expectNothingChanged(room, observer, mark, before)
      written.set(room, 'hello')
      return 'closed'
    }
    // Well-formed after all: the room, a client that heard the broadcast and a newcomer must agree.
    const newcomer = await single(base, room, { token: jwt })
    const serverDoc = (): Y.Doc => {
      const live = running.server.registry.get(room)
      if (!live) throw new Error(`${room} is not loaded`)
      return live.doc
    }
    const agree = (a: Y.Doc, b: Y.Doc): boolean =>
      Y.equalSnapshots(Y.snapshot(a), Y.snapshot(b)) && textOf(Y.encodeStateAsUpdate(a)) === textOf(Y.encodeStateAsUpdate(b))
    await waitFor(
      async () => {
        await observer.roundTrip()
        return agree(observerDoc, serverDoc()) && agree(newcomer.docs.get(room) as Y.Doc, serverDoc())
      },
      'the observer, a newcomer and the server to agree',
    )
    const state = await roomState(running, room)
    // What is stored reproduces what is live.
    const reloaded = new Y.Doc()
    for (const row of state.rows) Y.applyUpdate(reloaded, Buffer.from(row, 'hex'))
    expect(Y.equalSnapshots(Y.snapshot(reloaded), Y.snapshot(serverDoc()))).toBe(true)
    written.set(room, state.text ?? '')
    return 'applied'
  }

  for (const framing of ['single', 'multiplexed'] as const) {
    describe(`${framing} framing`, () => {
      for (const [i, bad] of BAD_FRAMES.entries()) {
        test(`${bad.name} → ${bad.code}`, async () => {
          const room = `mal-${framing}-${i}`
          await expectRejected(framing, room, bad.frame(framing, room), bad.code)
        })
      }

      test(`oversize message (5000 bytes > TANDEM_MAX_MESSAGE_BYTES=${MAX_MESSAGE_BYTES}) → 1009`, async () => {
        const room = `mal-${framing}-oversize`
        // Positive control: a message just under the limit is accepted.
        const { observer } = await seededRoom(room)
        const writer = await attacker(framing, room)
        await writer.write(room, (doc) => doc.getText('t').insert(5, 'y'.repeat(3_900)))
        await waitFor(() => observer.docs.get(room)?.getText('t').length === 3_905, 'the observer to get the large edit')
        writer.close()

        const before = await roomState(running, room)
        written.set(room, before.text ?? '')
        const bad = await attacker(framing, room)
        const mark = observer.mark()
        const frame = bytes(prefix(framing, room), 0, 2, withLength(textUpdate('z'.repeat(4_990))))
        expect(frame.length).toBeGreaterThanOrEqual(5_000)
        bad.ws.send(frame, { binary: true })
        const closed = await bad.closedWith()
        expect(closed.code, `close reason: ${closed.reason}`).toBe(1009)
        await expectNothingChanged(room, observer, mark, before)
        await expectOthersFine()
      })

      test('a valid update with bytes flipped: closed (1007/1008) and nothing applied, or applied consistently', async () => {
        const flips = flippedUpdates().filter((f) => f.kind !== 'partial')
        const outcomes: string[] = []
        for (const [i, flip] of flips.entries()) {
          const outcome = await sendFlipped(framing, `mal-${framing}-flip-${i}`, flip.update)
          outcomes.push(`${flip.label}: ${flip.kind} -> ${outcome}`)
        }
        // Both branches were exercised.
        expect(outcomes.some((o) => o.endsWith('closed')), outcomes.join('\n')).toBe(true)
        expect(outcomes.some((o) => o.endsWith('applied')), outcomes.join('\n')).toBe(true)
        await expectOthersFine()
      })

      test('a flipped update that decodes but fails to integrate is refused (1007) without being partially applied', async () => {
        const partial = flippedUpdates().filter((f) => f.kind === 'partial')
        expect(partial.length).toBeGreaterThan(0)
        for (const [i, flip] of partial.entries()) {
          const outcome = await sendFlipped(framing, `mal-${framing}-partial-${i}`, flip.update)
          expect(outcome, flip.label).toBe('closed')
        }
        await expectOthersFine()
      })
    })
  }

  test('after a restart on the same data directory, every room written here loads with its content', async () => {
    expect(written.size).toBeGreaterThan(2 * BAD_FRAMES.length)
    // What a client sees before the restart.
    const viewer = await multiplexed(base)
    const seen = new Map<string, { stateVector: string; update: Uint8Array }>()
    for (const [room, text] of written) {
      expect(await join(viewer, room, jwt)).toEqual({ type: 'authenticated', scope: 'read-write' })
      const doc = viewer.docs.get(room) as Y.Doc
      expect(doc.getText('t').toString(), room).toBe(text)
      seen.set(room, { stateVector: hex(Y.encodeStateVector(doc)), update: Y.encodeStateAsUpdate(doc) })
    }
    viewer.close()
    bystander.close()
    bystanderMux.close()
    await running.server.close()

    restarted = await startServer({ TANDEM_MAX_MESSAGE_BYTES: MAX_MESSAGE_BYTES, TANDEM_DATA_DIR: running.dataDir })
    const after = await multiplexed(restarted.url)
    for (const [room, text] of written) {
      expect(await join(after, room, jwt)).toEqual({ type: 'authenticated', scope: 'read-write' })
      const doc = after.docs.get(room) as Y.Doc
      const expected = seen.get(room) as { stateVector: string; update: Uint8Array }
      expect(doc.getText('t').toString(), room).toBe(text)
      expect(hex(Y.encodeStateVector(doc)), room).toBe(expected.stateVector)
      const before = new Y.Doc()
      Y.applyUpdate(before, expected.update)
      expect(Y.equalSnapshots(Y.snapshot(doc), Y.snapshot(before)), room).toBe(true)
      const live = restarted.server.registry.get(room)
      expect(live && hex(Y.encodeStateVector(live.doc)), room).toBe(expected.stateVector)
    }
  })
})
