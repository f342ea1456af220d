/**
 * A load-generator thread. It owns whole rooms (every sender, receiver and observer of a room lives in
 * the same thread, so send and receive timestamps come from one clock) and speaks to the main thread
 * in small commands: setup, rate, closed, mark, collect, drain, observers, wave, close.
 *
 * Cheap per simulated client: one raw `ws` socket, a pre-encoded pool of real Yjs update frames, and a
 * few numbers. Only observers hold a Y.Doc.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { CLIENT_BASE, TEXT_NAME, generatePool } from './updates.js'
import { authFrame, encodeAddress, readFirstInsertLength, readFirstStruct, readVarUint, syncStep1Frame } from './protocol.js'
import { encodeHistogram, newHistogram, recordMs } from './hist.js'

/**
 * @typedef {{ host: string, port: number, ports?: number[], framing: 'single' | 'mux', singlePath: string, muxPath: string,
 *   workerId: number, totalClients: number, insertLength: number }} WorkerInit
 */
const init = /** @type {WorkerInit} */ (workerData)
const port = parentPort
if (port === null) throw new Error('load-worker must run in a worker thread')
const MUX = init.framing === 'mux'
const L = init.insertLength
const SEND_OPTS = { binary: true, compress: false, fin: true, mask: true }
const WS_OPTS = { perMessageDeflate: false, skipUTF8Validation: true, handshakeTimeout: 30_000, maxPayload: 512 * 1024 * 1024 }
/** A socket with more than this much unsent data is "backlogged": the server is not reading. */
const BACKLOG_BYTES = 1024 * 1024
/**
 * Several instances of one cluster (the cluster scenario): load client `g` connects to instance
 * `g % ports.length`, so the consecutive clients of a room sit on different instances, and each
 * delivery is timed as same-instance or cross-instance.
 */
const PORTS = init.ports && init.ports.length > 0 ? init.ports : [init.port]
const CLUSTER = PORTS.length > 1

/**
 * @typedef {object} Client
 * @property {number} global
 * @property {number} local
 * @property {string} room
 * @property {number} instance   index into PORTS
 * @property {number} roomLoad   load clients in the room
 * @property {number} roomObservers
 * @property {Uint8Array | null} prefix
 * @property {import('./updates.js').Pool | null} pool
 * @property {WebSocket | null} ws
 * @property {number} seq        next update to send
 * @property {number} acked      multiplexed: next update a SyncStatus acknowledges
 * @property {boolean} synced
 * @property {boolean} ready     synced and allowed to send
 * @property {number} startedAt
 * @property {number} syncedAt
 * @property {number} stepTwoBytes
 * @property {(() => void) | null} onSynced
 */

/**
 * @typedef {object} Observer
 * @property {string} room
 * @property {number} instance
 * @property {Y.Doc} doc
 * @property {WebSocket | null} ws
 * @property {boolean} synced
 * @property {(() => void) | null} onSynced
 * @property {number} applied
 */

/** @type {Client[]} */
let clients = []
/** @type {Observer[]} */
let observers = []
/** Global client index -> local index in this worker, or -1. */
let localOf = new Int32Array(init.totalClients).fill(-1)
let observerCount = 0
/** Send time (performance.now) of update `seq` of local client `i`, at `i * K + seq`. */
let sendTimes = new Float64Array(0)
let K = 0
let closing = false

// Rate control.
let rate = 0
let intervalMs = 0
let nextAt = new Float64Array(0)
/** @type {NodeJS.Timeout | null} */
let ticker = null
let closedLoop = false

// Cumulative counters (never reset).
const total = { sent: 0, expected: 0, delivered: 0, acked: 0, obsExpected: 0, obsDelivered: 0, foreign: 0, errors: 0, skipped: 0, exhausted: 0 }
// Window counters (reset by `mark`).
let win = newWindow()
/** @type {Record<string, number>} */
const errorKinds = {}
let marked = false
let eluBase = performance.eventLoopUtilization()
let eluWindowBase = eluBase

