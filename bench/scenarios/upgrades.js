/**
 * upgrades: an upgrade storm. N fresh WebSockets (default 10,000), C at a time, each connects, syncs
 * (sync step 1 -> step 2, plus an awareness update), stays a moment and closes itself with 1000, while
 * background rooms carry fan-out traffic. Counts every close the client did not ask for, by close code
 * (1006 = the connection went without a close frame), and the upgrades that were refused or never
 * opened, with the server's warn/error log lines. A healthy server has none of them.
 *
 * Bounded in count (`--upgrades`) and in time (`--time-limit`); every socket has its own deadline.
 */
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import { SignJWT } from 'jose'
import { connectRooms, round } from '../lib/measure.js'
import { authFrame, encodeAddress, encodeFrame, messageStart, syncStep1Frame } from '../lib/protocol.js'
import { Window } from '../lib/proc.js'
import { hdrFromTimes } from '../lib/hist.js'
import { int } from './fanout.js'

export const name = 'upgrades'
export const summary = 'N fresh sockets connect, sync, stay and close under background fan-out; counts closes the client did not ask for'
export const servers = ['tandem', 'tandem-mux', 'y-websocket', 'hocuspocus', 'uws']
export const compareServers = ['tandem', 'tandem-mux']

/** @type {Record<string, { default: string, help: string }>} */
export const options = {
  upgrades: { default: '10000', help: 'sockets to open in all (1..100000)' },
  'at-once': { default: '300', help: 'sockets open or opening at the same time' },
  rooms: { default: '30', help: 'quiet rooms; the storm sockets join these and the background rooms, round robin' },
  'stay-ms': { default: '50', help: 'how long a synced socket stays before it closes itself' },
  'bg-rooms': { default: '20', help: 'busy rooms with background fan-out traffic, which storm sockets join too (0 for none)' },
  'bg-clients': { default: '5', help: 'clients per background room' },
  'bg-rate': { default: '4', help: 'updates/s per background client' },
  auth: { default: 'token', help: 'token: every socket presents a JWT (verified at the upgrade, or per room on /ws) | anonymous' },
  'socket-timeout': { default: '15', help: 'seconds one socket may take from connect to synced' },
  'time-limit': { default: '300', help: 'seconds the whole storm may take (what is not done by then is counted as not run)' },
}

export const metrics = [
  { key: 'unexpectedCloses', label: 'unexpected closes', unit: '', better: 'lower', chart: true },
  { key: 'refused', label: 'upgrades refused (HTTP error)', unit: '', better: 'lower' },
  { key: 'socketErrors', label: 'socket errors / never opened', unit: '', better: 'lower' },
  { key: 'timedOut', label: 'not synced within the socket timeout', unit: '', better: 'lower' },
  { key: 'completed', label: 'clean cycles (synced, closed by client)', unit: '', better: 'higher' },
  { key: 'notRun', label: 'not run (time limit)', unit: '', better: 'lower' },
  { key: 'upgradesPerS', label: 'cycles/s', unit: '/s', better: 'higher' },
  { key: 'syncedMs.p50', label: 'connect to synced p50', unit: 'ms', better: 'lower' },
  { key: 'syncedMs.p99', label: 'connect to synced p99', unit: 'ms', better: 'lower' },
  { key: 'serverCpuPct', label: 'server CPU', unit: '% core', better: 'lower' },
  { key: 'othersCpuPct', label: 'other processes CPU', unit: '% core', better: 'info' },
]

/** @param {Record<string, any>} r */
export function details(r) {
  const lines = [
    `unexpected closes by code: ${JSON.stringify(r.unexpectedByCode ?? {})}; refused by HTTP status: ${JSON.stringify(r.refusedByStatus ?? {})}`,
  ]
  for (const s of r.unexpectedSamples ?? []) lines.push(`  socket ${s.index}: ${s.code} "${s.reason}" ${s.afterOpenMs} ms after open (synced: ${s.synced})`)
  if ((r.serverLog ?? []).length) lines.push('server log (last lines):', ...r.serverLog.map((/** @type {string} */ l) => `  ${l}`))
  return lines
}

/**
 * Every storm socket comes from 127.0.0.1, so the per-address cap (256 by default) would refuse most of
 * them; the storm measures what happens to sockets that were admitted.
 */
export function tandemEnv(/** @type {Record<string, string>} */ o) {
  return { TANDEM_MAX_CONNECTIONS_PER_ADDRESS: '0', ...(o.auth === 'token' && { TANDEM_JWT_SECRET: BENCH_SECRET }) }
}

/** The HS256 secret the bench's Tandem verifies storm tokens with (a throwaway server, 127.0.0.1 only). */
const BENCH_SECRET = 'tandem-bench-upgrade-storm-secret-0123456789'

/** One token for every storm socket (the server verifies it on every upgrade all the same). */
async function stormToken() {
  return new SignJWT({ rooms: { '*': 'write' } })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('storm')
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(BENCH_SECRET))
}

