/**
 * Version history against the real server: REST (checked against the server's OpenAPI document), real
 * SDK clients over the multiplexed framing, the SQLite store by default. Restores for Y.Text with
 * formatting, Y.Map, Y.Array and a Y.XmlFragment holding rich text as y-prosemirror writes it: every
 * client's document equals the version's, and restoring the before-restore version brings the previous
 * content back; edits made while a restore runs are kept; 404s; paging; automatic versions after quiet,
 * during long editing and on unload; pruning; the room.restored webhook and stateless notice.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, onTestFinished, test } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { createMemoryStore } from '#server/persistence/memory'
import type { Store } from '#server/persistence/store'
import { TandemApi, TandemClient, TandemError, type RoomProvider } from '../../client-sdk/src/index.js'
import { startServer, token, waitFor, type RunningServer } from '../helpers/server.js'
import { ADMIN_KEY, RestClient } from './rest-client.js'

const cleanups: Array<() => void | Promise<void>> = []
let roomCounter = 0

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

function freshRoom(label: string): string {
  return `ver-${label}-${++roomCounter}-${Date.now().toString(36)}`
}

async function server(env: Record<string, string> = {}, store?: Store): Promise<{ srv: RunningServer; rest: RestClient }> {
  const srv = await startServer({ TANDEM_ADMIN_KEY: ADMIN_KEY, TANDEM_ROOM_IDLE_MS: '100', ...env }, store ? { store } : {})
  cleanups.push(() => srv.stop())
  return { srv, rest: new RestClient(srv) }
}

async function provider(srv: RunningServer, room: string, sub = 'user-1'): Promise<RoomProvider> {
  const jwt = await token({ sub, rooms: { [room]: 'write' } })
  const client = new TandemClient({ url: `${srv.url}/ws`, getToken: () => jwt, WebSocket, backoff: { baseMs: 50, maxMs: 500 } })
  cleanups.push(() => client.destroy())
  const p = client.room(room)
  await p.whenSynced()
  return p
}

/** What a reader sees in every root the tests write: formatting, attributes and nesting included. */
function contentOf(doc: Y.Doc): unknown {
  const frag = doc.getXmlFragment('prosemirror')
  return {
    text: doc.getText('text').toDelta(),
    map: doc.getMap('map').toJSON(),
    array: doc.getArray('array').toJSON(),
    xml: frag.toJSON(),
    xmlNodes: frag.toArray().map((node) =>
      node instanceof Y.XmlElement ? [node.nodeName, node.getAttributes(), node.toArray().map((c) => (c instanceof Y.XmlText ? c.toDelta() : c.toJSON()))] : null,
    ),
  }
}

function docOf(update: Uint8Array): Y.Doc {
  const doc = new Y.Doc()
  Y.applyUpdate(doc, update)
  return doc
}

/** Text with formatting, a map with a nested map, an array, and prosemirror-style XML (heading, marks). */
function writeFirst(doc: Y.Doc): void {
  doc.transact(() => {
    const text = doc.getText('text')
    text.insert(0, 'Hello ')
    text.insert(6, 'world', { bold: true })
    const map = doc.getMap('map')
    map.set('title', 'first')
    map.set('count', 1)
    const nested = new Y.Map()
    map.set('nested', nested)
    nested.set('deep', 'yes')
    doc.getArray('array').insert(0, [1, 'two', { three: 3 }])
    const heading = new Y.XmlElement('heading')
    heading.setAttribute('level', '1')
    heading.insert(0, [new Y.XmlText('Title')])
    const paragraph = new Y.XmlElement('paragraph')
    const body = new Y.XmlText()
    paragraph.insert(0, [body])
    doc.getXmlFragment('prosemirror').insert(0, [heading, paragraph])
    body.insert(0, 'bold', { strong: {} })
    body.insert(4, ' and linked', { em: {}, link: { href: 'https://example.com' } })
  })
}

function editLater(doc: Y.Doc): void {
  doc.transact(() => {
    const text = doc.getText('text')
    text.delete(0, 3)
    text.insert(text.length, '!!', { italic: true })
    text.format(0, 2, { underline: true })
    const map = doc.getMap('map')
    map.set('title', 'second')
    map.delete('count')
    map.set('added', [1, 2])
    ;(map.get('nested') as Y.Map<unknown>).set('deep', 'no')
    const array = doc.getArray('array')
    array.delete(0, 1)
    array.push(['four'])
    const frag = doc.getXmlFragment('prosemirror')
    frag.delete(0, 1)
    const p = new Y.XmlElement('paragraph')
    p.insert(0, [new Y.XmlText('another paragraph')])
    frag.push([p])
  })
}

