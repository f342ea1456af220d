/**
 * Shared measurement steps for the load scenarios: connect a planned set of rooms, run the open-loop
 * sender at a rate for a window, and turn the workers' answers into figures and warnings.
 */
import { performance } from 'node:perf_hooks'
import { LoadPool, planRooms } from './pool.js'
import { mergeHistograms, summarizeMs } from './hist.js'
import { Window } from './proc.js'
import { timedPhase } from './progress.js'

/** What a server's acknowledgement of a client's own update means, per server. */
export function ackMeaning(kind, store) {
  switch (kind) {
    case 'tandem':
      return `echo after the ${store} commit (saved)`
    case 'tandem-mux':
      return `SyncStatus after the ${store} commit (saved)`
    case 'y-websocket':
      return 'echo when applied (nothing is stored)'
    case 'hocuspocus':
      return 'SyncStatus when applied (nothing is stored)'
    case 'hocuspocus-redis':
      return `SyncStatus when applied (stored to ${store} later, debounced: 2 s after the last change, at most 10 s)`
    default:
      return 'none'
  }
}

/**
 * Spawns the workers and connects every planned room (observers first). Returns the pool and connect stats.
 * @param {{ server: import('./servers.js').RunningServer, ctx: import('./context.js').Context,
 *   rooms: number, clients: number, observers: number, observerRooms: number, updatesPerClient: number,
 *   insertLength: number }} p
 */
export async function connectRooms(p) {
  const plan = planRooms({ rooms: p.rooms, clients: p.clients, observers: p.observers, observerRooms: p.observerRooms })
  const totalClients = p.rooms * p.clients
  const pool = new LoadPool({ workers: Math.min(p.ctx.workers, p.rooms), server: p.server, totalClients, insertLength: p.insertLength })
  const parts = pool.split(plan)
  const totalSockets = totalClients + p.observers * Math.min(p.observerRooms, p.rooms)
  p.ctx.progress.start('connect', totalSockets, ' sockets')
  const timer = setInterval(() => {
    const t = pool.totals()
    p.ctx.progress.update(t.connected, t.errors ? `errors ${t.errors}` : '')
  }, 250)
  const win = new Window(p.server.pid)
  let ready
  try {
    ready = await pool.all((i) => ({ cmd: 'setup', rooms: parts[i], updatesPerClient: p.updatesPerClient, concurrency: p.ctx.connectConcurrency, connectTimeoutMs: 60_000 }))
  } finally {
    clearInterval(timer)
    p.ctx.progress.stop()
  }
  const w = win.stop()
  const connect = summarizeMs(mergeHistograms(ready.map((r) => r.connectHist)))
  const failed = ready.reduce((n, r) => n + r.failed, 0)
  return {
    pool,
    plan,
    connect: {
      ...connect,
      failed,
      wallS: Math.max(...ready.map((r) => r.connectWallMs)) / 1000,
      generateS: Math.max(...ready.map((r) => r.generateMs)) / 1000,
      serverCpuSeconds: w.serverCpuSeconds,
    },
    updateBytes: ready.find((r) => r.updateBytes > 0)?.updateBytes ?? 0,
    poolMB: ready.reduce((n, r) => n + r.poolBytes, 0) / 2 ** 20,
  }
}

/**
 * Runs the open-loop sender at `rate` updates/s per client: `warmup` seconds, then a `duration` window
 * that is measured. Leaves the sender running (the caller changes the rate or stops it).
 * @param {{ pool: LoadPool, server: import('./servers.js').RunningServer, ctx: import('./context.js').Context,
 *   rate: number, warmup: number, duration: number, receiversPerSend: number, label?: string,
 *   onWindowStart?: () => Promise<any>, onWindowEnd?: (fromStart: any, summary: Record<string, any>) => Promise<Record<string, any>> }} p
 *   onWindowStart/onWindowEnd: the cluster scenario's own readings (per-instance CPU, Redis) over exactly the window
 */
