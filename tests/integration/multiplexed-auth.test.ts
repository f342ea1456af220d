/**
 * Multiplexed framing auth (DESIGN.md §1–2, WIRE-NOTES B2.3–B2.4): per-room auth messages, the bounded
 * pre-auth queue, denial that keeps the socket for other rooms, the auth timeout, and which token wins
 * when both the upgrade and the auth message carry one. Server state is checked directly: a denied room
 * is never loaded or stored, a queued update lands exactly once after auth.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import WebSocket from 'ws'
import type { RoomEvent } from '#server/rooms/events'
import { awarenessFrame, closeOpenConns, join, multiplexed, single, textUpdate } from '../helpers/raw-client.js'
import { roomState } from '../helpers/room-state.js'
import { startServer, token, waitFor, type RunningServer } from '../helpers/server.js'

// ---------------------------------------------------------------------------------------------------

afterEach(closeOpenConns)

describe('multiplexed auth', () => {
  let running: RunningServer
  let base: string
  const events: RoomEvent[] = []

  beforeAll(async () => {
    running = await startServer()
    base = running.url
    running.server.events.on((event) => events.push(event))
  })

  afterAll(async () => {
    await running?.stop()
  })

  /** Every room event about `room` since index `from`. */
  const eventsFor = (room: string, from = 0): RoomEvent[] => events.slice(from).filter((e) => 'roomId' in e && e.roomId === room)

  /** A denied room leaves no trace: not loaded, nothing stored, no room event at all. */
  async function expectNoTrace(room: string): Promise<void> {
    expect(running.server.registry.get(room)).toBeUndefined()
    const stored = await running.server.store.loadUpdates(room)
    expect(stored.rowCount).toBe(0)
    expect(stored.updates).toEqual([])
    expect(eventsFor(room)).toEqual([])
  }

  test('auth + sync step 1 + update sent back to back: queued until authorised, then applied once and acknowledged', async () => {
    const room = 'mux-queue'
    const jwt = await token({ rooms: { [room]: 'write' } })
    const observer = await single(base, room, { token: jwt })
    const conn = await multiplexed(base) // raw: answers nothing by itself

    conn.send(room, { type: 'auth-token', token: jwt, providerVersion: '4.0.0' })
    conn.send(room, { type: 'sync-step-1', stateVector: Uint8Array.of(0) })
    conn.send(room, { type: 'update', update: textUpdate('queued') })
    await conn.next('sync-status', { room })

    // Authenticated precedes the room's first sync frame; the queued frames are answered in order.
    expect(conn.since(0, room)).toEqual([
      { type: 'authenticated', scope: 'read-write' },
      expect.objectContaining({ type: 'sync-step-1' }),
      expect.objectContaining({ type: 'sync-step-2' }),
      { type: 'sync-status', applied: true },
    ])
    await waitFor(() => observer.docs.get(room)?.getText('t').toString() === 'queued', 'the observer to receive the queued update')
    const state = await roomState(running, room)
    expect(state.text).toBe('queued')
    expect(state.rows).toHaveLength(1) // applied (and stored) exactly once
  })

  test('frames that arrive before the auth message are queued too (sync, awareness, update)', async () => {
    const room = 'mux-queue-early'
    const jwt = await token({ rooms: { [room]: 'write' } })
    const observer = await single(base, room, { token: jwt })
    const fromObserver = observer.mark()
    const conn = await multiplexed(base)

    conn.send(room, { type: 'sync-step-1', stateVector: Uint8Array.of(0) })
    conn.send(room, awarenessFrame(4242, { user: 'early' }))
    conn.send(room, { type: 'update', update: textUpdate('early') })
    // Nothing of the room is answered before auth (another room on the socket is the barrier).
    expect(await join(conn, `${room}-probe`, await token({ rooms: { [`${room}-probe`]: 'write' } }))).toMatchObject({ type: 'authenticated' })
    expect(conn.since(0, room)).toEqual([])
    conn.send(room, { type: 'auth-token', token: jwt, providerVersion: null })

    await conn.next('sync-status', { room })
    expect(conn.since(0, room).map((m) => m.type)).toEqual(['authenticated', 'sync-step-1', 'sync-step-2', 'sync-status'])
    // Presence went to everyone in the room, sender included.
    await conn.next('awareness', { room })
    await observer.next('awareness', { from: fromObserver })
    await waitFor(() => observer.docs.get(room)?.getText('t').toString() === 'early', 'the observer to receive the early update')
    expect((await roomState(running, room)).text).toBe('early')
  })

  test('a denied room gets PermissionDenied while another room on the same socket works; nothing of it is loaded', async () => {
    const allowed = 'mux-allowed'
    const denied = 'mux-denied'
    const forged = 'mux-denied-forged'
    const jwt = await token({ rooms: { [allowed]: 'write' } })
    const observer = await single(base, allowed, { token: jwt })
    const conn = await multiplexed(base)

    // Hocuspocus order for the denied rooms, including content and presence that must go nowhere.
    for (const [room, t] of [
      [denied, jwt],
      [forged, `${jwt.slice(0, -4)}AAAA`],
    ] as const) {
      conn.send(room, { type: 'auth-token', token: t, providerVersion: null })
      conn.send(room, { type: 'sync-step-1', stateVector: Uint8Array.of(0) })
      conn.send(room, { type: 'update', update: textUpdate('EVIL') })
      conn.send(room, awarenessFrame(666, { user: 'evil' }))
    }
    expect(await join(conn, allowed, jwt)).toEqual({ type: 'authenticated', scope: 'read-write' })
    expect(await conn.next('permission-denied', { room: denied })).toEqual({ type: 'permission-denied', reason: 'forbidden' })
    expect(await conn.next('permission-denied', { room: forged })).toEqual({ type: 'permission-denied', reason: 'token_invalid' })

    // The allowed room is fully usable on the same socket.
    await conn.write(allowed, (doc) => doc.getText('t').insert(0, 'fine'))
    await waitFor(() => observer.docs.get(allowed)?.getText('t').toString() === 'fine', 'the observer to see the allowed edit')

    // Frames for a denied room after the denial are dropped as well; a repeated auth is the barrier.
    const from = conn.mark()
    conn.send(denied, { type: 'update', update: textUpdate('LATER') })
    conn.send(denied, { type: 'auth-token', token: jwt, providerVersion: null })
    expect(await conn.next('permission-denied', { room: denied, from })).toEqual({ type: 'permission-denied', reason: 'forbidden' })

    expect(conn.closeInfo).toBeNull()
    // Nothing but the denials was ever sent for the denied rooms.
    expect(conn.received.filter((r) => r.room === denied || r.room === forged).map((r) => r.message.type)).toEqual([
      'permission-denied',
      'permission-denied',
      'permission-denied',
    ])
    await expectNoTrace(denied)
    await expectNoTrace(forged)
    // The observer heard no presence or content from the denied rooms' frames.
    expect(observer.docs.get(allowed)?.getText('t').toString()).toBe('fine')
    const allowedState = await roomState(running, allowed)
    expect(allowedState).toMatchObject({ loaded: true, text: 'fine' })
    expect(allowedState.rows).toHaveLength(1)

    // A denied room may be retried with a token that grants it; frames sent while it was denied stay
    // dropped (they were sent without authorisation), even with no denial in between.
    conn.send(denied, { type: 'update', update: textUpdate('WHILE DENIED') })
    const better = await token({ rooms: { [denied]: 'write' } })
    expect(await join(conn, denied, better)).toEqual({ type: 'authenticated', scope: 'read-write' })
    expect(conn.docs.get(denied)?.getText('t').toString()).toBe('')
    expect((await roomState(running, denied)).rows).toEqual([])
    await conn.write(denied, (doc) => doc.getText('t').insert(0, 'retried'))
    expect((await roomState(running, denied)).text).toBe('retried')
  })

  test('pre-auth queue overflow closes the socket with 1008 (messages, bytes, and across rooms); nothing is loaded', async () => {
    const jwt = await token()
    // 1000 queued frames are allowed (999 + the sync step 1 `join` sends while auth is verified).
    const atLimit = await multiplexed(base)
    const limitRoom = 'mux-queue-limit'
    for (let i = 0; i < 999; i++) atLimit.send(limitRoom, { type: 'query-awareness' })
    expect(await join(atLimit, limitRoom, jwt)).toEqual({ type: 'authenticated', scope: 'read-write' })
    expect(atLimit.closeInfo).toBeNull()

    // The 1001st is one too many.
    const byCount = await multiplexed(base)
    for (let i = 0; i < 1001; i++) byCount.send('mux-overflow-count', { type: 'query-awareness' })
    expect((await byCount.closedWith()).code).toBe(1008)

    // The limit is per socket, not per room.
    const acrossRooms = await multiplexed(base)
    for (let i = 0; i < 1001; i++) acrossRooms.send(`mux-overflow-across-${i % 3}`, { type: 'query-awareness' })
    expect((await acrossRooms.closedWith()).code).toBe(1008)

    // 5 MiB of queued bytes (frames under the 2 MiB message limit).
    const byBytes = await multiplexed(base)
    const chunk = new Uint8Array(1024 * 1024)
    for (let i = 0; i < 6 && byBytes.ws.readyState === WebSocket.OPEN; i++) byBytes.send('mux-overflow-bytes', { type: 'update', update: chunk })
    expect((await byBytes.closedWith(10_000)).code).toBe(1008)

    // An auth message sent after the overflow frames never gets answered: the socket is gone.
    const late = await multiplexed(base)
    for (let i = 0; i < 1001; i++) late.send('mux-overflow-late', { type: 'query-awareness' })
    late.send('mux-overflow-late', { type: 'auth-token', token: jwt, providerVersion: null })
    expect((await late.closedWith()).code).toBe(1008)
    expect(late.since(0, 'mux-overflow-late')).toEqual([])

    for (const room of ['mux-overflow-count', 'mux-overflow-across-0', 'mux-overflow-across-1', 'mux-overflow-across-2', 'mux-overflow-bytes', 'mux-overflow-late']) {
      await expectNoTrace(room)
    }
    expect(running.server.registry.get(limitRoom)).toBeDefined()
  })

  test('more than 100 rooms awaiting auth: the extra room alone is refused (too_many_rooms), the socket and its rooms stay', async () => {
    const conn = await multiplexed(base)
    const jwt = await token({ rooms: { 'cap-over': 'write' } })
    const forbidden = await token({ rooms: { 'only-this': 'write' } })
    // 100 denied rooms fill the socket's allowance of rooms that are not joined.
    for (let i = 0; i < 100; i++) conn.send(`cap-denied-${i}`, { type: 'auth-token', token: forbidden, providerVersion: null })
    await waitFor(() => conn.received.filter((r) => r.message.type === 'permission-denied').length === 100, 'a denial for each of the 100 rooms')
    const over = await join(conn, 'cap-over', jwt)
    expect(over).toEqual({ type: 'permission-denied', reason: 'too_many_rooms' })
    expect(conn.closeInfo).toBeNull()
    expect(running.server.registry.get('cap-over')).toBeUndefined()
    // Leaving a denied room frees its place.
    conn.send('cap-denied-0', { type: 'close', reason: null })
    expect(await join(conn, 'cap-over', jwt)).toEqual({ type: 'authenticated', scope: 'read-write' })
  })

  test('a per-room token in the auth message overrides the upgrade token', async () => {
    const room = 'mux-override'
    const observer = await single(base, room, { token: await token({ rooms: { [room]: 'write' }, sub: 'observer' }) })

    // Upgrade grants read, the room's token grants write: write wins because the room's token is used.
    const upgraded = await multiplexed(base, { token: await token({ rooms: { [room]: 'read' }, sub: 'upgrade' }) })
    expect(await join(upgraded, room, await token({ rooms: { [room]: 'write' }, sub: 'per-room' }))).toEqual({
      type: 'authenticated',
      scope: 'read-write',
    })
    await upgraded.write(room, (doc) => doc.getText('t').insert(0, 'per-room write'))
    await waitFor(() => observer.docs.get(room)?.getText('t').toString() === 'per-room write', 'the observer to see the write')

    // Upgrade grants write, the room's token grants read: read-only, not a union of both.
    const downgraded = await multiplexed(base, { token: await token({ rooms: { '*': 'write' }, sub: 'upgrade' }) })
    expect(await join(downgraded, room, await token({ rooms: { [room]: 'read' }, sub: 'per-room' }))).toEqual({
      type: 'authenticated',
      scope: 'readonly',
    })
    const before = await roomState(running, room)
    const fromObserver = observer.mark()
    const from = downgraded.mark()
    downgraded.send(room, { type: 'update', update: textUpdate('NOPE') })
    expect(await downgraded.next('sync-status', { room, from })).toEqual({ type: 'sync-status', applied: false })
    await observer.roundTrip()
    expect(observer.since(fromObserver).filter((m) => m.type !== 'sync-step-2')).toEqual([])
    expect(await roomState(running, room)).toEqual(before)

    // An invalid or non-granting per-room token is not rescued by a good upgrade token.
    const good = await multiplexed(base, { token: await token({ rooms: { '*': 'write' } }) })
    expect(await join(good, `${room}-a`, 'not-a-jwt')).toEqual({ type: 'permission-denied', reason: 'token_invalid' })
    expect(await join(good, `${room}-b`, await token({ rooms: { elsewhere: 'write' } }))).toEqual({ type: 'permission-denied', reason: 'forbidden' })
    await expectNoTrace(`${room}-a`)
    await expectNoTrace(`${room}-b`)
    // The same socket still authorises a room through its upgrade token.
    expect(await join(good, `${room}-c`, '')).toEqual({ type: 'authenticated', scope: 'read-write' })
  })

  test('the upgrade token is used when the auth message carries an empty token', async () => {
    const room = 'mux-upgrade-token'
    const writer = await multiplexed(base, { token: await token({ rooms: { [room]: 'write' } }) })
    expect(await join(writer, room, '')).toEqual({ type: 'authenticated', scope: 'read-write' })
    await writer.write(room, (doc) => doc.getText('t').insert(0, 'via upgrade'))
    expect((await roomState(running, room)).text).toBe('via upgrade')

    const reader = await multiplexed(base, { token: await token({ rooms: { [room]: 'read' } }) })
    expect(await join(reader, room, '')).toEqual({ type: 'authenticated', scope: 'readonly' })
    expect(reader.docs.get(room)?.getText('t').toString()).toBe('via upgrade')

    const outsider = await multiplexed(base, { token: await token({ rooms: { 'mux-other': 'write' } }) })
    expect(await join(outsider, room, '')).toEqual({ type: 'permission-denied', reason: 'forbidden' })

    const tokenless = await multiplexed(base)
    expect(await join(tokenless, 'mux-no-token', '')).toEqual({ type: 'permission-denied', reason: 'token_missing' })
    await expectNoTrace('mux-no-token')
  })
})

