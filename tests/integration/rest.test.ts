/**
 * The REST API against a real server: every route's success, auth failures (no credential, wrong key,
 * non-admin JWT, expired JWT) and validation failures, with every response checked against the
 * server's own OpenAPI document.
 */
import { generateKeyPairSync } from 'node:crypto'
import { execFile } from 'node:child_process'
import { stat } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { SignJWT } from 'jose'
import { CLI, TEST_SECRET, startServer, tempDir, token, waitFor, type RunningServer } from '../helpers/server.js'
import { ADMIN_KEY, RestClient, adminToken } from './rest-client.js'

let srv: RunningServer
let api: RestClient
let roomCounter = 0

beforeAll(async () => {
  srv = await startServer({ TANDEM_STORE: 'memory', TANDEM_ADMIN_KEY: ADMIN_KEY, TANDEM_ROOM_IDLE_MS: '200' })
  api = new RestClient(srv)
})

afterAll(async () => {
  await srv.stop()
})

function freshRoom(label: string): string {
  return `rest-${label}-${++roomCounter}-${Date.now().toString(36)}`
}

async function createRoom(name: string, metadata?: Record<string, unknown>): Promise<void> {
  const res = await api.call('POST', '/v1/rooms', { body: { name, ...(metadata && { metadata }) } })
  expect(res.status).toBe(201)
}

/** An admin JWT signed with the test secret that expired a minute ago (beyond the clock tolerance). */
function expiredAdminToken(): Promise<string> {
  const nowSec = Math.floor(Date.now() / 1000)
  return new SignJWT({ rooms: {}, admin: true })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('ops')
    .setIssuedAt(nowSec - 120)
    .setExpirationTime(nowSec - 60)
    .sign(new TextEncoder().encode(TEST_SECRET))
}

function updateWithText(text: string, key = 't'): Uint8Array {
  const doc = new Y.Doc()
  doc.getText(key).insert(0, text)
  return Y.encodeStateAsUpdate(doc)
}

interface RouteCase {
  name: string
  method: string
  /** A request that succeeds; runs after `setup`. */
  path: (room: string) => string
  body?: (room: string) => unknown
  contentType?: string
  okStatus: number
  /** A request that fails validation, and the code it answers with. */
  invalid: { path: (room: string) => string; body?: unknown; contentType?: string; code: string }
}

const ROUTES: RouteCase[] = [
  {
    name: 'create room',
    method: 'POST',
    path: () => '/v1/rooms',
    body: (room) => ({ name: `${room}-new`, metadata: { title: 'x' } }),
    okStatus: 201,
    invalid: { path: () => '/v1/rooms', body: { name: 'fine', metadata: 5 }, code: 'bad_request' },
  },
  {
    name: 'list rooms',
    method: 'GET',
    path: () => '/v1/rooms?limit=5',
    okStatus: 200,
    invalid: { path: () => '/v1/rooms?limit=0', code: 'bad_request' },
  },
  {
    name: 'get room',
    method: 'GET',
    path: (room) => `/v1/rooms/${room}`,
    okStatus: 200,
    invalid: { path: () => '/v1/rooms/-bad', code: 'invalid_room_name' },
  },
  {
    name: 'update room',
    method: 'PATCH',
    path: (room) => `/v1/rooms/${room}`,
    body: () => ({ metadata: { title: 'renamed' } }),
    okStatus: 200,
    invalid: { path: (room) => `/v1/rooms/${room}`, body: { metadata: [1, 2] }, code: 'bad_request' },
  },
  {
    name: 'read doc',
    method: 'GET',
    path: (room) => `/v1/rooms/${room}/doc`,
    okStatus: 200,
    invalid: { path: (room) => `/v1/rooms/${room}/doc?format=xml`, code: 'bad_request' },
  },
  {
    name: 'apply update',
    method: 'POST',
    path: (room) => `/v1/rooms/${room}/doc`,
    body: () => updateWithText('hello'),
    contentType: 'application/octet-stream',
    okStatus: 204,
    invalid: { path: (room) => `/v1/rooms/${room}/doc`, body: new Uint8Array([0xff, 0xff, 0xff]), contentType: 'application/octet-stream', code: 'bad_request' },
  },
  {
    name: 'list users',
    method: 'GET',
    path: (room) => `/v1/rooms/${room}/users`,
    okStatus: 200,
    invalid: { path: () => '/v1/rooms/bad!name/users', code: 'invalid_room_name' },
  },
  {
    name: 'broadcast',
    method: 'POST',
    path: (room) => `/v1/rooms/${room}/broadcast`,
    body: () => ({ message: 'hi' }),
    okStatus: 200,
    invalid: { path: (room) => `/v1/rooms/${room}/broadcast`, body: { message: 'x'.repeat(64 * 1024 + 1) }, code: 'bad_request' },
  },
  {
    name: 'mint token',
    method: 'POST',
    path: () => '/v1/tokens',
    body: () => ({ sub: 'alice', rooms: { 'team-*': 'write' }, ttl: '15m' }),
    okStatus: 201,
    invalid: { path: () => '/v1/tokens', body: { sub: 'alice', rooms: { 'bad room': 'write' } }, code: 'bad_request' },
  },
  {
    name: 'delete room',
    method: 'DELETE',
    path: (room) => `/v1/rooms/${room}`,
    okStatus: 204,
    invalid: { path: () => `/v1/rooms/${'x'.repeat(129)}`, code: 'invalid_room_name' },
  },
]

