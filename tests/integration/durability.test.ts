/**
 * Durability against a real `tandem serve` child process, on SQLite and on PostgreSQL: what was
 * acknowledged as saved survives SIGTERM (drained, 1012) and SIGKILL, and a server restarted on the same
 * data directory (and the same Postgres schema) serves it.
 */
import { afterEach, expect, test } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import * as syncProtocol from 'y-protocols/sync'
import { WebsocketProvider } from 'y-websocket'
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import { spawnServer, tempDir, token, waitFor, type ChildServer } from '../helpers/server.js'
import { describeEachStore } from '../helpers/store-kind.js'
import { manyStructDoc } from '../helpers/many-structs.js'

const cleanups: Array<() => void | Promise<void>> = []

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function dataDir(): Promise<string> {
  const { dir, remove } = await tempDir()
  cleanups.push(remove)
  return dir
}

/** A child server on `storeEnv` that is SIGKILLed after the test if it is still running. */
async function serve(dir: string, storeEnv: Record<string, string>): Promise<ChildServer> {
  const child = await spawnServer(dir, { TANDEM_ROOM_IDLE_MS: '200', ...storeEnv })
  let exited = false
  void child.exited.then(() => (exited = true))
  cleanups.push(async () => {
    if (exited) return
    child.child.kill('SIGKILL')
    await child.exited
  })
  return child
}

function ywsProvider(port: number, room: string, jwt: string, doc: Y.Doc): WebsocketProvider {
  const provider = new WebsocketProvider(`ws://127.0.0.1:${port}/ws`, room, doc, {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    params: { token: jwt },
    disableBc: true,
  })
  cleanups.push(() => provider.destroy())
  return provider
}

function hpProvider(port: number, room: string, jwt: string, doc: Y.Doc): { socket: HocuspocusProviderWebsocket; provider: HocuspocusProvider } {
  const socket = new HocuspocusProviderWebsocket({ url: `ws://127.0.0.1:${port}/ws`, WebSocketPolyfill: WebSocket })
  cleanups.push(() => {
    // Closing a socket that is still connecting makes `ws` emit an error nobody listens to any more.
    ;(socket.webSocket as unknown as WebSocket | null)?.on('error', () => {})
    socket.destroy()
  })
  const provider = new HocuspocusProvider({ websocketProvider: socket, name: room, document: doc, token: jwt })
  cleanups.push(() => provider.destroy())
  provider.attach()
  return { socket, provider }
}

/** A fresh y-websocket client's view of the room once synced. */
async function readRoom(port: number, room: string): Promise<Y.Doc> {
  const doc = new Y.Doc()
  const provider = ywsProvider(port, room, await token({ rooms: { [room]: 'read' } }), doc)
  await waitFor(() => provider.synced, 'a fresh client to sync')
  return doc
}

/**
 * A hand-written single-framing client that counts saved acknowledgements: the server echoes each of our
 * updates back, byte for byte, only after the commit that contains it.
 */
