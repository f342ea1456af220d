/**
 * Token times over real sockets with the default settings (clock tolerance 5 s, maximum lifetime 24 h):
 * the same rules at the single and multiplexed upgrades, per multiplexed room and for REST admin JWTs;
 * and `tandem token` refuses a ttl the server would refuse.
 */
import { execFile } from 'node:child_process'
import type { IncomingMessage } from 'node:http'
import { promisify } from 'node:util'
import { SignJWT, type JWTPayload } from 'jose'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import WebSocket from 'ws'
import { closeOpenConns, join, multiplexed, single, wsUrl } from '../helpers/raw-client.js'
import { CLI, startServer, TEST_SECRET, token, type RunningServer } from '../helpers/server.js'

const KEY = new TextEncoder().encode(TEST_SECRET)
const ADMIN_KEY = 'token-times-admin-key-0123456789abcdef'
const nowSec = (): number => Math.floor(Date.now() / 1000)
const DAY = 86_400
const YEAR_9999 = Math.floor(Date.UTC(9999, 11, 31) / 1000)

let srv: RunningServer
beforeAll(async () => {
  srv = await startServer({ TANDEM_STORE: 'memory', TANDEM_ADMIN_KEY: ADMIN_KEY })
})
afterAll(async () => {
  await srv?.stop()
})
afterEach(closeOpenConns)

/** Signs exactly these claims (no iat unless given). */
function jwt(claims: JWTPayload): Promise<string> {
  return new SignJWT({ sub: 'user-1', rooms: { '*': 'write' }, ...claims }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(KEY)
}

/** An upgrade that must be refused: its status and error body. */
function refused(url: string): Promise<{ status: number; code: string | undefined; message: string | undefined }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    ws.once('open', () => {
      ws.close()
      reject(new Error(`upgrade to ${url} was accepted`))
    })
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      let text = ''
      res.on('data', (chunk: Buffer) => (text += chunk.toString()))
      res.on('end', () => {
        const body = JSON.parse(text) as { error?: { code?: string; message?: string } }
        resolve({ status: res.statusCode ?? 0, code: body.error?.code, message: body.error?.message })
      })
    })
    ws.once('error', () => {})
  })
}

async function rest(authorization: string): Promise<{ status: number; code: string | undefined; message: string | undefined }> {
  const res = await fetch(`http://127.0.0.1:${srv.port}/v1/rooms?limit=1`, { headers: { authorization: `Bearer ${authorization}` } })
  const body = (await res.json()) as { error?: { code?: string; message?: string } }
  return { status: res.status, code: body.error?.code, message: body.error?.message }
}

describe('clock tolerance at every entry point', () => {
  test('a token that expired 3 s ago connects (single framing), syncs, and is closed with 4401 at exp + 5 s', async () => {
    const exp = nowSec() - 3
    const conn = await single(srv.url, 'tt-single', { token: await jwt({ iat: exp - 60, exp }) })
    await conn.write('tt-single', (doc) => doc.getText('t').insert(0, 'in time'))
    const closed = await conn.closedWith(8_000)
    expect(closed.code).toBe(4401)
    expect(Date.now()).toBeGreaterThanOrEqual((exp + 5) * 1000 - 50)
  })

  test('multiplexed: at the upgrade and per room', async () => {
    const exp = nowSec() - 3
    const viaUpgrade = await multiplexed(srv.url, { token: await jwt({ exp }) })
    expect(await join(viaUpgrade, 'tt-mux', '')).toEqual({ type: 'authenticated', scope: 'read-write' })
    const viaRoom = await multiplexed(srv.url)
    expect(await join(viaRoom, 'tt-mux', await jwt({ exp }))).toEqual({ type: 'authenticated', scope: 'read-write' })
    // Past the tolerance: refused the same way everywhere.
    expect(await join(viaRoom, 'tt-mux-2', await jwt({ exp: nowSec() - 30 }))).toEqual({ type: 'permission-denied', reason: 'token_expired' })
    expect(await refused(wsUrl(srv.url, '/ws', await jwt({ exp: nowSec() - 30 })))).toMatchObject({ status: 401, code: 'token_expired' })
  })

  test('REST admin JWT: 3 s past exp is accepted, 30 s past is token_expired; iat a minute ahead is token_invalid', async () => {
    expect((await rest(await jwt({ admin: true, exp: nowSec() - 3 }))).status).toBe(200)
    expect(await rest(await jwt({ admin: true, exp: nowSec() - 30 }))).toMatchObject({ status: 401, code: 'token_expired' })
    expect(await rest(await jwt({ admin: true, iat: nowSec() + 60, exp: nowSec() + 600 }))).toMatchObject({ status: 401, code: 'token_invalid' })
  })
})

