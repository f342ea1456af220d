/**
 * Unmodified @hocuspocus/provider v4 clients against the real server over the multiplexed framing (`/ws`):
 * several rooms on one socket, saved acknowledgements that follow the storage commit, read-only scope.
 */
import { describe, expect, test, vi } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import { createMemoryStore } from '#server/persistence/memory'
import type { Store } from '#server/persistence/store'
import { testScope } from '../helpers/cleanup.js'
import { startServer, token, waitFor, type RunningServer } from '../helpers/server.js'

const { cleanups, releases, freshRoom } = testScope('hp')

async function server(env: Record<string, string> = {}, store?: Store): Promise<RunningServer> {
  const srv = await startServer({ TANDEM_STORE: 'memory', TANDEM_ROOM_IDLE_MS: '200', ...env }, store ? { store } : {})
  cleanups.push(() => srv.stop())
  return srv
}

/** One multiplexed socket; providers attach to it. */
function socket(srv: RunningServer): HocuspocusProviderWebsocket {
  const ws = new HocuspocusProviderWebsocket({ url: `${srv.url}/ws`, WebSocketPolyfill: WebSocket })
  cleanups.push(() => {
    // Closing a socket that is still connecting makes `ws` emit an error nobody listens to any more.
    ;(ws.webSocket as unknown as WebSocket | null)?.on('error', () => {})
    ws.destroy()
  })
  return ws
}

interface Client {
  provider: HocuspocusProvider
  doc: Y.Doc
  text: Y.Text
  /** Scopes reported by `authenticated` events. */
  scopes: string[]
  /** SyncStatus values (1 applied, 0 refused) received for this room, in order. */
  syncStatuses: number[]
  /** Clocks of this client's own awareness state as relayed back by the server. */
  relayedClocks: number[]
}

/** A provider for `room` on `ws`, attached after its listeners are in place. */
function provider(ws: HocuspocusProviderWebsocket, room: string, jwt: string, presence?: Record<string, unknown>): Client {
  const doc = new Y.Doc()
  const p = new HocuspocusProvider({ websocketProvider: ws, name: room, document: doc, token: jwt })
  const client: Client = { provider: p, doc, text: doc.getText('t'), scopes: [], syncStatuses: [], relayedClocks: [] }
  p.on('authenticated', ({ scope }: { scope: string }) => client.scopes.push(scope))
  p.on('message', ({ event }: { event: MessageEvent }) => {
    const decoder = decoding.createDecoder(new Uint8Array(event.data as ArrayBuffer))
    decoding.readVarString(decoder)
    const type = decoding.readVarUint(decoder)
    if (type === 8) client.syncStatuses.push(decoding.readVarInt(decoder))
    if (type === 1) {
      const update = decoding.createDecoder(decoding.readVarUint8Array(decoder))
      for (let n = decoding.readVarUint(update); n > 0; n--) {
        const clientId = decoding.readVarUint(update)
        const clock = decoding.readVarUint(update)
        decoding.readVarString(update)
        if (clientId === doc.clientID) client.relayedClocks.push(clock)
      }
    }
  })
  if (presence) p.setAwarenessField('user', presence)
  p.attach()
  cleanups.push(() => {
    p.destroy()
    doc.destroy()
  })
  return client
}

async function ready(client: Client, what: string): Promise<void> {
  await waitFor(() => client.provider.isSynced && !client.provider.hasUnsyncedChanges, `${what} to sync`)
}

function ownClock(client: Client): number {
  return client.provider.awareness?.meta.get(client.doc.clientID)?.clock ?? -1
}

function presenceOf(observer: Client, subject: Client): unknown {
  return observer.provider.awareness?.getStates().get(subject.doc.clientID)
}

/** A controllable barrier. */
interface Gate {
  wait(): Promise<void>
  open(): void
  close(): void
}

function gate(): Gate {
  let release: (() => void) | null = null
  let current: Promise<void> = Promise.resolve()
  return {
    wait: () => current,
    open() {
      release?.()
      release = null
      current = Promise.resolve()
    },
    close() {
      if (release) return
      current = new Promise((resolve) => (release = resolve))
    },
  }
}

/**
 * A memory store whose appends (and loads) wait on gates, and which counts what it committed. Every other
 * method is forwarded untouched, so the wrapper follows the Store interface as it grows.
 */