function rawSingleClient(port: number, room: string, jwt: string, onAck?: (acked: number) => void) {
  const doc = new Y.Doc()
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/${room}?token=${jwt}`)
  ws.on('error', () => {}) // the server is killed under it
  const unacked = new Set<string>()
  const state = { sent: 0, acked: 0, synced: false, open: false }
  const send = (write: (encoder: encoding.Encoder) => void): void => {
    const encoder = encoding.createEncoder()
    write(encoder)
    ws.send(encoding.toUint8Array(encoder))
  }
  doc.on('update', (update: Uint8Array, origin: unknown) => {
    if (origin === 'server') return
    state.sent += 1
    unacked.add(Buffer.from(update).toString('base64'))
    send((e) => {
      encoding.writeVarUint(e, 0)
      syncProtocol.writeUpdate(e, update)
    })
  })
  ws.on('open', () => {
    state.open = true
    send((e) => {
      encoding.writeVarUint(e, 0)
      syncProtocol.writeSyncStep1(e, doc)
    })
  })
  ws.on('message', (data: Buffer) => {
    const decoder = decoding.createDecoder(new Uint8Array(data))
    if (decoding.readVarUint(decoder) !== 0) return // presence and the like
    const sub = decoding.readVarUint(decoder)
    const payload = decoding.readVarUint8Array(decoder)
    if (sub === 0) {
      send((e) => {
        encoding.writeVarUint(e, 0)
        syncProtocol.writeSyncStep2(e, doc, payload)
      })
    } else if (sub === 1) {
      Y.applyUpdate(doc, payload, 'server')
      state.synced = true
    } else if (unacked.delete(Buffer.from(payload).toString('base64'))) {
      state.acked += 1
      onAck?.(state.acked)
    } else {
      Y.applyUpdate(doc, payload, 'server')
    }
  })
  cleanups.push(() => ws.terminate())
  return { doc, ws, state }
}

describeEachStore('durability across restarts (child process)', (store) => {
  test('SIGTERM drains (1012, exit 0) and a restarted server serves the saved content', async () => {
    const dir = await dataDir()
    const env = store.env()
    const first = await serve(dir, env)
    const room = 'restart-room'
    const jwt = await token({ rooms: { [room]: 'write' } })

    const hpDoc = new Y.Doc()
    const hp = hpProvider(first.port, room, jwt, hpDoc)
    const ywsDoc = new Y.Doc()
    const yws = ywsProvider(first.port, room, jwt, ywsDoc)
    const closeCodes = { hp: [] as number[], yws: [] as number[] }
    hp.socket.on('close', ({ event }: { event: { code: number } }) => closeCodes.hp.push(event.code))
    yws.on('connection-close', (event) => {
      if (event) closeCodes.yws.push(event.code)
    })
    await waitFor(() => hp.provider.isSynced && yws.synced, 'both clients to sync')

    hpDoc.getText('t').insert(0, 'saved before SIGTERM')
    hpDoc.getMap('meta').set('version', 3)
    ywsDoc.getArray<string>('log').push(['from y-websocket'])
    await waitFor(() => !hp.provider.hasUnsyncedChanges, 'the saved acknowledgement')
    await waitFor(() => hpDoc.getArray('log').length === 1, 'the y-websocket edit to reach the other client (applied on the server)')

    first.child.kill('SIGTERM')
    expect(await first.exited).toBe(0)
    await waitFor(() => closeCodes.hp.length > 0 && closeCodes.yws.length > 0, 'both clients to see the close')
    expect(closeCodes.hp[0]).toBe(1012)
    expect(closeCodes.yws[0]).toBe(1012)
    expect(first.output()).toContain('server closed')
    // Stop the old clients from retrying against the dead port.
    hp.provider.destroy()
    yws.destroy()

    const second = await serve(dir, env)
    const doc = await readRoom(second.port, room)
    expect(doc.getText('t').toString()).toBe('saved before SIGTERM')
    expect(doc.getMap('meta').get('version')).toBe(3)
    // The drain flushed what was applied but not yet acknowledged too.
    expect(doc.getArray('log').toArray()).toEqual(['from y-websocket'])

    // And a Hocuspocus client on the new server sees the same.
    const hpDoc2 = new Y.Doc()
    const hp2 = hpProvider(second.port, room, jwt, hpDoc2)
    await waitFor(() => hp2.provider.isSynced, 'a fresh Hocuspocus client to sync')
    expect(hpDoc2.getText('t').toString()).toBe('saved before SIGTERM')

    second.child.kill('SIGTERM')
    expect(await second.exited).toBe(0)
  })

  test('SIGKILL right after 200 multiplexed updates are acknowledged loses none of them', async () => {
    const dir = await dataDir()
    const env = store.env()
    const first = await serve(dir, env)
    const room = 'sigkill-multiplexed'
    const jwt = await token({ rooms: { [room]: 'write' } })
    const doc = new Y.Doc()
    const hp = hpProvider(first.port, room, jwt, doc)
    await waitFor(() => hp.provider.isSynced && !hp.provider.hasUnsyncedChanges, 'the writer to sync')

    const n = 200
    const text = doc.getText('t')
    const list = doc.getArray<number>('list')
    for (let i = 0; i < n; i++) {
      if (i % 2 === 0) text.insert(text.length, String(i % 10))
      else list.push([i])
    }
    expect(hp.provider.unsyncedChanges).toBeGreaterThan(0)
    await waitFor(() => hp.provider.unsyncedChanges === 0, `all ${n} updates to be acknowledged`, 15_000)

    first.child.kill('SIGKILL')
    expect(await first.exited).toBe('SIGKILL')
    hp.provider.destroy()

    const second = await serve(dir, env)
    const restored = await readRoom(second.port, room)
    expect(restored.getText('t').toString()).toBe(text.toString())
    expect(restored.getText('t').length).toBe(n / 2)
    expect(restored.getArray('list').toArray()).toEqual(list.toArray())
    expect(restored.getArray('list').length).toBe(n / 2)
  })

  test('SIGKILL right after 200 single-framing updates are echoed (saved) loses none of them', async () => {
    const dir = await dataDir()
    const env = store.env()
    const first = await serve(dir, env)
    const room = 'sigkill-single'
    const client = rawSingleClient(first.port, room, await token({ rooms: { [room]: 'write' } }))
    await waitFor(() => client.state.synced, 'the raw client to sync')

    const n = 200
    const list = client.doc.getArray<number>('list')
    for (let i = 0; i < n; i++) list.push([i])
    expect(client.state.sent).toBe(n)
    await waitFor(() => client.state.acked === n, `all ${n} echoes`, 15_000)

    first.child.kill('SIGKILL')
    expect(await first.exited).toBe('SIGKILL')

    const second = await serve(dir, env)
    const restored = await readRoom(second.port, room)
    expect(restored.getArray('list').toArray()).toEqual(Array.from({ length: n }, (_, i) => i))
  })

  test('SIGKILL while a large upload is applied in slices: what was stored reloads, and the client’s resync completes it', async () => {
    const dir = await dataDir()
    const env = store.env()
    const first = await serve(dir, env)
    const room = 'sigkill-sliced'
    const jwt = await token({ rooms: { [room]: 'write' } })
    const watcher = new Y.Doc()
    const watching = ywsProvider(first.port, room, jwt, watcher)
    await waitFor(() => watching.synced, 'the watcher to sync')
    let killed = false
    watcher.on('update', () => {
      if (killed) return
      killed = true
      first.child.kill('SIGKILL') // on the first slice to arrive: the others are still to be applied
    })
    const doc = manyStructDoc(5)
    const expected = doc.getText('t').toString()
    ywsProvider(first.port, room, jwt, doc)
    expect(await first.exited).toBe('SIGKILL')

    // Whatever slices were committed form a document that loads, a part of the upload.
    const second = await serve(dir, env)
    const stored = (await readRoom(second.port, room)).getText('t').toString()
    expect(stored.length).toBeLessThanOrEqual(expected.length)
    // The client still holds the document; its next sync sends what the server lacks.
    const back = ywsProvider(second.port, room, jwt, doc)
    await waitFor(() => back.synced, 'the writer to sync again')
    await waitFor(async () => (await readRoom(second.port, room)).getText('t').length === expected.length, 'the whole upload to be stored')
    expect((await readRoom(second.port, room)).getText('t').toString() === expected).toBe(true)
  })

  test('SIGKILL in the middle of a write stream keeps every update acknowledged before it', async () => {
    const dir = await dataDir()
    const env = store.env()
    const first = await serve(dir, env)
    const room = 'sigkill-midstream'
    const killAfter = 150
    let ackedAtKill = -1
    const client = rawSingleClient(first.port, room, await token({ rooms: { [room]: 'write' } }), (acked) => {
      if (acked === killAfter) {
        first.child.kill('SIGKILL') // while later updates are still in flight
        ackedAtKill = acked
      }
    })
    await waitFor(() => client.state.synced, 'the raw client to sync')

    const list = client.doc.getArray<number>('list')
    const total = 1_000
    for (let i = 0; i < total; i++) list.push([i])
    expect(await first.exited).toBe('SIGKILL')
    expect(ackedAtKill).toBe(killAfter)
    // Acknowledgements read after the kill signal were sent before the process died: still committed.
    const acked = client.state.acked
    expect(acked).toBeGreaterThanOrEqual(killAfter)

    const second = await serve(dir, env)
    const restored = (await readRoom(second.port, room)).getArray<number>('list').toArray()
    // Updates commit in order: what survived is a prefix, and it covers everything acknowledged.
    expect(restored).toEqual(Array.from({ length: restored.length }, (_, i) => i))
    expect(restored.length).toBeGreaterThanOrEqual(acked)
  })
})