/** A minimal awareness update: one client, clock 1, a small JSON state (what editors send on open). */
function awarenessFrame(/** @type {Uint8Array | null} */ prefix, /** @type {number} */ clientId) {
  const state = Buffer.from(JSON.stringify({ user: { name: `storm-${clientId}` } }))
  // [varUint n=1][varUint clientId][varUint clock=1][varString state], wrapped as varUint8Array.
  const body = [...varUint(1), ...varUint(clientId), ...varUint(1), ...varUint(state.length), ...state]
  return encodeFrame(prefix, [1], Uint8Array.from(body))
}

/** @param {number} n */
function varUint(n) {
  const out = []
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 128)
  }
  out.push(n)
  return out
}

/**
 * @param {import('../lib/servers.js').RunningServer} server
 * @param {Record<string, string>} o
 * @param {import('../lib/context.js').Context} ctx
 */
export async function run(server, o, ctx) {
  const upgrades = int(o.upgrades, 'upgrades')
  const atOnce = int(o['at-once'], 'at-once')
  const rooms = int(o.rooms, 'rooms')
  const stayMs = int(o['stay-ms'], 'stay-ms')
  const bgRooms = int(o['bg-rooms'], 'bg-rooms')
  const bgClients = int(o['bg-clients'], 'bg-clients')
  const bgRate = Number(o['bg-rate'])
  const socketTimeoutMs = Number(o['socket-timeout']) * 1000
  const timeLimitMs = Number(o['time-limit']) * 1000
  if (upgrades < 1 || upgrades > 100_000) throw new Error('--upgrades must be 1..100000')
  if (atOnce < 1 || atOnce > 2000) throw new Error('--at-once must be 1..2000')
  if (rooms > 10_000 || (rooms === 0 && bgRooms === 0)) throw new Error('--rooms must be 0..10000, and with --bg-rooms 0 at least 1')
  if (stayMs > 60_000) throw new Error('--stay-ms must be at most 60000')
  if (!(socketTimeoutMs > 0 && socketTimeoutMs <= 120_000)) throw new Error('--socket-timeout must be in (0, 120]')
  if (!(timeLimitMs > 0 && timeLimitMs <= 600_000)) throw new Error('--time-limit must be in (0, 600]')
  if (o.auth !== 'token' && o.auth !== 'anonymous') throw new Error('--auth must be token or anonymous')
  if (bgRooms > 0 && (bgClients < 2 || !(bgRate > 0 && bgRate <= 100))) throw new Error('background traffic needs --bg-clients ≥ 2 and --bg-rate in (0, 100]')

  // Background fan-out in the load workers, so the storm's own sockets live on this thread alone.
  const background =
    bgRooms > 0
      ? await connectRooms({ server, ctx, rooms: bgRooms, clients: bgClients, observers: 0, observerRooms: 0, updatesPerClient: Math.ceil(bgRate * (timeLimitMs / 1000 + 10)), insertLength: 8 })
      : null
  try {
    if (background) await background.pool.all({ cmd: 'rate', rate: bgRate })
    const win = new Window(server.pid)
    const token = o.auth === 'token' ? await stormToken() : null
    const stamp = Date.now().toString(36)
    const roomNames = [...(background?.plan.map((r) => r.name) ?? []), ...Array.from({ length: rooms }, (_, i) => `storm-${stamp}-${i}`)]
    const storm = await runStorm(server, { token, upgrades, atOnce, rooms: roomNames, stayMs, socketTimeoutMs, timeLimitMs }, ctx)
    const w = win.stop()
    const bgErrors = background ? background.pool.totals().errors : 0
    const h = hdrFromTimes(storm.syncedTimes)
    const logLines = server
      .logTail()
      .split('\n')
      .filter((l) => l.trim() !== '')
    const unexpectedByCode = Object.fromEntries([...storm.byCode].sort((a, b) => a[0] - b[0]).map(([code, n]) => [String(code), n]))
    return {
      params: { auth: o.auth, upgrades, atOnce, rooms, stayMs, bgRooms, bgClients: bgRooms > 0 ? bgClients : 0, bgRate: bgRooms > 0 ? bgRate : 0 },
      unexpectedCloses: storm.unexpected,
      unexpectedByCode,
      unexpectedSamples: storm.samples,
      refused: storm.refused,
      refusedByStatus: Object.fromEntries(storm.byStatus),
      socketErrors: storm.errors,
      timedOut: storm.timedOut,
      completed: storm.completed,
      notRun: storm.notRun,
      upgradesPerS: round(storm.completed / (storm.wallMs / 1000), 1),
      wallS: round(storm.wallMs / 1000, 1),
      syncedMs: h,
      serverCpuPct: round(w.serverCpuPct, 1),
      othersCpuPct: round(w.othersCpuPct, 1),
      clientCpuPct: round(w.clientCpuPct, 1),
      backgroundErrors: bgErrors,
      serverLog: logLines.slice(-20),
      errors: storm.unexpected + storm.refused + storm.errors + storm.timedOut + bgErrors,
      warnings: [
        ...(storm.unexpected > 0 ? [`${storm.unexpected} unexpected closes by code: ${JSON.stringify(unexpectedByCode)}`] : []),
        ...(storm.notRun > 0 ? [`${storm.notRun} upgrades not run: the time limit (${timeLimitMs / 1000} s) came first`] : []),
        ...(bgErrors > 0 ? [`${bgErrors} errors on the background fan-out sockets`] : []),
        ...(w.othersCpuPct > 30 ? [`other processes used ${Math.round(w.othersCpuPct)}% of a core (shared machine): expect noise`] : []),
      ],
    }
  } finally {
    await background?.pool.close()
  }
}

