/**
 * Large documents at the WebSocket edge: a client holding a multi-megabyte document joins an empty room
 * (y-websocket, Hocuspocus provider, the SDK) and its content is stored without a single close; a room
 * over 16 MiB can be joined (its full-state frame does not trip the slow-consumer limit); 4413 ends only
 * that room on the multiplexed framing and stops the SDK's room for good; a 1009 after a sync stops the
 * SDK's room instead of reconnecting in a loop.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import { TandemClient, type TandemError } from '../../client-sdk/src/index.js'
import { startServer, token, waitFor, type RunningServer } from '../helpers/server.js'
import { closeOpenConns, join, multiplexed, single } from '../helpers/raw-client.js'

const MIB = 1024 * 1024
let srv: RunningServer
const cleanups: Array<() => void | Promise<void>> = []
let roomCounter = 0

beforeAll(async () => {
  srv = await startServer({ TANDEM_ROOM_IDLE_MS: '200' }) // SQLite and the default limits
})

afterEach(async () => {
  closeOpenConns()
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

afterAll(async () => {
  await srv.stop()
})

function freshRoom(label: string): string {
  return `large-${label}-${++roomCounter}-${Date.now().toString(36)}`
}

/** A doc whose text `t` holds `bytes` characters (encoded state: about that many bytes). */
function bigDoc(bytes: number, fill = 'x'): Y.Doc {
  const doc = new Y.Doc()
  doc.getText('t').insert(0, fill.repeat(bytes))
  return doc
}

/** The stored document of `room`, replayed from the store's rows. */
async function storedText(server: RunningServer, room: string): Promise<number> {
  const stored = await server.server.store.loadUpdates(room)
  const doc = new Y.Doc()
  for (const update of stored.updates) Y.applyUpdate(doc, update)
  return doc.getText('t').length
}

function ywsProvider(server: RunningServer, room: string, doc: Y.Doc, jwt: string): { provider: WebsocketProvider; closes: number[] } {
  const provider = new WebsocketProvider(`${server.url}/ws`, room, doc, {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    params: { token: jwt },
    disableBc: true,
  })
  const closes: number[] = []
  provider.on('connection-close', (event: CloseEvent | null) => closes.push(event?.code ?? 0))
  cleanups.push(() => provider.destroy())
  return { provider, closes }
}

function hpProvider(server: RunningServer, room: string, doc: Y.Doc, jwt: string): { provider: HocuspocusProvider; closes: number[] } {
  const socket = new HocuspocusProviderWebsocket({ url: `${server.url}/ws`, WebSocketPolyfill: WebSocket })
  const closes: number[] = []
  socket.on('close', ({ event }: { event: { code: number } }) => closes.push(event.code))
  const provider = new HocuspocusProvider({ websocketProvider: socket, name: room, document: doc, token: jwt })
  provider.attach()
  cleanups.push(() => {
    provider.destroy()
    ;(socket.webSocket as unknown as WebSocket | null)?.on('error', () => {})
    socket.destroy()
  })
  return { provider, closes }
}

function sdkClient(server: RunningServer, jwt: string): TandemClient {
  const client = new TandemClient({ url: `${server.url}/ws`, getToken: () => jwt, WebSocket, backoff: { baseMs: 50, maxMs: 200 } })
  cleanups.push(() => client.destroy())
  return client
}

describe('a client holding a 3 MB document joins an empty room', () => {
  const SIZE = 3 * MIB

  test('y-websocket: synced, stored, never closed', async () => {
    const room = freshRoom('yws3')
    const { provider, closes } = ywsProvider(srv, room, bigDoc(SIZE), await token({ rooms: { [room]: 'write' } }))
    await waitFor(async () => provider.synced && (await storedText(srv, room)) === SIZE, 'the 3 MB document to be stored', 30_000)
    expect(closes).toEqual([])
  })

  test('Hocuspocus provider: synced, saved, stored, never closed', async () => {
    const room = freshRoom('hp3')
    const { provider, closes } = hpProvider(srv, room, bigDoc(SIZE), await token({ rooms: { [room]: 'write' } }))
    await waitFor(async () => provider.isSynced && !provider.hasUnsyncedChanges && (await storedText(srv, room)) === SIZE, 'the 3 MB document to be saved', 30_000)
    expect(closes).toEqual([])
  })

  test('SDK: synced, saved, stored, never reconnected', async () => {
    const room = freshRoom('sdk3')
    const client = sdkClient(srv, await token({ rooms: { [room]: 'write' } }))
    const statuses: string[] = []
    client.on('status', (s) => statuses.push(s))
    const provider = client.room(room, { doc: bigDoc(SIZE) })
    await provider.whenSynced()
    await provider.whenSaved()
    expect(await storedText(srv, room)).toBe(SIZE)
    expect(statuses).not.toContain('reconnecting')
  })
})

