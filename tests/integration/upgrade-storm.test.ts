/**
 * An upgrade storm: many fresh sockets, on both framings and with tokens (so every upgrade completes
 * asynchronously, after the token check), connect, sync, stay a moment and close themselves while other
 * clients keep editing the same rooms. None may be closed by the server: no 1006 right after the 101.
 *
 * The uWS build in use (20.30) has a flaw on exactly this path: after an upgrade completed inside
 * `res.cork()`, cork() may read the HTTP request's state from memory that now holds the WebSocket, and
 * shuts the new socket down if that state says "Connection: close". uWS sets that flag for a
 * `Connection` header of exactly 5 bytes; Tandem refuses handshakes whose Connection header lacks the
 * `upgrade` token (400) before they get that far, which the last test pins down.
 */
import net from 'node:net'
import { afterAll, beforeAll, expect, test } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { encodeMultiplexedFrame, encodeSingleFrame } from '@tandem/client/protocol'
import { startServer, token, waitFor, type RunningServer } from '../helpers/server.js'

const UPGRADES = 1_500
const AT_ONCE = 150
const ROOMS = 10
const STAY_MS = 20
/** Per socket: connect to synced. Generous, the machine is shared; a timeout is reported, not waited out. */
const SOCKET_TIMEOUT_MS = 10_000

let srv: RunningServer
let jwt: string

beforeAll(async () => {
  // Every socket comes from 127.0.0.1: lift the per-address cap so the storm measures admitted sockets.
  srv = await startServer({ TANDEM_STORE: 'memory', TANDEM_MAX_CONNECTIONS_PER_ADDRESS: '0' })
  jwt = await token()
})

afterAll(async () => {
  await srv.stop()
})

interface Outcome {
  kind: 'clean' | 'unexpected' | 'refused' | 'error' | 'timeout'
  code?: number
  detail?: string
}

function cycle(index: number, room: string, multiplexed: boolean): Promise<Outcome> {
  return new Promise((resolve) => {
    const url = multiplexed ? `${srv.url}/ws` : `${srv.url}/ws/${room}?token=${jwt}`
    const ws = new WebSocket(url, { perMessageDeflate: false })
    let synced = false
    let closing = false
    let outcome: Outcome | null = null
    const settle = (o: Outcome): void => {
      outcome ??= o
    }
    const timer = setTimeout(() => {
      if (synced) return
      closing = true
      settle({ kind: 'timeout' })
      ws.terminate()
    }, SOCKET_TIMEOUT_MS)
    const send = (message: Parameters<typeof encodeSingleFrame>[0]): void =>
      ws.send(multiplexed ? encodeMultiplexedFrame(room, message) : encodeSingleFrame(message))
    ws.on('unexpected-response', (_req, res) => {
      closing = true
      settle({ kind: 'refused', detail: String(res.statusCode) })
      res.resume()
      ws.terminate()
    })
    ws.on('open', () => {
      if (multiplexed) send({ type: 'auth-token', token: jwt, providerVersion: null })
      send({ type: 'sync-step-1', stateVector: Y.encodeStateVector(new Y.Doc()) })
    })
    ws.on('message', (data: Buffer) => {
      if (synced) return
      // Sync step 2 is `[0][1]`, after the room's address on the multiplexed framing.
      const bytes = new Uint8Array(data)
      const at = multiplexed ? 1 + (bytes[0] ?? 0) : 0
      if (bytes[at] !== 0 || bytes[at + 1] !== 1) return
      synced = true
      setTimeout(() => {
        closing = true
        ws.close(1000, 'done')
      }, STAY_MS)
    })
    ws.on('error', (err) => {
      if (!closing) settle({ kind: 'error', detail: err.message })
      closing = true
    })
    ws.on('close', (code, reason) => {
      clearTimeout(timer)
      if (!closing) settle({ kind: 'unexpected', code, detail: `socket ${index}: ${code} ${reason.toString()} (synced: ${synced})` })
      else settle(synced && code === 1000 ? { kind: 'clean' } : { kind: 'unexpected', code, detail: `socket ${index}: closed ${code} while closing` })
      resolve(outcome as Outcome)
    })
  })
}

/** Two writers per room that keep editing while the storm runs, so fresh sockets get fan-out at once. */
function startWriters(rooms: string[]): { stop: () => void; errors: () => number } {
  const sockets: WebSocket[] = []
  let errors = 0
  let stopped = false
  for (const room of rooms) {
    for (let w = 0; w < 2; w++) {
      const doc = new Y.Doc()
      const ws = new WebSocket(`${srv.url}/ws/${room}?token=${jwt}`, { perMessageDeflate: false })
      ws.on('error', () => errors++)
      ws.on('close', () => {
        if (!stopped) errors++
      })
      doc.on('update', (update: Uint8Array) => {
        if (ws.readyState === WebSocket.OPEN) ws.send(encodeSingleFrame({ type: 'update', update }))
      })
      ws.on('open', () => ws.send(encodeSingleFrame({ type: 'sync-step-1', stateVector: Y.encodeStateVector(doc) })))
      const typer = setInterval(() => doc.getText('t').insert(0, 'x'), 50)
      ws.on('close', () => clearInterval(typer))
      sockets.push(ws)
    }
  }
  return {
    stop() {
      stopped = true
      for (const ws of sockets) ws.close(1000)
    },
    errors: () => errors,
  }
}

test(`${UPGRADES} fresh sockets under fan-out: none is closed by the server`, async () => {
  const rooms = Array.from({ length: ROOMS }, (_, i) => `storm-${i}-${Date.now().toString(36)}`)
  const writers = startWriters(rooms)
  const outcomes: Outcome[] = []
  let started = 0
  const worker = async (): Promise<void> => {
    while (started < UPGRADES) {
      const index = started++
      outcomes.push(await cycle(index, rooms[index % ROOMS] as string, index % 2 === 1))
    }
  }
  try {
    await Promise.all(Array.from({ length: AT_ONCE }, worker))
  } finally {
    writers.stop()
  }
  const bad = outcomes.filter((o) => o.kind !== 'clean')
  const byKind: Record<string, number> = {}
  for (const o of bad) {
    const key = [o.kind, o.code, o.kind === 'refused' ? o.detail : undefined].filter((x) => x !== undefined).join(' ')
    byKind[key] = (byKind[key] ?? 0) + 1
  }
  expect({ byKind, samples: bad.slice(0, 5).map((o) => o.detail) }).toEqual({ byKind: {}, samples: [] })
  expect(outcomes).toHaveLength(UPGRADES)
  expect(writers.errors()).toBe(0)
  await waitFor(() => srv.server.connectionCount === 0, 'every storm and writer socket to be gone')
}, 60_000)

test('a handshake whose Connection header uWS reads as "close" is refused before any upgrade', async () => {
  // `Connection: close` (and any 5-byte value) is what makes uWS 20.30 cut an async upgrade right after
  // its 101; such a request is not a valid WebSocket handshake anyway (RFC 6455 §4.2.1).
  const head = await rawHandshake('close')
  expect(head.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request')
})

function rawHandshake(connection: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(srv.port, '127.0.0.1')
    let received = ''
    socket.on('connect', () => {
      socket.write(
        `GET /ws/storm-raw?token=${jwt} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: ${connection}\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      )
    })
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1')
      if (received.includes('\r\n\r\n')) {
        socket.destroy()
        resolve(received)
      }
    })
    socket.on('error', reject)
  })
}
