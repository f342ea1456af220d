/**
 * Per-connection limits at the WebSocket edge: awareness states too large or too deeply nested are
 * refused before anyone hears them (1008); one connection's awareness reaches the room at most about
 * 20 times a second, its last state and its removal still go out; a removed client id cannot be taken
 * over by another user; message and byte floods close with 4429 while one maximum-size message passes;
 * a room that fails to load on a multiplexed socket fails alone.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { decodeAwarenessUpdate, encodeAwarenessUpdate, type AwarenessEntry } from '@tandem/client/protocol'
import { createMemoryStore } from '#server/persistence/memory'
import type { Store } from '#server/persistence/store'
import { startServer, token, waitFor, type RunningServer } from '../helpers/server.js'
import { closeOpenConns, join, multiplexed, single, type Conn } from '../helpers/raw-client.js'

let srv: RunningServer
const cleanups: Array<() => void | Promise<void>> = []
let roomCounter = 0

beforeAll(async () => {
  srv = await startServer({ TANDEM_STORE: 'memory', TANDEM_ROOM_IDLE_MS: '200' })
})

afterEach(async () => {
  closeOpenConns()
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

afterAll(async () => {
  await srv.stop()
})

function freshRoom(label: string): string {
  return `limits-${label}-${++roomCounter}-${Date.now().toString(36)}`
}

function awareness(clientId: number, clock: number, state: string): { type: 'awareness'; update: Uint8Array } {
  return { type: 'awareness', update: encodeAwarenessUpdate([{ clientId, clock, state }]) }
}

/** Every awareness entry `conn` received for `clientId`, one array per frame. */
function heard(conn: Conn, clientId: number, room = conn.defaultRoom): AwarenessEntry[][] {
  const frames: AwarenessEntry[][] = []
  for (const r of conn.received) {
    if (r.room !== room || r.message.type !== 'awareness') continue
    const decoded = decodeAwarenessUpdate(r.message.update)
    if (!decoded.ok) continue
    const mine = decoded.value.filter((e) => e.clientId === clientId)
    if (mine.length > 0) frames.push(mine)
  }
  return frames
}

