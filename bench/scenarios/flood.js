/**
 * flood: does one abusive connection hurt everyone else? P probe writers, each alone in its own room,
 * write closed-loop (next update after the saved ack of the previous one) through three phases on one
 * server: idle; while one connection floods tiny updates (default 10,000/s); while one floods 1 MB
 * updates (default 40/s). A flooder that is closed (rate limit 4429, document limit, slow consumer)
 * reconnects and goes on, as an attacker would. Reports the probes' saved-ack latency per phase, its
 * ratio to idle, the server CPU, and how the flooders were closed.
 *
 * Tandem only (the ack must mean "saved"). Bounded: each phase lasts `--phase` seconds, updates are
 * pre-generated, and every wait has a deadline.
 */
import { performance } from 'node:perf_hooks'
import { Worker } from 'node:worker_threads'
import { SignJWT } from 'jose'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { encodeFrame, syncStep1Frame, MSG_SYNC, SYNC_UPDATE } from '../lib/protocol.js'
import { Window } from '../lib/proc.js'
import { newHistogram, recordMs, summarizeMs } from '../lib/hist.js'
import { round } from '../lib/measure.js'
import { timedPhase } from '../lib/progress.js'
import { int } from './fanout.js'

export const name = 'flood'
export const summary = "other rooms' saved-ack latency on an idle server vs. while one connection floods tiny or 1 MB updates (Tandem)"
export const servers = ['tandem']
export const compareServers = ['tandem']

/** @type {Record<string, { default: string, help: string }>} */
export const options = {
  probes: { default: '20', help: 'probe writers, one room each' },
  phase: { default: '10', help: 'seconds per phase (idle, tiny flood, big flood)' },
  'tiny-rate': { default: '10000', help: 'tiny updates/s the first flooder sends' },
  'big-rate': { default: '40', help: 'large updates/s the second flooder sends' },
  'big-kb': { default: '1000', help: 'size of each large update, KB' },
}

export const metrics = [
  { key: 'idle.ackMs.p50', label: 'idle: saved-ack p50', unit: 'ms', better: 'lower' },
  { key: 'idle.ackMs.p99', label: 'idle: saved-ack p99', unit: 'ms', better: 'lower', chart: true },
  { key: 'tiny.ackMs.p50', label: 'tiny flood: saved-ack p50', unit: 'ms', better: 'lower' },
  { key: 'tiny.ackMs.p99', label: 'tiny flood: saved-ack p99', unit: 'ms', better: 'lower', chart: true },
  { key: 'tiny.p99Ratio', label: 'tiny flood: p99 / idle p99', unit: '×', better: 'lower' },
  { key: 'big.ackMs.p50', label: 'big flood: saved-ack p50', unit: 'ms', better: 'lower' },
  { key: 'big.ackMs.p99', label: 'big flood: saved-ack p99', unit: 'ms', better: 'lower', chart: true },
  { key: 'big.p99Ratio', label: 'big flood: p99 / idle p99', unit: '×', better: 'lower' },
  { key: 'idle.serverCpuPct', label: 'idle: server CPU', unit: '% core', better: 'info' },
  { key: 'tiny.serverCpuPct', label: 'tiny flood: server CPU', unit: '% core', better: 'info' },
  { key: 'big.serverCpuPct', label: 'big flood: server CPU', unit: '% core', better: 'info' },
  { key: 'tiny.flooderSentPerS', label: 'tiny flood: sent/s (all reconnects)', unit: '/s', better: 'info' },
  { key: 'big.flooderSentMBps', label: 'big flood: sent MB/s (all reconnects)', unit: 'MB/s', better: 'info' },
  { key: 'othersCpuPct', label: 'other processes CPU', unit: '% core', better: 'info' },
]

/** @param {Record<string, any>} r */
export function details(r) {
  return ['tiny', 'big'].map((k) => `${k} flooder closed by the server: ${JSON.stringify(r[k]?.flooderCloses ?? {})} (${r[k]?.flooderConnects ?? 0} connections)`)
}

