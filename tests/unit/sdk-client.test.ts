/**
 * TandemClient and RoomProvider against a scripted fake WebSocket: the frames the client sends, the
 * saved-acknowledgement accounting, close-code handling, dead-socket detection, browser lifecycle events.
 * Deterministic counterparts of tests/integration/sdk.test.ts, which runs the real server.
 */
import { afterEach, describe, expect, test, vi } from 'vitest'
import * as Y from 'yjs'
import {
  PONG_FRAME,
  TandemClient,
  decodeMultiplexedFrame,
  encodeAwarenessUpdate,
  decodeAwarenessUpdate,
  encodeMultiplexedFrame,
  type Message,
  type RoomStatus,
  type StatusDetail,
  type TandemClientOptions,
  type WebSocketLike,
} from '../../client-sdk/src/index.js'

const cleanups: Array<() => void> = []
afterEach(() => {
  vi.useRealTimers()
  for (const c of cleanups.splice(0).reverse()) c()
})

// Captured at load: waitFor polls in real time even while a test fakes timers, and never moves the fake clock.
const realSetTimeout = globalThis.setTimeout
const realNow = Date.now

async function waitFor(condition: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = realNow() + timeoutMs
  while (!condition()) {
    if (realNow() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => realSetTimeout(resolve, 5))
  }
}

/** Fakes the clock and every timer the client uses (retries, watchdog); the test moves time itself. */
function fakeTime(): void {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] })
}

type Handler = ((event: unknown) => void) | null

interface Sent {
  address: string
  message: Message
}

class FakeSocket implements WebSocketLike {
  binaryType = 'blob'
  readyState = 0
  onopen: ((event: never) => void) | null = null
  onmessage: ((event: never) => void) | null = null
  onclose: ((event: never) => void) | null = null
  onerror: ((event: never) => void) | null = null
  readonly frames: Uint8Array[] = []
  closedByClient: number | undefined | null = null

  constructor(readonly url: string) {}

  send(data: Uint8Array): void {
    if (this.readyState !== 1) throw new Error('send on a socket that is not open')
    this.frames.push(data.slice())
  }

  close(code?: number): void {
    this.closedByClient = code
    this.readyState = 3
  }

  // --- the server side ---

  open(): void {
    this.readyState = 1
    ;(this.onopen as Handler)?.({})
  }

  deliver(address: string, message: Message): void {
    this.deliverBytes(encodeMultiplexedFrame(address, message))
  }

  deliverBytes(bytes: Uint8Array): void {
    ;(this.onmessage as Handler)?.({ data: bytes.slice().buffer })
  }

  serverClose(code: number, reason = ''): void {
    this.readyState = 3
    ;(this.onclose as Handler)?.({ code, reason })
  }

  /** Decoded addressed messages sent so far (ping/pong frames excluded). */
  get sent(): Sent[] {
    const out: Sent[] = []
    for (const f of this.frames) {
      const d = decodeMultiplexedFrame(f)
      if (d.ok && d.value.kind === 'message') out.push({ address: d.value.address, message: d.value.message })
    }
    return out
  }

  sentTypes(address: string): string[] {
    return this.sent.filter((s) => s.address === address).map((s) => s.message.type)
  }

  /** Plays the server's side of a successful join for `address`. */
  accept(address: string, serverDoc = new Y.Doc(), scope: 'read-write' | 'readonly' = 'read-write'): void {
    this.deliver(address, { type: 'authenticated', scope })
    this.deliver(address, { type: 'sync-step-1', stateVector: Y.encodeStateVector(serverDoc) })
    const ss1 = this.sent.filter((s) => s.address === address && s.message.type === 'sync-step-1').at(-1)
    if (ss1?.message.type !== 'sync-step-1') throw new Error(`no sync-step-1 from the client for ${address}`)
    this.deliver(address, { type: 'sync-step-2', update: Y.encodeStateAsUpdate(serverDoc, ss1.message.stateVector) })
  }
}

interface Harness {
  client: TandemClient
  sockets: FakeSocket[]
  /** The most recent socket. */
  socket(): FakeSocket
  tokenCalls: string[]
}

