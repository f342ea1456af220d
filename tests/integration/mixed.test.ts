/**
 * Both framings in one room: an unmodified y-websocket provider (`/ws/<room>`) and an unmodified
 * Hocuspocus provider (`/ws`) edit the same document and see each other's presence.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import { startServer, token, waitFor, type RunningServer } from '../helpers/server.js'

let srv: RunningServer
const cleanups: Array<() => void> = []
let roomCounter = 0

beforeAll(async () => {
  srv = await startServer({ TANDEM_ROOM_IDLE_MS: '200' }) // SQLite default: real commits
})

afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup()
})

afterAll(async () => {
  await srv.stop()
})

function freshRoom(label: string): string {
  return `mixed-${label}-${++roomCounter}-${Date.now().toString(36)}`
}

interface Client {
  doc: Y.Doc
  text: Y.Text
  awareness: NonNullable<HocuspocusProvider['awareness']>
  synced(): boolean
}

interface YwsClient extends Client {
  provider: WebsocketProvider
}

interface HpClient extends Client {
  provider: HocuspocusProvider
}

async function ywsClient(room: string, presence?: Record<string, unknown>): Promise<YwsClient> {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(`${srv.url}/ws`, room, doc, {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    params: { token: await token({ sub: 'yws-user', rooms: { [room]: 'write' } }) },
    disableBc: true,
    connect: false,
  })
  cleanups.push(() => {
    provider.destroy()
    doc.destroy()
  })
  if (presence) provider.awareness.setLocalStateField('user', presence)
  provider.connect()
  return { doc, text: doc.getText('t'), awareness: provider.awareness, provider, synced: () => provider.synced }
}

async function hpClient(room: string, presence?: Record<string, unknown>): Promise<HpClient> {
  const socket = new HocuspocusProviderWebsocket({ url: `${srv.url}/ws`, WebSocketPolyfill: WebSocket })
  cleanups.push(() => {
    // Closing a socket that is still connecting makes `ws` emit an error nobody listens to any more.
    ;(socket.webSocket as unknown as WebSocket | null)?.on('error', () => {})
    socket.destroy()
  })
  const doc = new Y.Doc()
  const provider = new HocuspocusProvider({
    websocketProvider: socket,
    name: room,
    document: doc,
    token: await token({ sub: 'hp-user', rooms: { [room]: 'write' } }),
  })
  cleanups.push(() => {
    provider.destroy()
    doc.destroy()
  })
  if (presence) provider.setAwarenessField('user', presence)
  provider.attach()
  const awareness = provider.awareness
  if (!awareness) throw new Error('the Hocuspocus provider has no awareness')
  return { doc, text: doc.getText('t'), awareness, provider, synced: () => provider.isSynced }
}

function presenceOf(observer: Client, subject: Client): unknown {
  return observer.awareness.getStates().get(subject.doc.clientID)
}

describe('a y-websocket client and a Hocuspocus client in one room', () => {
  test('edits converge both ways', async () => {
    const room = freshRoom('edits')
    const yws = await ywsClient(room)
    const hp = await hpClient(room)
    await waitFor(() => yws.synced() && hp.synced(), 'both clients to sync')

    yws.text.insert(0, 'from y-websocket. ')
    await waitFor(() => hp.text.toString() === 'from y-websocket. ', 'the Hocuspocus client to see the y-websocket edit')
    hp.text.insert(hp.text.length, 'from hocuspocus.')
    await waitFor(() => yws.text.toString() === 'from y-websocket. from hocuspocus.', 'the y-websocket client to see the Hocuspocus edit')

    // Concurrent edits and a second shared type.
    for (let i = 0; i < 20; i++) {
      yws.text.insert(0, 'y')
      hp.text.insert(hp.text.length, 'h')
    }
    yws.doc.getMap('m').set('by', 'yws')
    hp.doc.getArray<string>('list').push(['hp'])
    await waitFor(
      () => yws.text.toString() === hp.text.toString() && yws.text.length === 74 && hp.doc.getMap('m').get('by') === 'yws' && yws.doc.getArray('list').length === 1,
      'the concurrent edits to converge',
    )
    await waitFor(() => !hp.provider.hasUnsyncedChanges, 'the Hocuspocus client’s edits to be saved')
    expect(srv.server.registry.get(room)?.doc.getText('t').toString()).toBe(yws.text.toString())

    // A late client of each framing sees everything written through both.
    const lateYws = await ywsClient(room)
    const lateHp = await hpClient(room)
    await waitFor(() => lateYws.synced() && lateHp.synced(), 'the late clients to sync')
    await waitFor(() => lateYws.text.toString() === yws.text.toString() && lateHp.text.toString() === yws.text.toString(), 'the late clients to hold the document')
    expect(lateHp.doc.getMap('m').get('by')).toBe('yws')
    expect(lateYws.doc.getArray('list').toArray()).toEqual(['hp'])
  })

  test('each sees the other’s presence, and a departure removes it on the other side', async () => {
    const room = freshRoom('presence')
    const yws = await ywsClient(room, { name: 'Yara' })
    const hp = await hpClient(room, { name: 'Hugo' })
    await waitFor(() => yws.synced() && hp.synced(), 'both clients to sync')

    await waitFor(() => presenceOf(hp, yws) !== undefined, 'the Hocuspocus client to see the y-websocket presence')
    await waitFor(() => presenceOf(yws, hp) !== undefined, 'the y-websocket client to see the Hocuspocus presence')
    expect(presenceOf(hp, yws)).toEqual({ user: { name: 'Yara' } })
    expect(presenceOf(yws, hp)).toEqual({ user: { name: 'Hugo' } })

    yws.provider.awareness.setLocalStateField('cursor', 4)
    hp.provider.setAwarenessField('cursor', 9)
    await waitFor(
      () => (presenceOf(hp, yws) as { cursor?: number }).cursor === 4 && (presenceOf(yws, hp) as { cursor?: number }).cursor === 9,
      'cursor moves to cross framings',
    )

    // The Hocuspocus provider leaves the room: the y-websocket client stops seeing it.
    hp.provider.destroy()
    await waitFor(() => presenceOf(yws, hp) === undefined, 'the Hocuspocus presence to disappear', 3_000)

    // A new Hocuspocus client; then the y-websocket socket dies without a goodbye: only the server can tell.
    const hp2 = await hpClient(room, { name: 'Hana' })
    await waitFor(() => presenceOf(hp2, yws) !== undefined && presenceOf(yws, hp2) !== undefined, 'the new pair to see each other')
    yws.provider.shouldConnect = false
    ;(yws.provider.ws as unknown as WebSocket).terminate()
    await waitFor(() => presenceOf(hp2, yws) === undefined, 'the y-websocket presence to disappear', 3_000)
    expect(presenceOf(hp2, hp2)).toEqual({ user: { name: 'Hana' } })
  })
})
