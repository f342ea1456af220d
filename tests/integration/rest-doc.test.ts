/**
 * REST meets live rooms, on SQLite and on PostgreSQL: updates POSTed over REST reach y-websocket clients
 * and survive a restart, DELETE closes clients with 4404 and stale clients cannot resurrect the content, broadcasts
 * reach Hocuspocus providers, `/readyz` turns 503 during a drain, and `/metrics` exposes every metric.
 */
import net from 'node:net'
import { afterEach, describe, expect, test } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import { METRIC_NAMES } from '#server/metrics'
import { encodeSingleFrame } from '@tandem/client/protocol'
import { startServer, tempDir, token, waitFor, type RunningServer } from '../helpers/server.js'
import { describeEachStore } from '../helpers/store-kind.js'
import { ADMIN_KEY, RestClient } from './rest-client.js'

const cleanups: Array<() => void | Promise<void>> = []
let roomCounter = 0

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

function freshRoom(label: string): string {
  return `rdoc-${label}-${++roomCounter}-${Date.now().toString(36)}`
}

async function server(env: Record<string, string> = {}): Promise<{ srv: RunningServer; api: RestClient }> {
  const srv = await startServer({ TANDEM_STORE: 'memory', TANDEM_ADMIN_KEY: ADMIN_KEY, TANDEM_ROOM_IDLE_MS: '200', ...env })
  cleanups.push(() => srv.stop())
  return { srv, api: new RestClient(srv) }
}

interface YwsClient {
  doc: Y.Doc
  provider: WebsocketProvider
  closeCodes: number[]
}

async function ywsClient(srv: RunningServer, room: string, doc = new Y.Doc()): Promise<YwsClient> {
  const provider = new WebsocketProvider(`${srv.url}/ws`, room, doc, {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    params: { token: await token({ rooms: { [room]: 'write' } }) },
    disableBc: true,
    connect: false,
  })
  const client: YwsClient = { doc, provider, closeCodes: [] }
  provider.on('connection-close', (event) => {
    if (event) client.closeCodes.push(event.code)
  })
  cleanups.push(() => {
    provider.destroy()
    doc.destroy()
  })
  provider.connect()
  await waitFor(() => provider.synced, `a y-websocket client in ${room} to sync`)
  return client
}

/**
 * A raw socket into a room, returned once the server has sent its first frame (the room joined it).
 * uWS 20.30 can cut an asynchronously completed upgrade right after its 101 (see upgradeHandler in
 * server/src/ws/upgrade.ts): the client sees 1006 before any frame and, like every client, reconnects.
 */
async function joinedRawSocket(url: string): Promise<WebSocket> {
  for (let attempt = 1; ; attempt++) {
    const ws = new WebSocket(url)
    cleanups.push(() => ws.terminate())
    const outcome = await new Promise<'joined' | 'cut'>((resolve, reject) => {
      ws.once('message', () => resolve('joined'))
      ws.once('close', (code: number) => (code === 1006 && attempt < 3 ? resolve('cut') : reject(new Error(`closed with ${code} before any frame`))))
      ws.once('error', reject)
    })
    if (outcome === 'joined') return ws
  }
}

function textUpdate(text: string, key = 't'): Uint8Array {
  const doc = new Y.Doc()
  doc.getText(key).insert(0, text)
  return Y.encodeStateAsUpdate(doc)
}

