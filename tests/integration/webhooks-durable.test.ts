/**
 * A room.changed webhook is as durable as the edit that caused it: the debounce lives in the store, so a
 * process SIGKILLed inside the debounce window right after a saved acknowledgement still delivers it
 * (from the next process on the same data directory, or the same Postgres schema). room.created is
 * recorded with the room's record, so a process SIGKILLed right after answering 201 still delivers it.
 * On SQLite and PostgreSQL.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, expect, test } from 'vitest'
import { Webhook } from 'standardwebhooks'
import { generateSecret } from '#server/webhooks/signer'
import { closeOpenConns, single } from '../helpers/raw-client.js'
import { spawnServer, tempDir, token, waitFor, type ChildServer } from '../helpers/server.js'
import { describeEachStore } from '../helpers/store-kind.js'

const cleanups: (() => void | Promise<void>)[] = []
afterEach(async () => {
  closeOpenConns()
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

interface Delivery {
  id: string
  body: { type: string; data: Record<string, unknown> }
}

async function receiver(secret: string): Promise<{ url: string; received: Delivery[] }> {
  const received: Delivery[] = []
  const verifier = new Webhook(secret)
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString()
      const headers = {
        'webhook-id': String(req.headers['webhook-id']),
        'webhook-timestamp': String(req.headers['webhook-timestamp']),
        'webhook-signature': String(req.headers['webhook-signature']),
      }
      received.push({ id: headers['webhook-id'], body: verifier.verify(raw, headers) as Delivery['body'] })
      res.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received }
}

async function serve(dir: string, env: Record<string, string>): Promise<ChildServer> {
  const child = await spawnServer(dir, env)
  let exited = false
  void child.exited.then(() => (exited = true))
  cleanups.push(async () => {
    if (exited) return
    child.child.kill('SIGKILL')
    await child.exited
  })
  return child
}

describeEachStore('room.changed survives SIGKILL', (store) => {
  test('killed inside the debounce window right after a saved ack: the restarted server delivers room.changed', async () => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const secret = generateSecret()
    const hook = await receiver(secret)
    const env = { ...store.env(), TANDEM_WEBHOOK_URL: hook.url, TANDEM_WEBHOOK_SECRET: secret }
    const room = 'durable-hook'
    const jwt = await token({ rooms: { [room]: 'write' } })

    // A minute of debounce: the kill below lands well inside it.
    const first = await serve(tmp.dir, { ...env, TANDEM_WEBHOOK_DEBOUNCE_MS: '60000', TANDEM_WEBHOOK_MAX_WAIT_MS: '60000' })
    const conn = await single(`ws://127.0.0.1:${first.port}`, room, { token: jwt })
    await waitFor(() => hook.received.some((d) => d.body.type === 'room.created'), 'room.created')
    await conn.write(room, (doc) => doc.getText('t').insert(0, 'saved before the kill'))
    first.child.kill('SIGKILL')
    expect(await first.exited).toBe('SIGKILL')
    expect(hook.received.filter((d) => d.body.type === 'room.changed')).toEqual([])

    // The next process (short debounce, so the test does not wait a minute) finds the recorded change.
    const second = await serve(tmp.dir, { ...env, TANDEM_WEBHOOK_DEBOUNCE_MS: '200', TANDEM_WEBHOOK_MAX_WAIT_MS: '1000' })
    await waitFor(() => hook.received.some((d) => d.body.type === 'room.changed'), 'room.changed after the restart', 15_000)
    const changed = hook.received.filter((d) => d.body.type === 'room.changed')
    expect(changed).toHaveLength(1)
    expect(changed[0]?.body.data).toMatchObject({ room, sizeBytes: expect.any(Number) as unknown })
    expect(Number(changed[0]?.body.data.sizeBytes)).toBeGreaterThan(0)
    second.child.kill('SIGTERM')
    expect(await second.exited).toBe(0)
    // Announced once: a clean shutdown left nothing for a third process to send again.
    expect(hook.received.filter((d) => d.body.type === 'room.changed')).toHaveLength(1)
  }, 60_000)
})

describeEachStore('room.created survives SIGKILL', (store) => {
  test('killed right after the 201 of POST /v1/rooms: the restarted server delivers room.created', async () => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const secret = generateSecret()
    const hook = await receiver(secret)
    const adminKey = 'durable-admin-key-0123456789abcdef'
    // A short attempt timeout keeps the lease short: an attempt the kill cut off is retried after 3 s.
    const env = { ...store.env(), TANDEM_WEBHOOK_URL: hook.url, TANDEM_WEBHOOK_SECRET: secret, TANDEM_ADMIN_KEY: adminKey, TANDEM_WEBHOOK_TIMEOUT_MS: '1000' }
    const rooms = ['created-a', 'created-b', 'created-c']

    const first = await serve(tmp.dir, env)
    // Several creations in flight; the kill comes the moment the last 201 arrives, before its event
    // can have been turned into a delivery (and perhaps before the others' were).
    let answered = 0
    const answers = await Promise.all(
      rooms.map((name) =>
        fetch(`http://127.0.0.1:${first.port}/v1/rooms`, {
          method: 'POST',
          headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ name }),
        }).then((res) => {
          if (++answered === rooms.length) first.child.kill('SIGKILL')
          return res.status
        }),
      ),
    )
    expect(answers).toEqual([201, 201, 201])
    first.child.kill('SIGKILL')
    expect(await first.exited).toBe('SIGKILL')

    const second = await serve(tmp.dir, env)
    const createdFor = (room: string): Delivery[] => hook.received.filter((d) => d.body.type === 'room.created' && d.body.data.room === room)
    await waitFor(() => rooms.every((room) => createdFor(room).length > 0), 'room.created for every created room after the restart', 15_000)
    second.child.kill('SIGTERM')
    expect(await second.exited).toBe(0)
    // At least once, and one logical event each: a repeat (killed mid-attempt) carries the same webhook-id.
    for (const room of rooms) expect(new Set(createdFor(room).map((d) => d.id)).size).toBe(1)
  }, 60_000)
})
