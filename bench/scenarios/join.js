/**
 * join: one client writes a document of about M MB into a room; then J clients join at once. Measures
 * each joiner's time from the start of the wave to receiving sync step 2 (the whole document), and the
 * server CPU seconds the wave cost.
 *
 * The document is realistic rather than one blob: several authors' paragraphs inserted at random
 * positions (about 50k structs for 2 MB with the default 50-character inserts). The writer uploads it as one sync step 2 and waits for the
 * server's acknowledgement (Tandem: saved echo / SyncStatus; y-websocket: echo; Hocuspocus: SyncStatus;
 * the bare relay caches the frame and has no ack, so the writer waits 1.5 s).
 */
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import { LoadPool } from '../lib/pool.js'
import { generateLargeDoc } from '../lib/updates.js'
import { authFrame, encodeAddress, messageStart, syncStep1Frame, syncStep2Frame } from '../lib/protocol.js'
import { Window, cpuSeconds, memory } from '../lib/proc.js'
import { hdrFromTimes } from '../lib/hist.js'
import { round } from '../lib/measure.js'
import { int } from './fanout.js'

export const name = 'join'
export const summary = 'J clients join a room holding an M MB document at once; time to synced and server CPU for the wave'

/** @type {Record<string, { default: string, help: string }>} */
export const options = {
  'doc-mb': { default: '2', help: 'document size in MB (10^6 bytes of Yjs update)' },
  joiners: { default: '50', help: 'clients joining at once' },
  paragraph: { default: '50', help: 'characters per insert when building the document (smaller = more structs, costlier to encode)' },
}

export const metrics = [
  { key: 'syncedMs.p50', label: 'time to synced p50', unit: 'ms', better: 'lower', chart: true },
  { key: 'syncedMs.p95', label: 'time to synced p95', unit: 'ms', better: 'lower' },
  { key: 'syncedMs.max', label: 'time to synced max', unit: 'ms', better: 'lower' },
  { key: 'waveCpuSeconds', label: 'server CPU for the wave', unit: 's', better: 'lower', chart: true },
  { key: 'rssGrowthMB', label: 'server RSS growth in the wave', unit: 'MB', better: 'lower' },
  { key: 'docLoadMs', label: 'writer upload to ack', unit: 'ms', better: 'info' },
  { key: 'uploadLoopMaxMs', label: 'server event-loop max delay, upload', unit: 'ms', better: 'lower' },
  { key: 'waveLoopMaxMs', label: 'server event-loop max delay, wave', unit: 'ms', better: 'lower' },
  { key: 'failed', label: 'failed joiners', unit: '', better: 'lower' },
  { key: 'incomplete', label: 'joiners with an incomplete doc', unit: '', better: 'lower' },
  { key: 'othersCpuPct', label: 'other processes CPU', unit: '% core', better: 'info' },
]

/** The document is generated once per process (bench:compare runs every server with the same one). */
/** @type {{ key: string, doc: ReturnType<typeof generateLargeDoc> } | null} */
let cachedDoc = null

/** @param {Record<string, string>} o */
export function tandemEnv(o) {
  // Tandem's defaults take a document of up to 32 MiB in one message (TANDEM_MAX_DOC_BYTES, and a
  // message limit 1 MiB above it); only a bigger one needs the limits raised for the upload.
  const bytes = Number(o['doc-mb']) * 1e6
  const limit = String(Math.ceil(bytes * 1.2))
  return bytes > 32 * 2 ** 20 ? { TANDEM_MAX_DOC_BYTES: limit, TANDEM_MAX_MESSAGE_BYTES: String(Math.ceil(bytes * 1.3)) } : {}
}

/**
 * Tandem's longest event-loop delay since the previous call, in ms, from its own `/metrics`
 * (`tandem_event_loop_lag_seconds{quantile="1"}`, a window that each scrape resets); null for servers
 * without it.
 * @param {import('../lib/servers.js').RunningServer} server
 */
export async function eventLoopMaxMs(server) {
  if (!server.kind.startsWith('tandem')) return null
  const res = await fetch(`http://${server.host}:${server.port}/metrics`, { signal: AbortSignal.timeout(30_000) })
  const text = await res.text()
  const m = /^tandem_event_loop_lag_seconds\{quantile="1"\} (\S+)$/m.exec(text)
  return m ? round(Number(m[1]) * 1000, 1) : null
}

/**
 * @param {import('../lib/servers.js').RunningServer} server
 * @param {Record<string, string>} o
 * @param {import('../lib/context.js').Context} ctx
 */
