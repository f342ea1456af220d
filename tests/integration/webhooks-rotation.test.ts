/**
 * Webhook secret rotation on a real server with a real receiver: a receiver can switch secrets without a
 * failed delivery. Before a rotation the old secret verifies; during the overlap one delivery verifies with
 * the old and the new secret alike (retries and replays too); after expiry only the new one does. The
 * configured endpoint rotates through the environment, and a rotation survives a restart (SQLite).
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, test } from 'vitest'
import { Webhook } from 'standardwebhooks'
import { generateSecret } from '#server/webhooks/signer'
import { spawnServer, startServer, tempDir, waitFor, type ChildServer } from '../helpers/server.js'

const ADMIN_KEY = 'rotation-admin-key-0123456789abcdef'

const cleanups: (() => void | Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

interface Received {
  headers: { 'webhook-id': string; 'webhook-timestamp': string; 'webhook-signature': string }
  body: string
}

/** Records every attempt; answers with `status(attempt)` (default 204). */
async function receiver(status: (r: Received) => number = () => 204): Promise<{ url: string; got: Received[] }> {
  const got: Received[] = []
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const r: Received = {
        headers: {
          'webhook-id': String(req.headers['webhook-id']),
          'webhook-timestamp': String(req.headers['webhook-timestamp']),
          'webhook-signature': String(req.headers['webhook-signature']),
        },
        body: Buffer.concat(chunks).toString(),
      }
      got.push(r)
      res.writeHead(status(r)).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(() => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got }
}

function verifies(secret: string, r: Received): boolean {
  try {
    new Webhook(secret).verify(r.body, { ...r.headers })
    return true
  } catch {
    return false
  }
}

type Json = Record<string, unknown> & { error?: { code: string; message: string } }

function client(port: number) {
  return async (method: string, path: string, body?: unknown, raw?: { contentType: string; text: string }): Promise<{ status: number; json: Json }> => {
    const headers: Record<string, string> = { authorization: `Bearer ${ADMIN_KEY}` }
    let payload: string | undefined
    if (raw) {
      headers['content-type'] = raw.contentType
      payload = raw.text
    } else if (body !== undefined) {
      headers['content-type'] = 'application/json'
      payload = JSON.stringify(body)
    }
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers, ...(payload !== undefined && { body: payload }) })
    const text = await res.text()
    return { status: res.status, json: (text === '' ? {} : JSON.parse(text)) as Json }
  }
}

async function inProcess(env: Record<string, string> = {}) {
  const srv = await startServer({ TANDEM_ADMIN_KEY: ADMIN_KEY, TANDEM_WEBHOOK_ALLOW_PRIVATE: 'true', ...env })
  cleanups.push(() => srv.stop())
  return { srv, call: client(srv.port) }
}

/** The attempts that announce `room` being created. */
function createdOf(got: readonly Received[], room: string): Received[] {
  return got.filter((r) => {
    const body = JSON.parse(r.body) as { type: string; data: { room?: string } }
    return body.type === 'room.created' && body.data.room === room
  })
}

async function createRoomAndReceive(call: ReturnType<typeof client>, got: Received[], room: string): Promise<Received> {
  expect((await call('POST', '/v1/rooms', { name: room })).status).toBe(201)
  await waitFor(() => createdOf(got, room).length > 0, `room.created for ${room}`)
  return createdOf(got, room)[0]!
}

