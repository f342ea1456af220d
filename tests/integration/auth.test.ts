/**
 * The auth matrix over real sockets (DESIGN.md §2): every rejection is checked on the wire (HTTP status
 * and `{"error":{"code"}}` body at the upgrade, PermissionDenied per multiplexed room, close codes for
 * expiry) AND against server state: the room's document, its state vector and its stored rows are
 * unchanged afterwards.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { SignJWT, type JWTPayload } from 'jose'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import type { Message } from '@tandem/client/protocol'
import { closeOpenConns, Conn, join, multiplexed, openConns, single, wsUrl } from '../helpers/raw-client.js'
import { roomState, type RoomState } from '../helpers/room-state.js'
import { startServer, TEST_SECRET, token, waitFor, type RunningServer } from '../helpers/server.js'

// ---------------------------------------------------------------------------------------------------
// Refused upgrades
// ---------------------------------------------------------------------------------------------------

interface Rejection {
  status: number
  body: { error?: { code?: string; message?: string } }
}

/** Attempts an upgrade that must be refused; resolves with the HTTP status and JSON body. */
function refused(url: string, protocols?: string[]): Promise<Rejection> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols)
    ws.on('unexpected-response', (req, res: IncomingMessage) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.on('end', () => {
        req.destroy()
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) as Rejection['body'] })
        } catch {
          reject(new Error(`non-JSON error body: ${body}`))
        }
      })
    })
    ws.on('open', () => {
      ws.terminate()
      reject(new Error(`upgrade to ${url} unexpectedly succeeded`))
    })
    ws.on('error', () => {}) // the destroyed request reports an error after we resolved
  })
}

// ---------------------------------------------------------------------------------------------------
// Tokens the helper cannot mint
// ---------------------------------------------------------------------------------------------------

const SECRET_KEY = new TextEncoder().encode(TEST_SECRET)
const nowSec = (): number => Math.floor(Date.now() / 1000)
const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

async function hs256(payload: JWTPayload, key: Uint8Array = SECRET_KEY, exp: number | null = nowSec() + 3600): Promise<string> {
  const jwt = new SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject('mallory').setIssuedAt()
  if (exp !== null) jwt.setExpirationTime(exp)
  return jwt.sign(key)
}

const WRITE_ALL = { rooms: { '*': 'write' } }

/** An update that only deletes the first character the client's copy of `room` holds (no new structs). */
function deletionOf(room: string, conn: Conn): Uint8Array {
  const copy = new Y.Doc()
  Y.applyUpdate(copy, Y.encodeStateAsUpdate(conn.docs.get(room) as Y.Doc))
  let update: Uint8Array | null = null
  copy.on('update', (u: Uint8Array) => (update = u))
  copy.getText('t').delete(copy.getText('t').toString().indexOf('h'), 1)
  if (update === null) throw new Error('nothing deleted')
  return update
}

// ---------------------------------------------------------------------------------------------------

afterEach(closeOpenConns)

