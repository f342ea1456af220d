/**
 * idle: N synced, silent connections spread over rooms. Measures how long connecting takes and what
 * each idle connection costs the server in memory (marginal RSS).
 *
 * Memory per connection is marginal: a first 10% of the connections (at least 100) warms the server up
 * (JIT, allocator arenas, room machinery) and its settled RSS is the baseline; the rest are added and the
 * settled RSS difference is divided by their number. The naive figure (RSS after all connections minus
 * RSS at start, over N) is reported too; it includes warm-up costs.
 */
import { LoadPool, planRooms } from '../lib/pool.js'
import { mergeHistograms, summarizeMs } from '../lib/hist.js'
import { Window, memory, settledRss } from '../lib/proc.js'
import { timedPhase } from '../lib/progress.js'
import { generatorWarnings, round } from '../lib/measure.js'
import { int } from './fanout.js'

export const name = 'idle'
export const summary = 'N idle synced connections over rooms; connect time and server memory per connection'

/** @type {Record<string, { default: string, help: string }>} */
export const options = {
  connections: { default: '2000', help: 'idle connections (try 5000 or 10000)' },
  'per-room': { default: '10', help: 'connections per room' },
  settle: { default: '5', help: 'seconds to let the server settle before reading RSS' },
}

export const metrics = [
  { key: 'perConnectionKB', label: 'memory per idle connection (marginal)', unit: 'KB', better: 'lower', chart: true },
  { key: 'perConnectionNaiveKB', label: 'memory per connection (RSS growth / N)', unit: 'KB', better: 'lower' },
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
  const rssStart = await settledRss(server.pid, 1000)
  const pool = new LoadPool({ workers: ctx.workers, server, totalClients: n, insertLength: 8 })
  try {
    const connectPhase = async (/** @type {typeof plan} */ part, /** @type {string} */ label, /** @type {number} */ count) => {
      const parts = pool.split(part)
      ctx.progress.start(label, count, ' sockets')
      const base = pool.totals().connected
      const timer = setInterval(() => ctx.progress.update(pool.totals().connected - base), 250)
      const win = new Window(server.pid)
      try {
        const ready = await pool.all((i) => ({ cmd: 'setup', append: true, rooms: parts[i], updatesPerClient: 0, concurrency: ctx.connectConcurrency, connectTimeoutMs: 60_000 }))
        return { ready, w: win.stop() }
      } finally {
        clearInterval(timer)
        ctx.progress.stop()
      }
    }
    // `append` on an empty worker is a fresh setup with K = 0.
    const warm = await connectPhase(warmPlan, 'connect warm-up', warmCount)
    await timedPhase(ctx.progress, 'settle', settle, () => `RSS ${round(memory(server.pid).rss / 2 ** 20, 1)} MB`)
    const rssWarm = await settledRss(server.pid, 2000)
    const main = await connectPhase(mainPlan, 'connect', mainCount)
    await timedPhase(ctx.progress, 'settle', settle, () => `RSS ${round(memory(server.pid).rss / 2 ** 20, 1)} MB`)
    const idleWin = new Window(server.pid)
    const rssAfter = await settledRss(server.pid, 3000)
    const idle = idleWin.stop()
    const collected = await pool.all({ cmd: 'collect' })
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
    if (openAtEnd < n) warnings.push(`${n - openAtEnd} of ${n} connections were not open at the end`)
    return {
      params: { connections: n, perRoom, rooms, warmup: warmCount, settle, workers: ctx.workers },
      perConnectionKB: round((rssAfter - rssWarm) / Math.max(1, mainCount) / 1024, 2),
      perConnectionNaiveKB: round((rssAfter - rssStart) / n / 1024, 2),
      rssStartMB: round(rssStart / 2 ** 20, 1),
      rssWarmMB: round(rssWarm / 2 ** 20, 1),
      rssAfterMB: round(rssAfter / 2 ** 20, 1),
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
    await pool.close()
  }
}

/** @param {Record<string, any>} r */
export function details(r) {
  return [
    `RSS: start ${r.rssStartMB} MB, after ${r.params?.warmup} warm-up connections ${r.rssWarmMB} MB, after all ${r.params?.connections} ${r.rssAfterMB} MB; ${r.connectionsPerS} connections/s`,
  ]
}
