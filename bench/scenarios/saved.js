/**
 * saved: closed-loop writers. Each writer sends its next update only after the server has acknowledged
 * the previous one as durably saved (single framing: the echo of its own update, sent after the storage
 * commit; multiplexed framing: SyncStatus after the commit). Measures the ack latency and how many
 * updates per second end up durably stored. Tandem only: the peers' acks mean "applied", not "stored".
 */
import { performance } from 'node:perf_hooks'
import { ackMeaning, connectRooms, drainAndCheck, summarizeWindow } from '../lib/measure.js'
import { Window } from '../lib/proc.js'
import { timedPhase } from '../lib/progress.js'
import { int } from './fanout.js'

export const name = 'saved'
export const summary = 'writers wait for their saved ack before the next update; ack latency and durably stored updates/s (Tandem)'
export const servers = ['tandem', 'tandem-mux']
export const compareServers = ['tandem', 'tandem-mux']

/** @type {Record<string, { default: string, help: string }>} */
export const options = {
  rooms: { default: '50', help: 'rooms' },
  clients: { default: '2', help: 'writers per room' },
  duration: { default: '10', help: 'measured seconds' },
  warmup: { default: '2', help: 'seconds before measuring' },
  'max-updates': { default: '4000', help: 'updates pre-generated per writer (a writer that runs out stops)' },
}

export const metrics = [
  { key: 'acksPerS', label: 'durably stored updates/s', unit: '/s', better: 'higher', chart: true },
  { key: 'ackMs.p50', label: 'saved-ack latency p50', unit: 'ms', better: 'lower', chart: true },
  { key: 'ackMs.p95', label: 'saved-ack latency p95', unit: 'ms', better: 'lower' },
  { key: 'ackMs.p99', label: 'saved-ack latency p99', unit: 'ms', better: 'lower', chart: true },
  { key: 'ackMs.max', label: 'saved-ack latency max', unit: 'ms', better: 'lower' },
  { key: 'latencyMs.p99', label: 'delivery to room peers p99', unit: 'ms', better: 'lower' },
  { key: 'serverCpuPct', label: 'server CPU', unit: '% core', better: 'lower' },
  { key: 'serverMainThreadCpuPct', label: '  of which main thread', unit: '% core', better: 'info' },
  { key: 'serverOtherThreadsCpuPct', label: '  of which other threads', unit: '% core', better: 'info' },
  { key: 'serverRssMB', label: 'server RSS', unit: 'MB', better: 'lower' },
  { key: 'clientCpuPct', label: 'generator CPU', unit: '% core', better: 'info' },
  { key: 'othersCpuPct', label: 'other processes CPU', unit: '% core', better: 'info' },
  { key: 'errors', label: 'errors', unit: '', better: 'lower' },
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
  const duration = Number(o.duration)
  const warmup = Number(o.warmup)
  const maxUpdates = int(o['max-updates'], 'max-updates')
  if (!(duration > 0 && duration <= 600) || !(warmup >= 0 && warmup <= 120)) throw new Error('--duration must be in (0, 600], --warmup in [0, 120]')
  if (maxUpdates < 10 || maxUpdates > 100_000) throw new Error('--max-updates must be 10..100000')
  const { pool, connect, updateBytes } = await connectRooms({
    server,
    ctx,
    rooms,
    clients,
    observers: 2,
    observerRooms: 2,
    updatesPerClient: maxUpdates,
    insertLength: 8,
  })
  try {
    await pool.all({ cmd: 'closed', on: true })
    let last = pool.totals()
    let lastAt = performance.now()
    const live = () => {
      const t = pool.totals()
      const now = performance.now()
      const info = `saved ${Math.round((t.acked - last.acked) / ((now - lastAt) / 1000))}/s${t.errors ? `  errors ${t.errors}` : ''}`
      last = t
      lastAt = now
      return info
    }
    if (warmup > 0) await timedPhase(ctx.progress, 'warm-up', warmup, live)
    await pool.all({ cmd: 'mark' })
    const win = new Window(server.pid)
    await timedPhase(ctx.progress, 'measure', duration, live)
    const collected = await pool.all({ cmd: 'collect' })
    const w = win.stop()
    await pool.all({ cmd: 'closed', on: false })
    const s = summarizeWindow(collected, w, clients - 1, ctx)
    const exhausted = collected.reduce((n, c) => n + c.total.exhausted, 0)
    const after = await drainAndCheck(pool, ctx)
    const warnings = s.warnings.filter((x) => !x.startsWith('send schedule lag'))
    if (exhausted > 0) warnings.push(`${exhausted} writers ran out of pre-generated updates: raise --max-updates`)
    if (s.acksPerS === 0) warnings.push('no saved acks arrived: does this server acknowledge updates?')
    return {
      params: { rooms, clients, writers: rooms * clients, duration, warmup, updateBytes: Math.round(updateBytes * 10) / 10, workers: ctx.workers },
      ackMeaning: ackMeaning(server.kind, ctx.store),
      connect,
      ...s,
      ...after,
      warnings,
      converged: after.convergence.converged,
    }
  } finally {
    await pool.close()
  }
}