interface VersionJson {
  id: string
  createdAt: string
  kind: string
  label: string | null
  author: string | null
  sizeBytes: number
}

async function createVersion(rest: RestClient, room: string, body: Record<string, unknown> = {}): Promise<VersionJson> {
  const res = await rest.call('POST', `/v1/rooms/${room}/versions`, { body })
  expect(res.status, JSON.stringify(res.json)).toBe(201)
  return res.json as VersionJson
}

async function listAll(rest: RestClient, room: string): Promise<VersionJson[]> {
  const res = await rest.call('GET', `/v1/rooms/${room}/versions?limit=200`)
  expect(res.status).toBe(200)
  return (res.json as { versions: VersionJson[] }).versions
}

/** A receiver for webhook deliveries on 127.0.0.1:0. */
async function receiver(): Promise<{ url: string; got: { type: string; data: Record<string, unknown> }[] }> {
  const got: { type: string; data: Record<string, unknown> }[] = []
  const srv = http.createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      got.push(JSON.parse(body) as { type: string; data: Record<string, unknown> })
      res.writeHead(204).end()
    })
  })
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  onTestFinished(() => new Promise<void>((r) => (srv.closeAllConnections(), srv.close(() => r()))))
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/in`, got }
}

describe('version history', () => {
  test('restore turns every client’s document into the version (text, map, array, prosemirror XML); restoring before-restore undoes it', async () => {
    const { srv, rest } = await server({ TANDEM_WEBHOOK_ALLOW_PRIVATE: 'true' })
    const rx = await receiver()
    expect((await rest.call('POST', '/v1/webhooks', { body: { url: rx.url, events: ['room.restored'] } })).status).toBe(201)
    const room = freshRoom('restore')
    const a = await provider(srv, room, 'alice')
    const b = await provider(srv, room, 'bob')
    const notices: string[] = []
    b.on('stateless', (payload) => notices.push(payload))

    writeFirst(a.doc)
    await a.whenSaved()
    await waitFor(() => JSON.stringify(contentOf(b.doc)) === JSON.stringify(contentOf(a.doc)), 'b to receive the first content')
    const first = await createVersion(rest, room, { label: 'first draft', author: 'alice' })
    expect(first).toMatchObject({ kind: 'named', label: 'first draft', author: 'alice' })
    expect(first.id).toMatch(/^ver_[0-9a-z]{22}$/)

    const binary = await rest.call('GET', `/v1/rooms/${room}/versions/${first.id}/doc`)
    expect(binary.status).toBe(200)
    expect(binary.contentType).toBe('application/octet-stream')
    expect(binary.bytes.byteLength).toBe(first.sizeBytes)
    const expected = contentOf(docOf(binary.bytes))
    expect(expected).toEqual(contentOf(a.doc))
    const versionJson = await rest.call('GET', `/v1/rooms/${room}/versions/${first.id}/doc?format=json`)
    expect(versionJson.json).toEqual((await rest.call('GET', `/v1/rooms/${room}/doc?format=json`)).json)

    editLater(b.doc)
    await b.whenSaved()
    await waitFor(() => JSON.stringify(contentOf(a.doc)) === JSON.stringify(contentOf(b.doc)), 'a to receive the later edits')
    const later = contentOf(a.doc)
    expect(later).not.toEqual(expected)

    const restored = await rest.call('POST', `/v1/rooms/${room}/versions/${first.id}/restore`)
    expect(restored.status, JSON.stringify(restored.json)).toBe(200)
    const result = restored.json as { restored: VersionJson; beforeRestore: VersionJson }
    expect(result.restored).toEqual(first)
    expect(result.beforeRestore).toMatchObject({ kind: 'before-restore', author: null })
    // Answered after the commit: the stored document is the version's already.
    expect(contentOf(docOf((await rest.call('GET', `/v1/rooms/${room}/doc`)).bytes))).toEqual(expected)
    for (const [name, p] of [['a', a], ['b', b]] as const) {
      await waitFor(() => JSON.stringify(contentOf(p.doc)) === JSON.stringify(expected), `${name} to show the restored version`)
      expect(contentOf(p.doc)).toEqual(expected)
    }
    await waitFor(() => notices.length > 0, 'the restored notice')
    expect(JSON.parse(notices[0] ?? '')).toEqual({ type: 'room.restored', room, version: first.id, beforeRestore: result.beforeRestore.id, restoredBy: null })
    await waitFor(() => rx.got.length > 0, 'the room.restored webhook')
    expect(rx.got[0]).toMatchObject({ type: 'room.restored', data: { room, version: first.id, beforeRestore: result.beforeRestore.id, restoredBy: null } })

    // The before-restore version holds the later content; restoring it undoes the restore.
    const before = await rest.call('GET', `/v1/rooms/${room}/versions/${result.beforeRestore.id}/doc`)
    expect(contentOf(docOf(before.bytes))).toEqual(later)
    const undo = await rest.call('POST', `/v1/rooms/${room}/versions/${result.beforeRestore.id}/restore`, { body: { author: 'carol' } })
    expect(undo.status).toBe(200)
    expect((undo.json as { beforeRestore: VersionJson }).beforeRestore.author).toBe('carol')
    for (const [name, p] of [['a', a], ['b', b]] as const) {
      await waitFor(() => JSON.stringify(contentOf(p.doc)) === JSON.stringify(later), `${name} to show the pre-restore content again`)
    }
    // The log only grew: a fresh client (full sync) sees the same document.
    const c = await provider(srv, room, 'carol')
    expect(contentOf(c.doc)).toEqual(later)
    const kinds = (await listAll(rest, room)).map((v) => v.kind)
    expect(kinds).toEqual(['before-restore', 'before-restore', 'named'])
  })

  test('edits clients make while a restore runs are kept', async () => {
    // The before-restore version's save waits for the test, so the client edits in the middle of the restore.
    const inner = createMemoryStore()
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => (release = resolve))
    let waiting = 0
    const store = new Proxy(inner, {
      get(target, key, receiver) {
        if (key === 'saveVersion') {
          return async (...args: Parameters<Store['saveVersion']>) => {
            if (args[0].kind === 'before-restore') {
              waiting += 1
              await gate
            }
            return target.saveVersion(...args)
          }
        }
        const value: unknown = Reflect.get(target, key, receiver)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
    const { srv, rest } = await server({}, store)
    const room = freshRoom('concurrent')
    const a = await provider(srv, room)
    const b = await provider(srv, room, 'bob')
    a.doc.getText('text').insert(0, 'version text')
    await a.whenSaved()
    const v = await createVersion(rest, room)
    a.doc.getText('text').insert(0, 'later ')
    await a.whenSaved()

    const restoring = rest.call('POST', `/v1/rooms/${room}/versions/${v.id}/restore`)
    await waitFor(() => waiting === 1, 'the restore to save its before-restore version')
    const text = a.doc.getText('text')
    text.insert(text.length, ' +concurrent')
    await a.whenSaved()
    release()
    expect((await restoring).status).toBe(200)

    const merged = ['version text +concurrent', ' +concurrentversion text']
    for (const [name, p] of [['a', a], ['b', b]] as const) {
      await waitFor(() => merged.includes(p.doc.getText('text').toString()), `${name} to hold the version and the concurrent edit`)
    }
    expect(a.doc.getText('text').toString()).toBe(b.doc.getText('text').toString())
  })

  test('unknown rooms and versions answer 404 with stable codes; bad input 400', async () => {
    const { rest } = await server({ TANDEM_STORE: 'memory' })
    const room = freshRoom('errors')
    expect((await rest.call('POST', '/v1/rooms', { body: { name: room } })).status).toBe(201)
    const missing = 'ver_0000000000000000000000'
    for (const [method, path] of [
      ['GET', `/v1/rooms/no-such-room/versions`],
      ['POST', `/v1/rooms/no-such-room/versions`],
      ['GET', `/v1/rooms/no-such-room/versions/${missing}`],
      ['GET', `/v1/rooms/no-such-room/versions/${missing}/doc`],
      ['DELETE', `/v1/rooms/no-such-room/versions/${missing}`],
      ['POST', `/v1/rooms/no-such-room/versions/${missing}/restore`],
    ] as const) {
      const res = await rest.call(method, path)
      expect([res.status, res.code], `${method} ${path}`).toEqual([404, 'room_not_found'])
    }
    for (const [method, path] of [
      ['GET', `/v1/rooms/${room}/versions/${missing}`],
      ['GET', `/v1/rooms/${room}/versions/${missing}/doc?format=json`],
      ['DELETE', `/v1/rooms/${room}/versions/${missing}`],
      ['POST', `/v1/rooms/${room}/versions/${missing}/restore`],
      ['GET', `/v1/rooms/${room}/versions/not-a-version`],
    ] as const) {
      const res = await rest.call(method, path)
      expect([res.status, res.code], `${method} ${path}`).toEqual([404, 'version_not_found'])
    }
    expect((await rest.call('POST', `/v1/rooms/${room}/versions`, { body: { label: 'x'.repeat(201) } })).code).toBe('bad_request')
    expect((await rest.call('POST', `/v1/rooms/${room}/versions`, { body: { unknown: 1 } })).code).toBe('bad_request')
    expect((await rest.call('GET', `/v1/rooms/${room}/versions?cursor=nope`)).code).toBe('bad_request')
    expect((await rest.call('GET', `/v1/rooms/${room}/versions`, { auth: null })).status).toBe(401)
    // A version of another room is not this room's.
    const other = freshRoom('other')
    await rest.call('POST', '/v1/rooms', { body: { name: other } })
    const v = await createVersion(rest, other)
    expect((await rest.call('GET', `/v1/rooms/${room}/versions/${v.id}`)).code).toBe('version_not_found')
    // Deleting works once; the room's deletion takes its versions along.
    expect((await rest.call('DELETE', `/v1/rooms/${other}/versions/${v.id}`)).status).toBe(204)
    expect((await rest.call('DELETE', `/v1/rooms/${other}/versions/${v.id}`)).code).toBe('version_not_found')
    const w = await createVersion(rest, other)
    expect((await rest.call('DELETE', `/v1/rooms/${other}`)).status).toBe(204)
    expect((await rest.call('POST', '/v1/rooms', { body: { name: other } })).status).toBe(201)
    expect((await rest.call('GET', `/v1/rooms/${other}/versions/${w.id}`)).code).toBe('version_not_found')
  })

  test('lists newest first with cursor paging; a version of an unloaded room is the stored document', async () => {
    const { srv, rest } = await server({ TANDEM_STORE: 'memory' })
    const room = freshRoom('paging')
    const a = await provider(srv, room)
    const created: VersionJson[] = []
    for (let i = 0; i < 5; i++) {
      a.doc.getText('text').insert(a.doc.getText('text').length, `${i}`)
      await a.whenSaved()
      created.push(await createVersion(rest, room, { label: `v${i}` }))
    }
    const ids: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const page = await rest.call('GET', `/v1/rooms/${room}/versions?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`)
      const body = page.json as { versions: VersionJson[]; nextCursor: string | null }
      expect(body.versions.length).toBeLessThanOrEqual(2)
      ids.push(...body.versions.map((v) => v.id))
      cursor = body.nextCursor
      pages++
    } while (cursor !== null)
    expect(pages).toBe(3)
    expect(ids).toEqual(created.map((v) => v.id).reverse())
    const doc = await rest.call('GET', `/v1/rooms/${room}/versions/${created[2]?.id}/doc?format=json`)
    expect(doc.json).toEqual({ text: '012' })
    const one = await rest.call('GET', `/v1/rooms/${room}/versions/${created[2]?.id}`)
    expect([one.status, one.json]).toEqual([200, created[2]])

    // Unloaded: the version is taken from the stored log.
    a.destroy()
    await waitFor(() => srv.server.registry.size === 0, 'the room to unload')
    const unloaded = await createVersion(rest, room, { label: 'unloaded' })
    expect(srv.server.registry.size).toBe(0)
    expect((await rest.call('GET', `/v1/rooms/${room}/versions/${unloaded.id}/doc?format=json`)).json).toEqual({ text: '01234' })
  })

  test('automatic versions: after quiet, during long editing, on unload; none for unchanged rooms; old ones pruned', async () => {
    const { srv, rest } = await server({ TANDEM_STORE: 'memory', TANDEM_VERSION_QUIET_MS: '150', TANDEM_VERSION_MAX_INTERVAL_MS: '400', TANDEM_VERSION_KEEP_AUTO: '3' })
    const room = freshRoom('auto')
    const a = await provider(srv, room)
    const text = a.doc.getText('text')
    text.insert(0, 'quiet')
    await a.whenSaved()
    await waitFor(async () => (await listAll(rest, room)).length === 1, 'an automatic version after quiet')
    const [quiet] = await listAll(rest, room)
    expect(quiet).toMatchObject({ kind: 'auto', label: null, author: null })
    expect((await rest.call('GET', `/v1/rooms/${room}/versions/${quiet?.id}/doc?format=json`)).json).toEqual({ text: 'quiet' })

    // Editing without pause (every 20 ms, far below the quiet period) still gets versions every max interval.
    const named = await createVersion(rest, room, { label: 'keep me' })
    const started = Date.now()
    let edits = 0
    const autos = async (): Promise<VersionJson[]> => (await listAll(rest, room)).filter((v) => v.kind === 'auto')
    while ((await autos()).length < 3 || !(await autos()).every((v) => v.id > named.id)) {
      if (Date.now() - started > 15_000) throw new Error('no automatic versions while editing continuously')
      text.insert(text.length, '.')
      edits++
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    expect(edits).toBeGreaterThan(10)
    await a.whenSaved()
    // Pruned to the newest 3 automatic versions; the named one stays.
    const all = await listAll(rest, room)
    expect(all.filter((v) => v.kind === 'auto')).toHaveLength(3)
    expect(all.some((v) => v.id === quiet?.id)).toBe(false)
    expect(all.some((v) => v.id === named.id)).toBe(true)

    // Unload with edits waiting: a version is taken on the way out.
    const before = await listAll(rest, room)
    text.insert(text.length, 'last')
    await a.whenSaved()
    a.destroy()
    await waitFor(() => srv.server.registry.size === 0, 'the room to unload')
    await waitFor(async () => (await listAll(rest, room))[0]?.id !== before[0]?.id, 'a version taken at unload')
    const [atUnload] = await listAll(rest, room)
    expect(((await rest.call('GET', `/v1/rooms/${room}/versions/${atUnload?.id}/doc?format=json`)).json as { text: string }).text.endsWith('last')).toBe(true)

    // Load again, change nothing, unload: no version.
    const count = (await listAll(rest, room)).length
    const again = await provider(srv, room)
    again.destroy()
    await waitFor(() => srv.server.registry.size === 0, 'the room to unload again')
    expect((await listAll(rest, room)).length).toBe(count)
  })

  test('an automatic version is skipped when the document equals the newest version', async () => {
    const { srv, rest } = await server({ TANDEM_STORE: 'memory', TANDEM_VERSION_QUIET_MS: '60000' })
    const room = freshRoom('unchanged')
    const a = await provider(srv, room)
    a.doc.getText('text').insert(0, 'saved by hand')
    await a.whenSaved()
    const named = await createVersion(rest, room, { label: 'by hand' })
    // The wait armed by the edit fires at unload; the document equals the named version.
    a.destroy()
    await waitFor(() => srv.server.registry.size === 0, 'the room to unload')
    expect((await listAll(rest, room)).map((v) => v.id)).toEqual([named.id])
  })

  test('the SDK’s REST client covers the version routes', async () => {
    const { srv } = await server({ TANDEM_STORE: 'memory' })
    const api = new TandemApi({ baseUrl: `http://127.0.0.1:${srv.port}`, adminKey: ADMIN_KEY })
    const room = freshRoom('sdk')
    await api.createRoom({ name: room })
    const update = (text: string): Uint8Array => {
      const d = new Y.Doc()
      d.getText('text').insert(0, text)
      return Y.encodeStateAsUpdate(d)
    }
    await api.applyRoomUpdate(room, update('one'))
    const v = await api.createVersion(room, { label: 'one', author: 'sdk-user' })
    expect(v).toMatchObject({ kind: 'named', label: 'one', author: 'sdk-user' })
    expect(await api.getVersion(room, v.id)).toEqual(v)
    expect((await api.listVersions(room, { limit: 10 })).versions).toEqual([v])
    expect(await api.getVersionDocJson(room, v.id)).toEqual({ text: 'one' })
    expect(docOf(await api.getVersionDoc(room, v.id)).getText('text').toString()).toBe('one')
    await api.applyRoomUpdate(room, update('two'))
    const restored = await api.restoreVersion(room, v.id)
    expect(restored.restored).toEqual(v)
    expect(await api.getRoomDocJson(room)).toEqual({ text: 'one' })
    await api.deleteVersion(room, v.id)
    const err = await api.getVersion(room, v.id).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TandemError)
    expect((err as TandemError).code).toBe('version_not_found')
  })
})
