/**
 * CORS for /v1 (TANDEM_CORS_ORIGINS) and the WebSocket Origin check (TANDEM_ALLOWED_ORIGINS) at the
 * header level: what a listed origin gets, what an unlisted one gets, preflights, and upgrades refused
 * with 403 before any socket exists. The browser's view of the same is tests/e2e/cors.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import WebSocket from 'ws'
import { startServer, token, type RunningServer } from '../helpers/server.js'

const ADMIN_KEY = 'cors-test-admin-key-0123456789abcdef'
const APP = 'https://app.example.com'
let srv: RunningServer
let open: RunningServer

beforeAll(async () => {
  srv = await startServer({ TANDEM_STORE: 'memory', TANDEM_ADMIN_KEY: ADMIN_KEY, TANDEM_CORS_ORIGINS: `${APP}, http://localhost:5173`, TANDEM_ALLOWED_ORIGINS: APP })
  open = await startServer({ TANDEM_STORE: 'memory', TANDEM_ADMIN_KEY: ADMIN_KEY })
})

afterAll(async () => {
  await srv.stop()
  await open.stop()
})

function call(server: RunningServer, method: string, path: string, headers: Record<string, string>): Promise<Response> {
  return fetch(`http://127.0.0.1:${server.port}${path}`, { method, headers })
}

describe('CORS on /v1', () => {
  test('a listed origin gets Access-Control-Allow-Origin (with Vary) on answers, errors included', async () => {
    const ok = await call(srv, 'GET', '/v1/rooms', { origin: APP, authorization: `Bearer ${ADMIN_KEY}` })
    expect(ok.status).toBe(200)
    expect(ok.headers.get('access-control-allow-origin')).toBe(APP)
    expect(ok.headers.get('vary')).toMatch(/origin/i)
    expect(ok.headers.get('access-control-allow-credentials')).toBeNull()
    const denied = await call(srv, 'GET', '/v1/rooms', { origin: APP })
    expect(denied.status).toBe(401)
    expect(denied.headers.get('access-control-allow-origin')).toBe(APP) // so the page can read the error
  })

  test('a preflight for a listed origin answers 204 with the path\'s methods and the headers the API reads', async () => {
    const res = await call(srv, 'OPTIONS', '/v1/rooms/some-room', {
      origin: 'http://localhost:5173',
      'access-control-request-method': 'PATCH',
      'access-control-request-headers': 'authorization, content-type',
    })
    expect(res.status).toBe(204)
    expect(res.headers.get('access-control-allow-origin')).toBe('http://localhost:5173')
    expect(res.headers.get('access-control-allow-methods')).toBe('GET, PATCH, DELETE')
    expect(res.headers.get('access-control-allow-headers')).toBe('authorization, content-type')
    expect(Number(res.headers.get('access-control-max-age'))).toBeGreaterThan(0)
    expect((await call(srv, 'OPTIONS', '/v1/nothing-here', { origin: APP, 'access-control-request-method': 'GET' })).status).toBe(404)
  })

  test('an unlisted origin gets no CORS headers, and its preflight is not answered as one', async () => {
    const res = await call(srv, 'GET', '/v1/rooms', { origin: 'https://evil.example', authorization: `Bearer ${ADMIN_KEY}` })
    expect(res.status).toBe(200) // not a browser: the request itself is not refused, the browser hides it
    expect(res.headers.get('access-control-allow-origin')).toBeNull()
    const preflight = await call(srv, 'OPTIONS', '/v1/rooms', { origin: 'https://evil.example', 'access-control-request-method': 'POST' })
    expect(preflight.status).toBe(405)
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull()
  })

  test('without TANDEM_CORS_ORIGINS nobody gets CORS headers; health and metrics never do', async () => {
    expect((await call(open, 'GET', '/v1/rooms', { origin: APP, authorization: `Bearer ${ADMIN_KEY}` })).headers.get('access-control-allow-origin')).toBeNull()
    expect((await call(srv, 'GET', '/healthz', { origin: APP })).headers.get('access-control-allow-origin')).toBeNull()
  })
})

describe('WebSocket Origin (TANDEM_ALLOWED_ORIGINS)', () => {
  function upgrade(server: RunningServer, origin: string | undefined, jwt: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${server.url}/ws/origin-room?token=${jwt}`, origin === undefined ? {} : { origin })
      ws.on('open', () => {
        ws.close()
        resolve(101)
      })
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? -1)
        ws.terminate()
      })
      ws.on('error', reject)
    })
  }

  test('a listed origin and clients that send none connect; another origin is refused with 403', async () => {
    const jwt = await token()
    expect(await upgrade(srv, APP, jwt)).toBe(101)
    expect(await upgrade(srv, undefined, jwt)).toBe(101)
    expect(await upgrade(srv, 'https://evil.example', jwt)).toBe(403)
    // The default allows any origin.
    expect(await upgrade(open, 'https://evil.example', jwt)).toBe(101)
  })
})
