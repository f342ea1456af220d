#!/usr/bin/env node
/**
 * Webhook delivery throughput, per store: N user.entered events are emitted at once and delivered to a
 * local receiver (its own process, answering 204 at once, like a real receiver would), and the time from
 * the first emit to the last delivery is reported as deliveries/s. Also checks that the receiver got
 * exactly N requests.
 *
 *   npx tsc -b && node bench/webhooks.js [--n 3000] [--concurrency 8] [--store memory|sqlite] [--timeout 120]
 *
 * Without --store both stores run, one after the other. Traffic goes to 127.0.0.1 only. Exits non-zero if
 * a run misses its --timeout (seconds, per store) or the receiver's count is off.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { pino } from 'pino'

const STORES = ['memory', 'sqlite']
const MAX_N = 100_000
const MAX_CONCURRENCY = 256
const MAX_TIMEOUT_S = 600

/** Answers 204 to every POST; GET /count tells how many it got. Prints its port. */
const RECEIVER = `
const http = require('node:http')
let n = 0
const server = http.createServer({ keepAlive: true }, (req, res) => {
  if (req.method === 'GET') return res.end(String(n))
  req.resume()
  req.on('end', () => { n++; res.writeHead(204).end() })
})
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'))
`

function usage() {
  return 'usage: node bench/webhooks.js [--n 3000] [--concurrency 8] [--store memory|sqlite] [--timeout 120] [--json]'
}

function intOption(values, name, min, max) {
  const v = Number(values[name])
  if (!Number.isSafeInteger(v) || v < min || v > max) throw new Error(`--${name} must be an integer in ${min}..${max}\n${usage()}`)
  return v
}

function parseCli(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      n: { type: 'string', default: '3000' },
      concurrency: { type: 'string', default: '8' },
      store: { type: 'string' },
      timeout: { type: 'string', default: '120' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.store !== undefined && !STORES.includes(values.store)) throw new Error(`--store must be one of ${STORES.join(', ')}\n${usage()}`)
  return {
    help: values.help,
    json: values.json,
    n: intOption(values, 'n', 1, MAX_N),
    concurrency: intOption(values, 'concurrency', 1, MAX_CONCURRENCY),
    timeoutS: intOption(values, 'timeout', 1, MAX_TIMEOUT_S),
    stores: values.store === undefined ? STORES : [values.store],
  }
}

/** The built server modules (server/dist), with a hint when they are missing. */
async function loadServer() {
  try {
    const [{ createMemoryStore }, { createSqliteStore }, { createRoomEvents }, { createWebhooks }] = await Promise.all([
      import('#server/persistence/memory'),
      import('#server/persistence/sqlite'),
      import('#server/rooms/events'),
      import('#server/webhooks/service'),
    ])
    return { createMemoryStore, createSqliteStore, createRoomEvents, createWebhooks }
  } catch (err) {
    if (err?.code === 'ERR_MODULE_NOT_FOUND') throw new Error(`the built server is missing: run \`npx tsc -b\` first (${err.message})`, { cause: err })
    throw err
  }
}

/** Starts the receiver process; resolves with its URL, its request count, and a way to stop it. */
async function startReceiver() {
  const child = spawn(process.execPath, ['-e', RECEIVER], { stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the receiver did not start within 10 s')), 10_000)
    child.stdout.once('data', (c) => {
      clearTimeout(timer)
      resolve(Number(c.toString().trim()))
    })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`the receiver exited (${code ?? signal})`))
    })
  })
  return {
    url: `http://127.0.0.1:${port}/hook`,
    count: async () => Number(await (await fetch(`http://127.0.0.1:${port}/count`)).text()),
    stop: () => {
      child.kill('SIGKILL')
    },
  }
}

async function openStore(server, name, log) {
  if (name === 'memory') return { store: server.createMemoryStore(), cleanup: async () => {} }
  const dir = await mkdtemp(join(tmpdir(), 'tandem-bench-webhooks-'))
  const store = await server.createSqliteStore({ path: join(dir, 'tandem.db') }, log)
  return { store, cleanup: () => rm(dir, { recursive: true, force: true }) }
}

/** One run: a fresh store and a fresh receiver, N events, until the last delivery (or the timeout). */
async function runOnce(server, storeName, o) {
  const log = pino({ level: 'silent' })
  const receiver = await startReceiver()
  const { store, cleanup } = await openStore(server, storeName, log)
  let webhooks = null
  try {
    let delivered = 0
    let otherOutcomes = 0
    let allDelivered = () => {}
    const done = new Promise((resolve) => (allDelivered = resolve))
    const events = server.createRoomEvents(() => {})
    webhooks = await server.createWebhooks(
      { url: null, secret: null, allowPrivate: true, timeoutMs: 5_000, debounceMs: 0, maxWaitMs: 0, maxAttempts: 3, retryBaseMs: 20, retryMaxMs: 200 },
      {
        store,
        events,
        log,
        metrics: {
          webhookAttempt: (outcome) => {
            if (outcome !== 'delivered') otherOutcomes++
            else if (++delivered === o.n) allDelivered()
          },
          webhookQueueDepth() {},
        },
        describeRoom: async () => null,
        concurrency: o.concurrency,
      },
    )
    await webhooks.createEndpoint({ url: receiver.url })

    let timer
    const timedOut = new Promise((resolve) => (timer = setTimeout(() => resolve('timeout'), o.timeoutS * 1_000)))
    const t0 = performance.now()
    for (let i = 0; i < o.n; i++) {
      events.emit({ type: 'user.entered', roomId: `room-${i % 100}`, userId: `u${i}`, name: null, activeUsers: 1, at: Date.now() })
    }
    const emitMs = performance.now() - t0
    const outcome = await Promise.race([done, timedOut])
    clearTimeout(timer)
    const seconds = (performance.now() - t0) / 1_000
    if (outcome === 'timeout') throw new Error(`${storeName}: only ${delivered} of ${o.n} delivered within ${o.timeoutS} s`)
    const received = await receiver.count()
    return {
      store: storeName,
      n: o.n,
      concurrency: o.concurrency,
      seconds: Number(seconds.toFixed(3)),
      deliveriesPerSecond: Math.round(o.n / seconds),
      emitMs: Number(emitMs.toFixed(1)),
      received,
      failedAttempts: otherOutcomes,
    }
  } finally {
    await webhooks?.close(0)
    await store.close()
    await cleanup()
    receiver.stop()
  }
}

async function main() {
  const o = parseCli(process.argv.slice(2))
  if (o.help) {
    console.log(usage())
    return 0
  }
  const server = await loadServer()
  let exitCode = 0
  for (const storeName of o.stores) {
    const r = await runOnce(server, storeName, o)
    if (o.json) console.log(JSON.stringify(r))
    else {
      console.log(
        `[webhooks ${r.store}] ${r.n} deliveries, concurrency ${r.concurrency}: ${r.seconds.toFixed(2)} s, ` +
          `${r.deliveriesPerSecond} deliveries/s (emitting took ${r.emitMs} ms; failed attempts: ${r.failedAttempts})`,
      )
    }
    if (r.received !== r.n) {
      console.error(`[webhooks ${r.store}] the receiver got ${r.received} requests for ${r.n} events (expected exactly one each)`)
      exitCode = 1
    }
  }
  return exitCode
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (err) => {
    console.error(err instanceof Error ? err.message : err)
    process.exitCode = 1
  },
)
