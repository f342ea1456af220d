// Read latency of the SQLite store under a continuous write load. A measurement script, not a test.
//
//   npx tsc -b && node bench/sqlite-reads.js [options]
//
// 200 simulated writers each append a small update, wait for its ack, and append again, so group commits
// (each one fsynced) run back to back. Meanwhile reads (`getRoom` by default) are issued at a steady rate
// on a room nobody writes, and each read's latency (issue to resolve) is recorded after a warm-up.
//
// Options (all optional):
//   --store <file>     the adapter module to measure (default: this checkout's compiled adapter), e.g. a
//                      copy of another revision's server/dist/persistence/sqlite.js
//   --writers <n>      simulated writers (200)
//   --rate <n>         reads per second (200)
//   --seconds <n>      measured duration (10), after --warmup <n> seconds (2)
//   --op <name>        getRoom | loadUpdates | listRooms (getRoom)
//   --update-bytes <n> size of each appended update (64)
//   --wait-quiet <s>   first wait up to this long for the machine to be < 25% busy for 2 s (0)
//
// Prints one JSON line. `eventLoopDelayMs` is the main thread's own stall over the run: no read can come back
// faster than the event loop lets it, so it is the floor under the read latencies.
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import pino from 'pino'

const { values: args } = parseArgs({
  options: {
    store: { type: 'string' },
    writers: { type: 'string', default: '200' },
    rate: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    op: { type: 'string', default: 'getRoom' },
    'update-bytes': { type: 'string', default: '64' },
    'wait-quiet': { type: 'string', default: '0' },
  },
})
const writers = Number(args.writers)
const rate = Number(args.rate)
const seconds = Number(args.seconds)
const warmup = Number(args.warmup)
const updateBytes = Number(args['update-bytes'])
const op = args.op

const modulePath = args.store
  ? pathToFileURL(resolve(args.store)).href
  : new URL('../server/dist/persistence/sqlite.js', import.meta.url).href
const { createSqliteStore } = await import(modulePath)

/** Busy and total CPU time of the whole machine so far. */
function machineTicks() {
  let busy = 0
  let total = 0
  for (const { times } of cpus()) {
    const all = times.user + times.nice + times.sys + times.irq + times.idle
    total += all
    busy += all - times.idle
  }
  return { busy, total }
}

/** Waits (up to `maxS`) for two consecutive seconds under 25% busy; returns the last busy percentage. */
async function waitForQuiet(maxS) {
  const end = performance.now() + maxS * 1_000
  let quiet = 0
  let busy = NaN
  let prev = machineTicks()
  while (performance.now() < end && quiet < 2) {
    await new Promise((r) => setTimeout(r, 1_000))
    const now = machineTicks()
    busy = ((now.busy - prev.busy) / Math.max(1, now.total - prev.total)) * 100
    prev = now
    quiet = busy < 25 ? quiet + 1 : 0
  }
  return Math.round(busy)
}
const busyBeforePct = Number(args['wait-quiet']) > 0 ? await waitForQuiet(Number(args['wait-quiet'])) : null

const dir = await mkdtemp(join(tmpdir(), 'tandem-read-latency-'))
const store = await createSqliteStore({ path: join(dir, 'tandem.sqlite') }, pino({ level: 'silent' }))

// The probed room: a record and a modest log, never written during the run.
await store.createRoom('probe', { title: 'probe' })
for (let i = 0; i < 50; i++) await store.appendUpdate('probe', new Uint8Array(updateBytes).fill(i))
for (let w = 0; w < writers; w++) await store.ensureRoom(`writer-${w}`)

const read = {
  getRoom: () => store.getRoom('probe'),
  loadUpdates: () => store.loadUpdates('probe'),
  listRooms: () => store.listRooms({ prefix: 'probe', limit: 10 }),
}[op]
if (!read) throw new Error(`unknown --op ${op}`)

let stopping = false
let appends = 0
let measuring = false
const writerLoops = Array.from({ length: writers }, async (_, w) => {
  const update = new Uint8Array(updateBytes).fill(w & 0xff)
  while (!stopping) {
    await store.appendUpdate(`writer-${w}`, update)
    if (measuring) appends++
  }
})

const latencies = []
const pendingReads = new Set()
const startedAt = performance.now()
const measureFrom = startedAt + warmup * 1_000
const endAt = measureFrom + seconds * 1_000
let issued = 0
const eventLoop = monitorEventLoopDelay({ resolution: 1 })
setTimeout(() => eventLoop.enable(), warmup * 1_000).unref()
// Open loop: reads are issued on schedule whether or not earlier ones have returned.
await new Promise((done) => {
  const tick = () => {
    const now = performance.now()
    if (now >= endAt) return done()
    measuring = now >= measureFrom
    const due = Math.floor(((now - startedAt) * rate) / 1_000)
    while (issued < due) {
      issued++
      const t0 = performance.now()
      const record = t0 >= measureFrom
      const p = read().then(() => {
        if (record) latencies.push(performance.now() - t0)
      })
      pendingReads.add(p)
      void p.finally(() => pendingReads.delete(p))
    }
    setTimeout(tick, 1)
  }
  tick()
})
measuring = false
eventLoop.disable()
stopping = true
await Promise.all([...pendingReads])
await Promise.all(writerLoops)
await store.close()
await rm(dir, { recursive: true, force: true })

latencies.sort((a, b) => a - b)
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN
const ms = (v) => Number(v.toFixed(2))
console.log(
  JSON.stringify({
    store: args.store ?? 'this checkout',
    op,
    writers,
    readsPerSecond: rate,
    seconds,
    reads: latencies.length,
    appendsPerSecond: Math.round(appends / seconds),
    latencyMs: { p50: ms(pct(50)), p90: ms(pct(90)), p99: ms(pct(99)), p999: ms(pct(99.9)), max: ms(latencies.at(-1) ?? NaN) },
    eventLoopDelayMs: {
      p50: ms(eventLoop.percentile(50) / 1e6),
      p99: ms(eventLoop.percentile(99) / 1e6),
      max: ms(eventLoop.max / 1e6),
    },
    ...(busyBeforePct === null ? {} : { machineBusyBeforePct: busyBeforePct }),
  }),
)