describe('awareness limits', () => {
  test('a 1 MB state closes its sender with 1008 and reaches nobody', async () => {
    const room = freshRoom('aw-1mb')
    const jwt = await token()
    const observer = await single(srv.url, room, { token: jwt })
    const sender = await single(srv.url, room, { token: jwt })
    sender.send(room, awareness(4242, 1, JSON.stringify({ blob: 'x'.repeat(1024 * 1024) })))
    expect((await sender.closedWith()).code).toBe(1008)
    await observer.roundTrip()
    expect(heard(observer, 4242)).toEqual([])
  })

  test('a 10 KB state nested 5,000 deep closes its sender with 1008; a y-websocket peer never sees it', async () => {
    const room = freshRoom('aw-deep')
    const jwt = await token()
    const doc = new Y.Doc()
    const provider = new WebsocketProvider(`${srv.url}/ws`, room, doc, {
      WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
      params: { token: jwt },
      disableBc: true,
    })
    cleanups.push(() => provider.destroy())
    const closes: number[] = []
    provider.on('connection-close', (e: CloseEvent | null) => closes.push(e?.code ?? 0))
    await waitFor(() => provider.synced, 'the y-websocket provider to sync')
    const observer = await single(srv.url, room, { token: jwt })
    const sender = await single(srv.url, room, { token: jwt })
    const deep = '['.repeat(5_000) + ']'.repeat(5_000)
    sender.send(room, awareness(4343, 1, deep))
    expect((await sender.closedWith()).code).toBe(1008)
    await observer.roundTrip()
    expect(heard(observer, 4343)).toEqual([])
    expect(provider.awareness.getStates().has(4343)).toBe(false)
    expect(closes).toEqual([])
    expect(provider.wsconnected).toBe(true)
  })

  test('a state that is not JSON closes with 1007', async () => {
    const room = freshRoom('aw-json')
    const sender = await single(srv.url, room, { token: await token() })
    sender.send(room, awareness(4444, 1, '{"x": nope'))
    expect((await sender.closedWith()).code).toBe(1007)
  })

  test('1,000 awareness messages in about a second are fanned out at most ~20 times a second; the last state and the removal arrive', async () => {
    const room = freshRoom('aw-rate')
    const jwt = await token()
    const observer = await multiplexed(srv.url)
    await join(observer, room, jwt)
    const sender = await single(srv.url, room, { token: jwt })
    const clientId = 4545
    const COUNT = 1_000
    const startedAt = performance.now()
    for (let clock = 1; clock <= COUNT; clock++) {
      sender.send(room, awareness(clientId, clock, JSON.stringify({ cursor: clock })))
      if (clock % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 10)) // pace: ~1,000/s
    }
    await waitFor(() => heard(observer, clientId, room).some((f) => f.some((e) => e.clock === COUNT)), 'the last state to arrive')
    const elapsedMs = performance.now() - startedAt
    const frames = heard(observer, clientId, room).length
    // 20 Hz: one frame per 50 ms interval, plus the first (sent at once) and the last flush.
    expect(frames).toBeLessThanOrEqual(Math.ceil(elapsedMs / 50) + 2)
    expect(frames).toBeLessThan(COUNT / 10)
    expect(sender.closeInfo).toBeNull()

    sender.close()
    await waitFor(() => heard(observer, clientId, room).some((f) => f.some((e) => e.state === 'null')), 'the removal to arrive')
  })

  test('a state queued when its connection closes is dropped, and the removal still arrives', async () => {
    const room = freshRoom('aw-close')
    const jwt = await token()
    const observer = await single(srv.url, room, { token: jwt })
    const sender = await single(srv.url, room, { token: jwt })
    sender.send(room, awareness(4646, 1, '{"a":1}'))
    sender.send(room, awareness(4646, 2, '{"a":2}')) // queued for the end of the interval
    await waitFor(() => heard(observer, 4646).length >= 1, 'the first state')
    sender.close()
    await waitFor(() => heard(observer, 4646).some((f) => f.some((e) => e.state === 'null')), 'the removal')
    // A probe's queued state is flushed by an interval timer armed after the sender's: once it arrives,
    // a late flush of the departed sender's queue would have arrived too.
    const probe = await single(srv.url, room, { token: jwt })
    probe.send(room, awareness(4747, 1, '{"p":1}'))
    probe.send(room, awareness(4747, 2, '{"p":2}'))
    await waitFor(() => heard(observer, 4747).some((f) => f.some((e) => e.clock === 2)), "the probe's queued state")
    expect(heard(observer, 4646).flat().at(-1)?.state).toBe('null')
  })

  test("another user cannot take over a client id while its owner reconnects; the owner can", async () => {
    const room = freshRoom('aw-takeover')
    const observer = await single(srv.url, room, { token: await token({ sub: 'watcher' }) })
    const owner = await single(srv.url, room, { token: await token({ sub: 'alice' }) })
    const clientId = 4848
    owner.send(room, awareness(clientId, 3, '{"who":"alice"}'))
    await waitFor(() => heard(observer, clientId).length === 1, "alice's state")
    owner.close()
    await waitFor(() => heard(observer, clientId).some((f) => f.some((e) => e.state === 'null')), "alice's removal")

    const thief = await single(srv.url, room, { token: await token({ sub: 'mallory' }) })
    thief.send(room, awareness(clientId, 10, '{"who":"mallory"}'))
    await thief.roundTrip()
    await observer.roundTrip()
    expect(heard(observer, clientId).flat().some((e) => e.state.includes('mallory'))).toBe(false)

    const back = await single(srv.url, room, { token: await token({ sub: 'alice' }) })
    back.send(room, awareness(clientId, 11, '{"who":"alice again"}'))
    await waitFor(() => heard(observer, clientId).flat().some((e) => e.state.includes('alice again')), 'alice to come back')
  })
})

