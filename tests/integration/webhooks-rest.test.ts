/**
 * The webhook routes mounted on the real REST router over a real uWS app (the composition root wires the
 * same thing): request validation, status codes, ISO timestamps, secrets shown once, replay over HTTP.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, onTestFinished, test } from 'vitest'
import { pino } from 'pino'
import { Webhook } from 'standardwebhooks'
import { loadUws } from '#server/uws'
import { AppError } from '#server/errors'
import { Router } from '#server/http/router'
import { buildOpenApi } from '#server/http/openapi'
import { createMemoryStore } from '#server/persistence/memory'
import { createRoomEvents } from '#server/rooms/events'
import { createWebhooks } from '#server/webhooks/service'
import { webhookRoutes } from '#server/webhooks/routes'
import { waitFor } from '../helpers/server.js'

const silent = pino({ level: 'silent' })
const ADMIN = 'Bearer test-admin-key-0123456789abcdef'

async function startApi(opts: { allowPrivate?: boolean } = {}) {
  const store = createMemoryStore()
  const events = createRoomEvents(() => {})
  const webhooks = await createWebhooks(
    { url: null, secret: null, previousSecret: null, secretOverlapSec: 86_400, allowPrivate: opts.allowPrivate ?? true, timeoutMs: 1_000, debounceMs: 20, maxWaitMs: 100, maxAttempts: 2, retryBaseMs: 20, retryMaxMs: 100 },
    { store, events, log: silent, metrics: { webhookAttempt() {}, webhookQueueDepth() {}, webhookEventsDropped() {} }, describeRoom: async () => ({ sizeBytes: 1, stateVector: new Uint8Array([0]) }) },
  )
  const router = new Router({
    log: silent,
    metrics: { httpRequest() {} },
    auth: {
      authenticate: async (authorization) => {
        if (authorization !== ADMIN) throw new AppError('token_missing', 'admin key required')
        return { kind: 'admin-key' }
      },
    },
    maxBodyBytes: 64 * 1024,
    bodyTimeoutMs: 30_000,
  })
  router.add(...webhookRoutes(webhooks))
  const uws = loadUws()
  const app = uws.App()
  router.attach(app)
  const socket = await new Promise<NonNullable<Parameters<Parameters<typeof app.listen>[2]>[0]>>((resolve, reject) =>
    app.listen('127.0.0.1', 0, (s) => (s ? resolve(s) : reject(new Error('listen failed')))),
  )
  const base = `http://127.0.0.1:${uws.us_socket_local_port(socket)}`
  onTestFinished(async () => {
    uws.us_listen_socket_close(socket)
    await webhooks.close()
    await store.close()
  })
  const call = async (method: string, path: string, body?: unknown, auth = ADMIN) => {
    const res = await fetch(base + path, {
      method,
      headers: { authorization: auth, connection: 'close', ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    })
    const text = await res.text()
    return { status: res.status, json: (text === '' ? null : JSON.parse(text)) as Record<string, unknown> & { error?: { code: string; message: string } } }
  }
  return { call, events, router, store }
}

async function receiver(status: () => number) {
  const got: { headers: http.IncomingHttpHeaders; body: string }[] = []
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      got.push({ headers: req.headers, body })
      res.writeHead(status()).end()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  onTestFinished(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/in`, got }
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

describe('webhook REST routes', () => {
  test('register, list without secrets, deliver, fail, list failed, replay over HTTP, delete', async () => {
    const api = await startApi()
    let status = 500
    const rx = await receiver(() => status)

    const created = await api.call('POST', '/v1/webhooks', { url: rx.url, events: ['room.created'] })
    expect(created.status).toBe(201)
    expect(created.json).toMatchObject({ url: rx.url, events: ['room.created'], disabledAt: null, fromConfig: false })
    expect(created.json.id).toMatch(/^ep_/)
    expect(created.json.createdAt).toMatch(ISO)
    const secret = created.json.secret as string
    expect(secret).toMatch(/^whsec_/)

    const listed = await api.call('GET', '/v1/webhooks')
    expect(listed.status).toBe(200)
    const { secret: _secret, ...publicView } = created.json
    expect(listed.json.webhooks).toEqual([publicView])
    expect(JSON.stringify(listed.json)).not.toContain('whsec_')

    // As RoomService does: the store records the room (and its room.created) first; the event is a hint.
    await api.store.createRoom('r1', {})
    api.events.emit({ type: 'room.created', roomId: 'r1', at: Date.now() })
    await waitFor(async () => ((await api.call('GET', '/v1/webhooks/deliveries?status=failed')).json.deliveries as unknown[]).length === 1, 'failed delivery')
    const failed = (await api.call('GET', '/v1/webhooks/deliveries?status=failed&limit=10')).json
    const [delivery] = failed.deliveries as Record<string, unknown>[]
    expect(delivery).toMatchObject({ status: 'failed', attempts: 2, lastStatusCode: 500, nextAttemptAt: null, eventType: 'room.created', endpointId: created.json.id })
    expect(delivery?.payload).toMatchObject({ type: 'room.created', data: { room: 'r1' } })
    expect(delivery?.createdAt).toMatch(ISO)
    expect(failed.nextCursor).toBeNull()

    status = 200
    const replay = await api.call('POST', `/v1/webhooks/deliveries/${String(delivery?.id)}/replay`)
    expect(replay.status).toBe(202)
    expect(replay.json).toMatchObject({ id: delivery?.id, status: 'pending', attempts: 0 })
    await waitFor(() => rx.got.length === 3, 'replayed delivery')
    const last = rx.got[2]!
    expect(last.headers['webhook-id']).toBe(delivery?.id)
    expect(new Webhook(secret).verify(last.body, last.headers as Record<string, string>)).toMatchObject({ type: 'room.created' })

    expect((await api.call('DELETE', `/v1/webhooks/${String(created.json.id)}`)).status).toBe(204)
    expect((await api.call('GET', '/v1/webhooks')).json.webhooks).toEqual([])
  })

  test('errors: validation, SSRF refusals, unknown ids, auth', async () => {
    const api = await startApi({ allowPrivate: false })
    const cases: [string, string, unknown, number, string][] = [
      ['POST', '/v1/webhooks', { url: 'http://127.0.0.1:1/' }, 400, 'bad_request'],
      ['POST', '/v1/webhooks', { url: 'http://2130706433/' }, 400, 'bad_request'],
      ['POST', '/v1/webhooks', { url: 'http://[::ffff:7f00:1]/' }, 400, 'bad_request'],
      ['POST', '/v1/webhooks', { url: 'ftp://example.com/' }, 400, 'bad_request'],
      ['POST', '/v1/webhooks', { url: 'https://u:p@example.com/' }, 400, 'bad_request'],
      ['POST', '/v1/webhooks', { url: 'https://example.com/', events: [] }, 400, 'bad_request'],
      ['POST', '/v1/webhooks', { url: 'https://example.com/', events: ['room.exploded'] }, 400, 'bad_request'],
      ['POST', '/v1/webhooks', { url: 'https://example.com/', secret: 'mine' }, 400, 'bad_request'],
      ['DELETE', '/v1/webhooks/ep_nope', undefined, 404, 'webhook_not_found'],
      ['DELETE', '/v1/webhooks/ep_config', undefined, 400, 'bad_request'],
      ['POST', '/v1/webhooks/deliveries/msg_nope/replay', undefined, 404, 'delivery_not_found'],
      ['GET', '/v1/webhooks/deliveries?status=lost', undefined, 400, 'bad_request'],
      ['GET', '/v1/webhooks/deliveries?limit=0', undefined, 400, 'bad_request'],
      ['GET', '/v1/webhooks/deliveries?limit=201', undefined, 400, 'bad_request'],
    ]
    for (const [method, path, body, status, code] of cases) {
      const res = await api.call(method, path, body)
      expect([res.status, res.json.error?.code], `${method} ${path} ${JSON.stringify(body)}`).toEqual([status, code])
    }
    const refused = await api.call('POST', '/v1/webhooks', { url: 'http://localhost:9/' })
    expect(refused.json.error?.message).toMatch(/loopback/)
    expect((await api.call('GET', '/v1/webhooks', undefined, 'Bearer wrong')).status).toBe(401)
  })

  test('the routes are documented in the OpenAPI document', async () => {
    const { router } = await startApi()
    const doc = buildOpenApi(router.routes) as { paths: Record<string, Record<string, { operationId: string }>> }
    expect(Object.entries(doc.paths).flatMap(([p, ops]) => Object.entries(ops).map(([m, op]) => `${m} ${p} ${op.operationId}`))).toEqual([
      'post /v1/webhooks createWebhook',
      'get /v1/webhooks listWebhooks',
      'delete /v1/webhooks/{id} deleteWebhook',
      'post /v1/webhooks/{id}/rotate-secret rotateWebhookSecret',
      'get /v1/webhooks/deliveries listWebhookDeliveries',
      'post /v1/webhooks/deliveries/{id}/replay replayWebhookDelivery',
    ])
  })
})
