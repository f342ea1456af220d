/**
 * The client SDK (`@tandem/client`, imported from source) against the real server over the multiplexed
 * framing: sync, presence, saved acknowledgements that wait for the storage commit, reconnect across a
 * server restart with offline edits, token refresh on 4401, stop on forbidden, many rooms on one socket;
 * room-level 4404 handling against a tiny fake server; and sync + presence against a stock
 * `@hocuspocus/server` when it is installed.
 */
import { afterEach, describe, expect, test, vi } from 'vitest'
import type { AddressInfo } from 'node:net'
import WebSocket, { WebSocketServer } from 'ws'
import * as Y from 'yjs'
import { createMemoryStore } from '#server/persistence/memory'
import type { Store } from '#server/persistence/store'
import {
  TandemClient,
  TandemError,
  decodeMultiplexedFrame,
  encodeMultiplexedFrame,
  type ConnectionStatus,
  type RoomProvider,
  type RoomStatus,
  type TandemClientOptions,
} from '../../client-sdk/src/index.js'
import { spawnServer, startServer, tempDir, token, waitFor, type ChildServer, type RunningServer } from '../helpers/server.js'

const cleanups: Array<() => void | Promise<void>> = []
let roomCounter = 0

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

function freshRoom(label: string): string {
  return `sdk-${label}-${++roomCounter}-${Date.now().toString(36)}`
}

async function server(env: Record<string, string> = {}, store?: Store): Promise<RunningServer> {
  const srv = await startServer({ TANDEM_STORE: 'memory', TANDEM_ROOM_IDLE_MS: '200', ...env }, store ? { store } : {})
  cleanups.push(() => srv.stop())
  return srv
}

/** A client on `url` whose getToken hands out `jwt` (or calls `jwt(room)`), destroyed after the test. */
function client(url: TandemClientOptions['url'], jwt: string | ((room: string) => Promise<string>), extra: Partial<TandemClientOptions> = {}): TandemClient {
  const c = new TandemClient({
    url,
    getToken: typeof jwt === 'string' ? () => jwt : jwt,
    WebSocket,
    backoff: { baseMs: 50, maxMs: 500 },
    ...extra,
  })
  cleanups.push(() => c.destroy())
  return c
}

function text(p: RoomProvider): Y.Text {
  return p.doc.getText('t')
}

/** Records every status a provider goes through. */
function statuses(p: RoomProvider): RoomStatus[] {
  const seen: RoomStatus[] = [p.status]
  p.on('status', (s) => seen.push(s))
  return seen
}

/** A promise's state without awaiting it. */
function track<T>(promise: Promise<T>): { settled: () => boolean; value: Promise<T> } {
  let settled = false
  promise.then(
    () => (settled = true),
    () => (settled = true),
  )
  return { settled: () => settled, value: promise }
}