describe('auth matrix (HS256 server)', () => {
  const ROOM = 'auth-doc'
  let running: RunningServer
  let base: string
  let anchor: Conn
  let anchorDoc: Y.Doc

  beforeAll(async () => {
    running = await startServer({ TANDEM_JWT_CLOCK_TOLERANCE_SEC: '5' }) // the default, stated
    base = running.url
    anchorDoc = new Y.Doc()
    anchor = await single(base, ROOM, { token: await token({ rooms: { [ROOM]: 'write' }, sub: 'anchor' }) }, anchorDoc)
    openConns.delete(anchor) // lives for the whole describe
    await anchor.write(ROOM, (doc) => doc.getText('t').insert(0, 'hello'))
  })

  afterAll(async () => {
    anchor?.close()
    await running?.stop()
  })

  /** Asserts the anchor (an ordinary writer in the room) heard no update since `mark` and the room is as before. */
  async function expectUntouched(before: RoomState, mark: number): Promise<void> {
    await anchor.roundTrip()
    expect(anchor.since(mark).filter((m) => m.type !== 'sync-step-2')).toEqual([])
    const after = await roomState(running, ROOM)
    expect(after).toEqual(before)
    expect(after.text).toBe('hello')
    expect(anchorDoc.getText('t').toString()).toBe('hello')
  }

  /** Multiplexed: auth for ROOM with `tokenValue`, then sync step 1 and an update, back to back. */
  async function muxAttempt(tokenValue: string, upgradeToken?: string): Promise<Message[]> {
    const conn = await multiplexed(base, upgradeToken === undefined ? {} : { token: upgradeToken })
    const evil = new Y.Doc()
    evil.getText('t').insert(0, 'EVIL ')
    conn.send(ROOM, { type: 'auth-token', token: tokenValue, providerVersion: null })
    conn.send(ROOM, { type: 'sync-step-1', stateVector: Uint8Array.of(0) })
    conn.send(ROOM, { type: 'update', update: Y.encodeStateAsUpdate(evil) })
    conn.send(ROOM, { type: 'sync-step-2', update: Y.encodeStateAsUpdate(evil) })
    await conn.next('permission-denied', { room: ROOM })
    // Barrier: a second auth is answered after every frame above was handled.
    const from = conn.mark()
    conn.send(ROOM, { type: 'auth-token', token: tokenValue, providerVersion: null })
    await conn.next('permission-denied', { room: ROOM, from })
    expect(conn.closeInfo).toBeNull() // the socket stays open for other rooms
    return conn.since(0, ROOM)
  }

  test('no token: single framing gets 401 token_missing; a multiplexed room without any token is denied token_missing', async () => {
    const before = await roomState(running, ROOM)
    const mark = anchor.mark()

    const rejection = await refused(`${base}/ws/${ROOM}`)
    expect(rejection.status).toBe(401)
    expect(rejection.body.error?.code).toBe('token_missing')

    // Multiplexed upgrades may carry no token; the room's auth message then has none either.
    const messages = await muxAttempt('')
    expect(messages).toEqual([
      { type: 'permission-denied', reason: 'token_missing' },
      { type: 'permission-denied', reason: 'token_missing' },
    ])
    await expectUntouched(before, mark)
  })

  test('bad signature: 401 token_invalid at either upgrade, PermissionDenied for a room', async () => {
    const before = await roomState(running, ROOM)
    const mark = anchor.mark()
    const forged = await hs256(WRITE_ALL, new TextEncoder().encode('another-secret-that-is-32-bytes-long!!'))
    // Same claims, valid token, one signature byte changed.
    const good = await token({ rooms: { [ROOM]: 'write' } })
    const tampered = good.slice(0, -2) + (good.at(-2) === 'A' ? 'B' : 'A') + good.at(-1)

    for (const bad of [forged, tampered]) {
      for (const path of [`/ws/${ROOM}`, '/ws']) {
        const rejection = await refused(wsUrl(base, path, bad))
        expect(rejection, path).toMatchObject({ status: 401, body: { error: { code: 'token_invalid' } } })
      }
      expect(await muxAttempt(bad)).toContainEqual({ type: 'permission-denied', reason: 'token_invalid' })
    }
    await expectUntouched(before, mark)
  })

  test('expired token: 401 token_expired at either upgrade, PermissionDenied for a room', async () => {
    const before = await roomState(running, ROOM)
    const mark = anchor.mark()
    const expired = await hs256(WRITE_ALL, SECRET_KEY, nowSec() - 120)
    for (const path of [`/ws/${ROOM}`, '/ws']) {
      const rejection = await refused(wsUrl(base, path, expired))
      expect(rejection, path).toMatchObject({ status: 401, body: { error: { code: 'token_expired' } } })
    }
    expect(await muxAttempt(expired)).toContainEqual({ type: 'permission-denied', reason: 'token_expired' })
    await expectUntouched(before, mark)
  })

  // Both tests accept either fix: reject such a token, or honour the tolerance in the 4401 timer too.
  test('single framing: a token already past exp but inside the clock tolerance is refused, or yields a usable socket (not 101 then an instant 4401)', async () => {
    const stale = await hs256({ rooms: { '*': 'write' } }, SECRET_KEY, nowSec() - 2)

    // Single framing: refuse at the upgrade like any expired token, or accept and let the client sync.
    const attempt = new Conn(new WebSocket(wsUrl(base, `/ws/${ROOM}`, stale)), 'single', ROOM)
    const refusal = await new Promise<number | null>((resolve) => {
      attempt.ws.once('open', () => resolve(null))
      attempt.ws.once('unexpected-response', (_req, res: IncomingMessage) => resolve(res.statusCode ?? 0))
    })
    if (refusal !== null) {
      expect(refusal).toBe(401)
    } else {
      attempt.track(ROOM)
      attempt.send(ROOM, { type: 'sync-step-1', stateVector: Uint8Array.of(0) })
      await attempt.next('sync-step-2') // fails if the server closed the socket it just accepted
    }
  })

  test('multiplexed: a per-room token already past exp but inside the clock tolerance is denied (or usable); the other rooms survive', async () => {
    const stale = await hs256({ rooms: { '*': 'write' } }, SECRET_KEY, nowSec() - 2)
    const before = await roomState(running, ROOM)
    const conn = await multiplexed(base)
    expect(await join(conn, `${ROOM}-fresh`, await token({ rooms: { [`${ROOM}-fresh`]: 'write' } }))).toMatchObject({ type: 'authenticated' })
    const answer = await join(conn, ROOM, stale)
    if (answer.type === 'permission-denied') expect(answer.reason).toBe('token_expired')
    else expect(answer).toMatchObject({ type: 'authenticated' })
    await conn.write(`${ROOM}-fresh`, (doc) => doc.getText('t').insert(0, 'alive'))
    expect(conn.closeInfo).toBeNull()
    expect(await roomState(running, ROOM)).toEqual(before)
  })

  test('token without exp: 401 token_invalid (a connection must never outlive its token)', async () => {
    const before = await roomState(running, ROOM)
    const mark = anchor.mark()
    const forever = await hs256(WRITE_ALL, SECRET_KEY, null)
    for (const path of [`/ws/${ROOM}`, '/ws']) {
      const rejection = await refused(wsUrl(base, path, forever))
      expect(rejection, path).toMatchObject({ status: 401, body: { error: { code: 'token_invalid' } } })
      expect(rejection.body.error?.message).toMatch(/exp/)
    }
    expect(await muxAttempt(forever)).toContainEqual({ type: 'permission-denied', reason: 'token_invalid' })
    await expectUntouched(before, mark)
  })

  test('alg "none": 401 token_invalid at either upgrade, PermissionDenied for a room', async () => {
    const before = await roomState(running, ROOM)
    const mark = anchor.mark()
    const claims = { sub: 'mallory', rooms: { '*': 'write' }, iat: nowSec(), exp: nowSec() + 3600 }
    const unsigned = [`${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims)}.`, `${b64url({ alg: 'none' })}.${b64url(claims)}.`]
    for (const bad of unsigned) {
      for (const path of [`/ws/${ROOM}`, '/ws']) {
        const rejection = await refused(wsUrl(base, path, bad))
        expect(rejection, path).toMatchObject({ status: 401, body: { error: { code: 'token_invalid' } } })
      }
      expect(await muxAttempt(bad)).toContainEqual({ type: 'permission-denied', reason: 'token_invalid' })
    }
    await expectUntouched(before, mark)
  })

  test('room outside the claims: 403 forbidden (single), PermissionDenied forbidden (multiplexed)', async () => {
    const before = await roomState(running, ROOM)
    const mark = anchor.mark()
    // Grants near the room but not it: an exact neighbour and a prefix that does not cover it.
    const narrow = await token({ rooms: { 'other-room': 'write', [`${ROOM}-x`]: 'write', 'auth-doc-*': 'write' } })

    const rejection = await refused(wsUrl(base, `/ws/${ROOM}`, narrow))
    expect(rejection).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } })
    // Positive control: a prefix grant that does cover the room is honoured.
    const allowed = await single(base, ROOM, { token: await token({ rooms: { 'other-room': 'write', 'auth-*': 'write' } }) })
    allowed.close()

    expect(await muxAttempt(narrow)).toContainEqual({ type: 'permission-denied', reason: 'forbidden' })
    // The upgrade token is used when the auth message has none; it does not grant this room either.
    expect(await muxAttempt('', narrow)).toContainEqual({ type: 'permission-denied', reason: 'forbidden' })
    await expectUntouched(before, mark)
  })

  test('token via subprotocol: accepted, and the selected protocol is `tandem`, never the token', async () => {
    const jwt = await token({ rooms: { [ROOM]: 'write' } })
    for (const framing of ['single', 'multiplexed'] as const) {
      const conn =
        framing === 'single'
          ? await single(base, ROOM, { protocols: ['tandem', `tandem-auth.${jwt}`] })
          : await multiplexed(base, { protocols: ['tandem', `tandem-auth.${jwt}`] })
      expect(conn.ws.protocol, framing).toBe('tandem')
      expect(conn.selectedProtocolHeader, framing).toBe('tandem')
      if (framing === 'multiplexed') {
        // The upgrade's token authorises the room when the auth message carries none.
        expect(await join(conn, ROOM, '')).toEqual({ type: 'authenticated', scope: 'read-write' })
      }
      conn.close()
    }
    // Offering the token alone is the client's mistake, but the token must still never be echoed.
    const tokenOnly = new Conn(new WebSocket(`${base}/ws/${ROOM}`, [`tandem-auth.${jwt}`]), 'single', ROOM)
    await tokenOnly.closedWith()
    expect(tokenOnly.selectedProtocolHeader ?? '').not.toContain(jwt)
    // A token in the query string needs no subprotocol, and none is selected.
    const query = await single(base, ROOM, { token: jwt })
    expect(query.selectedProtocolHeader).toBeUndefined()
    // A bad token in the subprotocol is refused like one in the query.
    const rejection = await refused(`${base}/ws/${ROOM}`, ['tandem', 'tandem-auth.not-a-jwt'])
    expect(rejection).toMatchObject({ status: 401, body: { error: { code: 'token_invalid' } } })
  })

  test('read-only (single framing): new content via update and via sync step 2 is refused, not broadcast, not stored', async () => {
    const reader = await single(base, ROOM, { token: await token({ rooms: { [ROOM]: 'read' }, sub: 'reader' }) })
    // The reader's own (empty) sync step 2 during the handshake was acknowledged, not refused.
    expect(reader.since(0).filter((m) => m.type === 'permission-denied')).toEqual([])
    expect(reader.docs.get(ROOM)?.getText('t').toString()).toBe('hello')
    const before = await roomState(running, ROOM)
    const mark = anchor.mark()

    const fromReader = reader.mark()
    reader.docs.get(ROOM)?.getText('t').insert(0, 'READER ') // the tracked doc sends it as an update
    await reader.next('permission-denied', { from: fromReader, where: (m) => m.reason === 'read-only' })
    const other = new Y.Doc()
    other.getText('t').insert(0, 'STEP2 ')
    reader.send(ROOM, { type: 'sync-step-2', update: Y.encodeStateAsUpdate(other) })
    reader.send(ROOM, { type: 'update', update: deletionOf(ROOM, reader) })
    await reader.roundTrip()
    // Refused three times; the single framing says so once (y-websocket only logs it) and never echoes it as saved.
    expect(reader.since(fromReader).map((m) => m.type)).toEqual(['permission-denied', 'sync-step-2'])
    expect(reader.closeInfo).toBeNull()
    await expectUntouched(before, mark)

    // Read-only peers still receive everything.
    const fromReader2 = reader.mark()
    await anchor.write(ROOM, (doc) => doc.getText('t').insert(5, '!'))
    await reader.next('update', { from: fromReader2 })
    expect(await roomState(running, ROOM)).toMatchObject({ text: 'hello!' })
    await anchor.write(ROOM, (doc) => doc.getText('t').delete(5, 1))
  })

  test('read-only (multiplexed): new content via update and via sync step 2 gets SyncStatus 0 and is not applied', async () => {
    const reader = await multiplexed(base)
    expect(await join(reader, ROOM, await token({ rooms: { [ROOM]: 'read' }, sub: 'reader' }))).toEqual({
      type: 'authenticated',
      scope: 'readonly',
    })
    const before = await roomState(running, ROOM)
    const mark = anchor.mark()

    const from = reader.mark()
    reader.docs.get(ROOM)?.getText('t').insert(0, 'READER ')
    await reader.next('sync-status', { room: ROOM, from })
    const other = new Y.Doc()
    other.getText('t').insert(0, 'STEP2 ')
    reader.send(ROOM, { type: 'sync-step-2', update: Y.encodeStateAsUpdate(other) })
    reader.send(ROOM, { type: 'update', update: deletionOf(ROOM, reader) })
    await reader.roundTrip(ROOM)
    expect(reader.since(from, ROOM)).toEqual([
      { type: 'sync-status', applied: false },
      { type: 'sync-status', applied: false },
      { type: 'sync-status', applied: false },
      expect.objectContaining({ type: 'sync-step-2' }),
    ])
    expect(reader.closeInfo).toBeNull()
    await expectUntouched(before, mark)
  })

  // Tokens that expired 3 s ago: inside the 5 s clock tolerance, so accepted, and closed at exp + 5 s.
  test('token expiry closes an open single-framing socket with 4401', async () => {
    const exp = nowSec() - 3
    const jwt = await hs256({ rooms: { [ROOM]: 'write' } }, SECRET_KEY, exp)
    const expMs = (exp + 5) * 1000
    const conn = await single(base, ROOM, { token: jwt })
    await conn.write(ROOM, (doc) => doc.getText('t').insert(5, '?')) // it really worked before expiry
    await waitFor(() => anchorDoc.getText('t').toString() === 'hello?', 'the anchor to see the edit')
    await anchor.write(ROOM, (doc) => doc.getText('t').delete(5, 1))
    const closed = await conn.closedWith(5_000)
    expect(closed.code).toBe(4401)
    expect(Date.now()).toBeGreaterThanOrEqual(expMs - 50)
  })

  test('token expiry closes a multiplexed socket with 4401 (upgrade token and per-room token)', async () => {
    const viaUpgrade = await multiplexed(base, { token: await hs256({ rooms: { [ROOM]: 'write' } }, SECRET_KEY, nowSec() - 3) })
    expect(await join(viaUpgrade, ROOM, '')).toEqual({ type: 'authenticated', scope: 'read-write' })
    const viaRoom = await multiplexed(base)
    expect(await join(viaRoom, ROOM, await hs256({ rooms: { [ROOM]: 'write' } }, SECRET_KEY, nowSec() - 3))).toEqual({
      type: 'authenticated',
      scope: 'read-write',
    })
    const [a, b] = await Promise.all([viaUpgrade.closedWith(5_000), viaRoom.closedWith(5_000)])
    expect(a.code).toBe(4401)
    expect(b.code).toBe(4401)
  })

  test('invalid room names are refused with 400 invalid_room_name (single) / PermissionDenied (multiplexed)', async () => {
    const jwt = await token()
    const bad = ['-leading-dash', '.hidden', '', 'a'.repeat(129), 'a%20b', 'a/b', 'caf%C3%A9', 'a b']
    for (const name of bad) {
      const rejection = await refused(wsUrl(base, `/ws/${name}`, jwt))
      expect(rejection, JSON.stringify(name)).toMatchObject({ status: 400, body: { error: { code: 'invalid_room_name' } } })
    }
    // Room names are validated before credentials are looked at.
    expect(await refused(`${base}/ws/-x`)).toMatchObject({ status: 400 })
    // The longest valid name and the full alphabet work.
    const longest = await single(base, 'a'.repeat(128), { token: jwt })
    const alphabet = await single(base, 'Az09._:-z', { token: jwt })
    longest.close()
    alphabet.close()

    const conn = await multiplexed(base)
    for (const name of ['-leading-dash', 'a'.repeat(129), 'a/b', 'café']) {
      expect(await join(conn, name, jwt), name).toEqual({ type: 'permission-denied', reason: 'invalid_room_name' })
      expect(running.server.registry.get(name)).toBeUndefined()
    }
    expect(conn.closeInfo).toBeNull()
  })
})

