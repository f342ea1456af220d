/**
 * A user removed from a room (REST kick) comes back only with a token issued after the removal, on
 * either framing, whether the room is loaded or not, and after a restart (the removal is stored with
 * the room, here in SQLite). Other users' tokens are not affected; a token without `iat` is refused.
 */
import { afterAll, beforeAll, expect, onTestFinished, test } from 'vitest'
import WebSocket from 'ws'
import { SignJWT } from 'jose'
import { TandemClient } from '@tandem/client'
import { TEST_SECRET, startServer, tempDir, token, waitFor, type RunningServer } from '../helpers/server.js'
import { ADMIN_KEY, RestClient } from './rest-client.js'

let data: { dir: string; remove: () => Promise<void> }
let srv: RunningServer
let api: RestClient

const start = async (): Promise<void> => {
  srv = await startServer({ TANDEM_DATA_DIR: data.dir, TANDEM_ADMIN_KEY: ADMIN_KEY })
  api = new RestClient(srv)
}

beforeAll(async () => {
  data = await tempDir()
  await start()
})
afterAll(async () => {
  await srv.server.close()
  await data.remove()
})

/** A write token for one room, issued `ageSec` ago (or without `iat` when ageSec is null), valid for an hour. */
function tokenIssued(sub: string, room: string, ageSec: number | null): Promise<string> {
  const nowSec = Math.floor(Date.now() / 1000)
  const jwt = new SignJWT({ rooms: { [room]: 'write' } }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime(nowSec + 3600)
  if (ageSec !== null) jwt.setIssuedAt(nowSec - ageSec)
  return jwt.sign(new TextEncoder().encode(TEST_SECRET))
}

type Outcome = { kind: 'refused'; status: number } | { kind: 'closed'; code: number } | { kind: 'open'; ws: WebSocket }

/**
 * Connects with the single framing; 'open' once the server has sent its first sync message (joined).
 * uWS 20.30 can cut an asynchronously completed upgrade right after its 101 (see upgradeHandler in
 * server/src/ws/upgrade.ts): a 1006 before any frame is tried again, as every client reconnects.
 */
async function single(room: string, jwt: string): Promise<Outcome> {
  for (let attempt = 1; ; attempt++) {
    const ws = new WebSocket(`${srv.url}/ws/${room}?token=${jwt}`)
    onTestFinished(() => ws.close())
    const outcome = await new Promise<Outcome>((resolve) => {
      ws.on('unexpected-response', (_req, res) => resolve({ kind: 'refused', status: res.statusCode ?? 0 }))
      ws.on('error', () => {})
      ws.on('message', () => resolve({ kind: 'open', ws }))
      ws.on('close', (code) => resolve({ kind: 'closed', code }))
    })
    if (outcome.kind !== 'closed' || outcome.code !== 1006 || attempt === 3) return outcome
  }
}

test('a kicked user is refused with its old token (403 at the upgrade, 4403 at the join, on both framings) and let in with a new one', async () => {
  const room = `kick-tokens-${Date.now().toString(36)}`
  expect((await api.call('POST', '/v1/rooms', { body: { name: room } })).status).toBe(201)
  const aliceOld = await tokenIssued('alice', room, 60)
  const bobOld = await tokenIssued('bob', room, 60)
  const alice = await single(room, aliceOld)
  const bob = await single(room, bobOld)
  if (alice.kind !== 'open' || bob.kind !== 'open') throw new Error(`alice ${alice.kind}, bob ${bob.kind}: both should have joined`)
  const aliceClosed = new Promise<number>((resolve) => alice.ws.on('close', (code) => resolve(code)))

  expect((await api.call('DELETE', `/v1/rooms/${room}/users/alice`)).json).toEqual({ connections: 1 })
  expect(await aliceClosed).toBe(4403)

  // The room is loaded (bob is in it): the old token is refused before any socket exists.
  expect(await single(room, aliceOld)).toEqual({ kind: 'refused', status: 403 })
  // A token without iat cannot show it is newer than the removal.
  expect(await single(room, await tokenIssued('alice', room, null))).toEqual({ kind: 'refused', status: 403 })
  // Multiplexed framing (the SDK): the room is refused as forbidden, and the SDK does not retry.
  const sdk = new TandemClient({ url: `${srv.url}/ws`, getToken: () => aliceOld, WebSocket })
  onTestFinished(() => sdk.destroy())
  const refused = sdk.room(room)
  await expect(refused.whenSynced()).rejects.toMatchObject({ code: 'forbidden' })
  // Other users' tokens are unaffected.
  expect((await single(room, bobOld)).kind).toBe('open')

  // A token issued now (Tandem's own tokens carry iat) lets alice back in, on both framings.
  const fresh = await token({ sub: 'alice', rooms: { [room]: 'write' } })
  expect((await single(room, fresh)).kind).toBe('open')
  const sdkBack = new TandemClient({ url: `${srv.url}/ws`, getToken: () => fresh, WebSocket })
  onTestFinished(() => sdkBack.destroy())
  await sdkBack.room(room).whenSynced()

  // After a restart the room is not loaded: the old token gets through the upgrade and is closed at the join.
  for (const outcome of [alice, bob]) if (outcome.kind === 'open') outcome.ws.close()
  sdk.destroy()
  sdkBack.destroy()
  await srv.server.close()
  await start()
  expect(await single(room, aliceOld)).toEqual({ kind: 'closed', code: 4403 })
  expect((await single(room, fresh)).kind).toBe('open')
  await waitFor(async () => ((await api.call('GET', `/v1/rooms/${room}/users`)).json as { users: { userId: string }[] }).users.some((u) => u.userId === 'alice'), 'alice to be listed again')
})

test('deleting the room forgets its removals', async () => {
  const room = `kick-tokens-deleted-${Date.now().toString(36)}`
  expect((await api.call('POST', '/v1/rooms', { body: { name: room } })).status).toBe(201)
  const aliceOld = await tokenIssued('alice', room, 60)
  expect((await api.call('DELETE', `/v1/rooms/${room}/users/alice`)).status).toBe(200)
  expect(await single(room, aliceOld)).toEqual({ kind: 'closed', code: 4403 })
  expect((await api.call('DELETE', `/v1/rooms/${room}`)).status).toBe(204)
  expect((await api.call('POST', '/v1/rooms', { body: { name: room } })).status).toBe(201)
  expect((await single(room, aliceOld)).kind).toBe('open')
})
