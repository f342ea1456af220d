/**
 * ramp: the fanout load with the per-client rate stepped up until delivery p99 exceeds a bound or
 * deliveries fall behind what was sent. Reports the highest delivered/s that a step sustained.
 */
import { ackMeaning, connectRooms, drainAndCheck, measureRate } from '../lib/measure.js'
import { int } from './fanout.js'

export const name = 'ramp'
export const summary = 'fanout with the rate stepped up until p99 > bound or deliveries fall behind; highest sustained delivered/s'

/** @type {Record<string, { default: string, help: string }>} */
export const options = {
  rooms: { default: '100', help: 'rooms' },
  clients: { default: '10', help: 'clients per room' },
  rates: { default: '2,4,6,8,12,16,24,32', help: 'per-client update rates to step through, comma-separated' },
  step: { default: '6', help: 'measured seconds per step' },
  'step-warmup': { default: '2', help: 'seconds at each new rate before measuring' },
  'p99-bound': { default: '50', help: 'a step fails when delivery p99 exceeds this many ms' },
  'min-ratio': { default: '0.95', help: 'a step fails when delivered/expected falls below this' },
  retries: { default: '1', help: 're-measure a failing step this many times before stopping (noise on a shared machine)' },
  insert: { default: '8', help: 'characters per update' },
}

/** Repeated ramps report the median run as a whole (mixing steps of different runs would mean nothing). */
export const medianBy = 'sustainedDeliveredPerS'

export const metrics = [
  { key: 'sustainedDeliveredPerS', label: 'highest sustained delivered/s', unit: '/s', better: 'higher', chart: true },
  { key: 'sustainedRate', label: 'at per-client rate', unit: '/s', better: 'higher' },
  { key: 'sustainedP99Ms', label: 'p99 at that step', unit: 'ms', better: 'lower' },
  { key: 'sustainedServerCpuPct', label: 'server CPU at that step', unit: '% core', better: 'lower' },
  { key: 'peakDeliveredPerS', label: 'peak delivered/s (any step)', unit: '/s', better: 'higher' },
  { key: 'stoppedBecause', label: 'stopped because', unit: '', better: 'info' },
  { key: 'othersCpuPct', label: 'other processes CPU (mean)', unit: '% core', better: 'info' },
  { key: 'converged', label: 'observers converged', unit: '', better: 'bool' },
]

/**
 * @param {import('../lib/servers.js').RunningServer} server
 * @param {Record<string, string>} o
 * @param {import('../lib/context.js').Context} ctx
 */
