/**
 * examples/app-backend as a user runs it next to a Tandem server: login sets a session cookie, the token
 * route answers 401 without a session and 403 for a room the user may not open, and the token it mints
 * opens exactly that room on the server, with the user's access and nothing more.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { TEST_SECRET, startServer, waitFor, type RunningServer } from '../helpers/server.js'
import { closeOpenConns, single } from '../helpers/raw-client.js'

const EXAMPLE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../examples/app-backend/server.js')

let srv: RunningServer
let app: ChildProcess
let base = ''

beforeAll(async () => {
  srv = await startServer()
  app = spawn(process.execPath, [EXAMPLE], {
    env: { ...process.env, APP_PORT: '0', TANDEM_JWT_SECRET: TEST_SECRET, TANDEM_WS_URL: `${srv.url}/ws` },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  app.stdout?.on('data', (c: Buffer) => (out += c.toString()))
  app.stderr?.on('data', (c: Buffer) => (out += c.toString()))
  await waitFor(() => {
    if (app.exitCode !== null) throw new Error(`the example exited (${app.exitCode}):\n${out}`)
    const match = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(out)
    if (match) base = `http://127.0.0.1:${match[1]}`
    return base !== ''
  }, 'the example backend to listen', 20_000)
})

afterAll(async () => {
  closeOpenConns()
  app.kill()
  await srv.stop()
})

async function login(user: string, password = user): Promise<string> {
  const res = await fetch(`${base}/login`, { method: 'POST', body: new URLSearchParams({ user, password }), redirect: 'manual' })
  expect(res.status).toBe(303)
  return (res.headers.get('set-cookie') ?? '').split(';')[0] ?? ''
}

async function tokenFor(cookie: string, room: string): Promise<Response> {
  return fetch(`${base}/api/tandem-token?room=${room}`, { headers: { cookie } })
}

test('no session: the login form, and no token', async () => {
  expect(await (await fetch(base)).text()).toContain('<form method="post" action="/login">')
  expect((await fetch(`${base}/api/tandem-token?room=team-notes`)).status).toBe(401)
  expect((await fetch(`${base}/login`, { method: 'POST', body: new URLSearchParams({ user: 'alice', password: 'wrong' }) })).status).toBe(401)
})

test('alice gets a token for her rooms only, and it opens exactly that room', async () => {
  const cookie = await login('alice')
  const page = await (await fetch(base, { headers: { cookie } })).text()
  expect(page).toContain('Hello, Alice')
  expect((await fetch(`${base}/app.js`)).status).toBe(200)
  expect((await tokenFor(cookie, 'bob-notes')).status).toBe(403)

  const res = await tokenFor(cookie, 'alice-notes')
  expect(res.status).toBe(200)
  const { token } = (await res.json()) as { token: string }
  const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>
  expect(claims).toMatchObject({ sub: 'alice', name: 'Alice', rooms: { 'alice-notes': 'write' } })
  expect((await single(srv.url, 'alice-notes', { token })).closeInfo).toBeNull()
  await expect(single(srv.url, 'team-notes', { token })).rejects.toThrow(/upgrade refused: 40[13]/)
})

test('carol gets read access to team-notes; after logout no more tokens', async () => {
  const cookie = await login('carol')
  const { token } = (await (await tokenFor(cookie, 'team-notes')).json()) as { token: string }
  const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>
  expect(claims['rooms']).toEqual({ 'team-notes': 'read' })
  await fetch(`${base}/logout`, { method: 'POST', headers: { cookie }, redirect: 'manual' })
  expect((await tokenFor(cookie, 'team-notes')).status).toBe(401)
})