/**
 * @param {import('../lib/servers.js').RunningServer} server
 * @param {Record<string, string>} o
 * @param {import('../lib/context.js').Context} ctx
 */
/**
 * Real tokens, one user per client: a flooder Tandem closes with 4429 is then kept out until its excess
 * has drained, as in production (tokenless clients share one identity, which that rule leaves alone).
 */
export function tandemEnv() {
  return { TANDEM_JWT_SECRET: FLOOD_SECRET }
}

/** The HS256 secret of the bench's throwaway server (127.0.0.1 only). */
const FLOOD_SECRET = 'tandem-bench-flood-secret-0123456789abcdef'

/** A one-hour write token for every room, as user `sub`. */
function tokenFor(/** @type {string} */ sub) {
  return new SignJWT({ rooms: { '*': 'write' } })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(FLOOD_SECRET))
}

export async function run(server, o, ctx) {
  const probes = int(o.probes, 'probes')
  const phaseS = Number(o.phase)
  const tinyRate = int(o['tiny-rate'], 'tiny-rate')
  const bigRate = int(o['big-rate'], 'big-rate')
  const bigKB = int(o['big-kb'], 'big-kb')
  if (probes < 1 || probes > 500) throw new Error('--probes must be 1..500')
  if (!(phaseS > 0 && phaseS <= 120)) throw new Error('--phase must be in (0, 120]')
  if (tinyRate < 1 || tinyRate > 100_000) throw new Error('--tiny-rate must be 1..100000')
  if (bigRate < 1 || bigRate > 1000) throw new Error('--big-rate must be 1..1000')
  if (bigKB < 1 || bigKB > 16_000) throw new Error('--big-kb must be 1..16000')
  const stamp = Date.now().toString(36)
  // Peers without Tandem's token rules get no query string they would not understand.
  const tandem = server.kind.startsWith('tandem')
  const probeToken = tandem ? await tokenFor('flood-probe') : null
  const flooderToken = tandem ? await tokenFor('flooder') : null
  const withToken = (/** @type {string} */ base, /** @type {string | null} */ token) => (token === null ? base : `${base}?token=${token}`)
  const url = (/** @type {string} */ room) => withToken(`ws://${server.host}:${server.port}${server.singlePath}${room}`, probeToken)
  const flooderUrl = (/** @type {string} */ room) => withToken(`ws://${server.host}:${server.port}${server.singlePath}${room}`, flooderToken)


  const probeSet = await startProbes(url, probes, stamp)
  try {
    const phases = /** @type {Record<string, any>} */ ({})
    const win = new Window(server.pid)
    for (const phase of /** @type {const} */ (['idle', 'tiny', 'big'])) {
      if (phase !== 'idle') ctx.progress.start(`generate ${phase} flood`, 1, '')
      const flooder =
        phase === 'idle'
          ? null
          : await startFlooder({ url: flooderUrl(`flood-${phase}-${stamp}`), kind: phase, rate: phase === 'tiny' ? tinyRate : bigRate, bigKB, phaseS })
      ctx.progress.stop()
      flooder?.go()
      probeSet.reset()
      const w = new Window(server.pid)
      const t0 = performance.now()
      await timedPhase(ctx.progress, phase === 'idle' ? 'idle' : `${phase} flood`, phaseS, () => `acks ${probeSet.count()}  errors ${probeSet.errors()}`)
      const seconds = (performance.now() - t0) / 1000
      const f = await flooder?.stop()
      const pw = w.stop()
      phases[phase] = {
        ackMs: summarizeMs(probeSet.histogram()),
        acks: probeSet.count(),
        serverCpuPct: round(pw.serverCpuPct, 1),
        ...(f && {
          flooderSentPerS: round(f.sent / seconds),
          flooderSentMBps: round(f.bytes / 1e6 / seconds, 1),
          flooderCloses: f.closes,
          flooderConnects: f.connects,
        }),
      }
      // Let the server settle (commits of the flood, a closed flooder's room unloading) before the next phase.
      await new Promise((r) => setTimeout(r, 2000))
    }
    const w = win.stop()
    const idleP99 = phases.idle.ackMs.p99
    for (const k of ['tiny', 'big']) phases[k].p99Ratio = round(phases[k].ackMs.p99 / Math.max(idleP99, 0.001), 2)
    const warnings = []
    if (probeSet.errors() > 0) warnings.push(`${probeSet.errors()} probe sockets failed or were closed`)
    for (const k of ['tiny', 'big']) if (phases[k].p99Ratio > 2) warnings.push(`${k} flood: other rooms' saved-ack p99 is ${phases[k].p99Ratio}× the idle figure (goal ≤ 2×)`)
    if (w.othersCpuPct > 30) warnings.push(`other processes used ${Math.round(w.othersCpuPct)}% of a core (shared machine): expect noise`)
    return {
      params: { probes, phaseS, tinyRate, bigRate, bigKB },
      ...phases,
      probeErrors: probeSet.errors(),
      othersCpuPct: round(w.othersCpuPct, 1),
      clientCpuPct: round(w.clientCpuPct, 1),
      errors: probeSet.errors(),
      warnings,
    }
  } finally {
    probeSet.close()
  }
}