function harness(options: Partial<TandemClientOptions> = {}, tokenFor: (room: string, call: number) => string | Promise<string> = () => 'jwt'): Harness {
  const sockets: FakeSocket[] = []
  const tokenCalls: string[] = []
  const client = new TandemClient({
    url: 'ws://fake/ws',
    getToken: (room) => {
      tokenCalls.push(room)
      return tokenFor(room, tokenCalls.length)
    },
    WebSocket: class extends FakeSocket {
      constructor(url: string) {
        super(url)
        sockets.push(this)
      }
    },
    backoff: { baseMs: 20, maxMs: 200, jitter: 0 },
    ...options,
  })
  cleanups.push(() => client.destroy())
  return {
    client,
    sockets,
    tokenCalls,
    socket: () => {
      const s = sockets.at(-1)
      if (!s) throw new Error('no socket yet')
      return s
    },
  }
}

/** Opens `room`, waits for its auth to go out, and plays a successful join. */
async function joined(h: Harness, room: string, serverDoc?: Y.Doc) {
  const p = h.client.room(room)
  await waitFor(() => h.sockets.length > 0, 'a socket')
  if (h.socket().readyState === 0) h.socket().open()
  await waitFor(() => h.socket().sentTypes(room).includes('sync-step-1'), `${room}'s handshake`)
  h.socket().accept(room, serverDoc)
  expect(p.status).toBe('synced')
  return p
}

function recordStatuses(target: { on(e: 'status', l: (s: RoomStatus, d: StatusDetail) => void): () => void }): Array<[RoomStatus, StatusDetail]> {
  const seen: Array<[RoomStatus, StatusDetail]> = []
  target.on('status', (s, d) => seen.push([s, d]))
  return seen
}

describe('handshake', () => {
  test('one socket; per room: auth (token + version) first, then sync-step-1 and presence, without waiting', async () => {
    const h = harness({}, (room) => `token-for-${room}`)
    const a = h.client.room('a')
    h.client.room('b')
    a.awareness.setLocalStateField('user', { name: 'Ada' })
    expect(h.client.status).toBe('connecting')
    expect(a.status).toBe('connecting')
    await waitFor(() => h.sockets.length === 1, 'the socket')
    const ws = h.socket()
    expect(ws.url).toBe('ws://fake/ws')
    expect(ws.binaryType).toBe('arraybuffer')
    ws.open()
    await waitFor(() => ws.sentTypes('a').length >= 3 && ws.sentTypes('b').length >= 3, 'both handshakes')
    expect(ws.sentTypes('a')).toEqual(['auth-token', 'sync-step-1', 'awareness'])
    expect(ws.sentTypes('b')).toEqual(['auth-token', 'sync-step-1', 'awareness']) // a new Awareness starts with {}
    const auth = ws.sent.find((s) => s.address === 'a')?.message
    expect(auth).toEqual({ type: 'auth-token', token: 'token-for-a', providerVersion: 'tandem-client/0.1.0' })
    expect(a.status).toBe('syncing')
    expect(h.client.status).toBe('open')
    expect(h.sockets).toHaveLength(1)

    const statuses = recordStatuses(a)
    let synced = 0
    a.on('synced', () => synced++)
    ws.accept('a')
    expect(a.status).toBe('synced')
    expect(a.scope).toBe('read-write')
    expect(synced).toBe(1)
    expect(statuses.map(([s]) => s)).toEqual(['synced'])
    await a.whenSynced()
    // The server's sync-step-1 was answered with a sync-step-2.
    expect(ws.sentTypes('a')).toContain('sync-step-2')
  })

  test('answers the 1-byte ping with the 1-byte pong', async () => {
    const h = harness()
    await joined(h, 'r')
    const ws = h.socket()
    ws.deliverBytes(Uint8Array.of(0x09))
    expect(ws.frames.at(-1)).toEqual(PONG_FRAME)
  })

  test('frames for the address before `authenticated` are ignored (a previous session’s tail)', async () => {
    const h = harness()
    const p = h.client.room('r')
    await waitFor(() => h.sockets.length > 0, 'socket')
    h.socket().open()
    await waitFor(() => h.socket().sentTypes('r').includes('sync-step-1'), 'handshake')
    const stale = new Y.Doc()
    stale.getText('t').insert(0, 'stale')
    h.socket().deliver('r', { type: 'sync-step-2', update: Y.encodeStateAsUpdate(stale) })
    h.socket().deliver('r', { type: 'sync-status', applied: true })
    expect(p.status).toBe('syncing')
    expect(p.doc.getText('t').toString()).toBe('')
  })

  test('a room close before `authenticated` (the room failed to load) backs off and joins again on the same socket', async () => {
    const h = harness()
    const p = h.client.room('r')
    await waitFor(() => h.sockets.length > 0, 'socket')
    h.socket().open()
    await waitFor(() => h.socket().sentTypes('r').includes('sync-step-1'), 'handshake')
    const statuses = recordStatuses(p)
    h.socket().deliver('r', { type: 'close', reason: '1013 storage unavailable; retry later' })
    expect(statuses.at(-1)?.[0]).toBe('reconnecting')
    expect(statuses.at(-1)?.[1].closeCode).toBe(1013)
    await waitFor(() => h.socket().sentTypes('r').filter((t) => t === 'auth-token').length === 2, 'a second join')
    expect(h.sockets).toHaveLength(1)
    h.socket().accept('r')
    expect(p.status).toBe('synced')
  })

  test('the server’s auth-token request gets a fresh token', async () => {
    const h = harness({}, (_room, call) => `t${call}`)
    await joined(h, 'r')
    h.socket().deliver('r', { type: 'auth-token-request' })
    await waitFor(() => h.socket().sentTypes('r').filter((t) => t === 'auth-token').length === 2, 'a second auth-token')
    const tokens = h.socket().sent.flatMap((s) => (s.message.type === 'auth-token' ? [s.message.token] : []))
    expect(tokens).toEqual(['t1', 't2'])
  })
})