function gatedStore(): { store: Store; appendGate: Gate; loadGate: Gate; stats: { waiting: number; committed: number } } {
  const inner = createMemoryStore()
  const appendGate = gate()
  const loadGate = gate()
  const stats = { waiting: 0, committed: 0 }
  releases.push(() => {
    appendGate.open()
    loadGate.open()
  })
  const overrides: Partial<Store> = {
    async loadUpdates(room) {
      await loadGate.wait()
      return inner.loadUpdates(room)
    },
    async appendUpdate(room, update) {
      stats.waiting += 1
      await appendGate.wait()
      stats.waiting -= 1
      await inner.appendUpdate(room, update)
      stats.committed += 1
    },
  }
  const store = new Proxy(inner, {
    get(target, key, receiver) {
      if (Object.hasOwn(overrides, key)) return overrides[key as keyof Store]
      const value: unknown = Reflect.get(target, key, receiver)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
  return { store, appendGate, loadGate, stats }
}

function textOfStore(updates: Uint8Array[]): string {
  const doc = new Y.Doc()
  for (const u of updates) Y.applyUpdate(doc, u)
  const text = doc.getText('t').toString()
  doc.destroy()
  return text
}

describe('Hocuspocus providers over the multiplexed framing', () => {
  test('two providers sharing one socket across two rooms converge per room, and rooms do not leak', async () => {
    const srv = await server()
    const roomA = freshRoom('a')
    const roomB = freshRoom('b')
    const jwt = await token({ rooms: { [roomA]: 'write', [roomB]: 'write' } })

    const s1 = socket(srv)
    const s2 = socket(srv)
    const a1 = provider(s1, roomA, jwt, { name: 'one' })
    const b1 = provider(s1, roomB, jwt, { name: 'one' })
    const a2 = provider(s2, roomA, jwt, { name: 'two' })
    const b2 = provider(s2, roomB, jwt, { name: 'two' })
    for (const [c, name] of [[a1, 'a1'], [b1, 'b1'], [a2, 'a2'], [b2, 'b2']] as const) await ready(c, name)
    // Two sockets carry four room memberships.
    expect(srv.server.connectionCount).toBe(2)
    expect(srv.server.registry.get(roomA)?.peerCount).toBe(2)
    expect(srv.server.registry.get(roomB)?.peerCount).toBe(2)

    a1.text.insert(0, 'alpha')
    b2.text.insert(0, 'beta')
    await waitFor(() => a2.text.toString() === 'alpha', 'a2 to see alpha')
    await waitFor(() => b1.text.toString() === 'beta', 'b1 to see beta')
    a2.text.insert(5, '!')
    b1.text.insert(0, '>')
    await waitFor(() => a1.text.toString() === 'alpha!' && b2.text.toString() === '>beta', 'the second round to converge')

    // Presence stays per room too.
    await waitFor(() => presenceOf(a2, a1) !== undefined && presenceOf(b2, b1) !== undefined, 'presence per room')

    // Every write acknowledged; then nothing of one room may be in the other.
    for (const [c, name] of [[a1, 'a1'], [b1, 'b1'], [a2, 'a2'], [b2, 'b2']] as const) await ready(c, name)
    expect(a1.text.toString()).toBe('alpha!')
    expect(a2.text.toString()).toBe('alpha!')
    expect(b1.text.toString()).toBe('>beta')
    expect(b2.text.toString()).toBe('>beta')
    expect(srv.server.registry.get(roomA)?.doc.getText('t').toString()).toBe('alpha!')
    expect(srv.server.registry.get(roomB)?.doc.getText('t').toString()).toBe('>beta')
    // Each room's awareness holds exactly the two providers of that room (one client id per doc).
    expect([...(a2.provider.awareness?.getStates().keys() ?? [])].sort()).toEqual([a1.doc.clientID, a2.doc.clientID].sort())
    expect([...(b2.provider.awareness?.getStates().keys() ?? [])].sort()).toEqual([b1.doc.clientID, b2.doc.clientID].sort())
  })

  test('hasUnsyncedChanges turns false only after the storage commit', async () => {
    const { store, appendGate, stats } = gatedStore()
    const srv = await server({}, store)
    const room = freshRoom('saved')
    const jwt = await token({ rooms: { [room]: 'write' } })
    const c = provider(socket(srv), room, jwt)
    await ready(c, 'c')

    // Record, for every unsyncedChanges transition, how many commits the store had finished at that moment.
    const transitions: Array<{ number: number; committed: number }> = []
    c.provider.on('unsyncedChanges', ({ number }: { number: number }) => transitions.push({ number, committed: stats.committed }))
    const committedBefore = stats.committed
    const ackedBefore = c.syncStatuses.length

    appendGate.close()
    c.text.insert(0, 'durable')
    expect(c.provider.hasUnsyncedChanges).toBe(true)
    // The server applied (and broadcast) the update; its commit is stuck at the gate.
    await waitFor(() => srv.server.registry.get(room)?.doc.getText('t').toString() === 'durable', 'the server to apply the update')
    await waitFor(() => stats.waiting === 1, 'the append to reach the closed gate')

    // A presence round trip on the same socket: the server relays it to the sender after it handled the
    // update, so a SyncStatus sent at apply time (instead of commit time) would have arrived before it.
    const probeClockBefore = ownClock(c)
    c.provider.setAwarenessField('probe', 1)
    const probeClock = ownClock(c)
    expect(probeClock).toBeGreaterThan(probeClockBefore)
    await waitFor(() => c.relayedClocks.includes(probeClock), 'the presence relay to come back to the sender')

    expect(c.provider.hasUnsyncedChanges).toBe(true)
    expect(c.provider.unsyncedChanges).toBe(1)
    expect(c.syncStatuses.length).toBe(ackedBefore)
    expect(stats.committed).toBe(committedBefore)

    appendGate.open()
    await waitFor(() => !c.provider.hasUnsyncedChanges, 'the saved acknowledgement after the commit')
    expect(c.syncStatuses.slice(ackedBefore)).toEqual([1])
    expect(stats.committed).toBe(committedBefore + 1)
    // The provider reached zero only once the commit had finished.
    const zero = transitions.find((t) => t.number === 0)
    expect(zero?.committed).toBe(committedBefore + 1)
    expect(textOfStore((await store.loadUpdates(room)).updates)).toBe('durable')
  })

  test('several updates behind a closed gate are all acknowledged only once they commit', async () => {
    const { store, appendGate, stats } = gatedStore()
    const srv = await server({}, store)
    const room = freshRoom('saved-many')
    const jwt = await token({ rooms: { [room]: 'write' } })
    const c = provider(socket(srv), room, jwt)
    await ready(c, 'c')

    appendGate.close()
    for (let i = 0; i < 20; i++) c.text.insert(c.text.length, String(i % 10))
    expect(c.provider.unsyncedChanges).toBe(20)
    await waitFor(() => srv.server.registry.get(room)?.doc.getText('t').length === 20, 'the server to apply all 20')
    await waitFor(() => stats.waiting === 20, 'all 20 appends to reach the gate')
    expect(c.provider.unsyncedChanges).toBe(20)

    appendGate.open()
    await waitFor(() => c.provider.unsyncedChanges === 0, 'all 20 acknowledgements')
    expect(stats.committed).toBeGreaterThanOrEqual(20)
    expect(textOfStore((await store.loadUpdates(room)).updates)).toBe('01234567890123456789')
  })

  test('a read-only token yields the readonly scope; its edits reach neither peers nor the store', async () => {
    const srv = await server()
    const room = freshRoom('ro')
    const writer = provider(socket(srv), room, await token({ sub: 'w', rooms: { [room]: 'write' } }), { name: 'Writer' })
    const reader = provider(socket(srv), room, await token({ sub: 'r', rooms: { [room]: 'read' } }), { name: 'Reader' })
    await ready(writer, 'writer')
    await waitFor(() => reader.provider.isSynced, 'reader to sync')
    expect(writer.scopes).toEqual(['read-write'])
    expect(reader.scopes).toEqual(['readonly'])
    expect(reader.provider.authorizedScope).toBe('readonly')

    // Read-only peers receive everything.
    writer.text.insert(0, 'shared')
    await waitFor(() => reader.text.toString() === 'shared', 'reader to receive the writer’s edit')
    await ready(writer, 'writer')

    // Presence from a read-only peer is allowed.
    await waitFor(() => presenceOf(writer, reader) !== undefined, 'writer to see reader’s presence')

    const refusalsBefore = reader.syncStatuses.filter((s) => s === 0).length
    reader.text.insert(0, 'EVIL')
    await waitFor(() => reader.syncStatuses.filter((s) => s === 0).length > refusalsBefore, 'the server to refuse the reader’s edit')
    expect(reader.provider.hasUnsyncedChanges).toBe(true)

    // A round trip on the writer's socket: anything broadcast before it would have arrived by now.
    writer.text.insert(writer.text.length, '+')
    await ready(writer, 'writer')
    expect(writer.text.toString()).toBe('shared+')
    expect(srv.server.registry.get(room)?.doc.getText('t').toString()).toBe('shared+')
    await srv.server.registry.get(room)?.flush()
    expect(textOfStore((await srv.server.store.loadUpdates(room)).updates)).toBe('shared+')
    // The reader still gets the writer's later edits.
    await waitFor(() => reader.text.toString().includes('shared+'), 'reader to receive the later edit')
  })

  test('providers whose frames wait for a cold room to load all see each other’s presence', async () => {
    let clients: Client[]
    {
      const { store, loadGate } = gatedStore()
      const srv = await server({}, store)
      const room = freshRoom('cold')
      const jwt = await token({ rooms: { [room]: 'write' } })
      const framesIn = vi.spyOn(srv.server.metrics, 'messageIn')
      const loads = vi.spyOn(srv.server.registry, 'getOrLoad')
      loadGate.close()
      clients = [0, 1, 2].map((i) => provider(socket(srv), room, jwt, { name: `user-${i}` }))
      // Auth + sync step 1 + awareness from each client have arrived, and all three wait for the one load.
      await waitFor(() => framesIn.mock.calls.length >= 9, 'every client’s handshake frames to arrive')
      await waitFor(() => loads.mock.calls.filter(([id]) => id === room).length >= 3, 'every client to wait for the room')
      loadGate.open()
      for (const [i, c] of clients.entries()) await waitFor(() => c.provider.isSynced, `client ${i} to sync`)
    }
    const sizes = (): string => clients.map((c) => c.provider.awareness?.getStates().size).join(',')
    await waitFor(() => clients.every((c) => c.provider.awareness?.getStates().size === clients.length), 'every client to see all three presences', 3_000).catch(
      (err: unknown) => {
        throw new Error(`presence sizes ${sizes()} (expected 3,3,3)`, { cause: err })
      },
    )
  })
})
