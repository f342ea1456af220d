/**
 * A minimal Chrome DevTools Protocol client for a server under test (any Node process), used by the
 * idle scenario to force garbage collection and read the V8 heap, so memory figures are "after GC" the
 * same way for every server.
 *
 * Every server starts with `--inspect-port=127.0.0.1:0` (which alone starts nothing); `attachInspector`
 * sends SIGUSR1, which makes Node open its inspector on a free port and print
 * "Debugger listening on ws://127.0.0.1:<port>/<id>" on stderr (read by servers.js), then connects to it.
 * If that fails the scenario fails: it never falls back to figures without GC.
 */
import WebSocket from 'ws'

/**
 * @typedef {object} Inspector
 * @property {(method: string, params?: Record<string, any>, timeoutMs?: number) => Promise<any>} send
 * @property {(rounds?: number) => Promise<void>} collectGarbage full GCs, one after the other
 * @property {() => Promise<{ usedSize: number, totalSize: number }>} heapUsage V8 heap used/committed (bytes)
 * @property {() => Promise<Record<string, number>>} memoryUsage the server's `process.memoryUsage()`
 * @property {(file: string) => Promise<number>} takeHeapSnapshot writes a .heapsnapshot, returns its size in bytes
 * @property {() => Promise<void>} close
 */

/**
 * Opens the server's inspector and connects a CDP session to it. Fails (with the server's log tail)
 * rather than returning without one.
 * @param {import('./servers.js').RunningServer} server
 * @param {{ timeoutMs?: number }} [opts]
 * @returns {Promise<Inspector>}
 */
export async function attachInspector(server, opts = {}) {
  const timeoutMs = opts.timeoutMs ?? 10_000
  if (server.exited) throw new Error(`${server.kind} exited before its inspector could be attached:\n${server.logTail()}`)
  if (!server.inspectorUrl()) process.kill(server.pid, 'SIGUSR1')
  const url = await server.waitInspectorUrl(timeoutMs)
  if (!url) throw new Error(`${server.kind}: no "Debugger listening on ws://..." line within ${timeoutMs} ms after SIGUSR1; cannot force GC:\n${server.logTail()}`)
  const u = new URL(url)
  if (u.hostname !== '127.0.0.1') throw new Error(`${server.kind}: inspector is not on 127.0.0.1 (${url})`)
  const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 512 * 2 ** 20 })
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${server.kind}: could not connect to its inspector at ${url} within ${timeoutMs} ms`)), timeoutMs)
    ws.once('open', () => {
      clearTimeout(timer)
      resolve(undefined)
    })
    ws.once('error', (err) => {
      clearTimeout(timer)
      reject(new Error(`${server.kind}: could not connect to its inspector at ${url}: ${err.message}`))
    })
  })
  let nextId = 1
  /** @type {Map<number, { resolve: (v: any) => void, reject: (e: Error) => void, method: string }>} */
  const waiting = new Map()
  /** @type {((params: any) => void) | null} */
  let onChunk = null
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString())
    if (msg.method === 'HeapProfiler.addHeapSnapshotChunk') {
      onChunk?.(msg.params)
      return
    }
    if (msg.id === undefined) return
    const w = waiting.get(msg.id)
    if (!w) return
    waiting.delete(msg.id)
    if (msg.error) w.reject(new Error(`${server.kind} inspector: ${w.method} failed: ${msg.error.message}`))
    else w.resolve(msg.result)
  })
  const failAll = (/** @type {string} */ why) => {
    for (const w of waiting.values()) w.reject(new Error(`${server.kind} inspector: ${w.method}: ${why}`))
    waiting.clear()
  }
  ws.on('close', () => failAll('connection closed'))
  ws.on('error', (err) => failAll(err.message))

  /** @type {Inspector['send']} */
  const send = (method, params = {}, callTimeoutMs = 120_000) =>
    new Promise((resolve, reject) => {
      if (ws.readyState !== WebSocket.OPEN) {
        reject(new Error(`${server.kind} inspector: ${method}: connection is not open`))
        return
      }
      const id = nextId++
      const timer = setTimeout(() => {
        waiting.delete(id)
        reject(new Error(`${server.kind} inspector: ${method} did not answer within ${callTimeoutMs / 1000} s`))
      }, callTimeoutMs)
      waiting.set(id, {
        method,
        resolve: (v) => {
          clearTimeout(timer)
          resolve(v)
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        },
      })
      ws.send(JSON.stringify({ id, method, params }))
    })

  return {
    send,
    async collectGarbage(rounds = 2) {
      for (let i = 0; i < rounds; i++) await send('HeapProfiler.collectGarbage')
    },
    async heapUsage() {
      const r = await send('Runtime.getHeapUsage')
      return { usedSize: r.usedSize, totalSize: r.totalSize }
    },
    async memoryUsage() {
      const r = await send('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true })
      if (r.exceptionDetails) throw new Error(`${server.kind} inspector: process.memoryUsage() threw`)
      return JSON.parse(r.result.value)
    },
    async takeHeapSnapshot(file) {
      const fs = await import('node:fs')
      const out = fs.createWriteStream(file)
      let bytes = 0
      onChunk = (params) => {
        bytes += Buffer.byteLength(params.chunk)
        out.write(params.chunk)
      }
      try {
        await send('HeapProfiler.takeHeapSnapshot', { reportProgress: false, captureNumericValue: false })
      } finally {
        onChunk = null
        await new Promise((r) => out.end(r))
      }
      return bytes
    },
    async close() {
      if (ws.readyState === WebSocket.CLOSED) return
      // A session still attached at exit makes Node print "Waiting for the debugger to disconnect..." and wait.
      await new Promise((resolve) => {
        const timer = setTimeout(() => {
          ws.terminate()
          resolve(undefined)
        }, 2000)
        ws.once('close', () => {
          clearTimeout(timer)
          resolve(undefined)
        })
        ws.close()
      })
    },
  }
}