describe('many rooms', () => {
  test('at most 50 rooms authenticate at once; the rest join as earlier ones settle', async () => {
    fakeTime()
    const h = harness()
    const rooms = Array.from({ length: 120 }, (_, i) => h.client.room(`r${i}`))
    const errors: string[] = []
    for (const p of rooms) p.on('error', (e) => errors.push(`${p.name}:${e.code}`))
    await waitFor(() => h.sockets.length > 0, 'socket')
    const ws = h.socket()
    ws.open()
    const authSent = (): string[] => ws.sent.filter((s) => s.message.type === 'auth-token').map((s) => s.address)
    await waitFor(() => authSent().length === 50, 'the first wave')
    // No one settled, so no one else may join, however long we wait: let (fake) time pass.
    await vi.advanceTimersByTimeAsync(1_000)
    expect(authSent()).toHaveLength(50)
    expect(rooms.filter((p) => p.status === 'syncing')).toHaveLength(50)
    expect(rooms.filter((p) => p.status === 'connecting')).toHaveLength(70)
    expect(h.sockets).toHaveLength(1)
    for (const address of authSent().slice(0, 10)) ws.accept(address)
    ws.deliver('r10', { type: 'permission-denied', reason: 'forbidden' }) // a denial frees a slot too
    await waitFor(() => authSent().length === 61, 'eleven more rooms')
    rooms[20]?.destroy() // so does a destroy
    await waitFor(() => authSent().length === 62, 'one more room')
    const settled = new Set(['r10', 'r20', ...authSent().slice(0, 10)])
    while (settled.size < 120) {
      const next = authSent().filter((address) => !settled.has(address))
      expect(next.length).toBeGreaterThan(0)
      expect(authSent().length - settled.size).toBeLessThanOrEqual(50)
      for (const address of next) {
        ws.accept(address)
        settled.add(address)
      }
      await waitFor(() => authSent().length === 120 || authSent().some((address) => !settled.has(address)), 'the next wave')
    }
    expect(rooms.filter((p) => p.status === 'synced')).toHaveLength(118)
    expect(errors).toEqual(['r10:forbidden'])
  })
})

