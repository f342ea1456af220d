#!/usr/bin/env node
/**
 * node bench/uws-upgrade-cork.js [cork|nocork] [connection-header] [sockets] [touch]
 *
 * Checks the installed uWebSockets.js binary (the one Tandem loads) for the flaw that can cut a fresh
 * WebSocket about 1 ms after its 101: an upgrade completed asynchronously inside `res.cork()` makes
 * cork() read the HTTP request's state from memory the WebSocket now occupies, and shut the socket down
 * if it reads "Connection: close". A bare uWS app, no Tandem: raw TCP clients on 127.0.0.1 send a
 * handshake with the given Connection header (`close`, or any 5-byte value, triggers it every time),
 * the server upgrades on the next tick, and with `touch` its open handler subscribes, sends and
 * publishes (which can trigger it about 1 in 500 with `Connection: Upgrade`). Prints how many sockets
 * the server cut right after the 101. `nocork` upgrades uncorked (uWS prints a warning per upgrade).
 * Bounded: at most 10,000 sockets, 20 at a time, 300 ms each. Needs `npx tsc -b` (loads server/dist/uws.js).
 */
import net from 'node:net'
import { loadUws } from '../server/dist/uws.js'

const uws = loadUws()
const mode = process.argv[2] ?? 'cork'
const connection = process.argv[3] ?? 'close'
const total = Math.min(10_000, Number(process.argv[4] ?? 200))
const touch = process.argv[5] === 'touch'
if (mode !== 'cork' && mode !== 'nocork') throw new Error('mode must be cork or nocork')

let opened = 0
let cutByServer = 0
const app = uws.App().ws('/*', {
  upgrade: (res, req, context) => {
    const key = req.getHeader('sec-websocket-key')
    const protocol = req.getHeader('sec-websocket-protocol')
    const extensions = req.getHeader('sec-websocket-extensions')
    let aborted = false
    res.onAborted(() => {
      aborted = true
    })
    setImmediate(() => {
      if (aborted) return
      const upgrade = () => res.upgrade({ at: 0 }, key, protocol, extensions, context)
      if (mode === 'cork') res.cork(upgrade)
      else upgrade()
    })
  },
  open: (ws) => {
    opened++
    ws.getUserData().at = performance.now()
    if (touch) {
      ws.subscribe(`t/${opened % 7}`)
      ws.subscribe('all')
      ws.send(new Uint8Array(2000), true)
      app.publish('all', new Uint8Array(10), true)
    }
  },
  close: (ws) => {
    if (performance.now() - ws.getUserData().at < 100) cutByServer++
  },
})
let port = 0
app.listen('127.0.0.1', 0, (socket) => {
  if (socket) port = uws.us_socket_local_port(socket)
})
if (port === 0) throw new Error('could not listen on 127.0.0.1')

/** @returns {Promise<'alive' | 'cut after 101' | 'no 101'>} */
function one() {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1')
    let head = ''
    const timer = setTimeout(() => {
      s.destroy()
      resolve(head.startsWith('HTTP/1.1 101') ? 'alive' : 'no 101')
    }, 300)
    s.on('connect', () =>
      s.write(
        `GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: ${connection}\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      ),
    )
    s.on('data', (d) => {
      head += d.toString('latin1')
    })
    s.on('end', () => {
      clearTimeout(timer)
      s.destroy()
      resolve(head.startsWith('HTTP/1.1 101') ? 'cut after 101' : 'no 101')
    })
    s.on('error', () => {})
  })
}

/** @type {Record<string, number>} */
const counts = {}
for (let i = 0; i < total; i += 20) {
  for (const r of await Promise.all(Array.from({ length: Math.min(20, total - i) }, one))) counts[r] = (counts[r] ?? 0) + 1
}
console.log(`${mode}, Connection: ${connection}${touch ? ', open touches the socket' : ''}:`, counts, { opened, cutByServerWithin100ms: cutByServer })
process.exit(0)