describe.each(ROUTES)('$method $name', (route) => {
  let room: string
  beforeAll(async () => {
    room = freshRoom(route.name.replace(/ /g, '-'))
    await createRoom(room)
  })

  const request = (auth?: string | null) =>
    api.call(route.method, route.path(room), {
      ...(route.body && { body: route.body(room) }),
      ...(route.contentType && { contentType: route.contentType }),
      ...(auth !== undefined && { auth }),
    })

  test('no credential: 401 token_missing', async () => {
    const res = await request(null)
    expect(res.status).toBe(401)
    expect(res.code).toBe('token_missing')
    expect(res.headers.get('www-authenticate')).toBe('Bearer')
  })

  test('wrong admin key: 401 token_invalid', async () => {
    const res = await request('not-the-admin-key-0123456789')
    expect(res.status).toBe(401)
    expect(res.code).toBe('token_invalid')
  })

  test('a client JWT without the admin claim: 403 forbidden', async () => {
    const res = await request(await token({ rooms: { '*': 'write' } }))
    expect(res.status).toBe(403)
    expect(res.code).toBe('forbidden')
  })

  test('an expired admin JWT: 401 token_expired', async () => {
    const res = await request(await expiredAdminToken())
    expect(res.status).toBe(401)
    expect(res.code).toBe('token_expired')
  })

  test('validation failure: 400 naming the problem', async () => {
    const res = await api.call(route.method, route.invalid.path(room), {
      ...(route.invalid.body !== undefined && { body: route.invalid.body }),
      ...(route.invalid.contentType && { contentType: route.invalid.contentType }),
    })
    expect(res.status).toBe(400)
    expect(res.code).toBe(route.invalid.code)
    expect((res.json as { error: { message: string } }).error.message.length).toBeGreaterThan(5)
  })

  test(`admin key: ${route.okStatus}`, async () => {
    const res = await request()
    expect(res.status).toBe(route.okStatus)
  })

  test('an admin JWT works like the admin key', async () => {
    // Delete and create are not repeatable on one room: use their negative twins' success paths elsewhere.
    if (route.method === 'DELETE' || route.name === 'create room') {
      const other = freshRoom('jwt')
      const res =
        route.method === 'DELETE'
          ? (await createRoom(other), await api.call('DELETE', `/v1/rooms/${other}`, { auth: await adminToken({ admin: true }) }))
          : await api.call('POST', '/v1/rooms', { body: { name: other }, auth: await adminToken({ admin: true }) })
      expect(res.status).toBe(route.okStatus)
      return
    }
    const res = await request(await adminToken({ admin: true }))
    expect(res.status).toBe(route.okStatus)
  })
})

