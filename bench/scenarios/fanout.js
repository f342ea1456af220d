/**
 * fanout: R rooms × C clients, each client sending small real Yjs updates (a few typed characters) at
 * r updates/s, open loop. Measures what reaches the other clients of each room and how fast.
 */
import { ackMeaning, connectRooms, drainAndCheck, measureRate } from '../lib/measure.js'

export const name = 'fanout'
export const summary = 'R rooms × C clients sending small Yjs updates at r/s; delivery rate, latency, server CPU/RSS'

/** @type {Record<string, { default: string, help: string }>} */
export const options = {
  rooms: { default: '100', help: 'rooms' },
  clients: { default: '10', help: 'clients per room (each one sends and receives)' },
  rate: { default: '2', help: 'updates per second per client (the issue-6 reference point is 4)' },
  duration: { default: '10', help: 'measured seconds' },
  warmup: { default: '3', help: 'seconds at rate before measuring' },
  observers: { default: '2', help: 'observer clients (real Y.Docs) per observed room' },
  'observer-rooms': { default: '2', help: 'rooms that get observers' },
  insert: { default: '8', help: 'characters per update' },
}

/** Figures shown in tables and charts: [path in the result, label, unit, which way is better]. */
export const metrics = [
  { key: 'deliveredPerS', label: 'delivered/s', unit: '/s', better: 'higher' },
  { key: 'sentPerS', label: 'sent/s', unit: '/s', better: 'higher' },
  { key: 'deliveryRatio', label: 'delivered / expected', unit: '', better: 'higher' },
  { key: 'latencyMs.p50', label: 'latency p50', unit: 'ms', better: 'lower' },
  { key: 'latencyMs.p95', label: 'latency p95', unit: 'ms', better: 'lower' },
  { key: 'latencyMs.p99', label: 'latency p99', unit: 'ms', better: 'lower', chart: true },
  { key: 'latencyMs.max', label: 'latency max', unit: 'ms', better: 'lower' },
  { key: 'ackMs.p50', label: 'own-update ack p50', unit: 'ms', better: 'lower' },
  { key: 'ackMs.p99', label: 'own-update ack p99', unit: 'ms', better: 'lower' },
  { key: 'serverCpuPct', label: 'server CPU', unit: '% core', better: 'lower', chart: true },
  { key: 'serverMainThreadCpuPct', label: '  of which main thread', unit: '% core', better: 'info' },
  { key: 'serverOtherThreadsCpuPct', label: '  of which other threads', unit: '% core', better: 'info' },
  { key: 'serverRssMB', label: 'server RSS', unit: 'MB', better: 'lower', chart: true },
  { key: 'clientCpuPct', label: 'generator CPU', unit: '% core', better: 'info' },
  { key: 'machineBusyPct', label: 'machine busy', unit: '%', better: 'info' },
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
  const rate = Number(o.rate)
  const duration = Number(o.duration)
  const warmup = Number(o.warmup)
  if (!(rate > 0 && rate <= 1000)) throw new Error('--rate must be in (0, 1000]')
  if (!(duration > 0 && duration <= 600) || !(warmup >= 0 && warmup <= 120)) throw new Error('--duration must be in (0, 600], --warmup in [0, 120]')
  if (clients < 2) throw new Error('--clients must be at least 2 (someone has to receive)')
  const insertLength = int(o.insert, 'insert')
  // Enough updates for warm-up + window + slack; the sender stops a client that runs out (counted).
  const updatesPerClient = Math.ceil(rate * (warmup + duration + 3) * 1.1) + 5

  const { pool, connect, updateBytes, poolMB } = await connectRooms({
    server,
    ctx,
    rooms,
    clients,
    observers: int(o.observers, 'observers'),
    observerRooms: int(o['observer-rooms'], 'observer-rooms'),
    updatesPerClient,
    insertLength,
  })
  try {
    if (connect.failed > 0) ctx.progress.log(`warning: ${connect.failed} sockets failed to connect`)
    const step = await measureRate({ pool, server, ctx, rate, warmup, duration, receiversPerSend: clients - 1 })
    const after = await drainAndCheck(pool, ctx)
    return {
      params: { rooms, clients, rate, duration, warmup, insertLength, updateBytes: Math.round(updateBytes * 10) / 10, poolMB: Math.round(poolMB), workers: ctx.workers },
      ackMeaning: ackMeaning(server.kind, ctx.store),
      connect,
      ...step,
      ...after,
      converged: after.convergence.converged,
    }
  } finally {
    await pool.close()
  }
}

/** @param {string} v @param {string} flag */
export function int(v, flag) {
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${flag} must be a whole number, got ${v}`)
  return n
}