describe('saved acknowledgements', () => {
  test('edits before the server’s sync-step-1 travel in the sync-step-2; whenSaved follows SyncStatus in order', async () => {
    const h = harness()
    const p = h.client.room('r')
    await waitFor(() => h.sockets.length > 0, 'socket')
    const ws = h.socket()
    ws.open()
    await waitFor(() => ws.sentTypes('r').includes('sync-step-1'), 'handshake')
    const t = p.doc.getText('t')
    t.insert(0, 'one')
    expect(p.hasUnsavedChanges).toBe(true)
    expect(ws.sentTypes('r')).toEqual(['auth-token', 'sync-step-1', 'awareness']) // no update: held for the sync-step-2
    const first = p.whenSaved()
    let firstDone = false
    void first.then(() => (firstDone = true))

    ws.accept('r')
    const ss2 = ws.sent.filter((s) => s.address === 'r' && s.message.type === 'sync-step-2')
    expect(ss2).toHaveLength(1)
    const check = new Y.Doc()
    if (ss2[0]?.message.type === 'sync-step-2') Y.applyUpdate(check, ss2[0].message.update)
    expect(check.getText('t').toString()).toBe('one')

    t.insert(3, ' two')
    expect(ws.sentTypes('r').at(-1)).toBe('update')
    const second = p.whenSaved()
    let secondDone = false
    void second.then(() => (secondDone = true))
    const saved: number[] = []
    p.on('saved', () => saved.push(1))

    ws.deliver('r', { type: 'sync-status', applied: true }) // the sync-step-2
    await first
    await Promise.resolve()
    expect(firstDone).toBe(true)
    expect(secondDone).toBe(false)
    expect(p.hasUnsavedChanges).toBe(true)
    expect(saved).toEqual([])

    ws.deliver('r', { type: 'sync-status', applied: true }) // the update
    await second
    expect(p.hasUnsavedChanges).toBe(false)
    expect(saved).toEqual([1])
    await p.whenSaved() // nothing unsaved: resolves at once
  })

  test('unacknowledged and offline edits are re-sent after a reconnect; the old socket’s acks are gone', async () => {
    const h = harness()
    const p = await joined(h, 'r')
    const first = h.socket()
    p.doc.getText('t').insert(0, 'a')
    expect(first.sentTypes('r').at(-1)).toBe('update')
    first.serverClose(1006)
    expect(p.status).toBe('reconnecting')
    p.doc.getText('t').insert(1, 'b') // offline
    const saved = p.whenSaved()

    await waitFor(() => h.sockets.length === 2, 'a reconnect')
    const second = h.socket()
    second.open()
    await waitFor(() => second.sentTypes('r').includes('sync-step-1'), 'the rejoin')
    const serverDoc = new Y.Doc() // the server never stored 'a'
    second.accept('r', serverDoc)
    const ss2 = second.sent.find((s) => s.address === 'r' && s.message.type === 'sync-step-2')?.message
    if (ss2?.type !== 'sync-step-2') throw new Error('no sync-step-2')
    Y.applyUpdate(serverDoc, ss2.update)
    expect(serverDoc.getText('t').toString()).toBe('ab')
    expect(p.hasUnsavedChanges).toBe(true)
    second.deliver('r', { type: 'sync-status', applied: true })
    await saved
    expect(p.hasUnsavedChanges).toBe(false)
  })

  test('content the doc held before room() stays unsaved until the first sync-step-2 is acknowledged', async () => {
    const h = harness()
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'from IndexedDB')
    const p = h.client.room('r', { doc })
    expect(p.hasUnsavedChanges).toBe(true)
    const saved = p.whenSaved()
    await waitFor(() => h.sockets.length > 0, 'socket')
    h.socket().open()
    await waitFor(() => h.socket().sentTypes('r').includes('sync-step-1'), 'handshake')
    h.socket().accept('r')
    expect(p.hasUnsavedChanges).toBe(true)
    h.socket().deliver('r', { type: 'sync-status', applied: true })
    await saved
    expect(p.hasUnsavedChanges).toBe(false)
  })

  test('a refused update (read-only) rejects whenSaved with update_refused and emits error', async () => {
    const h = harness()
    const p = h.client.room('r')
    await waitFor(() => h.sockets.length > 0, 'socket')
    h.socket().open()
    await waitFor(() => h.socket().sentTypes('r').includes('sync-step-1'), 'handshake')
    h.socket().deliver('r', { type: 'authenticated', scope: 'readonly' })
    h.socket().accept('r', new Y.Doc(), 'readonly')
    h.socket().deliver('r', { type: 'sync-status', applied: true }) // handshake sync-step-2: nothing new
    expect(p.scope).toBe('readonly')
    const errors: string[] = []
    p.on('error', (e) => errors.push(e.code))
    p.doc.getText('t').insert(0, 'x')
    const saved = p.whenSaved()
    h.socket().deliver('r', { type: 'sync-status', applied: false })
    await expect(saved).rejects.toMatchObject({ code: 'update_refused', status: 403 })
    expect(errors).toEqual(['update_refused'])
  })
})

