/**
 * idle: N synced, silent connections spread over rooms. Measures how long connecting takes and what
 * each idle connection costs the server in memory, after garbage collection.
 *
 * Memory per connection is marginal and after GC: the scenario opens the server's inspector (SIGUSR1,
 * see lib/inspector.js; every server is a Node process, so all four are treated alike) and forces full
 * GCs (CDP HeapProfiler.collectGarbage) before each reading. A first 10% of the connections (at least
 * 100) warms the server up (JIT, allocator arenas, room machinery); its settled RSS and V8 heap after GC
 * are the baseline; the rest are added, GC is forced again, and the differences are divided by their
 * number. The same difference without forcing GC (the earlier method) and the naive figure (growth since
 * start over N) are reported too. If the inspector cannot be attached the run fails.
 */
import { LoadPool, planRooms } from '../lib/pool.js'
import { mergeHistograms, summarizeMs } from '../lib/hist.js'
import { Window, memory, settledRss } from '../lib/proc.js'
import { timedPhase } from '../lib/progress.js'
import { generatorWarnings, round } from '../lib/measure.js'
import { int } from './fanout.js'
import { attachInspector } from '../lib/inspector.js'
import fs from 'node:fs'
import path from 'node:path'
import { RESULTS_DIR } from '../lib/servers.js'

export const name = 'idle'
export const summary = 'N idle synced connections over rooms; connect time and server memory per connection'

/** @type {Record<string, { default: string, help: string }>} */
export const options = {
  connections: { default: '2000', help: 'idle connections (try 5000 or 10000)' },
  'per-room': { default: '10', help: 'connections per room' },
  settle: { default: '5', help: 'seconds to let the server settle before reading RSS' },
  'gc-rounds': { default: '2', help: 'forced full GCs (CDP HeapProfiler.collectGarbage) before each after-GC reading' },
  'heap-snapshots': { default: 'false', help: 'true: write V8 heap snapshots (after GC) at the baseline and with all connected, under bench/results/heap/' },
}

export const metrics = [
  { key: 'perConnectionKB', label: 'memory per idle connection (marginal RSS, after GC)', unit: 'KB', better: 'lower', chart: true },
  { key: 'perConnectionHeapKB', label: 'V8 heap per idle connection (marginal, after GC)', unit: 'KB', better: 'lower', chart: true },
  { key: 'perConnectionNonHeapKB', label: 'non-heap RSS per idle connection (RSS − heap)', unit: 'KB', better: 'lower' },
  { key: 'perConnectionNoGcKB', label: 'memory per idle connection (marginal RSS, no forced GC)', unit: 'KB', better: 'lower' },
  { key: 'perConnectionNaiveKB', label: 'memory per connection (RSS growth since start / N, after GC)', unit: 'KB', better: 'lower' },
  { key: 'connectMs.p50', label: 'connect-to-synced p50', unit: 'ms', better: 'lower' },
  { key: 'connectMs.p99', label: 'connect-to-synced p99', unit: 'ms', better: 'lower' },
  { key: 'connectWallS', label: 'time to connect all', unit: 's', better: 'lower', chart: true },
  { key: 'connectCpuSeconds', label: 'server CPU while connecting', unit: 's', better: 'lower' },
  { key: 'idleCpuPct', label: 'server CPU while idle', unit: '% core', better: 'lower' },
  { key: 'rssAfterMB', label: 'server RSS with all connected', unit: 'MB', better: 'lower' },
  { key: 'openAtEnd', label: 'connections open at the end', unit: '', better: 'higher' },
  { key: 'failed', label: 'failed connections', unit: '', better: 'lower' },
  { key: 'othersCpuPct', label: 'other processes CPU', unit: '% core', better: 'info' },
]

/**
 * @param {import('../lib/servers.js').RunningServer} server
 * @param {Record<string, string>} o
 * @param {import('../lib/context.js').Context} ctx
 */