export async function run(server, o, ctx) {
  const rooms = int(o.rooms, 'rooms')
  const clients = int(o.clients, 'clients')
  const rates = o.rates.split(',').map(Number)
  if (rates.length === 0 || rates.length > 20 || rates.some((r) => !(r > 0 && r <= 1000))) throw new Error('--rates: 1..20 rates, each in (0, 1000]')
  const stepS = Number(o.step)
  const warmS = Number(o['step-warmup'])
  if (!(stepS > 0 && stepS <= 120) || !(warmS >= 0 && warmS <= 60)) throw new Error('--step must be in (0, 120], --step-warmup in [0, 60]')
  const bound = Number(o['p99-bound'])
  const minRatio = Number(o['min-ratio'])
  const insertLength = int(o.insert, 'insert')
  const attempts = 1 + int(o.retries, 'retries')
  // Pool for every step, plus one retry of the most expensive step (a failed retry ends the ramp).
  const updatesPerClient = Math.ceil((rates.reduce((s, r) => s + r * (stepS + warmS + 0.5), 0) + (attempts - 1) * Math.max(...rates) * (stepS + warmS + 0.5)) * 1.05) + 10

  const { pool, connect, updateBytes } = await connectRooms({
    server,
    ctx,
    rooms,
    clients,
    observers: 2,
    observerRooms: 2,
    updatesPerClient,
    insertLength,
  })
  const steps = []
  let stoppedBecause = 'all rates passed'
  let generatorLimited = false
  try {
    const retries = int(o.retries, 'retries')
    for (const rate of rates) {
      let step
      for (let attempt = 0; attempt <= retries; attempt++) {
        const s = await measureRate({ pool, server, ctx, rate, warmup: warmS, duration: stepS, receiversPerSend: clients - 1, label: `@${rate}/s ` })
        const p99 = s.latencyMs.p99 ?? Infinity
        const ratio = s.deliveryRatio ?? 0
        const reasons = []
        if (p99 > bound) reasons.push(`p99 ${p99} ms > ${bound} ms`)
        if (ratio < minRatio) reasons.push(`delivered/expected ${ratio} < ${minRatio}`)
        if (s.errors > 0) reasons.push(`${s.errors} errors`)
        const genSaturated = s.warnings.some((w) => w.startsWith('load generator saturated') || w.startsWith('generator fell behind'))
        step = { rate, attempt: attempt + 1, pass: reasons.length === 0, reasons, generatorSaturated: genSaturated, ...s }
        ctx.progress.log(
          `  step @${rate}/s per client${attempt > 0 ? ` (retry ${attempt})` : ''}: delivered ${Math.round(s.deliveredPerS)}/s, p99 ${s.latencyMs.p99} ms, ratio ${ratio}, server CPU ${s.serverCpuPct}%, others ${s.othersCpuPct}%${reasons.length ? ` -> FAIL (${reasons.join(', ')})` : ' -> ok'}${genSaturated ? ' [generator saturated]' : ''}`,
        )
        if (step.pass) break
      }
      if (!step) break
      steps.push(step)
      if (!step.pass) {
        stoppedBecause = `@${rate}/s: ${step.reasons.join(', ')}`
        if (step.generatorSaturated) generatorLimited = true
        break
      }
      if (step.generatorSaturated) {
        stoppedBecause = `@${rate}/s: load generator saturated (the server had not failed yet)`
        generatorLimited = true
        break
      }
    }
    const after = await drainAndCheck(pool, ctx, 20_000)
    const passed = steps.filter((s) => s.pass)
    const best = passed.reduce((/** @type {any} */ b, s) => (b === null || s.deliveredPerS > b.deliveredPerS ? s : b), null)
    const warnings = [...new Set(steps.flatMap((s) => s.warnings))]
    if (generatorLimited) warnings.unshift('the ramp ended with the load generator saturated: the sustained figure is a lower bound for this server')
    return {
      params: { rooms, clients, rates: rates.join(','), step: stepS, stepWarmup: warmS, p99Bound: bound, minRatio, updateBytes: Math.round(updateBytes * 10) / 10, workers: ctx.workers },
      ackMeaning: ackMeaning(server.kind, ctx.store),
      connect,
      sustainedDeliveredPerS: best?.deliveredPerS ?? 0,
      sustainedRate: best?.rate ?? 0,
      sustainedP99Ms: best?.latencyMs.p99 ?? null,
      sustainedServerCpuPct: best?.serverCpuPct ?? null,
      peakDeliveredPerS: Math.max(0, ...steps.map((s) => s.deliveredPerS)),
      stoppedBecause,
      generatorLimited,
      othersCpuPct: steps.length ? Math.round((steps.reduce((a, s) => a + s.othersCpuPct, 0) / steps.length) * 10) / 10 : null,
      steps: steps.map((s) => ({
        rate: s.rate,
        attempt: s.attempt,
        pass: s.pass,
        reasons: s.reasons,
        sentPerS: s.sentPerS,
        deliveredPerS: s.deliveredPerS,
        deliveryRatio: s.deliveryRatio,
        latencyMs: s.latencyMs,
        serverCpuPct: s.serverCpuPct,
        // Which thread ran out first: the event loop (fan-out, Yjs) or the others (Tandem's SQLite thread, GC).
        serverMainThreadCpuPct: s.serverMainThreadCpuPct,
        serverOtherThreadsCpuPct: s.serverOtherThreadsCpuPct,
        serverRssMB: s.serverRssMB,
        clientCpuPct: s.clientCpuPct,
        generatorEluMax: s.generatorEluMax,
        machineBusyPct: s.machineBusyPct,
        othersCpuPct: s.othersCpuPct,
        generatorSaturated: s.generatorSaturated,
        errors: s.errors,
      })),
      ...after,
      converged: after.convergence.converged,
      warnings,
    }
  } finally {
    await pool.close()
  }
}

/** @param {Record<string, any>} r */
export function details(r) {
  const lines = ['steps (rate/client: delivered/s, p50/p99 ms, ratio, server CPU, generator busiest thread, others):']
  for (const s of r.steps ?? []) {
    lines.push(
      `  @${String(s.rate).padStart(3)}/s: ${String(Math.round(s.deliveredPerS)).padStart(7)}/s  p50 ${s.latencyMs.p50} p99 ${s.latencyMs.p99}  ratio ${s.deliveryRatio}  cpu ${s.serverCpuPct}% (main ${s.serverMainThreadCpuPct ?? '?'}%)  gen ${Math.round(s.generatorEluMax * 100)}%  others ${s.othersCpuPct}%  ${s.pass ? 'ok' : `FAIL: ${s.reasons.join(', ')}`}`,
    )
  }
  return lines
}