export async function measureRate(p) {
  const { pool, ctx } = p
  await pool.all({ cmd: 'rate', rate: p.rate })
  let last = pool.totals()
  let lastAt = performance.now()
  const live = () => {
    const t = pool.totals()
    const now = performance.now()
    const dt = (now - lastAt) / 1000
    const info = `${p.label ?? ''}sent ${fmtRate((t.sent - last.sent) / dt)}/s  delivered ${fmtRate((t.delivered - last.delivered) / dt)}/s${t.errors ? `  errors ${t.errors}` : ''}`
    last = t
    lastAt = now
    return info
  }
  if (p.warmup > 0) await timedPhase(ctx.progress, `warm-up @${p.rate}/s`, p.warmup, live)
  await pool.all({ cmd: 'mark' })
  const win = new Window(p.server.pid)
  const extra = await p.onWindowStart?.()
  await timedPhase(ctx.progress, `measure @${p.rate}/s`, p.duration, live)
  const collected = await pool.all({ cmd: 'collect' })
  const w = win.stop()
  const summary = summarizeWindow(collected, w, p.receiversPerSend, ctx)
  return p.onWindowEnd ? { ...summary, ...(await p.onWindowEnd(extra, summary)) } : summary
}

/**
 * @param {any[]} collected the workers' `collect` answers
 * @param {ReturnType<Window['stop']>} w
 * @param {number} receiversPerSend load clients that should receive each update
 * @param {import('./context.js').Context} ctx
 */
export function summarizeWindow(collected, w, receiversPerSend, ctx) {
  const windowS = collected.reduce((s, c) => s + c.windowMs, 0) / collected.length / 1000
  const sent = sum(collected, 'sent')
  const delivered = sum(collected, 'delivered')
  const latency = summarizeMs(mergeHistograms(collected.map((c) => c.latency)))
  const ack = summarizeMs(mergeHistograms(collected.map((c) => c.ack)))
  const lag = summarizeMs(mergeHistograms(collected.map((c) => c.lag)))
  const generatorEluMax = Math.max(...collected.map((c) => c.elu))
  /** @type {Record<string, number>} */
  const errorKinds = {}
  for (const c of collected) for (const [k, v] of Object.entries(c.errorKinds)) errorKinds[k] = (errorKinds[k] ?? 0) + v
  const expected = sent * receiversPerSend
  const result = {
    windowS: round(windowS, 2),
    sentPerS: round(sent / windowS),
    deliveredPerS: round(delivered / windowS),
    expectedDeliveredPerS: round(expected / windowS),
    deliveryRatio: expected > 0 ? round(delivered / expected, 3) : null,
    latencyMs: latency,
    ...(collected[0]?.latencySame && {
      latencySameMs: summarizeMs(mergeHistograms(collected.map((c) => c.latencySame))),
      latencyCrossMs: summarizeMs(mergeHistograms(collected.map((c) => c.latencyCross))),
    }),
    ackMs: ack,
    acksPerS: round(sum(collected, 'acked') / windowS),
    serverCpuPct: round(w.serverCpuPct, 1),
    serverCpuSeconds: round(w.serverCpuSeconds, 2),
    serverMainThreadCpuPct: round(w.serverMainThreadCpuPct, 1),
    serverOtherThreadsCpuPct: round(w.serverOtherThreadsCpuPct, 1),
    serverRssMB: round(w.serverRss / 2 ** 20, 1),
    serverRssMaxMB: round(w.serverRssMax / 2 ** 20, 1),
    clientCpuPct: round(w.clientCpuPct, 1),
    generatorEluMax: round(generatorEluMax, 2),
    machineBusyPct: round(w.machineBusyPct, 1),
    othersCpuPct: round(w.othersCpuPct, 1),
    stealPct: round(w.stealPct, 1),
    errors: sum(collected, 'errors'),
    errorKinds,
    skippedSends: sum(collected, 'skipped'),
    backloggedSends: sum(collected, 'backlogged'),
    scheduleLagMs: { p99: lag.p99, max: lag.max },
    openSockets: sum(collected, 'openSockets'),
  }
  const warnings = generatorWarnings(result, ctx)
  const exhausted = collected.reduce((n, c) => n + (c.total?.exhausted ?? 0), 0)
  if (exhausted > 0) warnings.push(`${exhausted} clients ran out of pre-generated updates and stopped sending`)
  return { ...result, warnings }
}

/**
 * Says when the figures describe the generator or the machine rather than the server.
 * @param {{ generatorEluMax: number, clientCpuPct: number, machineBusyPct: number, othersCpuPct: number, skippedSends: number,
 *   backloggedSends: number, scheduleLagMs: { p99: number | null } }} r
 * @param {import('./context.js').Context} ctx
 */