export async function run(server, o, ctx) {
  const n = int(o.connections, 'connections')
  const perRoom = Math.max(1, int(o['per-room'], 'per-room'))
  const settle = Number(o.settle)
  if (n < 200 || n > 20_000) throw new Error('--connections must be 200..20000')
  if (!(settle >= 1 && settle <= 120)) throw new Error('--settle must be 1..120 seconds')
  const gcRounds = int(o['gc-rounds'], 'gc-rounds')
  if (gcRounds < 1 || gcRounds > 10) throw new Error('--gc-rounds must be 1..10')
  if (!['true', 'false'].includes(o['heap-snapshots'])) throw new Error('--heap-snapshots must be true or false')
  const snapshotDir = o['heap-snapshots'] === 'true' ? path.join(RESULTS_DIR, 'heap', `${server.kind}-${n}-${new Date().toISOString().replace(/[:.]/g, '-')}`) : null
  const rooms = Math.ceil(n / perRoom)
  const plan = planRooms({ rooms, clients: perRoom, observers: 0, observerRooms: 0 }).map((r, i) =>
    // The last room holds the remainder.
    i === rooms - 1 ? { ...r, senders: r.senders.slice(0, n - perRoom * (rooms - 1)) } : r,
  )
  const warmRooms = Math.max(1, Math.ceil(Math.max(100, Math.round(n / 10)) / perRoom))
  const warmPlan = plan.slice(0, warmRooms)
  const mainPlan = plan.slice(warmRooms)
  const warmCount = warmPlan.reduce((s, r) => s + r.senders.length, 0)
  const mainCount = n - warmCount

  await new Promise((r) => setTimeout(r, 1000))
  // Attached before the first reading and kept for the whole run, so the inspector's own memory is in
  // every figure alike. Throws (the run fails) if the server's inspector cannot be opened.
  const inspector = await attachInspector(server)
  /** After forced GCs: settled RSS (median over `ms`), V8 heap used, and process.memoryUsage(). */
  const afterGc = async (/** @type {number} */ ms, /** @type {string | null} */ snapshot) => {
    await inspector.collectGarbage(gcRounds)
    const { usedSize } = await inspector.heapUsage()
    const usage = await inspector.memoryUsage()
    const rss = await settledRss(server.pid, ms)
    if (snapshot && snapshotDir) {
      fs.mkdirSync(snapshotDir, { recursive: true })
      await inspector.takeHeapSnapshot(path.join(snapshotDir, `${snapshot}.heapsnapshot`))
    }
    return { rss, heap: usedSize, external: usage.external, arrayBuffers: usage.arrayBuffers }
  }
  let pool = null
  try {
    const start = await afterGc(1000, null)
    const rssStart = start.rss
    pool = new LoadPool({ workers: ctx.workers, server, totalClients: n, insertLength: 8 })
    const p = pool
    const connectPhase = async (/** @type {typeof plan} */ part, /** @type {string} */ label, /** @type {number} */ count) => {
      const parts = p.split(part)
      ctx.progress.start(label, count, ' sockets')
      const base = p.totals().connected
      const timer = setInterval(() => ctx.progress.update(p.totals().connected - base), 250)
      const win = new Window(server.pid)
      try {
        const ready = await p.all((i) => ({ cmd: 'setup', append: true, rooms: parts[i], updatesPerClient: 0, concurrency: ctx.connectConcurrency, connectTimeoutMs: 60_000 }))
        return { ready, w: win.stop() }
      } finally {
        clearInterval(timer)
        ctx.progress.stop()
      }
    }
    // `append` on an empty worker is a fresh setup with K = 0.
    const warm = await connectPhase(warmPlan, 'connect warm-up', warmCount)
    await timedPhase(ctx.progress, 'settle', settle, () => `RSS ${round(memory(server.pid).rss / 2 ** 20, 1)} MB`)
    const rssWarmNoGc = await settledRss(server.pid, 2000)
    const warmGc = await afterGc(2000, 'baseline')
    const main = await connectPhase(mainPlan, 'connect', mainCount)
    await timedPhase(ctx.progress, 'settle', settle, () => `RSS ${round(memory(server.pid).rss / 2 ** 20, 1)} MB`)
    const idleWin = new Window(server.pid)
    const rssAfterNoGc = await settledRss(server.pid, 3000)
    const idle = idleWin.stop()
    const afterAll = await afterGc(2000, 'all')
    const rssWarm = warmGc.rss
    const rssAfter = afterAll.rss
    const perConn = (/** @type {number} */ bytes) => round(bytes / Math.max(1, mainCount) / 1024, 2)
    const collected = await p.all({ cmd: 'collect' })
    const connect = summarizeMs(mergeHistograms([...warm.ready, ...main.ready].map((r) => r.connectHist)))
    const failed = [...warm.ready, ...main.ready].reduce((s, r) => s + r.failed, 0)
    const openAtEnd = collected.reduce((s, c) => s + c.openSockets, 0)
    const errors = collected.reduce((s, c) => s + c.errors, 0)
    /** @type {Record<string, number>} */
    const errorKinds = {}
    for (const c of collected) for (const [k, v] of Object.entries(c.errorKinds)) errorKinds[k] = (errorKinds[k] ?? 0) + v
    const wallS = Math.max(...main.ready.map((r) => r.connectWallMs)) / 1000
    const warnings = generatorWarnings(
      {
        generatorEluMax: 0,
        clientCpuPct: main.w.clientCpuPct,
        machineBusyPct: idle.machineBusyPct,
        othersCpuPct: main.w.othersCpuPct,
        skippedSends: 0,
        backloggedSends: 0,
        scheduleLagMs: { p99: null },
      },
      ctx,
    )
    if (snapshotDir) warnings.push('heap snapshots were taken: the RSS figures include the snapshot writer\'s memory (use for heap analysis, not for RSS figures)')
    if (openAtEnd < n) warnings.push(`${n - openAtEnd} of ${n} connections were not open at the end`)
    return {
      params: { connections: n, perRoom, rooms, warmup: warmCount, settle, workers: ctx.workers },
      perConnectionKB: perConn(rssAfter - rssWarm),
      perConnectionHeapKB: perConn(afterAll.heap - warmGc.heap),
      perConnectionNonHeapKB: perConn(rssAfter - rssWarm - (afterAll.heap - warmGc.heap)),
      perConnectionExternalKB: perConn(afterAll.external - warmGc.external),
      perConnectionNoGcKB: perConn(rssAfterNoGc - rssWarmNoGc),
      perConnectionNaiveKB: round((rssAfter - rssStart) / n / 1024, 2),
      rssStartMB: round(rssStart / 2 ** 20, 1),
      rssWarmMB: round(rssWarm / 2 ** 20, 1),
      rssAfterMB: round(rssAfter / 2 ** 20, 1),
      rssWarmNoGcMB: round(rssWarmNoGc / 2 ** 20, 1),
      rssAfterNoGcMB: round(rssAfterNoGc / 2 ** 20, 1),
      heapStartMB: round(start.heap / 2 ** 20, 2),
      heapWarmMB: round(warmGc.heap / 2 ** 20, 2),
      heapAfterMB: round(afterAll.heap / 2 ** 20, 2),
      ...(snapshotDir && { heapSnapshotDir: snapshotDir }),
      connectMs: connect,
      connectWallS: round(wallS, 2),
      connectionsPerS: round(mainCount / wallS),
      connectCpuSeconds: round(main.w.serverCpuSeconds, 2),
      idleCpuPct: round(idle.serverCpuPct, 1),
      othersCpuPct: round((main.w.othersCpuPct * main.w.seconds + idle.othersCpuPct * idle.seconds) / (main.w.seconds + idle.seconds), 1),
      openAtEnd,
      failed,
      errors,
      errorKinds,
      warnings,
    }
  } finally {
    await pool?.close()
    await inspector.close()
  }
}

/** @param {Record<string, any>} r */
export function details(r) {
  return [
    `RSS after GC: start ${r.rssStartMB} MB, after ${r.params?.warmup} warm-up connections ${r.rssWarmMB} MB, after all ${r.params?.connections} ${r.rssAfterMB} MB; without forced GC ${r.rssWarmNoGcMB} → ${r.rssAfterNoGcMB} MB; ${r.connectionsPerS} connections/s`,
    `V8 heap used after GC: start ${r.heapStartMB} MB, baseline ${r.heapWarmMB} MB, all connected ${r.heapAfterMB} MB; external (Buffers etc.) per connection ${r.perConnectionExternalKB} KB`,
    ...(r.heapSnapshotDir ? [`heap snapshots: ${r.heapSnapshotDir}`] : []),
  ]
}