export async function run(server, o, ctx) {
  const mb = Number(o['doc-mb'])
  const joiners = int(o.joiners, 'joiners')
  if (!(mb > 0 && mb <= 64)) throw new Error('--doc-mb must be in (0, 64]')
  if (joiners < 1 || joiners > 2000) throw new Error('--joiners must be 1..2000')
  ctx.progress.start('generate document', 1, '')
  const paragraph = int(o.paragraph, 'paragraph')
  if (paragraph < 1 || paragraph > 100_000) throw new Error('--paragraph must be 1..100000')
  const key = `${mb}:${paragraph}`
  if (cachedDoc?.key !== key) cachedDoc = { key, doc: generateLargeDoc(mb * 1e6, { chunk: paragraph }) }
  const doc = cachedDoc.doc
  ctx.progress.stop()
  const room = `bench-join-${Date.now().toString(36)}`

  await eventLoopMaxMs(server)
  const writer = await uploadDocument(server, room, doc.update)
  const uploadLoopMaxMs = await eventLoopMaxMs(server)
  await new Promise((r) => setTimeout(r, 1000))

  const pool = new LoadPool({ workers: Math.min(ctx.workers, joiners), server, totalClients: 1 })
  try {
    const shares = pool.workers.map((_, i) => Math.floor(joiners / pool.workers.length) + (i < joiners % pool.workers.length ? 1 : 0))
    await eventLoopMaxMs(server)
    const cpu0 = cpuSeconds(server.pid)
    const rss0 = memory(server.pid).rss
    const win = new Window(server.pid)
    ctx.progress.start('join wave', joiners, ' joiners')
    const timer = setInterval(() => ctx.progress.update(pool.totals().connected), 100)
    let waved
    try {
      waved = await pool.all((i) => ({ cmd: 'wave', room, count: shares[i], expectBytes: doc.update.length * 0.9, timeoutMs: 120_000 }))
    } finally {
      clearInterval(timer)
      ctx.progress.stop()
    }
    // A short tail: sends that were queued when the last joiner synced are part of the wave's cost.
    await new Promise((r) => setTimeout(r, 250))
    const cpu1 = cpuSeconds(server.pid)
    const rss1 = memory(server.pid).rss
    const waveLoopMaxMs = await eventLoopMaxMs(server)
    const w = win.stop()
    const times = waved.flatMap((w) => w.times)
    const h = hdrFromTimes(times)
    return {
      params: { docMB: mb, docBytes: doc.update.length, structs: doc.structs, paragraph, joiners, workers: pool.workers.length },
      syncedMs: h,
      wallMs: round(Math.max(...waved.map((w) => w.wallMs)), 1),
      waveCpuSeconds: round(cpu1 - cpu0, 3),
      rssGrowthMB: round((rss1 - rss0) / 2 ** 20, 1),
      docLoadMs: round(writer.ackMs, 1),
      uploadLoopMaxMs,
      waveLoopMaxMs,
      writerAck: writer.acked,
      failed: waved.reduce((s, w) => s + w.failed, 0),
      incomplete: waved.reduce((s, w) => s + w.incomplete, 0),
      othersCpuPct: round(w.othersCpuPct, 1),
      clientCpuPct: round(w.clientCpuPct, 1),
      errors: 0,
      warnings: [
        ...(writer.acked ? [] : ['the server did not acknowledge the upload; waited 1.5 s instead']),
        ...(w.othersCpuPct > 30 ? [`other processes used ${Math.round(w.othersCpuPct)}% of a core during the wave (shared machine): expect noise`] : []),
      ],
    }
  } finally {
    writer.ws.terminate()
    await pool.close()
  }
}

/**
 * Connects one writer, syncs, uploads `update` as sync step 2 and waits for the server's ack.
 * @param {import('../lib/servers.js').RunningServer} server
 * @param {string} room
 * @param {Uint8Array} update
 */
async function uploadDocument(server, room, update) {
  const mux = server.framing === 'mux'
  const url = mux ? `ws://${server.host}:${server.port}${server.muxPath}` : `ws://${server.host}:${server.port}${server.singlePath}${room}`
  const prefix = mux ? encodeAddress(room) : null
  const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 512 * 1024 * 1024 })
  /** @type {((kind: 'synced' | 'ack') => void) | null} */
  let notify = null
  ws.on('message', (/** @type {Buffer} */ buf) => {
    const p = messageStart(buf, mux)
    if (p < 0) return
    if (buf[p] === 0 && buf[p + 1] === 1) notify?.('synced')
    else if ((buf[p] === 0 && buf[p + 1] === 2) || buf[p] === 8) notify?.('ack')
  })
  const waitFor = (/** @type {'synced' | 'ack'} */ kind, /** @type {number} */ ms) =>
    new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), ms)
      notify = (k) => {
        if (k !== kind) return
        clearTimeout(t)
        resolve(true)
      }
    })
  await new Promise((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  const synced = waitFor('synced', 30_000)
  if (mux) ws.send(authFrame(prefix))
  ws.send(syncStep1Frame(prefix))
  if (!(await synced)) throw new Error('the writer never received sync step 2')
  const t0 = performance.now()
  const acked = waitFor('ack', server.kind === 'uws' ? 1500 : 60_000)
  ws.send(syncStep2Frame(prefix, update))
  const ok = /** @type {boolean} */ (await acked)
  if (!ok && server.kind !== 'uws') throw new Error('the server did not acknowledge the document upload within 60 s')
  return { ws, acked: ok, ackMs: performance.now() - t0 }
}