describe('reconnect policy', () => {
  async function closedWith(code: number): Promise<{ detail: StatusDetail; h: Harness; tokenCallsBefore: number }> {
    const h = harness({ backoff: { baseMs: 1_000, maxMs: 10_000, jitter: 0 } })
    const p = await joined(h, 'r')
    const statuses = recordStatuses(p)
    const tokenCallsBefore = h.tokenCalls.length
    h.socket().serverClose(code)
    const detail = statuses.find(([s]) => s === 'reconnecting')?.[1]
    if (!detail) throw new Error('no reconnecting status')
    return { detail, h, tokenCallsBefore }
  }

  test('an ordinary drop waits baseMs, and the delay grows', async () => {
    const { detail } = await closedWith(1006)
    expect(detail).toEqual({ closeCode: 1006, retryInMs: 1_000 })
  })

  test('1012 (server restarting) comes back within one base interval', async () => {
    const { detail } = await closedWith(1012)
    expect(detail.closeCode).toBe(1012)
    expect(detail.retryInMs).toBeLessThanOrEqual(1_000)
  })

  test('1013 (slow consumer) backs off longer', async () => {
    const { detail } = await closedWith(1013)
    expect(detail.retryInMs).toBe(10_000)
  })

  test('4401 reconnects at once and calls getToken again', async () => {
    const { detail, h, tokenCallsBefore } = await closedWith(4401)
    expect(detail.retryInMs).toBe(0)
    await waitFor(() => h.sockets.length === 2, 'the reconnect')
    h.socket().open()
    await waitFor(() => h.tokenCalls.length === tokenCallsBefore + 1, 'a new token')
  })

  test('no message for messageTimeoutMs: the socket is dropped and replaced', async () => {
    const h = harness({ messageTimeoutMs: 150 })
    await joined(h, 'r')
    const first = h.socket()
    await waitFor(() => first.closedByClient !== null, 'the silent socket to be dropped', 2_000)
    await waitFor(() => h.sockets.length === 2, 'a new socket', 2_000)
  })

  test('traffic keeps the socket alive', async () => {
    fakeTime()
    const h = harness({ messageTimeoutMs: 150 })
    await joined(h, 'r')
    const ws = h.socket()
    const empty = encodeAwarenessUpdate([])
    // 400 ms in all, well past the 150 ms timeout, but never 150 ms without a message.
    for (let i = 0; i < 8; i++) {
      await vi.advanceTimersByTimeAsync(50)
      ws.deliver('r', { type: 'awareness', update: empty })
    }
    expect(ws.closedByClient).toBe(null)
    expect(h.sockets).toHaveLength(1)
    // Silence does end it on the same fake clock, so the traffic above is what kept it open.
    await vi.advanceTimersByTimeAsync(200)
    expect(ws.closedByClient).not.toBe(null)
  })

  test('a connection attempt that never opens is abandoned after messageTimeoutMs', async () => {
    const h = harness({ messageTimeoutMs: 100 })
    h.client.room('r')
    await waitFor(() => h.sockets.length === 2, 'a second attempt', 2_000)
    expect(h.sockets[0]?.closedByClient).not.toBe(null)
  })

  test('url may be a function, called before every attempt', async () => {
    let n = 0
    const h = harness({ url: () => `ws://fake/${++n}/ws` })
    await joined(h, 'r')
    h.socket().serverClose(1006)
    await waitFor(() => h.sockets.length === 2, 'reconnect')
    expect(h.sockets.map((s) => s.url)).toEqual(['ws://fake/1/ws', 'ws://fake/2/ws'])
  })
})