describe('a room over 16 MiB', () => {
  const SIZE = 17 * MIB
  let room: string

  beforeAll(async () => {
    room = freshRoom('17mib')
    const writer = await single(srv.url, room, { token: await token() })
    await writer.write(room, (doc) => doc.getText('t').insert(0, 'y'.repeat(SIZE)))
    writer.close()
  }, 60_000)

  test('is joined by a y-websocket provider without a close', async () => {
    const doc = new Y.Doc()
    const { provider, closes } = ywsProvider(srv, room, doc, await token({ rooms: { [room]: 'write' } }))
    await waitFor(() => provider.synced && doc.getText('t').length === SIZE, 'the 17 MiB document to arrive', 30_000)
    expect(closes).toEqual([])
  }, 60_000)

  test('is joined by the SDK without a reconnect', async () => {
    const client = sdkClient(srv, await token({ rooms: { [room]: 'write' } }))
    const statuses: string[] = []
    client.on('status', (s) => statuses.push(s))
    const provider = client.room(room)
    await provider.whenSynced()
    expect(provider.doc.getText('t').length).toBe(SIZE)
    expect(statuses).not.toContain('reconnecting')
  }, 60_000)
})

describe('4413 document_too_large', () => {
  test('multiplexed: ends only that room, the socket and its other rooms stay', async () => {
    const big = freshRoom('413')
    const other = freshRoom('413-other')
    const conn = await multiplexed(srv.url)
    const jwt = await token()
    await join(conn, big, jwt)
    await join(conn, other, jwt)
    const from = conn.mark()
    srv.server.registry.get(big)?.closePeers(4413, 'document too large')
    const closed = await conn.next('close', { room: big, from })
    expect(closed.reason).toMatch(/^4413 /)
    expect(conn.closeInfo).toBeNull()
    await conn.roundTrip(other) // still served
    expect(srv.server.registry.get(big)?.peerCount ?? 0).toBe(0)
  })

  test('single framing: the socket closes with 4413', async () => {
    const room = freshRoom('413-single')
    const conn = await single(srv.url, room, { token: await token() })
    srv.server.registry.get(room)?.closePeers(4413, 'document too large')
    expect((await conn.closedWith()).code).toBe(4413)
  })

  test('SDK: the room stops with TandemError(document_too_large) and does not rejoin', async () => {
    const room = freshRoom('413-sdk')
    const keep = freshRoom('413-sdk-keep')
    const client = sdkClient(srv, await token())
    const doomed = client.room(room)
    const kept = client.room(keep)
    await Promise.all([doomed.whenSynced(), kept.whenSynced()])
    const errors: TandemError[] = []
    doomed.on('error', (e) => errors.push(e))
    srv.server.registry.get(room)?.closePeers(4413, 'document too large')
    await waitFor(() => doomed.status === 'closed', 'the room to stop')
    expect(errors.map((e) => [e.code, e.status])).toEqual([['document_too_large', 413]])
    expect(kept.status).toBe('synced')
    expect(client.status).toBe('open')
    // It does not come back: the room has no peer a while (and a round trip of the kept room) later.
    await kept.whenSaved()
    expect(srv.server.registry.get(room)?.peerCount ?? 0).toBe(0)
  })
})

describe('1009 after a sync (a server whose message limit is below the document)', () => {
  let small: RunningServer
  beforeAll(async () => {
    small = await startServer({ TANDEM_STORE: 'memory', TANDEM_MAX_MESSAGE_BYTES: String(256 * 1024), TANDEM_MAX_DOC_BYTES: String(256 * 1024) })
  })
  afterAll(async () => {
    await small.stop()
  })

  test('SDK: the oversize room stops with message_too_big instead of reconnecting in a loop; the others reconnect', async () => {
    const room = freshRoom('1009')
    const keep = freshRoom('1009-keep')
    const client = sdkClient(small, await token())
    const kept = client.room(keep)
    await kept.whenSynced()
    const errors: string[] = []
    const opens: number[] = []
    client.on('status', (s) => s === 'open' && opens.push(Date.now()))
    // Between the limit and twice it: uWS drops bigger frames without a close frame (1006), the handler closes these with 1009.
    const doomed = client.room(room, { doc: bigDoc(384 * 1024) })
    doomed.on('error', (e) => errors.push(e.code))
    await waitFor(() => doomed.status === 'closed', 'the oversize room to stop')
    expect(errors).toEqual(['message_too_big'])
    await waitFor(() => kept.status === 'synced' && client.status === 'open', 'the other room to come back')
    const reconnects = opens.length
    kept.doc.getText('t').insert(0, 'still here')
    await kept.whenSaved()
    expect(opens.length).toBe(reconnects) // no further reconnects
    expect(reconnects).toBeLessThanOrEqual(1)
  })
})
