/**
 * The flood scenario's flooder, in a worker thread: one connection that sends `rate` frames/s (10 ms
 * ticks) into its room and reconnects whenever the server closes it, as an attacker would. Frames due
 * while it reconnects are skipped (an attacker's rate, not a queue). Everything it sends is generated
 * before 'go': tiny = 8 typed characters per update, a fresh client per connection (so every update is
 * valid on its own); big = a few distinct large inserts, cycled (a repeat changes nothing but still
 * costs the server its decode). Bounded: it stops on 'stop', and a connection that runs out of
 * pre-generated updates sends nothing more.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { encodeFrame, syncStep1Frame, MSG_SYNC, SYNC_UPDATE } from './protocol.js'
import { generatePool } from './updates.js'

const port = /** @type {import('node:worker_threads').MessagePort} */ (parentPort)
const { url, kind, rate, bigKB, phaseS } = /** @type {{ url: string, kind: 'tiny' | 'big', rate: number, bigKB: number, phaseS: number }} */ (workerData)

/** Enough connections for a flooder closed every ~0.2 s, each with more updates than the burst allows. */
const TINY_CONNECTIONS = Math.ceil(phaseS * 8) + 4
const TINY_PER_CONNECTION = 4_000

/** @type {(() => (n: number) => Buffer[])} */
let source
if (kind === 'tiny') {
  const pools = Array.from({ length: TINY_CONNECTIONS }, (_, i) => generatePool(9_000 + i, TINY_PER_CONNECTION, 8, null))
  let connection = 0
  source = () => {
    const pool = pools[connection++]
    let next = 0
    return (n) => {
      /** @type {Buffer[]} */
      const out = []
      if (!pool) return out
      for (; n > 0 && next < pool.count; n--, next++) out.push(pool.frames.subarray(pool.offsets[next], pool.offsets[next + 1]))
      return out
    }
  }
} else {
  const frames = Array.from({ length: 4 }, (_, i) => {
    const doc = new Y.Doc()
    doc.clientID = 9_100 + i
    let update = new Uint8Array()
    doc.on('update', (/** @type {Uint8Array} */ u) => {
      update = u
    })
    doc.getText('t').insert(0, String.fromCharCode(97 + i).repeat(bigKB * 1000))
    return encodeFrame(null, [MSG_SYNC, SYNC_UPDATE], update)
  })
  source = () => {
    let next = 0
    return (n) => Array.from({ length: n }, () => /** @type {Buffer} */ (frames[next++ % frames.length]))
  }
}

let ws = /** @type {WebSocket | null} */ (null)
/** @type {(n: number) => Buffer[]} */
let take = () => []
let stopped = false
let sent = 0
let bytes = 0
let connects = 0
/** @type {Record<string, number>} */
const closes = {}
/** @type {NodeJS.Timeout | undefined} */
let timer

function connect() {
  if (stopped) return
  connects++
  take = source()
  const socket = new WebSocket(url, { perMessageDeflate: false, maxPayload: 256 * 2 ** 20 })
  ws = socket
  socket.on('open', () => socket.send(syncStep1Frame(null)))
  socket.on('error', () => {})
  socket.on('close', (code) => {
    if (stopped) return
    closes[code] = (closes[code] ?? 0) + 1
    ws = null
    setTimeout(connect, 20)
  })
}

function go() {
  connect()
  const t0 = performance.now()
  let done = 0
  timer = setInterval(() => {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate)
    const n = due - done
    done = due
    if (ws === null || ws.readyState !== WebSocket.OPEN) return
    // Hold off while the socket's own buffer is large, so the flooder measures the server, not itself.
    if (ws.bufferedAmount > 64 * 2 ** 20) return
    for (const f of take(n)) {
      ws.send(f)
      sent++
      bytes += f.length
    }
  }, 10)
}

port.on('message', (msg) => {
  if (msg === 'go') go()
  else if (msg === 'stop') {
    stopped = true
    clearInterval(timer)
    ws?.terminate()
    port.postMessage({ sent, bytes, closes, connects })
  }
})
port.postMessage('ready')