describe('stopping rooms', () => {
  test('permission-denied stops the room with the reason as the code', async () => {
    const h = harness()
    const p = h.client.room('r')
    const other = h.client.room('o')
    await waitFor(() => h.sockets.length > 0, 'socket')
    h.socket().open()
    await waitFor(() => h.socket().sentTypes('r').includes('sync-step-1'), 'handshake')
    const errors: Array<[string, number | undefined]> = []
    p.on('error', (e) => errors.push([e.code, e.status]))
    const synced = p.whenSynced()
    h.socket().deliver('r', { type: 'permission-denied', reason: 'forbidden' })
    await expect(synced).rejects.toMatchObject({ code: 'forbidden' })
    expect(p.status).toBe('closed')
    expect(errors).toEqual([['forbidden', 403]])
    expect(h.socket().sentTypes('r').at(-1)).toBe('close') // frees the denied address on the server
    expect(other.status).toBe('syncing')
    expect(h.client.status).toBe('open')
  })

  test('token_expired is retried once with a fresh token, then stops', async () => {
    const h = harness({}, (_r, call) => `t${call}`)
    const p = h.client.room('r')
    await waitFor(() => h.sockets.length > 0, 'socket')
    h.socket().open()
    await waitFor(() => h.socket().sentTypes('r').includes('sync-step-1'), 'handshake')
    h.socket().deliver('r', { type: 'permission-denied', reason: 'token_expired' })
    await waitFor(() => h.socket().sentTypes('r').filter((t) => t === 'auth-token').length === 2, 'a retry')
    expect(p.status).toBe('syncing')
    const errors: string[] = []
    p.on('error', (e) => errors.push(e.code))
    h.socket().deliver('r', { type: 'permission-denied', reason: 'token_expired' })
    expect(p.status).toBe('closed')
    expect(errors).toEqual(['token_expired'])
  })

  test('socket close 4403 stops every room with forbidden', async () => {
    const h = harness()
    const p = await joined(h, 'r')
    const errors: string[] = []
    p.on('error', (e) => errors.push(e.code))
    h.socket().serverClose(4403, 'forbidden')
    expect(p.status).toBe('closed')
    expect(errors).toEqual(['forbidden'])
    expect(h.client.status).toBe('idle')
  })

  test('getToken failing emits token_unavailable and the room retries', async () => {
    let fail = true
    const h = harness({}, () => {
      if (fail) throw new Error('auth server down')
      return 'jwt'
    })
    const p = h.client.room('r')
    const errors: string[] = []
    p.on('error', (e) => errors.push(e.code))
    await waitFor(() => h.sockets.length > 0, 'socket')
    h.socket().open()
    await waitFor(() => errors.length === 1, 'token_unavailable')
    expect(errors).toEqual(['token_unavailable'])
    expect(p.status).toBe('reconnecting')
    fail = false
    await waitFor(() => h.socket().sentTypes('r').includes('auth-token'), 'the retry')
  })
})

