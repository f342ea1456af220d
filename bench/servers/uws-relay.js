/**
 * The ceiling: a bare uWebSockets.js relay with no Yjs. Every socket on `/ws/<room>` subscribes to the
 * room's topic and every binary frame is published to it, excluding the sender, so the per-peer send loop
 * runs in C++ exactly as Tandem's does.
 *
 * Two small additions keep y-websocket-framed clients working against it, still without Yjs:
 *   - a sync step 1 (`[0][0]…`) is answered with the room's cached snapshot as sync step 2 (an empty
 *     update when there is none), so clients see "synced";
 *   - a sync step 2 (`[0][1]…`) from a client becomes the room's snapshot (the join scenario's writer
 *     uploads the document that way) instead of being relayed.
 * That makes the join figure "ship one cached frame to each joiner", the least any server can do.
 *
 *   PORT=1234 HOST=127.0.0.1 node bench/servers/uws-relay.js
 */
import { createRequire } from 'node:module'
import path from 'node:path'

const require = createRequire(import.meta.url)
const binaryName = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`

/** Loads the native binary directly, as server/src/uws.ts does: the package entry may fall back to a JS shim. */
function loadUws() {
  const candidates = [
    ['@btc-vision/uwebsockets.js', (/** @type {string} */ entry) => path.join(path.dirname(entry), binaryName)],
    ['uWebSockets.js', (/** @type {string} */ entry) => path.join(path.dirname(entry), '..', 'binaries', binaryName)],
  ]
  const failures = []
  for (const [pkg, binary] of candidates) {
    try {
      return require(/** @type {(e: string) => string} */ (binary)(require.resolve(/** @type {string} */ (pkg))))
    } catch (err) {
      failures.push(`${pkg}: ${String(err instanceof Error ? err.message : err).split('\n')[0]}`)
    }
  }
  throw new Error(`no native uWebSockets.js binary loads:\n  ${failures.join('\n  ')}`)
}

const uWS = loadUws()
const host = process.env.HOST ?? '127.0.0.1'
const port = Number(process.env.PORT ?? 1234)
/** @type {Map<string, Uint8Array>} */
const snapshots = new Map()
const EMPTY_STEP2 = Uint8Array.of(0, 1, 2, 0, 0)

const app = uWS.App()
app.ws('/*', {
  compression: uWS.DISABLED,
  maxPayloadLength: 64 * 1024 * 1024,
  maxBackpressure: 256 * 1024 * 1024,
  idleTimeout: 120,
  sendPingsAutomatically: true,
  upgrade: (/** @type {any} */ res, /** @type {any} */ req, /** @type {any} */ context) => {
    res.upgrade(
      { topic: req.getUrl() },
      req.getHeader('sec-websocket-key'),
      req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'),
      context,
    )
  },
  open: (/** @type {any} */ ws) => {
    ws.subscribe(ws.getUserData().topic)
  },
  message: (/** @type {any} */ ws, /** @type {ArrayBuffer} */ message, /** @type {boolean} */ isBinary) => {
    if (!isBinary) return
    const topic = ws.getUserData().topic
    const bytes = new Uint8Array(message)
    if (bytes.length >= 2 && bytes[0] === 0 && bytes[1] === 0) {
      ws.send(snapshots.get(topic) ?? EMPTY_STEP2, true, false)
      return
    }
    if (bytes.length >= 2 && bytes[0] === 0 && bytes[1] === 1) {
      if (bytes.length > 5) snapshots.set(topic, bytes.slice())
      return
    }
    ws.publish(topic, message, true, false)
  },
})
app.listen(host, port, (/** @type {unknown} */ token) => {
  if (!token) {
    console.error(`uws-relay: cannot listen on ${host}:${port}`)
    process.exit(1)
  }
  console.log(JSON.stringify({ msg: 'listening', port }))
})
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0))
