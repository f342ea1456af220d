/**
 * The SDK's REST client (`TandemApi`, `client.api`; imported from source) against the real server: every
 * route once, the error mapping (server codes and statuses, network failures, aborts, foreign error
 * pages), a document round trip between REST and a connected room provider, a token minted over REST
 * that opens a room, and webhook endpoints with a real delivery to a local receiver and its replay.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { TandemApi, TandemClient, TandemError, apiBaseUrl, type FetchLike, type Room } from '../../client-sdk/src/index.js'
import { startServer, token, waitFor, type RunningServer } from '../helpers/server.js'

const ADMIN_KEY = 'sdk-rest-admin-key-0123456789abcdef'
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

let srv: RunningServer
let api: TandemApi
let baseUrl: string
let counter = 0

beforeAll(async () => {
  srv = await startServer({ TANDEM_STORE: 'memory', TANDEM_ADMIN_KEY: ADMIN_KEY, TANDEM_WEBHOOK_ALLOW_PRIVATE: 'true', TANDEM_ROOM_IDLE_MS: '200' })
  const adminKey = srv.config.http.adminKey
  if (adminKey === null) throw new Error('the test server has no admin key')
  baseUrl = `http://127.0.0.1:${srv.port}`
  api = new TandemApi({ baseUrl, adminKey })
})

afterAll(async () => {
  await srv.stop()
})

function freshRoom(label: string): string {
  return `rest-${label}-${++counter}-${Date.now().toString(36)}`
}

/** A socket client for the test server, destroyed when the test ends. */
function socketClient(getToken: (room: string) => string | Promise<string>): TandemClient {
  const client = new TandemClient({ url: `${srv.url}/ws`, getToken, WebSocket, backoff: { baseMs: 50, maxMs: 500 }, api: { adminKey: ADMIN_KEY } })
  onTestFinished(() => client.destroy())
  return client
}

/** Resolves with the TandemError `promise` rejects with (fails if it resolves or rejects otherwise). */
async function rejection(promise: Promise<unknown>): Promise<TandemError> {
  const err: unknown = await promise.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  )
  if (!(err instanceof TandemError)) throw err instanceof Error ? err : new Error(String(err))
  return err
}

