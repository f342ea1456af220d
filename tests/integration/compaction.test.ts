/**
 * When a live room's log is compacted (room.ts #considerCompaction), on SQLite and on PostgreSQL: not while it is being
 * written to, but once it goes quiet; and, for a room that never does, at ten times the threshold. The
 * compacted log always rebuilds the same document.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import * as Y from 'yjs'
import { closeOpenConns, single, type Conn } from '../helpers/raw-client.js'
import { roomState } from '../helpers/room-state.js'
import { startServer, token, waitFor, type RunningServer } from '../helpers/server.js'
import { describeEachStore } from '../helpers/store-kind.js'

const THRESHOLD = 5

afterEach(closeOpenConns)

async function rows(running: RunningServer, room: string): Promise<string[]> {
  return (await roomState(running, room)).rows
}

function rebuild(stored: string[]): string {
  const doc = new Y.Doc()
  for (const row of stored) Y.applyUpdate(doc, Buffer.from(row, 'hex'))
  return doc.getText('t').toString()
}

async function type(conn: Conn, room: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await conn.write(room, (doc) => doc.getText('t').insert(doc.getText('t').length, String(i % 10)))
}

describeEachStore('compaction of a live room', (store) => {
  describe('a room going quiet', () => {
    let running: RunningServer
    beforeAll(async () => {
      // The quiet period is long enough that a burst of awaited writes never pauses that long.
      running = await startServer({ ...store.env(), TANDEM_COMPACT_AFTER_ROWS: String(THRESHOLD), TANDEM_COMPACT_QUIET_MS: '1500' })
    })
    afterAll(async () => {
      await running?.stop()
    })

    test('is compacted once it has been quiet, not while it is written to', async () => {
      const room = 'compact-quiet'
      const writer = await single(running.url, room, { token: await token() })
      await type(writer, room, 4 * THRESHOLD)
      // Four times the threshold, written without a pause: nothing merged yet.
      expect((await rows(running, room)).length).toBeGreaterThanOrEqual(4 * THRESHOLD)
      await waitFor(async () => (await rows(running, room)).length === 1, 'the quiet room to be compacted into one row')
      const expected = writer.docs.get(room)?.getText('t').toString()
      expect(rebuild(await rows(running, room))).toBe(expected)
      expect((await roomState(running, room)).text).toBe(expected)
    })
  })

  describe('a room that never goes quiet', () => {
    let running: RunningServer
    beforeAll(async () => {
      running = await startServer({ ...store.env(), TANDEM_COMPACT_AFTER_ROWS: String(THRESHOLD), TANDEM_COMPACT_QUIET_MS: '3600000' })
    })
    afterAll(async () => {
      await running?.stop()
    })

    test('is compacted at ten times the threshold, and its log still rebuilds the document', async () => {
      const room = 'compact-busy'
      const writer = await single(running.url, room, { token: await token() })
      await type(writer, room, 9 * THRESHOLD)
      expect((await rows(running, room)).length).toBeGreaterThanOrEqual(9 * THRESHOLD)
      await type(writer, room, 2 * THRESHOLD)
      // The commit that took the log to 10 × THRESHOLD rows started the merge; later rows stay separate.
      await waitFor(async () => (await rows(running, room)).length < 10 * THRESHOLD, 'the busy room to be compacted')
      const expected = writer.docs.get(room)?.getText('t').toString()
      expect(rebuild(await rows(running, room))).toBe(expected)
      expect((await roomState(running, room)).text).toBe(expected)
    })
  })
})