describeEachStore('documents over REST and WebSocket', (store) => {
  test('an update POSTed over REST reaches a connected y-websocket client and survives a restart', async () => {
    const { dir, remove } = await tempDir()
    cleanups.push(remove)
    const env = { ...store.env(), TANDEM_DATA_DIR: dir, TANDEM_ADMIN_KEY: ADMIN_KEY }
    const room = freshRoom('restart')

    const first = await startServer(env)
    let firstStopped = false
    cleanups.push(async () => {
      if (!firstStopped) await first.stop()
    })
    const api1 = new RestClient(first)
    expect((await api1.call('POST', '/v1/rooms', { body: { name: room, metadata: { kept: true } } })).status).toBe(201)
    const client = await ywsClient(first, room)

    const res = await api1.call('POST', `/v1/rooms/${room}/doc`, { body: textUpdate('from rest') })
    expect(res.status).toBe(204)
    await waitFor(() => client.doc.getText('t').toString() === 'from rest', 'the y-websocket client to receive the REST update')

    client.provider.destroy()
    await first.stop()
    firstStopped = true

    const second = await startServer(env)
    cleanups.push(() => second.stop())
    const api2 = new RestClient(second)
    const bin = await api2.call('GET', `/v1/rooms/${room}/doc`)
    const restored = new Y.Doc()
    Y.applyUpdate(restored, bin.bytes)
    expect(restored.getText('t').toString()).toBe('from rest')
    expect((await api2.call('GET', `/v1/rooms/${room}/doc?format=json`)).json).toEqual({ t: 'from rest' })
    const info = (await api2.call('GET', `/v1/rooms/${room}`)).json as { metadata: unknown; sizeBytes: number }
    expect(info.metadata).toEqual({ kept: true })
    expect(info.sizeBytes).toBeGreaterThan(0)
  })

  test('POST doc answers only after the commit: a server killed right after keeps the update', async () => {
    // The in-process equivalent of SIGKILL: read the store behind the server's back once the 204 is in.
    const { srv, api } = await server(store.env())
    const room = freshRoom('committed')
    await api.call('POST', '/v1/rooms', { body: { name: room } })
    expect((await api.call('POST', `/v1/rooms/${room}/doc`, { body: textUpdate('durable') })).status).toBe(204)
    const stored = await srv.server.store.loadUpdates(room)
    const doc = new Y.Doc()
    for (const update of stored.updates) Y.applyUpdate(doc, update)
    expect(doc.getText('t').toString()).toBe('durable')
  })

  test('DELETE closes connected clients with 4404; a client reconnecting with the old content does not resurrect it', async () => {
    const { srv, api } = await server(store.env())
    const room = freshRoom('delete')
    await api.call('POST', '/v1/rooms', { body: { name: room } })
    const client = await ywsClient(srv, room)
    client.doc.getText('t').insert(0, 'old content')
    await waitFor(async () => ((await api.call('GET', `/v1/rooms/${room}/doc?format=json`)).json as { t?: string }).t === 'old content', 'the edit to reach the server')

    expect((await api.call('DELETE', `/v1/rooms/${room}`)).status).toBe(204)
    await waitFor(() => client.closeCodes.includes(4404), 'the client to be closed with 4404')
    expect(client.provider.wsconnected).toBe(false) // y-websocket 3.1 does not retry 44xx

    // Older y-websocket versions (and careless apps) reconnect anyway and offer their old state in sync
    // step 2. Do exactly that on a raw socket; the join re-creates the room (auto-create). Then ask for the
    // server's state: frames are handled in order, so the answer reflects the processed old state.
    // The server recognises the deleted incarnation's content and closes the stale client with 4404
    // again, rather than applying its edits (which would hang on content that no longer exists).
    const stale = await joinedRawSocket(`${srv.url}/ws/${room}?token=${await token({ rooms: { [room]: 'write' } })}`)
    let staleClose: number | null = null
    stale.on('close', (code: number) => (staleClose = code))
    client.doc.getText('t').insert(0, 'edit after delete: ')
    stale.send(encodeSingleFrame({ type: 'sync-step-2', update: Y.encodeStateAsUpdate(client.doc) }))
    await waitFor(() => staleClose === 4404, 'the stale client to be closed with 4404')

    // The room exists again (re-created by the join), with none of the old content.
    expect((await api.call('GET', `/v1/rooms/${room}`)).status).toBe(200)
    const fresh = new Y.Doc()
    Y.applyUpdate(fresh, (await api.call('GET', `/v1/rooms/${room}/doc`)).bytes)
    expect(fresh.getText('t').toString()).toBe('')
    expect((await api.call('GET', `/v1/rooms/${room}/doc?format=json`)).json).toEqual({})
    // New content from a new client works as usual.
    expect((await api.call('POST', `/v1/rooms/${room}/doc`, { body: textUpdate('new life', 'n') })).status).toBe(204)
    expect((await api.call('GET', `/v1/rooms/${room}/doc?format=json`)).json).toEqual({ n: 'new life' })
  })

  test('broadcast reaches Hocuspocus providers as a stateless message', async () => {
    const { srv, api } = await server(store.env())
    const room = freshRoom('broadcast')
    await api.call('POST', '/v1/rooms', { body: { name: room } })
    const socket = new HocuspocusProviderWebsocket({ url: `${srv.url}/ws`, WebSocketPolyfill: WebSocket })
    const doc = new Y.Doc()
    const provider = new HocuspocusProvider({ websocketProvider: socket, name: room, document: doc, token: await token({ rooms: { [room]: 'write' } }) })
    cleanups.push(() => {
      provider.destroy()
      socket.destroy()
    })
    const received: string[] = []
    provider.on('stateless', ({ payload }: { payload: string }) => received.push(payload))
    provider.attach()
    await waitFor(() => provider.isSynced, 'the provider to sync')
    const res = await api.call('POST', `/v1/rooms/${room}/broadcast`, { body: { message: '{"type":"ping","n":1}' } })
    expect(res.json).toEqual({ connections: 1 })
    await waitFor(() => received.includes('{"type":"ping","n":1}'), 'the stateless message')
  })
})