/**
 * @param {import('../lib/servers.js').RunningServer} server
 * @param {{ token: string | null, upgrades: number, atOnce: number, rooms: string[], stayMs: number, socketTimeoutMs: number, timeLimitMs: number }} p
 * @param {import('../lib/context.js').Context} ctx
 */
export function runStorm(server, p, ctx) {
  const mux = server.framing === 'mux'
  const query = p.token ? `?token=${p.token}` : ''
  const auth = (/** @type {Uint8Array | null} */ prefix) => (p.token ? encodeFrame(prefix, [2, 0], new TextEncoder().encode(p.token)) : authFrame(prefix))
  const result = {
    unexpected: 0,
    /** @type {Map<number, number>} */
    byCode: new Map(),
    /** @type {{ index: number, code: number, reason: string, afterOpenMs: number, synced: boolean }[]} */
    samples: [],
    refused: 0,
    /** @type {Map<string, number>} */
    byStatus: new Map(),
    errors: 0,
    timedOut: 0,
    completed: 0,
    notRun: 0,
    /** @type {number[]} */
    syncedTimes: [],
    wallMs: 0,
  }
  const t0 = performance.now()
  const deadline = t0 + p.timeLimitMs
  let started = 0
  let running = 0
  ctx.progress.start('upgrade storm', p.upgrades, ' sockets')

  return new Promise((resolve) => {
    const finish = () => {
      result.notRun = p.upgrades - started
      result.wallMs = performance.now() - t0
      ctx.progress.stop()
      resolve(result)
    }
    const progress = setInterval(() => {
      ctx.progress.update(started - running, `open ${running}  unexpected ${result.unexpected}  refused ${result.refused}`)
    }, 250)
    const next = () => {
      while (running < p.atOnce && started < p.upgrades && performance.now() < deadline) {
        one(started++)
      }
      if (running === 0) {
        clearInterval(progress)
        finish()
      }
    }

    const one = (/** @type {number} */ index) => {
      running++
      const room = p.rooms[index % p.rooms.length]
      const prefix = mux ? encodeAddress(room) : null
      const url = mux ? `ws://${server.host}:${server.port}${server.muxPath}` : `ws://${server.host}:${server.port}${server.singlePath}${room}${query}`
      const begin = performance.now()
      let openedAt = 0
      let synced = false
      let closing = false
      let done = false
      const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: p.socketTimeoutMs })
      const end = () => {
        if (done) return
        done = true
        clearTimeout(timer)
        clearTimeout(stay)
        running--
        setImmediate(next)
      }
      /** @type {NodeJS.Timeout | undefined} */
      let stay
      const timer = setTimeout(() => {
        if (synced || closing) return
        result.timedOut++
        closing = true
        ws.terminate()
      }, p.socketTimeoutMs)
      ws.on('unexpected-response', (_req, res) => {
        result.refused++
        const key = String(res.statusCode)
        result.byStatus.set(key, (result.byStatus.get(key) ?? 0) + 1)
        closing = true
        res.resume()
        ws.terminate()
      })
      ws.on('open', () => {
        openedAt = performance.now()
        if (mux) ws.send(auth(prefix))
        ws.send(syncStep1Frame(prefix))
        ws.send(awarenessFrame(prefix, 2_000_000 + index))
      })
      ws.on('message', (/** @type {Buffer} */ buf) => {
        if (synced) return
        const at = messageStart(buf, mux)
        if (at < 0 || buf[at] !== 0 || buf[at + 1] !== 1) return
        synced = true
        result.syncedTimes.push(performance.now() - begin)
        stay = setTimeout(() => {
          closing = true
          ws.close(1000, 'done')
        }, p.stayMs)
      })
      ws.on('error', () => {
        // A refused upgrade also ends in an error; it is counted once, as refused.
        if (!closing && openedAt === 0) {
          result.errors++
          closing = true
        }
      })
      ws.on('close', (code, reason) => {
        if (closing && synced && code === 1000) result.completed++
        else if (!closing) {
          result.unexpected++
          result.byCode.set(code, (result.byCode.get(code) ?? 0) + 1)
          if (result.samples.length < 10) {
            result.samples.push({ index, code, reason: reason.toString(), afterOpenMs: openedAt ? round(performance.now() - openedAt, 1) : -1, synced })
          }
        }
        end()
      })
    }
    next()
  })
}