describe('webhook secret rotation', () => {
  test('old secret before, both during the overlap (current first), only the new one after expiry', async () => {
    const { call } = await inProcess()
    const rx = await receiver()
    const created = await call('POST', '/v1/webhooks', { url: rx.url, events: ['room.created'] })
    expect(created.status).toBe(201)
    const id = created.json.id as string
    const oldSecret = created.json.secret as string
    expect(created.json.previousSecretExpiresAt).toBeNull()

    const before = await createRoomAndReceive(call, rx.got, 'before')
    expect(verifies(oldSecret, before)).toBe(true)
    expect(before.headers['webhook-signature'].split(' ')).toHaveLength(1)

    // No body: the overlap is TANDEM_WEBHOOK_SECRET_OVERLAP_SEC (a day by default).
    const rotated = await call('POST', `/v1/webhooks/${id}/rotate-secret`)
    expect(rotated.status).toBe(200)
    const newSecret = rotated.json.secret as string
    expect(newSecret).toMatch(/^whsec_/)
    expect(newSecret).not.toBe(oldSecret)
    expect(rotated.json).toMatchObject({ id, url: rx.url, events: ['room.created'], fromConfig: false, disabledAt: null })
    const expiresAt = Date.parse(rotated.json.previousSecretExpiresAt as string)
    expect(expiresAt).toBeGreaterThan(Date.now() + 86_000_000)
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 86_400_000)

    // The list shows the expiry but never a secret.
    const listed = await call('GET', '/v1/webhooks')
    const entry = (listed.json.webhooks as Json[]).find((w) => w.id === id)
    expect(entry).toMatchObject({ previousSecretExpiresAt: rotated.json.previousSecretExpiresAt })
    expect(entry).not.toHaveProperty('secret')

    const during = await createRoomAndReceive(call, rx.got, 'during')
    expect(verifies(oldSecret, during)).toBe(true)
    expect(verifies(newSecret, during)).toBe(true)
    const entries = during.headers['webhook-signature'].split(' ')
    expect(entries).toHaveLength(2)
    // Current first: a receiver that checks only the first entry already holds the new secret's.
    expect(verifies(newSecret, { ...during, headers: { ...during.headers, 'webhook-signature': entries[0]! } })).toBe(true)

    // A replay of the delivery made before the rotation is signed anew, with both secrets.
    expect((await call('POST', `/v1/webhooks/deliveries/${before.headers['webhook-id']}/replay`)).status).toBe(202)
    await waitFor(() => createdOf(rx.got, 'before').length === 2, 'the replayed delivery')
    const replayed = createdOf(rx.got, 'before')[1]!
    expect(replayed.headers['webhook-id']).toBe(before.headers['webhook-id'])
    expect(verifies(oldSecret, replayed)).toBe(true)
    expect(verifies(newSecret, replayed)).toBe(true)

    // Rotating again during the overlap keeps only the secret it replaces.
    const again = await call('POST', `/v1/webhooks/${id}/rotate-secret`, { overlapSeconds: 1 })
    expect(again.status).toBe(200)
    const third = again.json.secret as string
    const againExpiresAt = Date.parse(again.json.previousSecretExpiresAt as string)
    const overlap = await createRoomAndReceive(call, rx.got, 'second-overlap')
    // Signed before the one-second overlap ended unless the machine stalled for a second; check only what holds.
    expect(verifies(third, overlap)).toBe(true)
    expect(verifies(oldSecret, overlap)).toBe(false)

    // After expiry only the newest secret signs.
    await waitFor(() => Date.now() > againExpiresAt, 'the one-second overlap to end')
    const after = await createRoomAndReceive(call, rx.got, 'after')
    expect(verifies(third, after)).toBe(true)
    expect(verifies(newSecret, after)).toBe(false)
    expect(after.headers['webhook-signature'].split(' ')).toHaveLength(1)

    // overlapSeconds 0 drops the current secret at once.
    const immediate = await call('POST', `/v1/webhooks/${id}/rotate-secret`, { overlapSeconds: 0 })
    expect(immediate.status).toBe(200)
    expect(immediate.json.previousSecretExpiresAt).toBeNull()
    const fourth = immediate.json.secret as string
    const now = await createRoomAndReceive(call, rx.got, 'immediate')
    expect(verifies(fourth, now)).toBe(true)
    expect(verifies(third, now)).toBe(false)
  })

  test('a retry after a rotation carries both signatures', async () => {
    const { call } = await inProcess({ TANDEM_WEBHOOK_RETRY_BASE_MS: '20', TANDEM_WEBHOOK_RETRY_MAX_MS: '100', TANDEM_WEBHOOK_MAX_ATTEMPTS: '100' })
    // Refuses every attempt until one is signed twice, i.e. after the rotation.
    const rx = await receiver((r) => (r.headers['webhook-signature'].includes(' ') ? 204 : 500))
    const created = await call('POST', '/v1/webhooks', { url: rx.url, events: ['room.created'] })
    const oldSecret = created.json.secret as string
    expect((await call('POST', '/v1/rooms', { name: 'retried' })).status).toBe(201)
    await waitFor(() => createdOf(rx.got, 'retried').length >= 1, 'a first, refused attempt')
    const rotated = await call('POST', `/v1/webhooks/${created.json.id as string}/rotate-secret`, { overlapSeconds: 3600 })
    const newSecret = rotated.json.secret as string
    await waitFor(async () => {
      const page = await call('GET', '/v1/webhooks/deliveries?status=delivered')
      return (page.json.deliveries as Json[]).length === 1
    }, 'the delivery to succeed on a retry')
    const accepted = createdOf(rx.got, 'retried').filter((r) => r.headers['webhook-signature'].includes(' '))
    expect(accepted.length).toBeGreaterThan(0)
    for (const r of accepted) {
      expect(verifies(newSecret, r)).toBe(true)
      expect(verifies(oldSecret, r)).toBe(true)
    }
  })

  test('ep_config signs with TANDEM_WEBHOOK_SECRET and TANDEM_WEBHOOK_PREVIOUS_SECRET, and cannot be rotated over REST', async () => {
    const rx = await receiver()
    const current = generateSecret()
    const previous = generateSecret()
    const { call } = await inProcess({ TANDEM_WEBHOOK_URL: rx.url, TANDEM_WEBHOOK_SECRET: current, TANDEM_WEBHOOK_PREVIOUS_SECRET: previous })
    const got = await createRoomAndReceive(call, rx.got, 'configured')
    expect(verifies(current, got)).toBe(true)
    expect(verifies(previous, got)).toBe(true)
    expect(verifies(generateSecret(), got)).toBe(false)

    const refused = await call('POST', '/v1/webhooks/ep_config/rotate-secret', { overlapSeconds: 60 })
    expect(refused.status).toBe(409)
    expect(refused.json.error?.code).toBe('webhook_managed_by_config')
    expect(refused.json.error?.message).toContain('TANDEM_WEBHOOK_SECRET')
  })

  test('unknown endpoint is 404, a bad overlapSeconds or body is 400', async () => {
    const { call } = await inProcess()
    const rx = await receiver()
    const missing = await call('POST', '/v1/webhooks/ep_nope/rotate-secret')
    expect(missing.status).toBe(404)
    expect(missing.json.error?.code).toBe('webhook_not_found')

    const id = (await call('POST', '/v1/webhooks', { url: rx.url })).json.id as string
    for (const body of [{ overlapSeconds: -1 }, { overlapSeconds: 2_592_001 }, { overlapSeconds: 1.5 }, { overlapSeconds: '60' }, { overlap: 60 }, []]) {
      const res = await call('POST', `/v1/webhooks/${id}/rotate-secret`, body)
      expect(res.status, JSON.stringify(body)).toBe(400)
      expect(res.json.error?.code).toBe('bad_request')
    }
    const malformed = await call('POST', `/v1/webhooks/${id}/rotate-secret`, undefined, { contentType: 'application/json', text: '{"overlapSeconds":' })
    expect(malformed.status).toBe(400)
    const wrongType = await call('POST', `/v1/webhooks/${id}/rotate-secret`, undefined, { contentType: 'text/plain', text: 'x' })
    expect(wrongType.status).toBe(415)
    // The bounds themselves are accepted.
    expect((await call('POST', `/v1/webhooks/${id}/rotate-secret`, { overlapSeconds: 2_592_000 })).status).toBe(200)
    expect((await call('POST', `/v1/webhooks/${id}/rotate-secret`, {})).status).toBe(200)
  })

  test('the rotated secret and its overlap survive a restart (SQLite)', async () => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const rx = await receiver()
    const env = { TANDEM_ADMIN_KEY: ADMIN_KEY, TANDEM_WEBHOOK_ALLOW_PRIVATE: 'true' }
    const serve = async (): Promise<ChildServer> => {
      const child = await spawnServer(tmp.dir, env)
      let exited = false
      void child.exited.then(() => (exited = true))
      cleanups.push(async () => {
        if (exited) return
        child.child.kill('SIGKILL')
        await child.exited
      })
      return child
    }

    const first = await serve()
    const call1 = client(first.port)
    const created = await call1('POST', '/v1/webhooks', { url: rx.url, events: ['room.created'] })
    const oldSecret = created.json.secret as string
    const rotated = await call1('POST', `/v1/webhooks/${created.json.id as string}/rotate-secret`, { overlapSeconds: 3600 })
    const newSecret = rotated.json.secret as string
    first.child.kill('SIGTERM')
    await first.exited

    const second = await serve()
    const call2 = client(second.port)
    const listed = await call2('GET', '/v1/webhooks')
    expect(listed.json.webhooks).toEqual([expect.objectContaining({ id: created.json.id, previousSecretExpiresAt: rotated.json.previousSecretExpiresAt })])
    const got = await createRoomAndReceive(call2, rx.got, 'after-restart')
    expect(verifies(newSecret, got)).toBe(true)
    expect(verifies(oldSecret, got)).toBe(true)
  })
})
