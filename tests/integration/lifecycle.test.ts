/**
 * Room lifecycle invariants with real sockets: rooms load once, unload a grace period after the last
 * peer leaves (flushing and compacting), and loaded rooms, timers and connections return to zero.
 */
import { describe, expect, test } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import { WebsocketProvider } from 'y-websocket'
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import { createMemoryStore } from '#server/persistence/memory'
import type { Store } from '#server/persistence/store'
import type { RoomEvent } from '#server/rooms/events'
import { testScope } from '../helpers/cleanup.js'
import { join, multiplexed, single } from '../helpers/raw-client.js'
import { startServer, token, waitFor, type RunningServer } from '../helpers/server.js'

const { cleanups, releases, freshRoom } = testScope('life')

interface Harness {
  srv: RunningServer
  events: RoomEvent[]
  count(type: RoomEvent['type'], roomId: string): number
  /** Rooms, unload timers and connections are all back to zero. */
  idle(): boolean
}

async function server(idleMs: number, store?: Store): Promise<Harness> {
  // The SQLite default unless a store is injected: real commits and real compaction on unload.
  const srv = await startServer({ TANDEM_ROOM_IDLE_MS: String(idleMs) }, store ? { store } : {})
  cleanups.push(() => srv.stop())
  const events: RoomEvent[] = []
  srv.server.events.on((event) => events.push(event))
  return {
    srv,
    events,
    count: (type, roomId) => events.filter((e) => e.type === type && e.roomId === roomId).length,
    idle: () => srv.server.registry.size === 0 && srv.server.registry.timerCount === 0 && srv.server.connectionCount === 0,
  }
}

/** Polls `condition` for `ms` and fails the moment it stops holding. */
async function holdsFor(condition: () => boolean, what: string, ms: number): Promise<void> {
  const until = Date.now() + ms
  await waitFor(
    () => {
      if (!condition()) throw new Error(`${what} stopped holding`)
      return Date.now() >= until
    },
    `${what} to hold for ${ms} ms`,
    ms + 5_000,
  )
}

interface Client {
  doc: Y.Doc
  synced(): boolean
  destroy(): void
}

async function ywsClient(srv: RunningServer, room: string): Promise<Client> {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(`${srv.url}/ws`, room, doc, {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    params: { token: await token({ rooms: { [room]: 'write' } }) },
    disableBc: true,
  })
  const destroy = (): void => {
    provider.destroy()
    doc.destroy()
  }
  cleanups.push(destroy)
  return { doc, synced: () => provider.synced, destroy }
}

interface HpClient extends Client {
  provider: HocuspocusProvider
}

function hpSocket(srv: RunningServer): HocuspocusProviderWebsocket {
  const socket = new HocuspocusProviderWebsocket({ url: `${srv.url}/ws`, WebSocketPolyfill: WebSocket })
  cleanups.push(() => destroySocket(socket))
  return socket
}

function destroySocket(socket: HocuspocusProviderWebsocket): void {
  // Closing a socket that is still connecting makes `ws` emit an error nobody listens to any more.
  ;(socket.webSocket as unknown as WebSocket | null)?.on('error', () => {})
  socket.destroy()
}

async function hpClient(srv: RunningServer, room: string, socket?: HocuspocusProviderWebsocket): Promise<HpClient> {
  const ws = socket ?? hpSocket(srv)
  const doc = new Y.Doc()
  const provider = new HocuspocusProvider({ websocketProvider: ws, name: room, document: doc, token: await token({ rooms: { [room]: 'write' } }) })
  provider.attach()
  const destroy = (): void => {
    provider.destroy()
    doc.destroy()
    if (!socket) destroySocket(ws)
  }
  cleanups.push(destroy)
  return { doc, provider, synced: () => provider.isSynced, destroy }
}