describe('presence and destroy', () => {
  test('destroy clears presence, sends close, and closing the last room closes the socket', async () => {
    const h = harness()
    const p = await joined(h, 'r')
    p.awareness.setLocalStateField('user', { name: 'Ada' })
    const ws = h.socket()
    const pending = p.whenSaved() // nothing unsaved
    await pending
    p.doc.getText('t').insert(0, 'x')
    const unsaved = p.whenSaved()
    p.destroy()
    await expect(unsaved).rejects.toMatchObject({ code: 'destroyed' })
    const tail = ws.sent.filter((s) => s.address === 'r').slice(-2)
    expect(tail[0]?.message.type).toBe('awareness')
    if (tail[0]?.message.type === 'awareness') {
      const entries = decodeAwarenessUpdate(tail[0].message.update)
      expect(entries.ok && entries.value.map((e) => [e.clientId, e.state])).toEqual([[p.doc.clientID, 'null']])
    }
    expect(tail[1]?.message).toEqual({ type: 'close', reason: null })
    expect(p.status).toBe('closed')
    expect(ws.closedByClient).toBe(1000)
    expect(h.client.status).toBe('idle')
    // Reopening the same name connects again.
    h.client.room('r')
    await waitFor(() => h.sockets.length === 2, 'a new socket')
  })

  test('remote presence is dropped when the socket is lost', async () => {
    const h = harness()
    const p = await joined(h, 'r')
    const remote = new Y.Doc()
    h.socket().deliver('r', { type: 'awareness', update: encodeAwarenessUpdate([{ clientId: remote.clientID, clock: 1, state: '{"user":"Bob"}' }]) })
    expect(p.awareness.getStates().has(remote.clientID)).toBe(true)
    h.socket().serverClose(1006)
    expect(p.awareness.getStates().has(remote.clientID)).toBe(false)
  })

  test('client.destroy() destroys every room and goes closed', async () => {
    const h = harness()
    const a = await joined(h, 'a')
    const b = await joined(h, 'b')
    h.client.destroy()
    expect([a.status, b.status, h.client.status]).toEqual(['closed', 'closed', 'closed'])
    expect(() => h.client.room('c')).toThrow(expect.objectContaining({ code: 'destroyed' }))
  })

  test('awareness given without doc: the provider uses awareness.doc; a mismatched pair throws', async () => {
    const { Awareness } = await import('y-protocols/awareness')
    const h = harness()
    const doc = new Y.Doc()
    const awareness = new Awareness(doc)
    cleanups.push(() => awareness.destroy())
    const p = h.client.room('r', { awareness })
    expect(p.doc).toBe(doc)
    expect(() => h.client.room('s', { doc: new Y.Doc(), awareness })).toThrow(expect.objectContaining({ code: 'invalid_options' }))
  })
})

describe('browser lifecycle events (only when the globals exist)', () => {
  function installWindowEvents(): EventTarget {
    const target = new EventTarget()
    const g = globalThis as unknown as Record<string, unknown>
    g.addEventListener = target.addEventListener.bind(target)
    g.removeEventListener = target.removeEventListener.bind(target)
    cleanups.push(() => {
      delete g.addEventListener
      delete g.removeEventListener
    })
    return target
  }

  test('`online` wakes a waiting reconnect early', async () => {
    const win = installWindowEvents()
    const h = harness({ backoff: { baseMs: 60_000, maxMs: 60_000, jitter: 0 } })
    await joined(h, 'r')
    h.socket().serverClose(1006)
    expect(h.sockets).toHaveLength(1)
    win.dispatchEvent(new Event('online'))
    await waitFor(() => h.sockets.length === 2, 'the early reconnect')
  })

  test('while the browser reports no network the status is `offline`, and `online` reconnects', async () => {
    const win = installWindowEvents()
    const nav = { onLine: true }
    Object.defineProperty(globalThis, 'navigator', { value: nav, configurable: true, writable: true })
    cleanups.push(() => {
      delete (globalThis as { navigator?: unknown }).navigator
    })
    const h = harness({ backoff: { baseMs: 60_000, maxMs: 60_000, jitter: 0 } })
    const p = await joined(h, 'r')
    nav.onLine = false
    h.socket().serverClose(1006)
    expect(p.status).toBe('offline')
    expect(h.client.status).toBe('offline')
    p.doc.getText('t').insert(0, 'typed offline')
    expect(p.hasUnsavedChanges).toBe(true)
    nav.onLine = true
    win.dispatchEvent(new Event('online'))
    await waitFor(() => h.sockets.length === 2, 'the reconnect on `online`')
    expect(p.status).toBe('reconnecting')
  })

  test('`pagehide` clears presence and sends the removal; `pageshow` from the bfcache restores it', async () => {
    const win = installWindowEvents()
    const h = harness()
    const p = await joined(h, 'r')
    p.awareness.setLocalStateField('user', { name: 'Ada' })
    win.dispatchEvent(new Event('pagehide'))
    expect(p.awareness.getLocalState()).toBe(null)
    const last = h.socket().sent.filter((s) => s.address === 'r').at(-1)?.message
    expect(last?.type).toBe('awareness')
    if (last?.type === 'awareness') {
      const d = decodeAwarenessUpdate(last.update)
      expect(d.ok && d.value[0]?.state).toBe('null')
    }
    const show = Object.assign(new Event('pageshow'), { persisted: true })
    win.dispatchEvent(show)
    expect(p.awareness.getLocalState()).toEqual({ user: { name: 'Ada' } })
  })
})