/** A local HTTP receiver for webhook deliveries, answering 200. */
async function receiver(): Promise<{ url: string; got: { headers: http.IncomingHttpHeaders; body: string }[] }> {
  const got: { headers: http.IncomingHttpHeaders; body: string }[] = []
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (chunk: Buffer) => (body += chunk.toString()))
    req.on('end', () => {
      got.push({ headers: req.headers, body })
      res.writeHead(200).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onTestFinished(() => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`, got }
}

describe('TandemApi against the real server', () => {
  test('operations: health, ready, metrics, openapi (no credential needed)', async () => {
    const anonymous = new TandemApi({ baseUrl })
    expect(await anonymous.health()).toEqual({ status: 'ok' })
    expect(await anonymous.ready()).toEqual({ status: 'ready' })
    expect(await anonymous.metrics()).toMatch(/^# HELP /m)
    const doc = await anonymous.openapi()
    expect(doc.openapi).toBe('3.1.0')
    expect(Object.keys(doc.paths as object)).toContain('/v1/rooms/{room}/doc')
  })

  test('rooms: create, get, update, list with paging and prefix, iterate all, delete', async () => {
    const prefix = `${freshRoom('crud')}:`
    const names = ['a', 'b', 'c', 'd', 'e'].map((s) => prefix + s)
    const created: Room[] = []
    for (const name of names.slice().reverse()) created.push(await api.createRoom({ name, metadata: { title: name } }))
    expect(created[0]).toMatchObject({ name: names[4], metadata: { title: names[4] }, sizeBytes: 0, stats: { connections: 0, users: 0 } })
    expect(created[0]?.createdAt).toMatch(ISO)

    const room = await api.getRoom(names[0]!)
    expect(room).toMatchObject({ name: names[0], metadata: { title: names[0] } })
    const updated = await api.updateRoom(names[0]!, { metadata: { title: 'renamed', owner: 'ada' } })
    expect(updated.metadata).toEqual({ title: 'renamed', owner: 'ada' })
    expect((await api.getRoom(names[0]!)).metadata).toEqual({ title: 'renamed', owner: 'ada' })

    const first = await api.listRooms({ prefix, limit: 2 })
    expect(first.rooms.map((r) => r.name)).toEqual(names.slice(0, 2))
    expect(first.nextCursor).not.toBeNull()
    const second = await api.listRooms({ prefix, limit: 2, cursor: first.nextCursor! })
    expect(second.rooms.map((r) => r.name)).toEqual(names.slice(2, 4))

    const all: string[] = []
    for await (const r of api.listAllRooms({ prefix, limit: 2 })) all.push(r.name)
    expect(all).toEqual(names)
    expect((await api.listRooms()).rooms.length).toBeGreaterThan(0)

    await api.deleteRoom(names[0]!)
    const gone = await rejection(api.getRoom(names[0]!))
    expect(gone).toMatchObject({ code: 'room_not_found', status: 404 })
    expect((await api.listRooms({ prefix })).rooms.map((r) => r.name)).toEqual(names.slice(1))
  })

  test('errors carry the server code and HTTP status', async () => {
    const name = freshRoom('errors')
    await api.createRoom({ name })

    const exists = await rejection(api.createRoom({ name }))
    expect(exists).toBeInstanceOf(TandemError)
    expect(exists).toMatchObject({ name: 'TandemError', code: 'room_exists', status: 409 })
    expect(exists.message).toContain(name)

    expect(await rejection(api.getRoom(`${name}-missing`))).toMatchObject({ code: 'room_not_found', status: 404 })
    expect(await rejection(api.deleteRoom(`${name}-missing`))).toMatchObject({ code: 'room_not_found', status: 404 })
    // The name travels in the body, so the server is the one refusing it.
    expect(await rejection(api.createRoom({ name: '-not-a-room' }))).toMatchObject({ code: 'invalid_room_name', status: 400 })
    expect(await rejection(api.listRooms({ limit: 1000 }))).toMatchObject({ code: 'bad_request', status: 400 })
    expect(await rejection(api.applyRoomUpdate(name, new Uint8Array(0)))).toMatchObject({ code: 'bad_request', status: 400 })

    const wrongKey = new TandemApi({ baseUrl, adminKey: 'not-the-admin-key-0123456789' })
    expect(await rejection(wrongKey.listRooms())).toMatchObject({ code: 'token_invalid', status: 401 })
    const noKey = new TandemApi({ baseUrl })
    expect(await rejection(noKey.getRoom(name))).toMatchObject({ code: 'token_missing', status: 401 })
    const clientToken = new TandemApi({ baseUrl, getToken: () => token({ rooms: { '*': 'write' } }) })
    expect(await rejection(clientToken.getRoom(name))).toMatchObject({ code: 'forbidden', status: 403 })
  })

  test('client-side failures: bad path arguments, network errors, aborts, foreign error pages, getToken', async () => {
    const calls: string[] = []
    const spy: FetchLike = (input, init) => {
      calls.push(input)
      return fetch(input, init)
    }
    const spied = new TandemApi({ baseUrl, adminKey: ADMIN_KEY, fetch: spy })
    // Path arguments that would address another route never leave the client.
    expect(await rejection(spied.getRoom('../webhooks'))).toMatchObject({ code: 'invalid_room_name', status: 400 })
    expect(await rejection(spied.getRoom(''))).toMatchObject({ code: 'invalid_room_name', status: 400 })
    expect(await rejection(spied.deleteWebhook('..'))).toMatchObject({ code: 'bad_request', status: 400 })
    expect(calls).toEqual([])
    // Names are percent-encoded in the path.
    const name = freshRoom('enc:x')
    await spied.createRoom({ name })
    expect((await spied.getRoom(name)).name).toBe(name)
    expect(calls.at(-1)).toBe(`${baseUrl}/v1/rooms/${encodeURIComponent(name)}`)

    // Nothing listens on a port we just closed.
    const probe = http.createServer()
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
    const deadPort = (probe.address() as AddressInfo).port
    await new Promise<void>((resolve) => probe.close(() => resolve()))
    const offline = await rejection(new TandemApi({ baseUrl: `http://127.0.0.1:${deadPort}` }).health())
    expect(offline).toMatchObject({ code: 'network_error' })
    expect(offline.status).toBeUndefined()
    expect(offline.cause).toBeDefined()

    const controller = new AbortController()
    controller.abort()
    expect(await rejection(api.health({ signal: controller.signal }))).toMatchObject({ code: 'aborted' })

    const proxy = new TandemApi({ baseUrl, fetch: () => Promise.resolve(new Response('<html>Bad Gateway</html>', { status: 502, statusText: 'Bad Gateway' })) })
    expect(await rejection(proxy.health())).toMatchObject({ code: 'http_error', status: 502, message: 'GET /healthz: HTTP 502 Bad Gateway' })
    const garbled = new TandemApi({ baseUrl, fetch: () => Promise.resolve(new Response('not json', { status: 200 })) })
    expect(await rejection(garbled.health())).toMatchObject({ code: 'invalid_response', status: 200 })

    const failing = new TandemApi({ baseUrl, getToken: () => Promise.reject(new Error('auth server down')) })
    expect(await rejection(failing.listRooms())).toMatchObject({ code: 'token_unavailable', message: 'getToken() failed: auth server down' })
    // Public routes do not ask for a credential.
    expect(await failing.health()).toEqual({ status: 'ok' })

    expect(() => new TandemApi({ baseUrl, adminKey: 'k'.repeat(30), getToken: () => 'x' })).toThrow(expect.objectContaining({ code: 'invalid_options' }))
    expect(() => new TandemApi({} as { baseUrl: string })).toThrow(expect.objectContaining({ code: 'invalid_options' }))
  })

  test('document round trip: a REST update reaches a connected provider; the doc reads back as binary and JSON', async () => {
    const name = freshRoom('doc')
    await api.createRoom({ name })
    const jwt = await token({ rooms: { [name]: 'write' } })
    const provider = socketClient(() => jwt).room(name)
    await provider.whenSynced()

    const source = new Y.Doc()
    source.getText('t').insert(0, 'hello from REST')
    source.getMap('m').set('answer', 42)
    await api.applyRoomUpdate(name, Y.encodeStateAsUpdate(source))
    await waitFor(() => provider.doc.getText('t').toString() === 'hello from REST', 'the provider to receive the REST update')
    expect(provider.doc.getMap('m').get('answer')).toBe(42)

    provider.doc.getText('t').insert(0, '» ')
    await provider.whenSaved()

    const update = await api.getRoomDoc(name)
    expect(update).toBeInstanceOf(Uint8Array)
    const copy = new Y.Doc()
    Y.applyUpdate(copy, update)
    expect(copy.getText('t').toString()).toBe('» hello from REST')
    expect(copy.getMap('m').toJSON()).toEqual({ answer: 42 })

    expect(await api.getRoomDocJson(name)).toEqual({ t: '» hello from REST', m: { answer: 42 } })
    expect((await api.getRoom(name)).sizeBytes).toBeGreaterThan(0)
  })

  test('users and broadcast reach the connected clients', async () => {
    const name = freshRoom('users')
    await api.createRoom({ name })
    const jwt = await token({ sub: 'ada', name: 'Ada', rooms: { [name]: 'write' } })
    const provider = socketClient(() => jwt).room(name)
    await provider.whenSynced()

    expect(await api.listRoomUsers(name)).toEqual({ users: [{ userId: 'ada', name: 'Ada', connections: 1 }] })
    const got: string[] = []
    provider.on('stateless', (payload) => got.push(payload))
    expect(await api.broadcastToRoom(name, { message: 'deploy at 5pm' })).toEqual({ connections: 1 })
    await waitFor(() => got.length === 1, 'the broadcast')
    expect(got).toEqual(['deploy at 5pm'])
  })

  test('a token minted through the API opens a room; an admin token drives the API through getToken', async () => {
    const name = freshRoom('minted')
    await api.createRoom({ name })
    const minted = await api.mintToken({ sub: 'bob', name: 'Bob', rooms: { [name]: 'write' }, ttl: '10m' })
    expect(minted.expiresAt).toMatch(ISO)
    expect(Date.parse(minted.expiresAt) - Date.now()).toBeGreaterThan(9 * 60_000)

    const provider = socketClient(() => minted.token).room(name)
    await provider.whenSynced()
    expect(provider.scope).toBe('read-write')
    provider.doc.getText('t').insert(0, 'written with a minted token')
    await provider.whenSaved()
    expect(await api.getRoomDocJson(name)).toEqual({ t: 'written with a minted token' })

    const readOnly = await api.mintToken({ sub: 'eve', rooms: { [name]: 'read' } })
    const reader = socketClient(() => readOnly.token)
    const watcher = reader.room(name)
    await watcher.whenSynced()
    expect(watcher.scope).toBe('readonly')

    const admin = await api.mintToken({ sub: 'ops', rooms: {}, ttl: 300, admin: true })
    const viaJwt = new TandemApi({ baseUrl, getToken: () => admin.token })
    expect((await viaJwt.getRoom(name)).name).toBe(name)
  })

  test('client.api: the REST client of a TandemClient, its base URL derived from the socket URL', async () => {
    expect(apiBaseUrl(`${srv.url}/ws`)).toBe(baseUrl)
    expect(apiBaseUrl('wss://collab.example.com/tandem/ws?x=1')).toBe('https://collab.example.com/tandem')

    const client = socketClient(() => token())
    expect(client.api).toBe(client.api)
    const name = freshRoom('client-api')
    await client.api.createRoom({ name })
    const provider = client.room(name)
    await provider.whenSynced()
    expect((await client.api.getRoom(name)).stats).toMatchObject({ connections: 1, users: 1, loaded: true })

    const explicit = new TandemClient({ url: () => `${srv.url}/ws`, getToken: () => token(), WebSocket, api: { baseUrl, adminKey: ADMIN_KEY } })
    onTestFinished(() => explicit.destroy())
    expect((await explicit.api.getRoom(name)).name).toBe(name)
    const noBase = new TandemClient({ url: () => `${srv.url}/ws`, getToken: () => token(), WebSocket })
    onTestFinished(() => noBase.destroy())
    expect(() => noBase.api).toThrow(expect.objectContaining({ code: 'invalid_options' }))
  })

  test('webhooks: create, list, deliver to a local receiver, list deliveries, replay, delete', async () => {
    const rx = await receiver()
    const created = await api.createWebhook({ url: rx.url, events: ['room.created'] })
    expect(created).toMatchObject({ url: rx.url, events: ['room.created'], disabledAt: null, fromConfig: false })
    expect(created.id).toMatch(/^ep_/)
    expect(created.secret).toMatch(/^whsec_/)
    const { secret: _secret, ...listed } = created
    expect((await api.listWebhooks()).webhooks).toContainEqual(listed)

    const name = freshRoom('hooked')
    await api.createRoom({ name })
    await waitFor(() => rx.got.length === 1, 'the room.created delivery')
    expect(JSON.parse(rx.got[0]!.body)).toMatchObject({ type: 'room.created', data: { room: name } })

    const mine = async () => (await api.listWebhookDeliveries({ status: 'delivered', limit: 100 })).deliveries.filter((d) => d.endpointId === created.id)
    await waitFor(async () => (await mine()).length === 1, 'the delivery to be recorded as delivered')
    const [delivery] = await mine()
    expect(delivery).toMatchObject({ status: 'delivered', eventType: 'room.created', attempts: 1, lastStatusCode: 200 })
    const all = []
    for await (const d of api.listAllWebhookDeliveries({ limit: 1 })) all.push(d.id)
    expect(all).toContain(delivery!.id)

    const replayed = await api.replayWebhookDelivery(delivery!.id)
    expect(replayed).toMatchObject({ id: delivery!.id, status: 'pending', attempts: 0 })
    await waitFor(() => rx.got.length === 2, 'the replayed delivery')
    expect(rx.got[1]!.headers['webhook-id']).toBe(delivery!.id)

    const rotated = await api.rotateWebhookSecret(created.id, { overlapSeconds: 60 })
    expect(rotated).toMatchObject({ id: created.id, fromConfig: false })
    expect(rotated.secret).not.toBe(created.secret)
    expect(Date.parse(rotated.previousSecretExpiresAt ?? '')).toBeGreaterThan(Date.now())
    expect((await api.rotateWebhookSecret(created.id)).secret).toMatch(/^whsec_/)
    await expect(api.rotateWebhookSecret('ep_missing')).rejects.toMatchObject({ code: 'webhook_not_found', status: 404 })

    await api.deleteWebhook(created.id)
    expect((await api.listWebhooks()).webhooks.map((w) => w.id)).not.toContain(created.id)
    expect(await rejection(api.deleteWebhook(created.id))).toMatchObject({ code: 'webhook_not_found', status: 404 })
    expect(await rejection(api.replayWebhookDelivery('msg_nope'))).toMatchObject({ code: 'delivery_not_found', status: 404 })
  })
})
