/**
 * Unmodified y-websocket v3 providers against the real server over the single framing (`/ws/<room>`).
 * Every wait is a condition with a deadline; every provider is destroyed after its test.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { createMemoryStore } from '#server/persistence/memory'
import { startServer, token, waitFor, type RunningServer } from '../helpers/server.js'

let srv: RunningServer
const cleanups: Array<() => void | Promise<void>> = []
let roomCounter = 0

beforeAll(async () => {
  srv = await startServer({ TANDEM_ROOM_IDLE_MS: '200' }) // the SQLite default: real commits
})

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

afterAll(async () => {
  await srv.stop()
})

function freshRoom(label: string): string {
  return `yws-${label}-${++roomCounter}-${Date.now().toString(36)}`
}

interface Client {
  doc: Y.Doc
  provider: WebsocketProvider
  text: Y.Text
}

/** A y-websocket provider on `room`, tracked for cleanup. BroadcastChannel is off so only the server links clients. */
async function connect(room: string, opts: { user?: string; presence?: Record<string, unknown>; server?: RunningServer } = {}): Promise<Client> {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(`${(opts.server ?? srv).url}/ws`, room, doc, {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    params: { token: await token({ sub: opts.user ?? 'user-1', rooms: { [room]: 'write' } }) },
    disableBc: true,
    connect: false,
  })
  cleanups.push(() => {
    provider.destroy()
    doc.destroy()
  })
  if (opts.presence) provider.awareness.setLocalStateField('user', opts.presence)
  provider.connect()
  return { doc, provider, text: doc.getText('t') }
}

async function synced(client: Client, what: string): Promise<void> {
  await waitFor(() => client.provider.synced, `${what} to sync`)
}

function presenceOf(observer: Client, subject: Client): unknown {
  return observer.provider.awareness.getStates().get(subject.doc.clientID)
}

