/**
 * A full disk, for real: the server's data directory is a small tmpfs that the test fills up. While
 * commits fail there is no saved acknowledgement, clients are closed with 1013 (storage unavailable: retry
 * later), and /readyz answers 503; once space is freed everything recovers and every acknowledged edit
 * is in the document, also after a restart.
 *
 * Needs permission to mount (root, or CAP_SYS_ADMIN); skipped, saying so, where mounting is refused.
 */
import { execFileSync } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import * as Y from 'yjs'
import { closeOpenConns, single, type Conn } from '../helpers/raw-client.js'
import { startServer, token, waitFor, type RunningServer } from '../helpers/server.js'

const mountPoint = mkdtempSync(path.join(os.tmpdir(), 'tandem-diskfull-'))
let mounted = false
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', mountPoint], { stdio: 'pipe' })
  mounted = true
} catch (err) {
  console.warn(`disk-full test skipped: cannot mount a tmpfs (${String(err).split('\n')[0]})`)
}

const servers: RunningServer[] = []
afterAll(async () => {
  closeOpenConns()
  for (const s of servers) await s.server.close().catch(() => {})
  if (mounted) execFileSync('umount', ['-l', mountPoint])
  rmSync(mountPoint, { recursive: true, force: true })
})

/** Writes a file until the file system refuses (ENOSPC); returns its path. Bounded in size and count. */
function fillDisk(dir: string): string {
  const file = path.join(dir, 'filler.bin')
  const fd = openSync(file, 'w')
  try {
    for (const size of [1024 * 1024, 4096, 512]) {
      const chunk = Buffer.alloc(size, 1)
      for (let i = 0; i < 64 * 1024; i++) {
        try {
          writeSync(fd, chunk)
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break
          throw err
        }
      }
    }
  } finally {
    closeSync(fd)
  }
  return file
}

async function readyStatus(port: number): Promise<number> {
  return (await fetch(`http://127.0.0.1:${port}/readyz`)).status
}

describe.skipIf(!mounted)('disk full (a real tmpfs filled up)', () => {
  test('no saved ack while commits fail, 1013 and /readyz 503; after space returns nothing acknowledged is lost', async () => {
    const dataDir = path.join(mountPoint, 'data')
    const env = { TANDEM_DATA_DIR: dataDir }
    const first = await startServer(env)
    servers.push(first)
    const room = 'disk-full'
    const jwt = await token({ rooms: { [room]: 'write' } })
    const doc = new Y.Doc()
    const text = doc.getText('t')
    const acked: string[] = []
    const refused: string[] = []
    const closeCodes: number[] = []

    /** One edit; true when the server acknowledged it as saved, false when the socket was closed first. */
    const write = async (conn: Conn, piece: string): Promise<boolean> => {
      try {
        await conn.write(room, () => text.insert(text.length, piece))
        acked.push(piece)
        return true
      } catch {
        refused.push(piece)
        return false
      }
    }
    /** A connection, or the close code when the server closed it during the handshake (its sync step 2 could not be committed). */
    const connect = async (): Promise<Conn | number> => {
      try {
        return await single(first.url, room, { token: jwt }, doc)
      } catch (err) {
        const code = /socket closed \((\d+)/.exec(String(err))?.[1]
        if (code === undefined) throw err
        return Number(code)
      }
    }

    let conn = await single(first.url, room, { token: jwt }, doc)
    for (let i = 0; i < 5; i++) expect(await write(conn, `before-${i};`)).toBe(true)
    expect(await readyStatus(first.port)).toBe(200)

    const filler = fillDisk(mountPoint)
    // Large enough that the write-ahead log must grow: it cannot fit in pages the file already has.
    const big = (i: number) => `during-${i}:${'x'.repeat(256 * 1024)};`
    let failed = false
    for (let i = 0; i < 5 && !failed; i++) failed = !(await write(conn, big(i)))
    expect(failed).toBe(true)
    closeCodes.push((await conn.closedWith()).code)
    await waitFor(async () => (await readyStatus(first.port)) === 503, '/readyz to answer 503 while commits fail')

    // Reconnecting while the disk is still full: the re-sent edits are refused again, never acknowledged.
    const again = await connect()
    if (typeof again === 'number') closeCodes.push(again)
    else {
      expect(await write(again, 'retry-while-full;')).toBe(false)
      closeCodes.push((await again.closedWith()).code)
    }
    expect(await readyStatus(first.port)).toBe(503)
    // 1013: try again later (storage unavailable), not 1011 "internal error".
    expect(closeCodes).toEqual(closeCodes.map(() => 1013))

    // Space returns.
    unlinkSync(filler)
    await waitFor(async () => (await readyStatus(first.port)) === 200, '/readyz to recover once space is back')
    conn = await single(first.url, room, { token: jwt }, doc) // re-sends everything unsaved
    expect(await write(conn, 'after;')).toBe(true)

    const check = async (url: string): Promise<string> => {
      const reader = await single(url, room, { token: await token({ rooms: { [room]: 'read' } }) })
      const got = reader.docs.get(room)?.getText('t').toString() ?? ''
      reader.close()
      return got
    }
    const served = await check(first.url)
    for (const piece of acked) expect(served).toContain(piece)
    // What was refused was kept by the client and re-sent: it is in the document too now.
    for (const piece of refused) expect(served).toContain(piece)

    // And on disk: a new process on the same directory serves every acknowledged edit.
    closeOpenConns()
    await first.server.close()
    const second = await startServer(env)
    servers.push(second)
    const reloaded = await check(second.url)
    for (const piece of acked) expect(reloaded).toContain(piece)
    expect(reloaded).toBe(text.toString())
    console.log(JSON.stringify({ acked: acked.length, refused: refused.length, closeCodes }))
  }, 60_000)
})