describe('PEM public key configured (HS/RS confusion)', () => {
  const ROOM = 'pem-doc'
  let running: RunningServer
  let privateKey: KeyObject
  let pem: string

  beforeAll(async () => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 })
    privateKey = pair.privateKey
    pem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString()
    running = await startServer({ TANDEM_JWT_SECRET: '', TANDEM_JWT_PUBLIC_KEY: pem })
  })

  afterAll(async () => {
    await running?.stop()
  })

  test('an HS256 token whose HMAC secret is the public key PEM is refused; RS256 works', async () => {
    const claims = { rooms: { [ROOM]: 'write' } }
    const rs256 = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256' }).setSubject('u').setExpirationTime('1h').sign(privateKey)
    // Positive control: the server does verify with this key.
    const writer = await single(running.url, ROOM, { token: rs256 })
    await writer.write(ROOM, (doc) => doc.getText('t').insert(0, 'signed'))
    const before = await roomState(running, ROOM)
    const mark = writer.mark()

    for (const secret of [pem, pem.trim(), pem.replaceAll('\n', '\r\n')]) {
      const confused = await hs256(claims, new TextEncoder().encode(secret))
      for (const path of [`/ws/${ROOM}`, '/ws']) {
        const rejection = await refused(wsUrl(running.url, path, confused))
        expect(rejection, path).toMatchObject({ status: 401, body: { error: { code: 'token_invalid' } } })
      }
      const conn = await multiplexed(running.url)
      expect(await join(conn, ROOM, confused)).toEqual({ type: 'permission-denied', reason: 'token_invalid' })
      const evil = new Y.Doc()
      evil.getText('t').insert(0, 'EVIL')
      conn.send(ROOM, { type: 'update', update: Y.encodeStateAsUpdate(evil) })
      conn.close()
    }
    await writer.roundTrip()
    expect(writer.since(mark).filter((m) => m.type !== 'sync-step-2')).toEqual([])
    expect(await roomState(running, ROOM)).toEqual(before)
    expect(before.text).toBe('signed')
  })
})