describe('rooms', () => {
  test('create, get, list with prefix and cursor paging, patch, delete', async () => {
    const prefix = freshRoom('page')
    const names = [`${prefix}-a`, `${prefix}-b`, `${prefix}-c`]
    const createdFrom = Date.now()
    for (const name of names) await createRoom(name, { n: name })
    const createdBy = Date.now()

    const dup = await api.call('POST', '/v1/rooms', { body: { name: names[0] } })
    expect(dup.status).toBe(409)
    expect(dup.code).toBe('room_exists')

    const got = await api.call('GET', `/v1/rooms/${names[1]}`)
    expect(got.json).toMatchObject({ name: names[1], metadata: { n: names[1] }, sizeBytes: 0, stats: { connections: 0, users: 0, loaded: false } })
    const record = got.json as { createdAt: string; updatedAt: string }
    expect(Date.parse(record.createdAt)).toBeGreaterThanOrEqual(createdFrom)
    expect(Date.parse(record.createdAt)).toBeLessThanOrEqual(createdBy)

    const page1 = await api.call('GET', `/v1/rooms?prefix=${prefix}&limit=2`)
    const p1 = page1.json as { rooms: { name: string }[]; nextCursor: string | null }
    expect(p1.rooms.map((r) => r.name)).toEqual(names.slice(0, 2))
    expect(p1.nextCursor).not.toBeNull()
    const page2 = await api.call('GET', `/v1/rooms?prefix=${prefix}&limit=2&cursor=${encodeURIComponent(p1.nextCursor ?? '')}`)
    const p2 = page2.json as { rooms: { name: string }[]; nextCursor: string | null }
    expect(p2.rooms.map((r) => r.name)).toEqual(names.slice(2))
    expect(p2.nextCursor).toBeNull()

    const patched = await api.call('PATCH', `/v1/rooms/${names[0]}`, { body: { metadata: { replaced: true } } })
    expect(patched.status).toBe(200)
    expect((patched.json as { metadata: unknown }).metadata).toEqual({ replaced: true })

    expect((await api.call('DELETE', `/v1/rooms/${names[0]}`)).status).toBe(204)
    const gone = await api.call('GET', `/v1/rooms/${names[0]}`)
    expect(gone.status).toBe(404)
    expect(gone.code).toBe('room_not_found')
    expect((await api.call('DELETE', `/v1/rooms/${names[0]}`)).code).toBe('room_not_found')
    expect((await api.call('PATCH', `/v1/rooms/${names[0]}`, { body: { metadata: {} } })).code).toBe('room_not_found')
  })

  test('list defaults to 50 and refuses more than 200', async () => {
    const res = await api.call('GET', '/v1/rooms')
    expect(res.status).toBe(200)
    expect((res.json as { rooms: unknown[] }).rooms.length).toBeLessThanOrEqual(50)
    const tooMany = await api.call('GET', '/v1/rooms?limit=201')
    expect(tooMany.status).toBe(400)
    expect((tooMany.json as { error: { message: string } }).error.message).toContain('query.limit')
  })

  test('metadata bounds: keys, depth, size; unknown fields refused', async () => {
    const room = freshRoom('meta')
    await createRoom(room)
    const tooManyKeys = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i]))
    const cases: [unknown, string][] = [
      [{ metadata: tooManyKeys }, 'at most 64 keys'],
      [{ metadata: { a: { b: { c: { d: {} } } } } }, 'nested at most 4'],
      [{ metadata: { list: [[[[1]]]] } }, 'nested at most 4'],
      [{ metadata: { big: 'x'.repeat(17 * 1024) } }, 'bytes as JSON'],
      [{ metadata: {}, extra: 1 }, 'Unrecognized key'],
      [{ metadata: 'string' }, 'body.metadata'],
    ]
    for (const [body, message] of cases) {
      const res = await api.call('PATCH', `/v1/rooms/${room}`, { body })
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400)
      expect((res.json as { error: { message: string } }).error.message).toContain(message)
    }
    // Four levels, the object itself included, is the most allowed.
    const deepest = await api.call('PATCH', `/v1/rooms/${room}`, { body: { metadata: { a: { b: { c: { d: 1 } } }, list: [[[1]]] } } })
    expect(deepest.status).toBe(200)
    const atLimit = { k: 'x'.repeat(16 * 1024 - 10) } // {"k":"…"} is exactly 16 KiB
    expect((await api.call('PATCH', `/v1/rooms/${room}`, { body: { metadata: atLimit } })).status).toBe(200)
    const sixtyFour = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${i}`, i]))
    expect((await api.call('PATCH', `/v1/rooms/${room}`, { body: { metadata: sixtyFour } })).status).toBe(200)
    // Type errors in a name are invalid names too.
    const numeric = await api.call('POST', '/v1/rooms', { body: { name: 42 } })
    expect([numeric.status, numeric.code]).toEqual([400, 'invalid_room_name'])
  })

  test('room names outside the grammar get the same 400 over REST and WebSocket', async () => {
    const jwt = await token({ rooms: { '*': 'write' } })
    const wsStatus = (name: string) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(`${srv.url}/ws/${name}?token=${jwt}`)
        ws.on('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0)
          ws.terminate()
        })
        ws.on('open', () => {
          resolve(101)
          ws.close()
        })
        ws.on('error', () => {})
      })
    for (const bad of ['-lead', '.dot', 'bad!name', 'sp%20ace', 'x'.repeat(129)]) {
      expect(await wsStatus(bad), `ws ${bad}`).toBe(400)
      const get = await api.call('GET', `/v1/rooms/${bad}`)
      expect([get.status, get.code], `GET ${bad}`).toEqual([400, 'invalid_room_name'])
      const create = await api.call('POST', '/v1/rooms', { body: { name: decodeURIComponent(bad) } })
      expect([create.status, create.code], `POST ${bad}`).toEqual([400, 'invalid_room_name'])
    }
    const good = `${freshRoom('ok')}:a.b_c-d`
    expect(await wsStatus(good)).toBe(101)
    expect((await api.call('GET', `/v1/rooms/${good}`)).status).toBe(200) // auto-created by the join
  })

  test('unknown paths are 404 not_found, wrong methods 405 with Allow', async () => {
    const missing = await api.call('GET', '/v1/nope')
    expect([missing.status, missing.code]).toEqual([404, 'not_found'])
    const wrong = await api.call('PUT', '/v1/rooms')
    expect([wrong.status, wrong.code]).toEqual([405, 'method_not_allowed'])
    expect(wrong.headers.get('allow')).toBe('POST, GET')
    // The WebSocket paths are not REST routes: a plain request gets 400 (an upgrade is required).
    expect((await fetch(`${api.base}/ws`)).status).toBe(400)
  })
})

describe('documents, users and broadcast', () => {
  test('binary and JSON reads reflect a REST write', async () => {
    const room = freshRoom('doc')
    await createRoom(room)
    const doc = new Y.Doc()
    doc.getText('content').insert(0, 'Hello')
    doc.getMap('meta').set('done', false)
    doc.getArray('todos').push([{ text: 'ship it' }])
    expect((await api.call('POST', `/v1/rooms/${room}/doc`, { body: Y.encodeStateAsUpdate(doc) })).status).toBe(204)

    const bin = await api.call('GET', `/v1/rooms/${room}/doc`)
    expect(bin.contentType).toBe('application/octet-stream')
    const copy = new Y.Doc()
    Y.applyUpdate(copy, bin.bytes)
    expect(copy.getText('content').toString()).toBe('Hello')

    const json = await api.call('GET', `/v1/rooms/${room}/doc?format=json`)
    expect(json.json).toEqual({ content: 'Hello', meta: { done: false }, todos: [{ text: 'ship it' }] })

    const info = await api.call('GET', `/v1/rooms/${room}`)
    expect((info.json as { stats: { loaded: boolean } }).stats.loaded).toBe(true)
  })

  test('doc routes on a missing room: 404 room_not_found; empty or malformed updates: 400', async () => {
    const missing = freshRoom('missing')
    expect((await api.call('GET', `/v1/rooms/${missing}/doc`)).code).toBe('room_not_found')
    expect((await api.call('POST', `/v1/rooms/${missing}/doc`, { body: updateWithText('x') })).code).toBe('room_not_found')
    expect((await api.call('GET', `/v1/rooms/${missing}/users`)).code).toBe('room_not_found')
    expect((await api.call('POST', `/v1/rooms/${missing}/broadcast`, { body: { message: 'x' } })).code).toBe('room_not_found')
    const room = freshRoom('bad-update')
    await createRoom(room)
    const empty = await api.call('POST', `/v1/rooms/${room}/doc`, { body: new Uint8Array(0) })
    expect([empty.status, empty.code]).toEqual([400, 'bad_request'])
    const json = await api.call('POST', `/v1/rooms/${room}/doc`, { body: { not: 'binary' } })
    expect([json.status, json.code]).toEqual([415, 'unsupported_media_type'])
  })

  test('users lists connected y-websocket users; broadcast counts connections', async () => {
    const room = freshRoom('users')
    await createRoom(room)
    const jwt = await token({ sub: 'alice', name: 'Alice', rooms: { [room]: 'write' } })
    const ws = new WebSocket(`${srv.url}/ws/${room}?token=${jwt}`)
    const opened = new Promise((resolve, reject) => {
      ws.on('open', resolve)
      ws.on('error', reject)
    })
    await opened
    await waitFor(async () => ((await api.call('GET', `/v1/rooms/${room}/users`)).json as { users: unknown[] }).users.length === 1, 'alice to be listed')
    const users = await api.call('GET', `/v1/rooms/${room}/users`)
    expect(users.json).toEqual({ users: [{ userId: 'alice', name: 'Alice', connections: 1 }] })
    const sent = await api.call('POST', `/v1/rooms/${room}/broadcast`, { body: { message: '{"hello":1}' } })
    expect(sent.json).toEqual({ connections: 1 })
    ws.close()
  })

  test('kick closes the user\'s connections with 4403 and leaves the others; unknown users and rooms', async () => {
    const room = freshRoom('kick')
    await createRoom(room)
    const connect = async (sub: string): Promise<{ ws: WebSocket; closed: Promise<number> }> => {
      const ws = new WebSocket(`${srv.url}/ws/${room}?token=${await token({ sub, rooms: { [room]: 'write' } })}`)
      const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)))
      await new Promise((resolve, reject) => {
        ws.on('open', resolve)
        ws.on('error', reject)
      })
      return { ws, closed }
    }
    const [a1, a2, b] = [await connect('alice'), await connect('alice'), await connect('bob')]
    await waitFor(async () => ((await api.call('GET', `/v1/rooms/${room}/users`)).json as { users: unknown[] }).users.length === 2, 'both users to be listed')
    const kicked = await api.call('DELETE', `/v1/rooms/${room}/users/alice`)
    expect(kicked.status).toBe(200)
    expect(kicked.json).toEqual({ connections: 2 })
    expect(await a1.closed).toBe(4403)
    expect(await a2.closed).toBe(4403)
    await waitFor(async () => ((await api.call('GET', `/v1/rooms/${room}/users`)).json as { users: { userId: string }[] }).users.map((u) => u.userId).join() === 'bob', 'only bob to be listed')
    expect(b.ws.readyState).toBe(WebSocket.OPEN)
    expect((await api.call('DELETE', `/v1/rooms/${room}/users/nobody`)).json).toEqual({ connections: 0 })
    const missing = await api.call('DELETE', `/v1/rooms/${freshRoom('nope')}/users/alice`)
    expect(missing.status).toBe(404)
    b.ws.close()
  })
})

describe('tokens', () => {
  test('minted tokens connect, carry the requested claims and expiry', async () => {
    const room = freshRoom('minted')
    const mintedFrom = Date.now()
    const res = await api.call('POST', '/v1/tokens', { body: { sub: 'bob', name: 'Bob', rooms: { [room]: 'read' }, ttl: 120 } })
    const mintedBy = Date.now()
    expect(res.status).toBe(201)
    const { token: jwt, expiresAt } = res.json as { token: string; expiresAt: string }
    const claims = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>
    expect(claims).toMatchObject({ sub: 'bob', name: 'Bob', rooms: { [room]: 'read' } })
    expect(Date.parse(expiresAt)).toBe((claims.exp as number) * 1000)
    // 120 s after the moment of minting (whole seconds), which lies between the request and its answer.
    expect(Date.parse(expiresAt)).toBeGreaterThanOrEqual(Math.floor(mintedFrom / 1000) * 1000 + 120_000)
    expect(Date.parse(expiresAt)).toBeLessThanOrEqual(mintedBy + 120_000)
    const ws = new WebSocket(`${srv.url}/ws/${room}?token=${jwt}`)
    await new Promise((resolve, reject) => {
      ws.on('open', resolve)
      ws.on('unexpected-response', (_q, r) => reject(new Error(`upgrade answered ${r.statusCode}`)))
    })
    ws.close()
  })

  test('ttl forms and bounds', async () => {
    for (const ttl of ['90s', '15m', '1h', '24h', '1d', 3600, 86_400]) {
      expect((await api.call('POST', '/v1/tokens', { body: { sub: 'a', rooms: {}, ttl } })).status, String(ttl)).toBe(201)
    }
    // Longer than TANDEM_JWT_MAX_LIFETIME_SEC (24 h by default): the server would refuse the token, so it is not minted.
    for (const ttl of ['7d', '25h', 86_401]) {
      const res = await api.call('POST', '/v1/tokens', { body: { sub: 'a', rooms: {}, ttl } })
      expect([res.status, res.code], String(ttl)).toEqual([400, 'bad_request'])
      expect((res.json as { error: { message: string } }).error.message).toContain('TANDEM_JWT_MAX_LIFETIME_SEC')
    }
    for (const ttl of ['1y', '0', 0, -5, 1.5, '400d', 365 * 86400 + 1]) {
      const res = await api.call('POST', '/v1/tokens', { body: { sub: 'a', rooms: {}, ttl } })
      expect([res.status, res.code], String(ttl)).toEqual([400, 'bad_request'])
      expect((res.json as { error: { message: string } }).error.message).toContain('body.ttl')
    }
  })

  test('admin tokens: the admin key may mint them, an admin token may not', async () => {
    const minted = await api.call('POST', '/v1/tokens', { body: { sub: 'ops', rooms: {}, admin: true } })
    expect(minted.status).toBe(201)
    const adminJwt = (minted.json as { token: string }).token
    expect((await api.call('GET', '/v1/rooms', { auth: adminJwt })).status).toBe(200)
    const escalate = await api.call('POST', '/v1/tokens', { body: { sub: 'ops', rooms: {}, admin: true, ttl: '365d' }, auth: adminJwt })
    expect([escalate.status, escalate.code]).toEqual([403, 'forbidden'])
  })

  test('a server with a public key answers 501 minting_disabled', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString()
    const other = await startServer({ TANDEM_STORE: 'memory', TANDEM_ADMIN_KEY: ADMIN_KEY, TANDEM_JWT_SECRET: '', TANDEM_JWT_PUBLIC_KEY: pem })
    try {
      const client = new RestClient(other)
      const res = await client.call('POST', '/v1/tokens', { body: { sub: 'a', rooms: {} } })
      expect([res.status, res.code]).toEqual([501, 'minting_disabled'])
    } finally {
      await other.stop()
    }
  })
})

describe('operations', () => {
  test('healthz, readyz, metrics and openapi.json need no credential', async () => {
    expect((await api.call('GET', '/healthz', { auth: null })).json).toEqual({ status: 'ok' })
    expect((await api.call('GET', '/readyz', { auth: null })).json).toEqual({ status: 'ready' })
    const metrics = await api.call('GET', '/metrics', { auth: null })
    expect(metrics.status).toBe(200)
    expect(metrics.contentType).toContain('text/plain')
    const doc = await api.call('GET', '/v1/openapi.json', { auth: null })
    expect((doc.json as { openapi: string }).openapi).toBe('3.1.0')
  })

  test('the OpenAPI document lists every route with its auth, body and error responses', async () => {
    const doc = await api.document()
    const paths = doc.paths as Record<string, Record<string, { security: unknown[]; requestBody?: unknown; responses: Record<string, unknown> }>>
    const ops = Object.entries(paths).flatMap(([p, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${p}`))
    expect(ops.sort()).toEqual(
      [
        'POST /v1/rooms',
        'GET /v1/rooms',
        'GET /v1/rooms/{room}',
        'PATCH /v1/rooms/{room}',
        'DELETE /v1/rooms/{room}',
        'GET /v1/rooms/{room}/doc',
        'POST /v1/rooms/{room}/doc',
        'GET /v1/rooms/{room}/users',
        'DELETE /v1/rooms/{room}/users/{userId}',
        'POST /v1/rooms/{room}/broadcast',
        'POST /v1/tokens',
        'GET /healthz',
        'GET /readyz',
        'GET /metrics',
        'GET /v1/openapi.json',
        // Registered by the webhooks module (exercised in webhooks-rest.test.ts).
        'POST /v1/webhooks',
        'GET /v1/webhooks',
        'DELETE /v1/webhooks/{id}',
        'GET /v1/webhooks/deliveries',
        'POST /v1/webhooks/deliveries/{id}/replay',
        'POST /v1/webhooks/{id}/rotate-secret',
        // Version history (exercised in versions.test.ts).
        'GET /v1/rooms/{room}/versions',
        'POST /v1/rooms/{room}/versions',
        'GET /v1/rooms/{room}/versions/{id}',
        'GET /v1/rooms/{room}/versions/{id}/doc',
        'DELETE /v1/rooms/{room}/versions/{id}',
        'POST /v1/rooms/{room}/versions/{id}/restore',
      ].sort(),
    )
    expect(paths['/v1/rooms']?.post?.security).toEqual([{ bearer: [] }])
    expect(paths['/healthz']?.get?.security).toEqual([])
    expect(paths['/v1/rooms']?.post?.requestBody).toBeDefined()
    expect(Object.keys(paths['/v1/rooms/{room}']?.get?.responses ?? {})).toEqual(expect.arrayContaining(['200', '400', '401', '403', '404', '500']))
  })

  test('every documented operation was exercised by this suite with a success status', () => {
    const successes = [...api.seen.entries()].filter(([, statuses]) => [...statuses].some((s) => s < 300)).map(([op]) => op)
    expect(successes.sort()).toEqual(
      ['applyRoomUpdate', 'broadcastToRoom', 'createRoom', 'deleteRoom', 'getRoom', 'getRoomDoc', 'health', 'kickRoomUser', 'listRoomUsers', 'listRooms', 'metrics', 'mintToken', 'openapi', 'ready', 'updateRoom'].sort(),
    )
  })
})

describe('admin key', () => {
  test('generated on first run (0600) and printed by `tandem admin-key`', async () => {
    const { dir, remove } = await tempDir()
    const other = await startServer({ TANDEM_STORE: 'memory', TANDEM_DATA_DIR: dir })
    try {
      const file = path.join(dir, 'admin-key')
      expect(((await stat(file)).mode & 0o777).toString(8)).toBe('600')
      const env: NodeJS.ProcessEnv = { ...process.env, TANDEM_DATA_DIR: dir }
      delete env.TANDEM_ADMIN_KEY
      const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'admin-key'], { env })
      const key = stdout.trim()
      expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/)
      const client = new RestClient(other, key)
      expect((await client.call('GET', '/v1/rooms')).status).toBe(200)
      expect((await client.call('GET', '/v1/rooms', { auth: `${key}x` })).status).toBe(401)
    } finally {
      await other.stop()
      await remove()
    }
  })
})