function newWindow() {
  return {
    startedAt: performance.now(),
    sent: 0,
    delivered: 0,
    acked: 0,
    skipped: 0,
    backlogged: 0,
    errors: 0,
    latency: newHistogram(),
    latencySame: newHistogram(),
    latencyCross: newHistogram(),
    ack: newHistogram(),
    lag: newHistogram(),
  }
}

/** @param {string} kind */
function error(kind) {
  total.errors++
  win.errors++
  errorKinds[kind] = (errorKinds[kind] ?? 0) + 1
}

const hdr = { client: 0, clock: 0, groups: 0, structs: 0, pos: 0 }
const cursor = { pos: 0 }

/**
 * Calls `visit(client, clock)` for every insert an update message carries. A single insert (every
 * message Tandem, y-websocket, plain Hocuspocus and the relay send in these scenarios) is read from its
 * header alone. Hocuspocus + Redis delivers across instances as a sync step 2 holding whatever the other
 * instance lacked, which can be several clients' updates merged: those get a full parse
 * (Y.parseUpdateMeta), so each update in them is counted and timed.
 * @param {Uint8Array} buf
 * @param {number} start
 * @param {number} end
 * @param {(client: number, clock: number) => void} visit
 */
function forEachInsert(buf, start, end, visit) {
  if (!readFirstStruct(buf, start, hdr)) return
  if (hdr.groups === 1 && hdr.structs === 1 && readFirstInsertLength(buf, hdr) === L) {
    visit(hdr.client, hdr.clock)
    return
  }
  const meta = Y.parseUpdateMeta(buf.subarray(start, end))
  for (const [client, from] of meta.from) {
    const to = meta.to.get(client) ?? from
    for (let clock = from; clock < to; clock += L) visit(client, clock)
  }
}

/**
 * @param {Buffer} buf
 * @returns {number} the offset of the message type, or -1 for a frame to ignore
 */
function messageOffset(buf) {
  if (!MUX) return 0
  if (buf.length <= 1) return -1 // Hocuspocus 1-byte ping
  cursor.pos = 0
  const len = readVarUint(buf, cursor)
  return cursor.pos + len
}

/**
 * @param {Client} c
 * @param {Buffer} buf
 */
function onClientMessage(c, buf) {
  const now = performance.now()
  let p
  try {
    p = messageOffset(buf)
    if (p < 0) return
    const type = buf[p]
    if (type === 0) {
      const sub = buf[p + 1]
      if (sub !== 1 && sub !== 2) return // the server's sync step 1: nothing to answer for an empty client
      cursor.pos = p + 2
      const len = readVarUint(buf, cursor)
      const start = cursor.pos
      if (sub === 1 && !c.synced) {
        c.synced = true
        c.syncedAt = now
        c.stepTwoBytes = len
        c.onSynced?.()
        c.onSynced = null
      }
      if (sub === 1) return
      forEachInsert(buf, start, start + len, (client, clock) => onInsert(c, client, clock, now))
    } else if (type === 8) {
      // Multiplexed SyncStatus: acknowledges our updates in order.
      if (c.acked >= c.seq) return // e.g. for a sync step 2 we did not send
      const seq = c.acked++
      onAck(c, now - sendTimes[c.local * K + seq])
    } else if (type === 2) {
      if (buf[p + 1] === 1) error('permission denied')
    }
  } catch {
    error('unparseable frame')
  }
}

/**
 * One insert received by client `c`: a delivery of another client's update, or its own coming back.
 * @param {Client} c
 * @param {number} client
 * @param {number} clock
 * @param {number} now
 */