describe('TANDEM_ALLOW_ANONYMOUS=true', () => {
  let running: RunningServer

  beforeAll(async () => {
    running = await startServer({ TANDEM_ALLOW_ANONYMOUS: 'true' })
  })

  afterAll(async () => {
    await running?.stop()
  })

  test('a tokenless client can write on both framings; a bad token is still refused', async () => {
    const room = 'anon-doc'
    const anon = await single(running.url, room)
    await anon.write(room, (doc) => doc.getText('t').insert(0, 'anon'))
    const mux = await multiplexed(running.url)
    expect(await join(mux, room, '')).toEqual({ type: 'authenticated', scope: 'read-write' })
    await mux.write(room, (doc) => doc.getText('t').insert(4, '+mux'))
    await waitFor(() => anon.docs.get(room)?.getText('t').toString() === 'anon+mux', 'the single client to see the multiplexed edit')
    const state = await roomState(running, room)
    expect(state.text).toBe('anon+mux')
    expect(state.rows.length).toBeGreaterThanOrEqual(2)

    // Anonymous access is for tokenless clients only: a bad token does not fall back to it.
    expect(await refused(`${running.url}/ws/${room}?token=garbage`)).toMatchObject({ status: 401 })
    expect(await refused(`${running.url}/ws?token=garbage`)).toMatchObject({ status: 401 })
    expect(await join(mux, 'anon-2', 'garbage')).toEqual({ type: 'permission-denied', reason: 'token_invalid' })
    expect(await roomState(running, room)).toEqual(state)
  })
})