describe('operations', () => {
  test('/readyz answers 503 unavailable once a drain has started', async () => {
    const { srv, api } = await server()
    expect((await api.call('GET', '/readyz', { auth: null })).status).toBe(200)

    // A keep-alive connection opened before the drain: the listen socket closes, this one stays.
    const socket = net.connect(srv.port, '127.0.0.1')
    cleanups.push(() => void socket.destroy())
    let received = ''
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')))
    socket.on('error', () => {})
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
    await waitFor(() => received.includes('{"status":"ok"}'), 'the first response on the kept-alive connection')

    received = ''
    const closing = srv.server.close()
    socket.write('GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n')
    await waitFor(() => received.includes('"code"'), 'the readiness answer during the drain')
    expect(received).toMatch(/^HTTP\/1\.1 503/)
    expect(received).toContain('"code":"unavailable"')
    await closing
  })

  test('/readyz answers 503 when the store fails its ping', async () => {
    const { srv, api } = await server()
    const store = srv.server.store
    const ping = store.ping.bind(store)
    store.ping = () => Promise.reject(new Error('disk on fire'))
    try {
      const res = await api.call('GET', '/readyz', { auth: null })
      expect([res.status, res.code]).toEqual([503, 'unavailable'])
      expect(JSON.stringify(res.json)).not.toContain('disk on fire')
    } finally {
      store.ping = ping
    }
  })

  test('/metrics exposes every Tandem metric and counts REST requests by route', async () => {
    const { srv, api } = await server()
    const room = freshRoom('metrics')
    await api.call('POST', '/v1/rooms', { body: { name: room } })
    const client = await ywsClient(srv, room)
    client.doc.getText('t').insert(0, 'counted')
    await waitFor(async () => ((await api.call('GET', `/v1/rooms/${room}/doc?format=json`)).json as { t?: string }).t === 'counted', 'the edit')
    await api.call('GET', `/v1/rooms/${room}`)
    const res = await fetch(`http://127.0.0.1:${srv.port}/metrics`)
    const text = await res.text()
    for (const name of METRIC_NAMES) expect(text, name).toMatch(new RegExp(`^# TYPE ${name} `, 'm'))
    expect(text).toMatch(/^tandem_connections 1$/m)
    expect(text).toMatch(/^tandem_http_requests_total\{route="\/v1\/rooms\/:room",method="GET",status="200"\} 1$/m)
    expect(text).toMatch(/^tandem_messages_in_total [1-9]/m)
    // Default process metrics ride along.
    expect(text).toMatch(/^process_cpu_user_seconds_total /m)
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m)
    // Room names never become label values.
    expect(text).not.toContain(room)
  })
})