function onInsert(c, client, clock, now) {
  const g = client - CLIENT_BASE
  const local = g >= 0 && g < localOf.length ? localOf[g] : -1
  if (local < 0) {
    total.foreign++
    return
  }
  const seq = clock / L
  if (!Number.isInteger(seq) || seq >= K) return error('unrecognised update clock')
  const sentAt = sendTimes[local * K + seq]
  if (local === c.local) {
    // Our own update came back: Tandem's saved ack (after commit), or y-websocket's echo.
    onAck(c, now - sentAt)
  } else {
    total.delivered++
    if (marked) {
      win.delivered++
      recordMs(win.latency, now - sentAt)
      if (CLUSTER) recordMs(clients[local].instance === c.instance ? win.latencySame : win.latencyCross, now - sentAt)
    }
  }
}

/** @param {Client} c @param {number} latencyMs */
function onAck(c, latencyMs) {
  total.acked++
  if (marked) {
    win.acked++
    recordMs(win.ack, latencyMs)
  }
  if (closedLoop && c.ready) sendNext(c)
}

/** @param {Observer} o @param {Buffer} buf */
function onObserverMessage(o, buf) {
  try {
    const p = messageOffset(buf)
    if (p < 0 || buf[p] !== 0) return
    const sub = buf[p + 1]
    if (sub !== 1 && sub !== 2) return
    cursor.pos = p + 2
    const len = readVarUint(buf, cursor)
    const update = buf.subarray(cursor.pos, cursor.pos + len)
    Y.applyUpdate(o.doc, update, 'server')
    if (sub === 1 && !o.synced) {
      o.synced = true
      o.onSynced?.()
      o.onSynced = null
    }
    if (sub === 2) {
      o.applied++
      forEachInsert(update, 0, update.length, (client) => {
        if (client >= CLIENT_BASE && client < CLIENT_BASE + init.totalClients) total.obsDelivered++
      })
    }
  } catch {
    error('observer failed to apply an update')
  }
}

/** @param {string} room @param {number} instance */
function urlFor(room, instance) {
  const base = `ws://${init.host}:${PORTS[instance]}`
  return MUX ? `${base}${init.muxPath}` : `${base}${init.singlePath}${room}`
}

/**
 * Opens one socket and resolves when it has received sync step 2 (or rejects).
 * @param {string} room
 * @param {number} instance
 * @param {(buf: Buffer) => void} onMessage
 * @param {(ws: WebSocket) => void} attach
 * @param {(resolve: () => void) => void} setOnSynced
 * @param {number} timeoutMs
 */
function openSocket(room, instance, onMessage, attach, setOnSynced, timeoutMs) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(urlFor(room, instance), WS_OPTS)
    attach(ws)
    let settled = false
    const timer = setTimeout(() => {
      if (settled) return
      settled = true
      reject(new Error('timed out before sync step 2'))
    }, timeoutMs)
    setOnSynced(() => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(undefined)
    })
    ws.on('open', () => {
      const prefix = MUX ? encodeAddress(room) : null
      if (MUX) ws.send(authFrame(prefix), SEND_OPTS)
      ws.send(syncStep1Frame(prefix), SEND_OPTS)
    })
    ws.on('message', (data) => onMessage(/** @type {Buffer} */ (data)))
    ws.on('error', (err) => {
      if (!closing) error(`socket error: ${err.message.slice(0, 80)}`)
      if (!settled) {
        settled = true
        clearTimeout(timer)
        reject(err)
      }
    })
    ws.on('close', (code) => {
      if (!closing) error(`closed by server (${code})`)
      if (!settled) {
        settled = true
        clearTimeout(timer)
        reject(new Error(`closed (${code}) before sync`))
      }
    })
  })
}

/**
 * Runs `fn` over `items` with at most `limit` in flight.
 * @template T
 * @param {T[]} items
 * @param {number} limit
 * @param {(item: T) => Promise<void>} fn
 */
async function eachLimited(items, limit, fn) {
  let next = 0
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++]
      await fn(item)
    }
  })
  await Promise.all(runners)
}

/**
 * @param {{ rooms: { name: string, senders: number[], observers: number }[], updatesPerClient: number,
 *   concurrency: number, connectTimeoutMs: number, append?: boolean }} cmd
 */