/**
 * Starts a flooder in its own worker thread, so its generation and send loop never delay the probes'
 * clocks in this thread. Resolves once its updates are generated; `stop()` resolves with its counts.
 * @param {Record<string, unknown>} spec
 */
async function startFlooder(spec) {
  const worker = new Worker(new URL('../lib/flood-worker.js', import.meta.url), { workerData: spec })
  const next = () =>
    new Promise((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
  await next() // generated
  return {
    go: () => worker.postMessage('go'),
    async stop() {
      const stopped = next()
      worker.postMessage('stop')
      const result = /** @type {{ sent: number, bytes: number, closes: Record<string, number>, connects: number }} */ (await stopped)
      await worker.terminate()
      return result
    },
  }
}

/**
 * Closed-loop writers, one per room: each types one character, sends the update and waits for its
 * echo, which Tandem's single framing sends after the update's storage commit.
 * @param {(room: string) => string} url
 * @param {number} count
 * @param {string} stamp
 */
async function startProbes(url, count, stamp) {
  let hist = newHistogram()
  let acks = 0
  let errors = 0
  let closed = false
  /** @type {WebSocket[]} */
  const sockets = []
  const opened = []
  for (let i = 0; i < count; i++) {
    const doc = new Y.Doc()
    const ws = new WebSocket(url(`flood-probe-${stamp}-${i}`), { perMessageDeflate: false })
    sockets.push(ws)
    let sentAt = 0
    const next = () => {
      if (closed || ws.readyState !== WebSocket.OPEN) return
      let update = new Uint8Array()
      const grab = (/** @type {Uint8Array} */ u) => {
        update = u
      }
      doc.on('update', grab)
      doc.getText('t').insert(doc.getText('t').length, 'x')
      doc.off('update', grab)
      sentAt = performance.now()
      ws.send(encodeFrame(null, [MSG_SYNC, SYNC_UPDATE], update))
    }
    ws.on('error', () => {})
    ws.on('close', () => {
      if (!closed) errors++
    })
    ws.on('message', (/** @type {Buffer} */ buf) => {
      if (buf[0] === MSG_SYNC && buf[1] === 1 && sentAt === 0) {
        next()
        return
      }
      if (buf[0] === MSG_SYNC && buf[1] === SYNC_UPDATE && sentAt > 0) {
        recordMs(hist, performance.now() - sentAt)
        acks++
        next()
      }
    })
    opened.push(
      new Promise((resolve) => {
        const t = setTimeout(resolve, 10_000)
        ws.on('open', () => {
          clearTimeout(t)
          ws.send(syncStep1Frame(null))
          resolve(undefined)
        })
      }),
    )
  }
  await Promise.all(opened)
  return {
    reset() {
      hist = newHistogram()
      acks = 0
    },
    histogram: () => hist,
    count: () => acks,
    errors: () => errors,
    close() {
      closed = true
      for (const ws of sockets) ws.terminate()
    },
  }
}