/** A memory store whose appends wait until the gate opens. */
function gatedStore(): { store: Store; open: () => void; waiting: () => number } {
  const inner = createMemoryStore()
  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => (release = resolve))
  let waiting = 0
  const appendUpdate: Store['appendUpdate'] = async (room, update) => {
    waiting += 1
    await gate
    waiting -= 1
    return inner.appendUpdate(room, update)
  }
  const store = new Proxy(inner, {
    get(target, key, receiver) {
      if (key === 'appendUpdate') return appendUpdate
      const value: unknown = Reflect.get(target, key, receiver)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
  return { store, open: () => release(), waiting: () => waiting }
}

describe('TandemClient against the Tandem server', () => {
  test('two clients sync a room both ways', async () => {
    const srv = await server()
    const room = freshRoom('sync')
    const jwt = await token({ rooms: { [room]: 'write' } })
    const a = client(`${srv.url}/ws`, jwt).room(room)
    const b = client(`${srv.url}/ws`, jwt).room(room)
    await Promise.all([a.whenSynced(), b.whenSynced()])
    expect(a.status).toBe('synced')
    expect(a.scope).toBe('read-write')

    text(a).insert(0, 'hello')
    await waitFor(() => text(b).toString() === 'hello', 'b to see a’s edit')
    text(b).insert(5, ' world')
    await waitFor(() => text(a).toString() === 'hello world', 'a to see b’s edit')
    await Promise.all([a.whenSaved(), b.whenSaved()])
    expect(a.hasUnsavedChanges).toBe(false)
    expect(srv.server.registry.get(room)?.doc.getText('t').toString()).toBe('hello world')
  })

  test('a doc with content before joining merges with the server’s', async () => {
    const srv = await server()
    const room = freshRoom('premerge')
    const jwt = await token({ rooms: { [room]: 'write' } })
    const a = client(`${srv.url}/ws`, jwt).room(room)
    await a.whenSynced()
    text(a).insert(0, 'server ')
    await a.whenSaved()

    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'local')
    const b = client(`${srv.url}/ws`, jwt).room(room, { doc })
    expect(b.doc).toBe(doc)
    expect(b.hasUnsavedChanges).toBe(true) // the server has not confirmed the pre-existing content yet
    await b.whenSynced()
    await b.whenSaved()
    await waitFor(() => text(a).toString().length === 'server local'.length, 'a to receive b’s offline content')
    expect(text(a).toString()).toBe(text(b).toString())
  })

  test('presence flows both ways and is removed when a provider is destroyed', async () => {
    const srv = await server()
    const room = freshRoom('presence')
    const jwt = await token({ rooms: { [room]: 'write' } })
    const a = client(`${srv.url}/ws`, jwt).room(room)
    const b = client(`${srv.url}/ws`, jwt).room(room)
    a.awareness.setLocalStateField('user', { name: 'Ada' })
    await Promise.all([a.whenSynced(), b.whenSynced()])
    b.awareness.setLocalStateField('user', { name: 'Bob' })

    await waitFor(() => (b.awareness.getStates().get(a.doc.clientID) as { user?: { name: string } } | undefined)?.user?.name === 'Ada', 'b to see Ada')
    await waitFor(() => (a.awareness.getStates().get(b.doc.clientID) as { user?: { name: string } } | undefined)?.user?.name === 'Bob', 'a to see Bob')

    a.awareness.setLocalStateField('cursor', 3)
    await waitFor(() => (b.awareness.getStates().get(a.doc.clientID) as { cursor?: number } | undefined)?.cursor === 3, 'b to see a’s cursor move')

    a.destroy()
    expect(a.status).toBe('closed')
    await waitFor(() => !b.awareness.getStates().has(a.doc.clientID), 'a’s presence to disappear from b (no ghost)')
    await waitFor(() => srv.server.registry.get(room)?.peerCount === 1, 'the server to drop a’s session')
  })

  test('whenSaved() resolves only after the storage commit', async () => {
    const gated = gatedStore()
    const srv = await server({}, gated.store)
    const room = freshRoom('saved')
    const jwt = await token({ rooms: { [room]: 'write' } })
    const a = client(`${srv.url}/ws`, jwt).room(room)
    const b = client(`${srv.url}/ws`, jwt).room(room)
    await Promise.all([a.whenSynced(), b.whenSynced()])
    const savedEvents: number[] = []
    a.on('saved', () => savedEvents.push(Date.now()))

    text(a).insert(0, 'durable')
    expect(a.hasUnsavedChanges).toBe(true)
    const saved = track(a.whenSaved())
    // The server applied and relayed the edit (b has it) while the commit is held back...
    await waitFor(() => text(b).toString() === 'durable', 'b to receive the edit')
    await waitFor(() => gated.waiting() > 0, 'the append to reach the store')
    // ...so the saved acknowledgement must not have come yet. A message the server sends `a` after it
    // applied the edit marks the point by which a premature acknowledgement would have reached `a`.
    b.awareness.setLocalStateField('marker', 1)
    await waitFor(() => (a.awareness.getStates().get(b.doc.clientID) as { marker?: number } | undefined)?.marker === 1, 'a later message from the server to reach a')
    expect(gated.waiting()).toBeGreaterThan(0)
    expect(saved.settled()).toBe(false)
    expect(a.hasUnsavedChanges).toBe(true)
    expect(savedEvents).toEqual([])

    gated.open()
    await saved.value
    expect(a.hasUnsavedChanges).toBe(false)
    expect(savedEvents).toHaveLength(1)
    const stored = await srv.server.store.loadUpdates(room)
    const check = new Y.Doc()
    for (const u of stored.updates) Y.applyUpdate(check, u)
    expect(check.getText('t').toString()).toBe('durable')
  })

  test('a read-only token: edits are refused with update_refused, reads still sync', async () => {
    const srv = await server()
    const room = freshRoom('readonly')
    const writer = client(`${srv.url}/ws`, await token({ rooms: { [room]: 'write' } })).room(room)
    await writer.whenSynced()
    text(writer).insert(0, 'shared')
    await writer.whenSaved()

    const reader = client(`${srv.url}/ws`, await token({ rooms: { [room]: 'read' } })).room(room)
    const errors: TandemError[] = []
    reader.on('error', (e) => errors.push(e))
    await reader.whenSynced()
    expect(reader.scope).toBe('readonly')
    expect(text(reader).toString()).toBe('shared')

    text(reader).insert(0, 'nope ')
    await expect(reader.whenSaved()).rejects.toMatchObject({ code: 'update_refused' })
    expect(errors.map((e) => e.code)).toEqual(['update_refused'])
    expect(srv.server.registry.get(room)?.doc.getText('t').toString()).toBe('shared')
  })

  test('reconnects after the server restarts; edits made while it was down are merged', async () => {
    const { dir, remove } = await tempDir()
    cleanups.push(remove)
    let child: ChildServer = await spawnServer(dir)
    cleanups.push(async () => {
      child.child.kill('SIGKILL')
      await child.exited
    })
    const room = freshRoom('restart')
    const jwt = await token({ rooms: { [room]: 'write' } })
    const url = (): string => `ws://127.0.0.1:${child.port}/ws`
    const a = client(url, jwt).room(room)
    const b = client(url, jwt).room(room)
    const aStatuses = statuses(a)
    await Promise.all([a.whenSynced(), b.whenSynced()])
    text(a).insert(0, 'before.')
    await a.whenSaved()
    await waitFor(() => text(b).toString() === 'before.', 'b to see the first edit')

    child.child.kill('SIGTERM')
    expect(await child.exited).toBe(0)
    await waitFor(() => a.status !== 'synced' && b.status !== 'synced', 'both clients to notice the restart')

    // Offline edits: kept in the docs, counted as unsaved.
    text(a).insert(text(a).length, 'a-offline.')
    text(b).insert(0, 'b-offline.')
    expect(a.hasUnsavedChanges).toBe(true)
    const aSaved = a.whenSaved()

    child = await spawnServer(dir)
    await Promise.all([a.whenSynced(), b.whenSynced()])
    await aSaved
    await b.whenSaved()
    const expected = text(a).toString()
    await waitFor(() => text(b).toString() === text(a).toString(), 'the offline edits to merge')
    expect(expected).toContain('before.')
    expect(expected).toContain('a-offline.')
    expect(text(b).toString()).toContain('b-offline.')
    expect(aStatuses).toContain('reconnecting')

    // What was acknowledged is on disk: a new client on the restarted server reads all of it.
    const c = client(url, jwt).room(room)
    await c.whenSynced()
    expect(text(c).toString()).toBe(text(b).toString())
  })

  test('4401: getToken is called again and the room resumes', async () => {
    // No clock tolerance, so the 2 s tokens close at exp itself.
    const srv = await server({ TANDEM_JWT_CLOCK_TOLERANCE_SEC: '0' })
    const room = freshRoom('refresh')
    let calls = 0
    const getToken = async (r: string): Promise<string> => {
      calls += 1
      return token({ rooms: { [r]: 'write' }, ttlSec: 2 })
    }
    const ca = client(`${srv.url}/ws`, getToken)
    const closeCodes: Array<number | undefined> = []
    ca.on('status', (_s: ConnectionStatus, detail) => closeCodes.push(detail.closeCode))
    const a = ca.room(room)
    const b = client(`${srv.url}/ws`, await token({ rooms: { [room]: 'write' } })).room(room)
    await Promise.all([a.whenSynced(), b.whenSynced()])
    expect(calls).toBe(1)

    await waitFor(() => closeCodes.includes(4401), 'the server to close the socket with 4401', 8_000)
    await waitFor(() => calls >= 2 && a.status === 'synced', 'a fresh token and a resynced room', 8_000)
    text(a).insert(0, 'after refresh')
    await waitFor(() => text(b).toString() === 'after refresh', 'b to receive the post-refresh edit')
    await a.whenSaved()
  })

  test('a room the token does not grant is stopped with forbidden; other rooms on the socket continue', async () => {
    const srv = await server()
    const allowed = freshRoom('allowed')
    const denied = freshRoom('denied')
    const c = client(`${srv.url}/ws`, await token({ rooms: { [allowed]: 'write' } }))
    const ok = c.room(allowed)
    const bad = c.room(denied)
    const errors: TandemError[] = []
    bad.on('error', (e) => errors.push(e))
    const synced = bad.whenSynced()

    await expect(synced).rejects.toMatchObject({ code: 'forbidden', status: 403 })
    expect(bad.status).toBe('closed')
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(TandemError)
    expect(errors[0]?.code).toBe('forbidden')

    await ok.whenSynced()
    text(ok).insert(0, 'fine')
    await ok.whenSaved()
    expect(srv.server.connectionCount).toBe(1)
    // The name is free again after the room closed.
    expect(() => c.room(denied).destroy()).not.toThrow()
  })

  test('twenty rooms share one socket', async () => {
    const srv = await server()
    const rooms = Array.from({ length: 20 }, (_, i) => freshRoom(`many${i}`))
    const jwt = await token({ rooms: { 'sdk-many*': 'write' } })
    const ca = client(`${srv.url}/ws`, jwt)
    const a = rooms.map((r) => ca.room(r))
    await Promise.all(a.map((p) => p.whenSynced()))
    expect(srv.server.connectionCount).toBe(1)

    const cb = client(`${srv.url}/ws`, jwt)
    const b = rooms.map((r) => cb.room(r))
    await Promise.all(b.map((p) => p.whenSynced()))
    expect(srv.server.connectionCount).toBe(2)

    a.forEach((p, i) => text(p).insert(0, `room ${i}`))
    await waitFor(() => b.every((p, i) => text(p).toString() === `room ${i}`), 'every room to sync on the other client')
    await Promise.all(a.map((p) => p.whenSaved()))
    for (const [i, r] of rooms.entries()) expect(srv.server.registry.get(r)?.doc.getText('t').toString()).toBe(`room ${i}`)

    // Destroying the last room closes the socket; the client goes idle.
    for (const p of b) p.destroy()
    expect(cb.status).toBe('idle')
    await waitFor(() => srv.server.connectionCount === 1, 'the idle client’s socket to close')
  })

  test('150 rooms opened at once on one socket join in waves under the server’s pending-room cap', async () => {
    const srv = await server()
    const jwt = await token({ rooms: { 'sdk-wave*': 'write' } })
    const c = client(`${srv.url}/ws`, jwt)
    const rooms = Array.from({ length: 150 }, (_, i) => c.room(freshRoom(`wave${i}`)))
    await Promise.all(rooms.map((p) => p.whenSynced()))
    expect(srv.server.connectionCount).toBe(1)
    expect(c.status).toBe('open')
  })

  test('room() twice for one name throws room_already_open; invalid names throw at once', async () => {
    const srv = await server()
    const room = freshRoom('twice')
    const c = client(`${srv.url}/ws`, await token({ rooms: { [room]: 'write' } }))
    const p = c.room(room)
    expect(() => c.room(room)).toThrow(expect.objectContaining({ code: 'room_already_open' }))
    expect(() => c.room('../etc')).toThrow(expect.objectContaining({ code: 'invalid_room_name' }))
    p.destroy()
    const again = c.room(room)
    await again.whenSynced()
  })
})

// ---------------------------------------------------------------------------------------------------
// A tiny fake multiplexed server: authenticates every room, answers sync, then does what a test says.
// ---------------------------------------------------------------------------------------------------

interface FakeServer {
  url: string
  sockets: Set<WebSocket>
  /** Called for every decoded frame from a client. */
  onFrame: (ws: WebSocket, address: string, type: string) => void
}

async function fakeServer(): Promise<FakeServer> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
  const fake: FakeServer = {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ws`,
    sockets: new Set(),
    onFrame: () => {},
  }
  wss.on('connection', (ws) => {
    fake.sockets.add(ws)
    ws.on('close', () => fake.sockets.delete(ws))
    ws.on('message', (data: Buffer) => {
      const decoded = decodeMultiplexedFrame(new Uint8Array(data))
      if (!decoded.ok || decoded.value.kind !== 'message') return
      const { address, message } = decoded.value
      const send = (m: Parameters<typeof encodeMultiplexedFrame>[1]): void => ws.send(encodeMultiplexedFrame(address, m))
      if (message.type === 'auth-token') send({ type: 'authenticated', scope: 'read-write' })
      if (message.type === 'sync-step-1') {
        send({ type: 'sync-step-2', update: Y.encodeStateAsUpdate(new Y.Doc()) })
        send({ type: 'sync-step-1', stateVector: Y.encodeStateVector(new Y.Doc()) })
      }
      if (message.type === 'sync-step-2' || message.type === 'update') send({ type: 'sync-status', applied: true })
      fake.onFrame(ws, address, message.type)
    })
  })
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.terminate()
        wss.close(() => resolve())
      }),
  )
  return fake
}

describe('TandemClient: room-level and socket-level stop codes (fake server)', () => {
  test('[room][7]["4404 room deleted"] stops that room with room_not_found; the other room stays', async () => {
    const fake = await fakeServer()
    const c = client(fake.url, 'jwt')
    const doomed = c.room('doomed')
    const kept = c.room('kept')
    await Promise.all([doomed.whenSynced(), kept.whenSynced()])
    const errors: TandemError[] = []
    doomed.on('error', (e) => errors.push(e))
    const closedFrames: string[] = []
    fake.onFrame = (_ws, address, type) => {
      if (type === 'close') closedFrames.push(address)
    }
    const pending = doomed.whenSaved() // resolves at once: nothing unsaved
    await pending

    const [ws] = [...fake.sockets]
    ws?.send(encodeMultiplexedFrame('doomed', { type: 'close', reason: '4404 room deleted' }))
    await waitFor(() => doomed.status === 'closed', 'the deleted room to close')
    expect(errors.map((e) => [e.code, e.status])).toEqual([['room_not_found', 404]])
    expect(kept.status).toBe('synced')
    expect(c.status).toBe('open')
    expect(fake.sockets.size).toBe(1)
    await expect(doomed.whenSynced()).rejects.toMatchObject({ code: 'destroyed' })
  })

  test('[room][7]["4403 …"] stops that room with forbidden', async () => {
    const fake = await fakeServer()
    const c = client(fake.url, 'jwt')
    const p = c.room('revoked')
    await p.whenSynced()
    const errors: string[] = []
    p.on('error', (e) => errors.push(e.code))
    ;[...fake.sockets][0]?.send(encodeMultiplexedFrame('revoked', { type: 'close', reason: '4403 access revoked' }))
    await waitFor(() => p.status === 'closed', 'the room to close')
    expect(errors).toEqual(['forbidden'])
  })

  test('a room close without a stop code rejoins the room', async () => {
    const fake = await fakeServer()
    const c = client(fake.url, 'jwt')
    const p = c.room('bounced')
    await p.whenSynced()
    let auths = 0
    fake.onFrame = (_ws, _address, type) => {
      if (type === 'auth-token') auths += 1
    }
    ;[...fake.sockets][0]?.send(encodeMultiplexedFrame('bounced', { type: 'close', reason: 'Server closed the connection' }))
    await waitFor(() => auths === 1 && p.status === 'synced', 'the room to rejoin')
  })

  test('socket close 4404 stops every room on it and does not reconnect', async () => {
    const fake = await fakeServer()
    let connections = 0
    const c = client(fake.url, 'jwt')
    const p = c.room('gone')
    await p.whenSynced()
    const errors: string[] = []
    p.on('error', (e) => errors.push(e.code))
    const closeCodes: number[] = []
    p.on('status', (_s, d) => d.error && closeCodes.push(d.error.status ?? 0))
    fake.onFrame = (_ws, _a, type) => {
      if (type === 'auth-token') connections += 1
    }
    const clientStatuses: ConnectionStatus[] = []
    c.on('status', (s) => clientStatuses.push(s))
    // A reconnect would start from a retry timer: fake them, so "later" is a clock the test moves.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      ;[...fake.sockets][0]?.close(4404, 'room deleted')
      await waitFor(() => p.status === 'closed', 'the room to close')
      expect(errors).toEqual(['room_not_found'])
      expect(closeCodes).toEqual([404])
      expect(c.status).toBe('idle')
      await vi.advanceTimersByTimeAsync(5_000) // ten times the test backoff's maximum
    } finally {
      vi.useRealTimers()
    }
    // Reconnecting would have set the client's status (connecting) synchronously when the timer fired.
    expect(clientStatuses).toEqual(['idle'])
    expect(c.status).toBe('idle')
    await waitFor(() => fake.sockets.size === 0, 'the server side of the socket to close')
    expect(connections).toBe(0)
  })
})

// ---------------------------------------------------------------------------------------------------
// Stock @hocuspocus/server (a devDependency for benchmarks; skipped with a message when absent)
// ---------------------------------------------------------------------------------------------------

type HocuspocusServerModule = {
  Server: new (config: { port: number; address?: string; quiet?: boolean }) => {
    listen(): Promise<unknown>
    destroy(): Promise<void>
    readonly address: AddressInfo
  }
}

const hocuspocus: HocuspocusServerModule | null = await import('@hocuspocus/server' as string).then(
  (m: unknown) => m as HocuspocusServerModule,
  () => null,
)
if (hocuspocus === null) console.warn('[sdk.test] SKIPPED: @hocuspocus/server is not installed; the Hocuspocus compatibility test did not run')

describe.skipIf(hocuspocus === null)('TandemClient against a stock @hocuspocus/server', () => {
  test('sync, presence and saved acknowledgements', async () => {
    const { Server } = hocuspocus as HocuspocusServerModule
    const hp = new Server({ port: 0, address: '127.0.0.1', quiet: true })
    await hp.listen()
    cleanups.push(() => hp.destroy())
    const url = `ws://127.0.0.1:${hp.address.port}`
    const a = client(url, '').room('hocus')
    const b = client(url, '').room('hocus')
    a.awareness.setLocalStateField('user', { name: 'Ada' })
    await Promise.all([a.whenSynced(), b.whenSynced()])
    b.awareness.setLocalStateField('user', { name: 'Bob' })

    text(a).insert(0, 'pocus')
    await waitFor(() => text(b).toString() === 'pocus', 'b to see a’s edit')
    text(b).insert(0, 'hocus ')
    await waitFor(() => text(a).toString() === 'hocus pocus', 'a to see b’s edit')
    await Promise.all([a.whenSaved(), b.whenSaved()])

    await waitFor(() => b.awareness.getStates().has(a.doc.clientID) && a.awareness.getStates().has(b.doc.clientID), 'presence both ways')
    a.destroy()
    await waitFor(() => !b.awareness.getStates().has(a.doc.clientID), 'a’s presence to disappear from b')
  })
})
