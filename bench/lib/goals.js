/**
 * Tandem's targets, evaluated against a comparison run. Goals that are relative to a peer
 * (the bare relay, the better of y-websocket and Hocuspocus) are computed from the same run.
 */
import { getPath } from './report.js'

/**
 * @param {string} scenario
 * @param {Record<string, any>[]} records
 * @returns {{ goals: Record<string, { value: number, label: string }>, verdicts: string[] }}
 */
export function evaluateGoals(scenario, records) {
  const by = Object.fromEntries(records.filter((r) => !r.error).map((r) => [r.server, r]))
  const t = by.tandem
  /** @type {Record<string, { value: number, label: string }>} */
  const goals = {}
  /** @type {string[]} */
  const verdicts = []
  if (!t) return { goals, verdicts }
  const check = (/** @type {string} */ what, /** @type {number | null | undefined} */ value, /** @type {number} */ limit, /** @type {'<' | '>='} */ op, /** @type {string} */ unit) => {
    if (typeof value !== 'number' || !Number.isFinite(limit)) {
      verdicts.push(`${what}: cannot evaluate (missing figure)`)
      return
    }
    const met = op === '<' ? value < limit : value >= limit
    verdicts.push(`${what}: Tandem ${fmt(value)}${unit} vs goal ${op} ${fmt(limit)}${unit} -> ${met ? 'MET' : 'MISSED'}`)
  }
  switch (scenario) {
    case 'fanout': {
      const p = t.params ?? {}
      const atReference = p.rooms === 100 && p.clients === 10 && p.rate === 4
      const note = atReference ? '' : ` (the goal is defined at 100 rooms × 10 clients × 4/s; this run is ${p.rooms}×${p.clients}×${p.rate}/s)`
      goals['latencyMs.p99'] = { value: 20, label: 'goal 20 ms' }
      check(`delivery p99 < 20 ms${note}`, getPath(t, 'latencyMs.p99'), 20, '<', ' ms')
      if (by.uws) {
        const limit = 1.5 * by.uws.serverCpuPct
        goals.serverCpuPct = { value: limit, label: '1.5× relay' }
        check('server CPU within 1.5× the bare relay', t.serverCpuPct, limit, '<', '% core')
      }
      break
    }
    case 'ramp': {
      const peers = ['y-websocket', 'hocuspocus'].map((k) => by[k]?.sustainedDeliveredPerS).filter((v) => typeof v === 'number')
      if (peers.length) {
        const limit = 4 * Math.max(...peers)
        goals.sustainedDeliveredPerS = { value: limit, label: '4× best peer' }
        check('sustained delivered/s ≥ 4× the better of y-websocket and Hocuspocus', t.sustainedDeliveredPerS, limit, '>=', '/s')
        if (t.generatorLimited) verdicts.push('note: Tandem\'s ramp stopped on the load generator, so its figure is a lower bound')
      }
      break
    }
    case 'idle':
      goals.perConnectionKB = { value: 3, label: 'goal 3 KB' }
      check('memory per idle connection < 3 KB', t.perConnectionKB, 3, '<', ' KB')
      break
    case 'join':
      goals.waveCpuSeconds = { value: 0.5, label: 'goal 0.5 s' }
      if (by.uws) {
        const limit = 1.5 * getPath(by.uws, 'syncedMs.p50')
        goals['syncedMs.p50'] = { value: limit, label: '1.5× relay' }
        check('join wave p50 within 1.5× the bare relay', getPath(t, 'syncedMs.p50'), limit, '<', ' ms')
      }
      check('server CPU for the wave < 0.5 s', t.waveCpuSeconds, 0.5, '<', ' s')
      break
    case 'flood':
      for (const k of ['tiny', 'big']) {
        const idle = getPath(t, 'idle.ackMs.p99')
        goals[`${k}.ackMs.p99`] = { value: 2 * idle, label: '2× idle' }
        check(`${k} flood: other rooms' saved-ack p99 within 2× idle`, getPath(t, `${k}.ackMs.p99`), 2 * idle, '<', ' ms')
      }
      break
    case 'upgrades':
      check('unexpected closes: none', t.unexpectedCloses, 1, '<', '')
      break
    case 'cluster': {
      const p = t.params ?? {}
      const atDefault = p.rooms === 100 && p.clients === 10 && p.rate === 2 && p.instances === 2
      const note = atDefault ? '' : ` (the goal is defined at 100 rooms × 10 clients × 2/s on 2 instances; this run is ${p.rooms}×${p.clients}×${p.rate}/s on ${p.instances})`
      goals['latencyCrossMs.p99'] = { value: 30, label: 'goal 30 ms' }
      check(`cross-instance delivery p99 < 30 ms${note}`, getPath(t, 'latencyCrossMs.p99'), 30, '<', ' ms')
      const h = by['hocuspocus-redis']
      if (h) {
        // "Ahead" is strictly lower: the peer's own figure is the limit.
        check('cross-instance p99 below Hocuspocus + Redis', getPath(t, 'latencyCrossMs.p99'), getPath(h, 'latencyCrossMs.p99') ?? NaN, '<', ' ms')
        check('instance CPU per delivered update below Hocuspocus + Redis', t.cpuPerDeliveredUs, h.cpuPerDeliveredUs ?? NaN, '<', ' µs')
      }
      for (const r of [t, ...(h ? [h] : [])]) {
        const ok = r.converged === true
        verdicts.push(`observers converged (${r.serverLabel}): ${ok ? 'yes -> MET' : `no -> MISSED${r.convergence?.problems?.length ? ` (${r.convergence.problems[0]})` : ''}`}`)
      }
      break
    }
    default:
      break
  }
  if (scenario === 'join' && typeof t.waveLoopMaxMs === 'number') {
    check('longest event-loop block during upload or wave < 1 s', Math.max(t.uploadLoopMaxMs ?? 0, t.waveLoopMaxMs), 1000, '<', ' ms')
  }
  return { goals, verdicts }
}

/** @param {number} v */
function fmt(v) {
  return Math.abs(v) >= 100 ? String(Math.round(v)) : String(Math.round(v * 100) / 100)
}