async function setup(cmd) {
  const firstNew = cmd.append ? clients.length : 0
  if (cmd.append) {
    if (cmd.updatesPerClient !== K) throw new Error('an appended setup must use the same updates per client')
  } else {
    K = cmd.updatesPerClient
    clients = []
    observers = []
    localOf = new Int32Array(init.totalClients).fill(-1)
  }
  const firstNewObserver = observers.length
  const genStart = performance.now()
  for (const room of cmd.rooms) {
    const prefix = MUX ? encodeAddress(room.name) : null
    for (const g of room.senders) {
      const local = clients.length
      localOf[g] = local
      clients.push({
        global: g,
        local,
        room: room.name,
        instance: g % PORTS.length,
        roomLoad: room.senders.length,
        roomObservers: room.observers,
        prefix,
        pool: K > 0 ? generatePool(g, K, L, prefix) : null,
        ws: null,
        seq: 0,
        acked: 0,
        synced: false,
        ready: false,
        startedAt: 0,
        syncedAt: 0,
        stepTwoBytes: 0,
        onSynced: null,
      })
    }
    for (let i = 0; i < room.observers; i++) {
      const doc = new Y.Doc({ gc: true })
      doc.getText(TEXT_NAME)
      observers.push({ room: room.name, instance: observerCount++ % PORTS.length, doc, ws: null, synced: false, onSynced: null, applied: 0 })
    }
  }
  const generateMs = performance.now() - genStart
  if (K > 0 || sendTimes.length === 0) {
    const grown = new Float64Array(clients.length * K)
    grown.set(sendTimes.subarray(0, Math.min(sendTimes.length, grown.length)))
    sendTimes = grown
  }
  const grownNext = new Float64Array(clients.length)
  grownNext.set(nextAt.subarray(0, Math.min(nextAt.length, clients.length)))
  nextAt = grownNext
  const fresh = clients.slice(firstNew)
  const freshObservers = observers.slice(firstNewObserver)
  const poolBytes = clients.reduce((sum, c) => sum + (c.pool ? c.pool.frames.length : 0), 0)
  const updateBytes = clients.length && clients[0].pool ? clients[0].pool.updateBytes : 0

  const connect = newHistogram()
  let failed = 0
  const connectStart = performance.now()
  // Observers first, so they see every update.
  await eachLimited(freshObservers, cmd.concurrency, async (o) => {
    try {
      await openSocket(
        o.room,
        o.instance,
        (buf) => onObserverMessage(o, buf),
        (ws) => (o.ws = ws),
        (fn) => (o.onSynced = fn),
        cmd.connectTimeoutMs,
      )
    } catch {
      failed++
    }
  })
  await eachLimited(fresh, cmd.concurrency, async (c) => {
    c.startedAt = performance.now()
    try {
      await openSocket(
        c.room,
        c.instance,
        (buf) => onClientMessage(c, buf),
        (ws) => (c.ws = ws),
        (fn) => (c.onSynced = fn),
        cmd.connectTimeoutMs,
      )
      c.ready = true
      recordMs(connect, c.syncedAt - c.startedAt)
    } catch {
      failed++
    }
  })
  return {
    type: 'ready',
    clients: fresh.length,
    observers: freshObservers.length,
    connected: fresh.filter((c) => c.ready).length + freshObservers.filter((o) => o.synced).length,
    failed,
    connectHist: encodeHistogram(connect),
    connectWallMs: performance.now() - connectStart,
    generateMs,
    poolBytes,
    updateBytes,
    openSockets: clients.filter((c) => c.ws?.readyState === WebSocket.OPEN).length,
  }
}

/** @param {Client} c */
function sendNext(c) {
  const pool = c.pool
  const ws = c.ws
  if (pool === null || ws === null) return false
  if (c.seq >= pool.count) {
    if (c.ready) total.exhausted++
    c.ready = false
    return false
  }
  if (ws.readyState !== WebSocket.OPEN) {
    c.ready = false
    return false
  }
  if (ws.bufferedAmount > BACKLOG_BYTES) {
    win.backlogged++
    return false
  }
  const seq = c.seq++
  sendTimes[c.local * K + seq] = performance.now()
  ws.send(pool.frames.subarray(pool.offsets[seq], pool.offsets[seq + 1]), SEND_OPTS)
  total.sent++
  total.expected += c.roomLoad - 1
  total.obsExpected += c.roomObservers
  if (marked) win.sent++
  return true
}

