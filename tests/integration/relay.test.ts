/**
 * What the room relays and stores for each kind of update (room.ts #apply): a live edit goes out and into
 * the log as the sender's own bytes; an update overlapping what the room holds (a reconnecting client's
 * sync step 2) is cut down to what was new; a repeat changes nothing and is neither relayed nor stored;
 * an update whose dependencies are missing is still relayed and stored, and the room converges once
 * they arrive.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import * as Y from 'yjs'
import { closeOpenConns, single, type Conn } from '../helpers/raw-client.js'
import { hex, roomState, textOf } from '../helpers/room-state.js'
import { startServer, token, waitFor, type RunningServer } from '../helpers/server.js'

let running: RunningServer
let jwt: string
let roomSeq = 0

beforeAll(async () => {
  running = await startServer()
  jwt = await token()
})
afterEach(closeOpenConns)
afterAll(async () => {
  await running?.stop()
})

function updatesSince(conn: Conn, mark: number): Uint8Array[] {
  return conn.since(mark).flatMap((m) => (m.type === 'update' ? [m.update] : []))
}

/** Edits a fresh doc with its own client id and returns the update it produced. */
function edit(doc: Y.Doc, change: (text: Y.Text) => void): Uint8Array {
  const before = Y.encodeStateVector(doc)
  change(doc.getText('t'))
  return Y.encodeStateAsUpdate(doc, before)
}

describe('relaying updates', () => {
  test('a live edit reaches others and the log as the bytes the sender sent', async () => {
    const room = `relay-${++roomSeq}`
    const writer = await single(running.url, room, { token: jwt })
    const reader = await single(running.url, room, { token: jwt })
    const rowsBefore = (await roomState(running, room)).rows.length
    const mark = reader.mark()
    const update = edit(new Y.Doc(), (t) => t.insert(0, 'hello'))
    writer.send(room, { type: 'update', update })
    await waitFor(() => updatesSince(reader, mark).length > 0, 'the edit to reach the reader')
    expect(updatesSince(reader, mark).map(hex)).toEqual([hex(update)])
    const state = await roomState(running, room)
    expect(state.rows.slice(rowsBefore)).toEqual([hex(update)])
    expect(state.text).toBe('hello')
  })

  test("a reconnecting client's sync step 2 is cut down to what the room lacked", async () => {
    const room = `relay-${++roomSeq}`
    const writer = await single(running.url, room, { token: jwt })
    // A document big enough that relaying it again would be obvious.
    await writer.write(room, (doc) => doc.getText('t').insert(0, 'x'.repeat(20_000)))
    const reader = await single(running.url, room, { token: jwt })
    const rowsBefore = (await roomState(running, room)).rows.length

    // Another client holds the whole document plus an edit the room has not seen, and sends all of it.
    const offline = new Y.Doc()
    Y.applyUpdate(offline, Y.encodeStateAsUpdate(writer.docs.get(room) as Y.Doc))
    edit(offline, (t) => t.insert(0, 'new '))
    const mark = reader.mark()
    const returning = await single(running.url, room, { token: jwt })
    const full = Y.encodeStateAsUpdate(offline)
    returning.send(room, { type: 'sync-step-2', update: full })

    await waitFor(() => (reader.docs.get(room) as Y.Doc).getText('t').toString().startsWith('new '), 'the new edit to reach the reader')
    const relayed = updatesSince(reader, mark)
    const relayedBytes = relayed.reduce((n, u) => n + u.byteLength, 0)
    expect(relayedBytes).toBeLessThan(1_000) // the 20 kB the room already had is not sent again
    const state = await roomState(running, room)
    const newRows = state.rows.slice(rowsBefore)
    expect(newRows.reduce((n, r) => n + r.length / 2, 0)).toBeLessThan(1_000)
    expect(state.text).toBe(`new ${'x'.repeat(20_000)}`)
  })

  test('a repeated update is neither relayed nor stored, but still acknowledged', async () => {
    const room = `relay-${++roomSeq}`
    const writer = await single(running.url, room, { token: jwt })
    const reader = await single(running.url, room, { token: jwt })
    const update = edit(new Y.Doc(), (t) => t.insert(0, 'once'))
    writer.send(room, { type: 'update', update })
    await waitFor(() => (reader.docs.get(room) as Y.Doc).getText('t').toString() === 'once', 'the first copy to arrive')
    const rowsBefore = (await roomState(running, room)).rows.length
    const readerMark = reader.mark()
    const writerMark = writer.mark()
    writer.send(room, { type: 'update', update })
    // The saved acknowledgement (the echo) still comes: the content is durable.
    await waitFor(() => updatesSince(writer, writerMark).length > 0, 'the echo of the repeat')
    await reader.roundTrip()
    expect(updatesSince(reader, readerMark)).toEqual([])
    expect((await roomState(running, room)).rows.length).toBe(rowsBefore)
  })

  test('an update whose dependencies are missing is relayed and stored; the room converges when they arrive', async () => {
    const room = `relay-${++roomSeq}`
    const writer = await single(running.url, room, { token: jwt })
    const reader = await single(running.url, room, { token: jwt })
    const source = new Y.Doc()
    const first = edit(source, (t) => t.insert(0, 'ab'))
    const second = edit(source, (t) => t.insert(2, 'cd'))
    const mark = reader.mark()
    writer.send(room, { type: 'update', update: second }) // depends on `first`, not sent yet
    await waitFor(() => updatesSince(reader, mark).length === 1, 'the dependent update to be relayed')
    expect(textOf(Y.encodeStateAsUpdate(running.server.registry.get(room)?.doc as Y.Doc))).toBe('')
    writer.send(room, { type: 'update', update: first })
    await waitFor(() => (reader.docs.get(room) as Y.Doc).getText('t').toString() === 'abcd', 'the reader to converge')
    const state = await roomState(running, room)
    expect(state.text).toBe('abcd')

    // The stored log alone rebuilds the document.
    const reloaded = new Y.Doc()
    for (const row of state.rows) Y.applyUpdate(reloaded, Buffer.from(row, 'hex'))
    expect(reloaded.getText('t').toString()).toBe('abcd')
  })
})