describe('y-websocket providers over the single framing', () => {
  test('two providers converge on text typed on both sides', async () => {
    const room = freshRoom('converge')
    const a = await connect(room, { user: 'alice' })
    const b = await connect(room, { user: 'bob' })
    await synced(a, 'a')
    await synced(b, 'b')

    a.text.insert(0, 'hello ')
    await waitFor(() => b.text.toString() === 'hello ', 'b to see a’s text')
    b.text.insert(b.text.length, 'world')
    await waitFor(() => a.text.toString() === 'hello world', 'a to see b’s text')

    // Concurrent edits at the same position merge deterministically on both sides.
    a.text.insert(0, 'A')
    b.text.insert(0, 'B')
    await waitFor(() => a.text.length === 13 && a.text.toString() === b.text.toString(), 'concurrent inserts to converge')
    expect(a.text.toString()).toMatch(/^(AB|BA)hello world$/)
    expect(srv.server.registry.get(room)?.doc.getText('t').toString()).toBe(a.text.toString())
  })

  test('presence set on one provider appears on the other', async () => {
    const room = freshRoom('presence')
    const a = await connect(room, { user: 'alice' })
    const b = await connect(room, { user: 'bob' })
    await synced(a, 'a')
    await synced(b, 'b')

    a.provider.awareness.setLocalStateField('cursor', { anchor: 3, head: 5 })
    await waitFor(() => (presenceOf(b, a) as { cursor?: unknown } | undefined)?.cursor !== undefined, 'b to see a’s cursor')
    expect(presenceOf(b, a)).toEqual({ cursor: { anchor: 3, head: 5 } })

    b.provider.awareness.setLocalStateField('user', { name: 'Bob' })
    await waitFor(() => presenceOf(a, b) !== undefined, 'a to see b’s presence')
    expect(presenceOf(a, b)).toEqual({ user: { name: 'Bob' } })

    // Updates to an existing field propagate too.
    a.provider.awareness.setLocalStateField('cursor', { anchor: 7, head: 7 })
    await waitFor(
      () => JSON.stringify(presenceOf(b, a)) === JSON.stringify({ cursor: { anchor: 7, head: 7 } }),
      'b to see a’s moved cursor',
    )
  })

  test('a client that closes gracefully disappears from the other’s presence', async () => {
    const room = freshRoom('leave')
    const a = await connect(room, { presence: { name: 'Alice' } })
    const b = await connect(room, { presence: { name: 'Bob' } })
    await waitFor(() => presenceOf(b, a) !== undefined && presenceOf(a, b) !== undefined, 'both to see each other')

    a.provider.destroy()
    // Well inside y-protocols' 30 s outdated timeout: this is the removal being relayed, not expiry.
    await waitFor(() => presenceOf(b, a) === undefined, 'a’s presence to disappear from b', 3_000)
    await waitFor(() => srv.server.registry.get(room)?.presenceCount === 1, 'the server to forget a’s presence', 3_000)
  })

  test('a client whose socket dies disappears from the other’s presence (server-side cleanup)', async () => {
    const room = freshRoom('crash')
    const a = await connect(room, { presence: { name: 'Alice' } })
    const b = await connect(room, { presence: { name: 'Bob' } })
    await waitFor(() => presenceOf(b, a) !== undefined && presenceOf(a, b) !== undefined, 'both to see each other')

    // Kill the TCP connection without a close frame or an awareness removal: only the server can tell b.
    a.provider.shouldConnect = false
    const socket = a.provider.ws as unknown as WebSocket
    socket.terminate()

    await waitFor(() => presenceOf(b, a) === undefined, 'a’s presence to disappear from b', 3_000)
    expect(presenceOf(b, b)).toEqual({ user: { name: 'Bob' } })
  })

  test('a client joining later gets the full document and the current presence', async () => {
    const room = freshRoom('late')
    const a = await connect(room, { presence: { name: 'Alice' } })
    const b = await connect(room, { presence: { name: 'Bob' } })
    await synced(a, 'a')
    await synced(b, 'b')
    a.text.insert(0, 'first line\n')
    b.doc.getMap('meta').set('title', 'Notes')
    await waitFor(() => b.text.toString() === 'first line\n' && a.doc.getMap('meta').get('title') === 'Notes', 'a and b to converge')
    b.text.insert(b.text.length, 'second line\n')
    await waitFor(() => a.text.toString() === 'first line\nsecond line\n', 'a to see b’s line')

    const c = await connect(room, { presence: { name: 'Carol' } })
    await synced(c, 'c')
    expect(c.text.toString()).toBe('first line\nsecond line\n')
    expect(c.doc.getMap('meta').get('title')).toBe('Notes')
    await waitFor(() => presenceOf(c, a) !== undefined && presenceOf(c, b) !== undefined, 'c to see a’s and b’s presence')
    expect(presenceOf(c, a)).toEqual({ user: { name: 'Alice' } })
    expect(presenceOf(c, b)).toEqual({ user: { name: 'Bob' } })
    // And the earlier clients see the newcomer.
    await waitFor(() => presenceOf(a, c) !== undefined && presenceOf(b, c) !== undefined, 'a and b to see c')
  })

  test('200 interleaved inserts from both sides converge', async () => {
    const room = freshRoom('many')
    const a = await connect(room)
    const b = await connect(room)
    await synced(a, 'a')
    await synced(b, 'b')

    const perSide = 100
    let seed = 42
    const random = (n: number): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
      return seed % (n + 1)
    }
    for (let i = 0; i < perSide; i++) {
      a.text.insert(random(a.text.length), 'a')
      b.text.insert(random(b.text.length), 'b')
      if (i % 10 === 0) b.doc.getArray<number>('seq').push([i])
    }
    const total = 2 * perSide
    await waitFor(
      () => a.text.length === total && b.text.length === total && a.text.toString() === b.text.toString(),
      'both texts to hold all 200 inserts',
      15_000,
    )
    const text = a.text.toString()
    expect(text.replace(/b/g, '')).toHaveLength(perSide)
    expect(text.replace(/a/g, '')).toHaveLength(perSide)
    await waitFor(() => a.doc.getArray('seq').length === perSide / 10, 'a to see b’s array pushes')
    expect(srv.server.registry.get(room)?.doc.getText('t').toString()).toBe(text)
  })

  test('a client that reconnects after losing its socket is visible to the others again', async () => {
    let a: Client
    let b: Client
    const room = freshRoom('reconnect')
    {
      a = await connect(room, { presence: { name: 'Alice' } })
      b = await connect(room, { presence: { name: 'Bob' } })
      await waitFor(() => presenceOf(b, a) !== undefined, 'b to see a')
      let reconnects = 0
      a.provider.on('status', ({ status }) => {
        if (status === 'connected') reconnects += 1
      })
      // The network drops; the provider reconnects by itself, as it would after a blip, 1013 or 4401.
      ;(a.provider.ws as unknown as WebSocket).terminate()
      await waitFor(() => presenceOf(b, a) === undefined, 'b to see a leave')
      await waitFor(() => reconnects > 0 && a.provider.synced, 'a to reconnect and resync')
      await waitFor(() => srv.server.registry.get(room)?.peerCount === 2, 'the server to hold both peers again')
    }
    // Well inside the 15 s awareness renewal: the server must accept (or make the client re-send) a's state.
    await waitFor(() => presenceOf(b, a) !== undefined, 'b to see a again after the reconnect', 5_000).catch((err: unknown) => {
      const held = srv.server.registry.get(room)?.presenceCount
      throw new Error(`b does not see a; the server holds ${held} presence state(s) for 2 connected peers`, { cause: err })
    })
  })

  test('providers whose frames wait for a cold room to load all see each other’s presence', async () => {
    let clients: Client[]
    {
      // A store whose loads wait until every client's handshake frames are queued on the server.
      const inner = createMemoryStore()
      let releaseLoad = (): void => {}
      const loadGate = new Promise<void>((resolve) => (releaseLoad = resolve))
      const store = new Proxy(inner, {
        get(target, key) {
          if (key === 'loadUpdates') return async (r: string) => (await loadGate, target.loadUpdates(r))
          const value: unknown = Reflect.get(target, key)
          return typeof value === 'function' ? value.bind(target) : value
        },
      })
      const gated = await startServer({ TANDEM_STORE: 'memory', TANDEM_ROOM_IDLE_MS: '200' }, { store })
      cleanups.push(async () => {
        releaseLoad()
        await gated.stop()
      })
      const framesIn = vi.spyOn(gated.server.metrics, 'messageIn')
      const room = freshRoom('cold')
      clients = await Promise.all([0, 1, 2].map((i) => connect(room, { presence: { name: `user-${i}` }, server: gated })))
      // Sync step 1 + awareness from each client, queued while the room loads.
      await waitFor(() => framesIn.mock.calls.length >= 6, 'every client’s handshake frames to arrive')
      releaseLoad()
      for (const [i, c] of clients.entries()) await synced(c, `client ${i}`)
    }
    const sizes = (): string => clients.map((c) => c.provider.awareness.getStates().size).join(',')
    await waitFor(() => clients.every((c) => c.provider.awareness.getStates().size === clients.length), 'every client to see all three presences', 3_000).catch(
      (err: unknown) => {
        throw new Error(`presence sizes ${sizes()} (expected 3,3,3)`, { cause: err })
      },
    )
  })
})