/** A memory store whose loads wait on a gate, so clients can come and go while their room loads. */
function loadGatedStore(): { store: Store; loads: () => number; release(): void } {
  const inner = createMemoryStore()
  let release = (): void => {}
  const gate = new Promise<void>((resolve) => (release = resolve))
  let loads = 0
  const store = new Proxy(inner, {
    get(target, key) {
      if (key === 'loadUpdates') {
        return async (room: string) => {
          loads += 1
          await gate
          return target.loadUpdates(room)
        }
      }
      const value: unknown = Reflect.get(target, key)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
  return { store, loads: () => loads, release }
}

/** A memory store whose compaction waits on a gate, so an unload can be held half-way. */
function compactGatedStore(): { store: Store; release(): void } {
  const inner = createMemoryStore()
  let release = (): void => {}
  const gate = new Promise<void>((resolve) => (release = resolve))
  const store = new Proxy(inner, {
    get(target, key) {
      if (key === 'compact') return async (room: string) => (await gate, target.compact(room))
      const value: unknown = Reflect.get(target, key)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
  return { store, release }
}

describe('room lifecycle', () => {
  test('after every client leaves and the grace period passes, no rooms and no timers remain', async () => {
    const idleMs = 300
    const h = await server(idleMs)
    const { registry } = h.srv.server
    const roomA = freshRoom('a')
    const roomB = freshRoom('b')
    const socket = hpSocket(h.srv)
    const clients = [await ywsClient(h.srv, roomA), await hpClient(h.srv, roomA, socket), await hpClient(h.srv, roomB, socket), await ywsClient(h.srv, roomB)]
    await waitFor(() => clients.every((c) => c.synced()), 'every client to sync')
    clients[0]?.doc.getText('t').insert(0, 'x')
    clients[2]?.doc.getText('t').insert(0, 'y')
    expect(registry.size).toBe(2)
    expect(registry.timerCount).toBe(0)
    expect(h.srv.server.connectionCount).toBe(3)

    for (const c of clients) c.destroy()
    destroySocket(socket)
    await waitFor(() => h.srv.server.connectionCount === 0, 'every connection to close')
    const lastLeft = Date.now()
    await waitFor(() => h.idle(), 'rooms and timers to return to zero', idleMs + 5_000)
    // Unloads come after the grace period, not at the moment the last peer left.
    expect(Date.now() - lastLeft).toBeGreaterThanOrEqual(idleMs - 50)
    for (const room of [roomA, roomB]) {
      expect(h.count('room.loaded', room)).toBe(1)
      expect(h.count('room.unloaded', room)).toBe(1)
      expect(h.count('peer.joined', room)).toBe(h.count('peer.left', room))
    }
  })

  test('a client joining during the unload grace keeps the room loaded', async () => {
    const idleMs = 1_000
    const h = await server(idleMs)
    const { registry } = h.srv.server
    const room = freshRoom('grace')
    const first = await hpClient(h.srv, room)
    await waitFor(() => first.synced(), 'the first client to sync')
    first.doc.getText('t').insert(0, 'kept in memory')
    await waitFor(() => !first.provider.hasUnsyncedChanges, 'the first client’s edit to be saved')
    const loadedRoom = registry.get(room)
    expect(loadedRoom).toBeDefined()

    first.destroy()
    await waitFor(() => registry.timerCount === 1, 'the unload grace to start')
    expect(registry.size).toBe(1)

    const second = await ywsClient(h.srv, room)
    await waitFor(() => second.synced(), 'the second client to sync')
    expect(registry.timerCount).toBe(0)
    expect(second.doc.getText('t').toString()).toBe('kept in memory')
    // Same room object: it was never unloaded and reloaded.
    expect(registry.get(room)).toBe(loadedRoom)
    await holdsFor(() => registry.get(room) === loadedRoom && registry.timerCount === 0, 'the room to stay loaded', idleMs * 2)
    expect(h.count('room.unloaded', room)).toBe(0)
    expect(h.count('room.loaded', room)).toBe(1)

    second.destroy()
    await waitFor(() => h.idle(), 'the room to unload once the second client leaves', idleMs + 5_000)
    expect(h.count('room.unloaded', room)).toBe(1)
  })

  test('a client joining while the room is unloading gets a freshly loaded room with all content', async () => {
    const { store, release } = compactGatedStore()
    releases.push(release)
    const h = await server(100, store)
    const { registry } = h.srv.server
    const room = freshRoom('unloading')
    const first = await hpClient(h.srv, room)
    await waitFor(() => first.synced(), 'the first client to sync')
    const text = first.doc.getText('t')
    for (const word of ['one ', 'two ', 'three']) text.insert(text.length, word) // several rows: the unload compacts
    await waitFor(() => !first.provider.hasUnsyncedChanges, 'the edits to be saved')
    const oldRoom = registry.get(room)

    first.destroy()
    // The unload started and is stuck in compaction: loaded but no longer active.
    await waitFor(() => registry.size === 1 && registry.get(room) === undefined && registry.timerCount === 0, 'the unload to be half-way')

    const second = await ywsClient(h.srv, room)
    await waitFor(() => h.srv.server.connectionCount === 1, 'the second client to connect')
    expect(second.synced()).toBe(false)
    release()
    await waitFor(() => second.synced(), 'the second client to sync after the unload finished')
    expect(second.doc.getText('t').toString()).toBe('one two three')
    const newRoom = registry.get(room)
    expect(newRoom).toBeDefined()
    expect(newRoom).not.toBe(oldRoom)
    expect(h.count('room.unloaded', room)).toBe(1)
    expect(h.count('room.loaded', room)).toBe(2)
    expect((await store.loadUpdates(room)).rowCount).toBe(1)

    second.destroy()
    await waitFor(() => h.idle(), 'everything to return to zero')
  })

  test('a multiplexed socket that leaves one room lets it unload while its other room stays', async () => {
    const h = await server(100)
    const { registry } = h.srv.server
    const stay = freshRoom('stay')
    const go = freshRoom('go')
    const socket = hpSocket(h.srv)
    const staying = await hpClient(h.srv, stay, socket)
    const going = await hpClient(h.srv, go, socket)
    await waitFor(() => staying.synced() && going.synced(), 'both providers to sync')
    expect(registry.size).toBe(2)

    going.destroy() // sends CLOSE for that room only; the socket stays open
    await waitFor(() => registry.size === 1 && registry.get(go) === undefined && registry.timerCount === 0, 'the left room to unload')
    expect(registry.get(stay)?.peerCount).toBe(1)
    expect(h.srv.server.connectionCount).toBe(1)

    // The remaining room still works on the same socket.
    const other = await ywsClient(h.srv, stay)
    await waitFor(() => other.synced(), 'another client to join the staying room')
    staying.doc.getText('t').insert(0, 'still here')
    await waitFor(() => other.doc.getText('t').toString() === 'still here', 'the staying room to keep syncing')

    staying.destroy()
    other.destroy()
    destroySocket(socket)
    await waitFor(() => h.idle(), 'everything to return to zero')
  })

  test('join/leave churn across 5 rooms ends with zero rooms, timers and connections', async () => {
    const h = await server(50)
    const rooms = Array.from({ length: 5 }, (_, i) => freshRoom(`churn${i}`))
    const jwt = await token({ rooms: Object.fromEntries(rooms.map((r) => [r, 'write' as const])) })
    let connects = 0

    for (let round = 0; round < 10; round++) {
      const clients: Client[] = []
      const raw: WebSocket[] = []
      for (const [i, room] of rooms.entries()) {
        connects += 1
        const kind = (round + i) % 4
        if (kind === 0) clients.push(await ywsClient(h.srv, room))
        else if (kind === 1) clients.push(await hpClient(h.srv, room))
        else if (kind === 2) {
          // A single-framing socket that goes away without a goodbye, possibly while its room loads.
          const ws = new WebSocket(`${h.srv.url}/ws/${room}?token=${jwt}`)
          ws.on('error', () => {})
          ws.on('open', () => ws.terminate())
          raw.push(ws)
        } else {
          // A multiplexed socket that authenticates a room and closes at once, mid-authorisation.
          const ws = new WebSocket(`${h.srv.url}/ws`)
          ws.on('error', () => {})
          ws.on('open', () => {
            const e = encoding.createEncoder()
            encoding.writeVarString(e, room)
            encoding.writeVarUint(e, 2) // auth
            encoding.writeVarUint(e, 0) // token
            encoding.writeVarString(e, jwt)
            ws.send(encoding.toUint8Array(e))
            ws.close()
          })
          raw.push(ws)
        }
      }
      // Half of the rounds wait for the providers to sync, the others leave mid-handshake.
      if (round % 2 === 0) await waitFor(() => clients.every((c) => c.synced()), `round ${round} to sync`)
      for (const c of clients) c.destroy()
      await waitFor(() => raw.every((ws) => ws.readyState === WebSocket.CLOSED), `round ${round}’s raw sockets to close`)
    }
    expect(connects).toBe(50)

    await waitFor(() => h.idle(), 'rooms, timers and connections to return to zero')
    for (const room of rooms) {
      expect(h.count('room.loaded', room)).toBe(h.count('room.unloaded', room))
      expect(h.count('peer.joined', room)).toBe(h.count('peer.left', room))
    }
    expect(h.srv.server.registry.get(rooms[0] ?? '')).toBeUndefined()
  })

  test('clients that leave while their room is still loading leave nothing behind', async () => {
    const { store, loads, release } = loadGatedStore()
    releases.push(release)
    const h = await server(50, store)
    const rooms = [freshRoom('slow0'), freshRoom('slow1'), freshRoom('slow2')]
    const clients: Client[] = []
    for (const room of rooms) {
      clients.push(await ywsClient(h.srv, room))
      clients.push(await hpClient(h.srv, room))
    }
    // Every room's (single-flight) load has started and is held; nobody can have synced.
    await waitFor(() => loads() === rooms.length && h.srv.server.connectionCount === clients.length, 'every client to connect and wait for its room')
    expect(clients.some((c) => c.synced())).toBe(false)

    for (const c of clients) c.destroy()
    await waitFor(() => h.srv.server.connectionCount === 0, 'every connection to close')
    release()
    // (Loads in flight are not counted in registry.size, so wait for the unload events themselves.)
    await waitFor(() => rooms.every((room) => h.count('room.unloaded', room) === 1) && h.idle(), 'the rooms loaded for departed clients to unload')
    for (const room of rooms) {
      expect(h.count('room.loaded', room)).toBe(1)
      expect(h.count('room.unloaded', room)).toBe(1)
      expect(h.count('peer.joined', room)).toBe(h.count('peer.left', room))
    }
  })

  test('closing the server with clients connected sends 1012 and leaves no rooms, timers or connections', async () => {
    const h = await server(30_000)
    const { registry } = h.srv.server
    const rooms = [freshRoom('drain0'), freshRoom('drain1')]
    const codes: number[] = []
    const socket = hpSocket(h.srv)
    socket.on('close', ({ event }: { event: { code: number } }) => codes.push(event.code))
    const doc = new Y.Doc()
    const yws = new WebsocketProvider(`${h.srv.url}/ws`, rooms[0] ?? '', doc, {
      WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
      params: { token: await token({ rooms: { [rooms[0] ?? '']: 'write' } }) },
      disableBc: true,
    })
    cleanups.push(() => yws.destroy())
    yws.on('connection-close', (event) => {
      if (event) codes.push(event.code)
    })
    const hps = [await hpClient(h.srv, rooms[0] ?? '', socket), await hpClient(h.srv, rooms[1] ?? '', socket)]
    await waitFor(() => yws.synced && hps.every((c) => c.synced()), 'every client to sync')
    doc.getText('t').insert(0, 'before close')
    // A client that left just before: its room has a pending unload timer when the drain starts.
    const leaver = await ywsClient(h.srv, freshRoom('drain-leaver'))
    await waitFor(() => leaver.synced(), 'the leaver to sync')
    leaver.destroy()
    await waitFor(() => registry.timerCount === 1, 'the leaver’s room to wait for its unload')
    expect(registry.size).toBe(3)

    await h.srv.server.close()
    expect(registry.size).toBe(0)
    expect(registry.timerCount).toBe(0)
    expect(h.srv.server.connectionCount).toBe(0)
    await waitFor(() => codes.length === 2, 'both sockets to see the close')
    expect(codes).toEqual([1012, 1012])
    // Stop the clients from reconnecting to a closed port.
    yws.destroy()
    for (const c of hps) c.destroy()
  })

  test('content written before an unload is there after the reload, compacted', async () => {
    const h = await server(100)
    const { registry } = h.srv.server
    const room = freshRoom('reload')
    const writer = await hpClient(h.srv, room)
    await waitFor(() => writer.synced(), 'the writer to sync')
    const text = writer.doc.getText('t')
    for (let i = 0; i < 30; i++) text.insert(text.length, String(i % 10))
    writer.doc.getMap('meta').set('title', 'Reloaded')
    await waitFor(() => !writer.provider.hasUnsyncedChanges, 'the writes to be saved')
    expect((await h.srv.server.store.loadUpdates(room)).rowCount).toBeGreaterThan(1)

    writer.destroy()
    await waitFor(() => h.idle(), 'the room to unload')
    expect(h.count('room.unloaded', room)).toBe(1)
    // Compacted on the way out: one row holding everything.
    const stored = await h.srv.server.store.loadUpdates(room)
    expect(stored.rowCount).toBe(1)

    const reader = await ywsClient(h.srv, room)
    await waitFor(() => reader.synced(), 'a new client to sync')
    expect(h.count('room.loaded', room)).toBe(2)
    expect(registry.size).toBe(1)
    expect(reader.doc.getText('t').toString()).toBe('012345678901234567890123456789')
    expect(reader.doc.getMap('meta').get('title')).toBe('Reloaded')
  })
})

describe('keepalive', () => {
  test('every client of every loaded room hears an empty presence update each interval, on both framings', async () => {
    const srv = await startServer({ TANDEM_KEEPALIVE_MS: '200' })
    cleanups.push(() => srv.stop())
    const jwt = await token()
    const [roomA, roomB] = [freshRoom('keepalive-single'), freshRoom('keepalive-mux')]
    const a = await single(srv.url, roomA, { token: jwt })
    const b = await multiplexed(srv.url)
    expect(await join(b, roomB, jwt)).toMatchObject({ type: 'authenticated' })
    releases.push(() => a.close(), () => b.close())
    const emptyAwareness = (conn: typeof a, room: string, from: number): number =>
      conn.received.slice(from).filter((r) => r.room === room && r.message.type === 'awareness' && r.message.update.length === 1 && r.message.update[0] === 0).length
    const [fromA, fromB] = [a.mark(), b.mark()]
    await waitFor(() => emptyAwareness(a, roomA, fromA) >= 2 && emptyAwareness(b, roomB, fromB) >= 2, 'two keepalives in each room')
  })
})