/** Sends at most this many overdue updates per client per tick; beyond that the generator is behind. */
const MAX_BURST = 4

function tick() {
  const now = performance.now()
  for (let i = 0; i < clients.length; i++) {
    const c = clients[i]
    if (!c.ready) continue
    let due = nextAt[i]
    if (due > now) continue
    let burst = 0
    while (due <= now && burst < MAX_BURST) {
      if (marked) recordMs(win.lag, now - due)
      if (!sendNext(c)) break
      due += intervalMs
      burst++
    }
    if (due <= now) {
      // Still behind after a burst: the generator cannot keep this rate. Skip ahead and count it.
      const missed = Math.floor((now - due) / intervalMs) + 1
      total.skipped += missed
      if (marked) win.skipped += missed
      due += missed * intervalMs
    }
    nextAt[i] = due
  }
}

/** @param {number} perClientRate */
function setRate(perClientRate) {
  rate = perClientRate
  if (ticker !== null) clearInterval(ticker)
  ticker = null
  if (rate <= 0) return
  intervalMs = 1000 / rate
  const now = performance.now()
  // Spread phases evenly so the offered load is smooth rather than bursty.
  for (let i = 0; i < clients.length; i++) nextAt[i] = now + ((i + Math.random()) / Math.max(1, clients.length)) * intervalMs
  ticker = setInterval(tick, Math.max(1, Math.min(5, intervalMs / 4)))
}

function mark() {
  win = newWindow()
  marked = true
  eluWindowBase = performance.eventLoopUtilization()
}

function collect() {
  const elu = performance.eventLoopUtilization(eluWindowBase)
  const result = {
    type: 'collected',
    windowMs: performance.now() - win.startedAt,
    sent: win.sent,
    delivered: win.delivered,
    acked: win.acked,
    skipped: win.skipped,
    backlogged: win.backlogged,
    errors: win.errors,
    latency: encodeHistogram(win.latency),
    latencySame: encodeHistogram(win.latencySame),
    latencyCross: encodeHistogram(win.latencyCross),
    ack: encodeHistogram(win.ack),
    lag: encodeHistogram(win.lag),
    elu: elu.utilization,
    total: { ...total },
    errorKinds: { ...errorKinds },
    openSockets: clients.filter((c) => c.ws?.readyState === WebSocket.OPEN).length,
  }
  marked = false
  return result
}

/** @param {number} timeoutMs */
async function drain(timeoutMs) {
  const deadline = performance.now() + timeoutMs
  const done = () => total.delivered >= total.expected && total.obsDelivered >= total.obsExpected && total.acked >= ackExpected()
  while (!done() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 25))
  return {
    type: 'drained',
    missingDeliveries: Math.max(0, total.expected - total.delivered),
    missingObserverDeliveries: Math.max(0, total.obsExpected - total.obsDelivered),
    missingAcks: Math.max(0, ackExpected() - total.acked),
    total: { ...total },
  }
}

/** Acks we expect if the server acknowledges updates at all (only counted when it has acked one). */
function ackExpected() {
  return total.acked > 0 ? total.sent : 0
}

function observerReport() {
  /** @type {Map<string, Record<string, number>>} */
  const expected = new Map()
  for (const c of clients) {
    let e = expected.get(c.room)
    if (!e) expected.set(c.room, (e = {}))
    if (c.seq > 0) e[String(CLIENT_BASE + c.global)] = c.seq * L
  }
  return {
    type: 'observers',
    observers: observers.map((o) => {
      const sv = Y.decodeStateVector(Y.encodeStateVector(o.doc))
      /** @type {Record<string, number>} */
      const state = {}
      for (const [client, clock] of sv) state[String(client)] = clock
      const text = o.doc.getText(TEXT_NAME).toString()
      return { room: o.room, synced: o.synced, state, textLength: text.length, textHash: fnv1a(text), expected: expected.get(o.room) ?? {} }
    }),
  }
}