describe('multiplexed auth timeout', () => {
  const TIMEOUT_MS = 500
  let running: RunningServer

  beforeAll(async () => {
    running = await startServer({ TANDEM_AUTH_TIMEOUT_MS: String(TIMEOUT_MS) })
  })

  afterAll(async () => {
    await running?.stop()
  })

  test('a socket that authorises no room in time is closed with 4408; one that did stays open', async () => {
    const jwt = await token({ rooms: { 'timeout-ok': 'write' } })
    const started = Date.now()
    const idle = await multiplexed(running.url)
    const queued = await multiplexed(running.url) // frames for a room, but never an auth message
    queued.send('timeout-queued', { type: 'sync-step-1', stateVector: Uint8Array.of(0) })
    const deniedOnly = await multiplexed(running.url)
    expect(await join(deniedOnly, 'timeout-denied', jwt)).toEqual({ type: 'permission-denied', reason: 'forbidden' })
    const upgradeTokenOnly = await multiplexed(running.url, { token: jwt }) // a valid upgrade token is not a room
    const authorised = await multiplexed(running.url)
    expect(await join(authorised, 'timeout-ok', jwt)).toEqual({ type: 'authenticated', scope: 'read-write' })

    const closes = await Promise.all([idle, queued, deniedOnly, upgradeTokenOnly].map((c) => c.closedWith(5_000)))
    expect(closes.map((c) => c.code)).toEqual([4408, 4408, 4408, 4408])
    expect(Date.now() - started).toBeGreaterThanOrEqual(TIMEOUT_MS - 50)
    expect(running.server.registry.get('timeout-queued')).toBeUndefined()

    // Well past the timeout, the authorised socket still works.
    await waitFor(() => Date.now() - started > TIMEOUT_MS * 2, 'twice the auth timeout')
    await authorised.write('timeout-ok', (doc) => doc.getText('t').insert(0, 'still here'))
    expect(authorised.closeInfo).toBeNull()
  })
})