describe('maximum token lifetime at every entry point', () => {
  const tooLong = [
    ['issued 30 days ago', { iat: nowSec() - 30 * DAY, exp: nowSec() + 3_600 }],
    ['valid until 9999', { iat: nowSec(), exp: YEAR_9999 }],
    ['valid until 9999, no iat', { exp: YEAR_9999 }],
  ] as const

  test.each(tooLong)('%s: 401 token_invalid at both upgrades, PermissionDenied per room, 401 over REST', async (_what, times) => {
    const bad = await jwt({ ...times, admin: true })
    for (const path of ['/ws/tt-long', '/ws']) {
      const answer = await refused(wsUrl(srv.url, path, bad))
      expect(answer, path).toMatchObject({ status: 401, code: 'token_invalid' })
      expect(answer.message).toContain('TANDEM_JWT_MAX_LIFETIME_SEC')
    }
    const conn = await multiplexed(srv.url)
    expect(await join(conn, 'tt-long', bad)).toEqual({ type: 'permission-denied', reason: 'token_invalid' })
    const viaRest = await rest(bad)
    expect(viaRest).toMatchObject({ status: 401, code: 'token_invalid' })
    expect(viaRest.message).toContain('TANDEM_JWT_MAX_LIFETIME_SEC')
  })

  test('a 24 h token minted by POST /v1/tokens connects; 25 h is refused before it is minted', async () => {
    const mint = (ttl: string): Promise<Response> =>
      fetch(`http://127.0.0.1:${srv.port}/v1/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ sub: 'u', rooms: { '*': 'write' }, ttl }),
      })
    const ok = await mint('24h')
    expect(ok.status).toBe(201)
    await single(srv.url, 'tt-minted', { token: ((await ok.json()) as { token: string }).token })
    const tooLongRes = await mint('25h')
    expect(tooLongRes.status).toBe(400)
    expect(((await tooLongRes.json()) as { error: { message: string } }).error.message).toContain('TANDEM_JWT_MAX_LIFETIME_SEC')
  })
})

describe('tandem token --ttl', () => {
  const run = (args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> =>
    promisify(execFile)(process.execPath, [CLI, 'token', '--room', 'tt-cli', ...args], {
      env: { PATH: process.env.PATH ?? '', TANDEM_JWT_SECRET: TEST_SECRET, ...env },
    }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
    )

  test('a ttl above TANDEM_JWT_MAX_LIFETIME_SEC exits 2 with a clear message; the maximum mints a token the server accepts', async () => {
    const refusedRun = await run(['--ttl', '7d'])
    expect(refusedRun.code).toBe(2)
    expect(refusedRun.stdout).toBe('')
    expect(refusedRun.stderr).toMatch(/maximum token lifetime of 86400 s \(TANDEM_JWT_MAX_LIFETIME_SEC\)/)

    const minted = await run(['--ttl', '24h'])
    expect(minted.code).toBe(0)
    await single(srv.url, 'tt-cli', { token: minted.stdout.trim() })

    // A lower maximum lowers the default ttl with it (1 h would be refused).
    const capped = await run([], { TANDEM_JWT_MAX_LIFETIME_SEC: '600' })
    expect(capped.code).toBe(0)
    const claims = JSON.parse(Buffer.from(capped.stdout.trim().split('.')[1] ?? '', 'base64url').toString()) as { iat: number; exp: number }
    expect(claims.exp - claims.iat).toBe(600)
    // Sanity: the helper's own tokens still work.
    await single(srv.url, 'tt-cli', { token: await token({ rooms: { 'tt-cli': 'write' } }) })
  })
})