/** @param {string} s */
function fnv1a(s) {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h.toString(16)
}

/**
 * A join wave: `count` sockets connect to `room` at once; each reports the time to sync step 2.
 * @param {{ room: string, count: number, expectBytes: number, timeoutMs: number }} cmd
 */
async function wave(cmd) {
  const start = performance.now()
  /** @type {{ ms: number, bytes: number }[]} */
  const results = []
  let failed = 0
  /** @type {Client[]} */
  const joiners = []
  await Promise.all(
    Array.from({ length: cmd.count }, async () => {
      /** @type {Client} */
      const c = {
        global: -1,
        local: -1,
        room: cmd.room,
        instance: 0,
        roomLoad: 0,
        roomObservers: 0,
        prefix: null,
        pool: null,
        ws: null,
        seq: 0,
        acked: 0,
        synced: false,
        ready: false,
        startedAt: start,
        syncedAt: 0,
        stepTwoBytes: 0,
        onSynced: null,
      }
      joiners.push(c)
      try {
        await openSocket(
          cmd.room,
          0,
          (buf) => onClientMessage(c, buf),
          (ws) => (c.ws = ws),
          (fn) => (c.onSynced = fn),
          cmd.timeoutMs,
        )
        results.push({ ms: c.syncedAt - start, bytes: c.stepTwoBytes })
      } catch {
        failed++
      }
    }),
  )
  const wallMs = performance.now() - start
  const incomplete = results.filter((r) => r.bytes < cmd.expectBytes * 0.99).length
  clients.push(...joiners) // closed with everything else
  return { type: 'waved', times: results.map((r) => r.ms), failed, incomplete, wallMs }
}

function closeAll() {
  closing = true
  setRate(0)
  for (const c of clients) c.ws?.terminate()
  for (const o of observers) {
    o.ws?.terminate()
    o.doc.destroy()
  }
  return { type: 'closed' }
}

// Live progress for the main thread's progress bar.
const progressTimer = setInterval(() => {
  const elu = performance.eventLoopUtilization(eluBase)
  eluBase = performance.eventLoopUtilization()
  port.postMessage({
    type: 'progress',
    sent: total.sent,
    delivered: total.delivered,
    acked: total.acked,
    errors: total.errors,
    connected: clients.reduce((n, c) => n + (c.synced ? 1 : 0), 0),
    elu: elu.utilization,
  })
}, 500)
progressTimer.unref()

port.on('message', async (/** @type {{ id: number, cmd: string } & Record<string, any>} */ msg) => {
  /** @type {Record<string, unknown>} */
  let reply
  try {
    switch (msg.cmd) {
      case 'setup':
        reply = await setup(/** @type {any} */ (msg))
        break
      case 'rate':
        closedLoop = false
        setRate(msg.rate)
        reply = { type: 'ok' }
        break
      case 'closed':
        closedLoop = msg.on
        setRate(0)
        if (closedLoop) for (const c of clients) if (c.ready) sendNext(c)
        reply = { type: 'ok' }
        break
      case 'mark':
        mark()
        reply = { type: 'ok' }
        break
      case 'collect':
        reply = collect()
        break
      case 'drain':
        reply = await drain(msg.timeoutMs)
        break
      case 'observers':
        reply = observerReport()
        break
      case 'wave':
        reply = await wave(/** @type {any} */ (msg))
        break
      case 'close':
        reply = closeAll()
        break
      default:
        reply = { type: 'error', message: `unknown command ${msg.cmd}` }
    }
  } catch (err) {
    reply = { type: 'error', message: err instanceof Error ? err.stack ?? err.message : String(err) }
  }
  port.postMessage({ ...reply, id: msg.id })
})