export function generatorWarnings(r, ctx) {
  const warnings = []
  if (r.generatorEluMax > 0.9 || r.clientCpuPct > 90 * ctx.workers) {
    warnings.push(
      `load generator saturated (busiest worker thread ${Math.round(r.generatorEluMax * 100)}% busy, generator CPU ${Math.round(r.clientCpuPct)}% of one core with ${ctx.workers} worker(s)): figures may be generator-limited`,
    )
  }
  if (r.machineBusyPct > 95) {
    warnings.push(`machine saturated (${Math.round(r.machineBusyPct)}% of all ${ctx.cpus} CPUs busy): server and generator compete for cores`)
  }
  if (r.othersCpuPct > 30) {
    warnings.push(`other processes used ${Math.round(r.othersCpuPct)}% of a core during the window (shared machine): expect noise`)
  }
  if (r.skippedSends > 0) warnings.push(`generator fell behind its schedule and skipped ${r.skippedSends} sends`)
  if (r.backloggedSends > 0) warnings.push(`${r.backloggedSends} sends held back: the server stopped reading (socket buffer > 1 MiB)`)
  if ((r.scheduleLagMs.p99 ?? 0) > 20) warnings.push(`send schedule lag p99 ${r.scheduleLagMs.p99} ms: generator is late`)
  return warnings
}

/**
 * Stops sending, waits for in-flight deliveries, then checks the observers converged.
 * @param {LoadPool} pool
 * @param {import('./context.js').Context} ctx
 * @param {number} [timeoutMs]
 */
export async function drainAndCheck(pool, ctx, timeoutMs = 10_000) {
  await pool.all({ cmd: 'rate', rate: 0 })
  ctx.progress.start('drain', timeoutMs / 1000)
  const drained = await pool.all({ cmd: 'drain', timeoutMs })
  ctx.progress.stop()
  const obs = (await pool.all({ cmd: 'observers' })).flatMap((r) => r.observers)
  return {
    missingDeliveries: sum(drained, 'missingDeliveries'),
    missingObserverDeliveries: sum(drained, 'missingObserverDeliveries'),
    missingAcks: sum(drained, 'missingAcks'),
    convergence: checkConvergence(obs),
  }
}

/**
 * Observers of a room must hold equal documents that contain every update sent to the room.
 * @param {{ room: string, synced: boolean, state: Record<string, number>, textLength: number, textHash: string,
 *   expected: Record<string, number> }[]} observers
 */
export function checkConvergence(observers) {
  /** @type {Map<string, typeof observers>} */
  const byRoom = new Map()
  for (const o of observers) {
    const list = byRoom.get(o.room) ?? []
    list.push(o)
    byRoom.set(o.room, list)
  }
  const problems = []
  for (const [room, list] of byRoom) {
    for (const o of list) {
      if (!o.synced) problems.push(`${room}: an observer never synced`)
      for (const [client, clock] of Object.entries(o.expected)) {
        if ((o.state[client] ?? 0) !== clock) problems.push(`${room}: observer has clock ${o.state[client] ?? 0} of client ${client}, sender reached ${clock}`)
      }
    }
    const first = list[0]
    for (const o of list.slice(1)) {
      if (o.textHash !== first.textHash || o.textLength !== first.textLength) problems.push(`${room}: observers' documents differ`)
    }
  }
  return {
    converged: observers.length > 0 && problems.length === 0,
    observers: observers.length,
    rooms: byRoom.size,
    textLengths: observers.map((o) => o.textLength),
    problems: problems.slice(0, 10),
  }
}

/** @param {any[]} list @param {string} key */
function sum(list, key) {
  return list.reduce((n, x) => n + (x[key] ?? 0), 0)
}

/** @param {number} v @param {number} [digits] */
export function round(v, digits = 0) {
  if (!Number.isFinite(v)) return v
  const f = 10 ** digits
  return Math.round(v * f) / f
}

/** @param {number} v */
export function fmtRate(v) {
  if (!Number.isFinite(v)) return '-'
  return v >= 10_000 ? `${(v / 1000).toFixed(1)}k` : String(Math.round(v))
}