describe('per-connection rate limits', () => {
  test('10,000 tiny updates as fast as possible close the connection with 4429', async () => {
    const room = freshRoom('flood-msgs')
    const conn = await single(srv.url, room, { token: await token({ sub: 'flooder-msgs' }) })
    const doc = new Y.Doc()
    const updates: Uint8Array[] = []
    doc.on('update', (u: Uint8Array) => updates.push(u))
    for (let i = 0; i < 10_000; i++) doc.getText('t').insert(0, 'a')
    for (const update of updates) {
      if (conn.closeInfo !== null || conn.ws.readyState !== WebSocket.OPEN) break
      conn.send(room, { type: 'update', update })
    }
    expect((await conn.closedWith(10_000)).code).toBe(4429)
  })

  test('1 MB updates at 40/s are cut off with 4429 after the burst', async () => {
    const room = freshRoom('flood-bytes')
    const conn = await single(srv.url, room, { token: await token({ sub: 'flooder-bytes' }) })
    const doc = new Y.Doc()
    let last: Uint8Array | null = null
    doc.on('update', (u: Uint8Array) => (last = u))
    const chunk = 'b'.repeat(1024 * 1024)
    let sent = 0
    for (; sent < 200 && conn.closeInfo === null; sent++) {
      // Each update replaces the text, so the document stays at 1 MB and only the rate limit applies.
      const text = doc.getText('t')
      doc.transact(() => {
        text.delete(0, text.length)
        text.insert(0, chunk)
      })
      if (conn.ws.readyState !== WebSocket.OPEN) break
      conn.send(room, { type: 'update', update: last as unknown as Uint8Array })
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    expect((await conn.closedWith()).code).toBe(4429)
    // Cut off after about the burst (TANDEM_WS_BYTE_BURST, 33 MiB by default) plus what refilled meanwhile.
    expect(sent).toBeLessThan(100)
  }, 30_000)

  test('a fresh connection may send one maximum-size message even with a tiny byte rate; the next one over the burst is refused', async () => {
    const limited = await startServer({
      TANDEM_STORE: 'memory',
      TANDEM_MAX_DOC_BYTES: String(4 * 1024 * 1024),
      TANDEM_MAX_MESSAGE_BYTES: String(1024 * 1024),
      TANDEM_WS_BYTES_PER_SEC: '1024',
    })
    cleanups.push(() => limited.stop())
    const room = freshRoom('burst')
    const conn = await single(limited.url, room, { token: await token({ sub: 'burster' }) })
    await conn.write(room, (doc) => doc.getText('t').insert(0, 'c'.repeat(1024 * 1024 - 200)))
    conn.send(room, { type: 'update', update: (() => {
      const d = new Y.Doc()
      d.getText('u').insert(0, 'd'.repeat(64 * 1024))
      return Y.encodeStateAsUpdate(d)
    })() })
    expect((await conn.closedWith()).code).toBe(4429)
  })
})

describe('after a 4429 the user waits until the buckets would have refilled', () => {
  /** Upgrades and reports the HTTP status of a refusal (0 when the socket opened), with Retry-After. */
  function upgradeStatus(url: string): Promise<{ status: number; retryAfter: string | null }> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url)
      ws.on('open', () => {
        ws.close()
        resolve({ status: 0, retryAfter: null })
      })
      ws.on('unexpected-response', (_req, res) => {
        resolve({ status: res.statusCode ?? -1, retryAfter: (res.headers['retry-after'] as string | undefined) ?? null })
        ws.terminate()
      })
      ws.on('error', (err) => reject(err))
    })
  }

  test('the flooder is refused with 429 rate_limited and Retry-After on both framings; other users are not; after the wait it may return', async () => {
    // A burst of 20 at 20 messages/s: the penalty is one second (the minimum), so the test stays short.
    const limited = await startServer({ TANDEM_STORE: 'memory', TANDEM_WS_MESSAGES_PER_SEC: '20', TANDEM_WS_MESSAGE_BURST: '20' })
    cleanups.push(() => limited.stop())
    const room = freshRoom('penalty')
    const flooder = await token({ sub: 'penalised' })
    const conn = await single(limited.url, room, { token: flooder })
    const doc = new Y.Doc()
    for (let i = 0; i < 100 && conn.closeInfo === null && conn.ws.readyState === WebSocket.OPEN; i++) {
      const before = Y.encodeStateVector(doc)
      doc.getText('t').insert(0, 'x')
      conn.send(room, { type: 'update', update: Y.encodeStateAsUpdate(doc, before) })
    }
    expect((await conn.closedWith()).code).toBe(4429)

    const refused = await upgradeStatus(`${limited.url}/ws/${room}?token=${flooder}`)
    expect(refused.status).toBe(429)
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1)
    // The multiplexed framing refuses the user's auth message as well.
    const mux = await multiplexed(limited.url)
    mux.send(room, { type: 'auth-token', token: flooder, providerVersion: null })
    expect((await mux.closedWith()).code).toBe(4429)
    // Someone else from the same address is not affected.
    const other = await single(limited.url, room, { token: await token({ sub: 'bystander' }) })
    expect(other.closeInfo).toBeNull()

    await waitFor(async () => (await upgradeStatus(`${limited.url}/ws/${room}?token=${flooder}`)).status === 0, 'the penalty to run out', 10_000)
  })
})

describe('a room that fails to load on a multiplexed socket', () => {
  test('fails that room only: a close on its address, the socket and the other rooms stay', async () => {
    const inner = createMemoryStore()
    const store: Store = new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'loadUpdates') {
          return (room: string) => (room.startsWith('broken-') ? Promise.reject(new Error('disk on fire')) : target.loadUpdates(room))
        }
        const value: unknown = Reflect.get(target, prop, receiver)
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
      },
    })
    const failing = await startServer({ TANDEM_STORE: 'memory' }, { store })
    cleanups.push(() => failing.stop())
    const jwt = await token()
    const conn = await multiplexed(failing.url)
    const good = freshRoom('good')
    await join(conn, good, jwt)
    const broken = `broken-${freshRoom('x')}`
    const from = conn.mark()
    conn.send(broken, { type: 'auth-token', token: jwt, providerVersion: null })
    conn.send(broken, { type: 'sync-step-1', stateVector: Uint8Array.of(0) })
    const closed = await conn.next('close', { room: broken, from })
    expect(closed.reason).toMatch(/^1011 /)
    expect(conn.closeInfo).toBeNull()
    await conn.roundTrip(good)
    await conn.write(good, (doc) => doc.getText('t').insert(0, 'still works'))
  })
})
