/**
 * Replication over Redis (ioredis). Three connections, each with one job:
 * - `cmd` appends to the room logs, publishes presence and control messages, refreshes this instance's
 *   liveness key and checks the others';
 * - `reader` runs the one blocking XREAD loop that reads every loaded room's log from its cursor;
 * - `sub` is the pub/sub subscriber for the perishable per-room channel.
 *
 * Keys (the room is encoded and in a hash tag, so a room's keys share a Redis Cluster slot and no room
 * name can reach another's keys):
 *   <prefix>{<room>}:log         stream of document messages: fields p (previous entry id) and m (envelope)
 *   <prefix>{<room>}:bus         pub/sub channel: awareness, stateless, sync-request, sync-reply
 *   <prefix>instance:<id>        liveness, refreshed every heartbeatMs with a TTL of livenessTtlMs
 *
 * Gaps are detected exactly: each entry carries the id of the entry before it (written by the same Lua
 * script that appends it), so a reader whose cursor is not that id missed something (the log was trimmed
 * past it, expired, or lost with a Redis restart) and its room resyncs from the store.
 *
 * Outages: no command waits in ioredis's offline queue (it is off); the adapter keeps its own queue of
 * document messages and sends them in order once Redis is back (merging a room's queued updates when the
 * queue grows past maxQueued). Perishable messages published while Redis is down are dropped. Reconnects
 * are retried at least every second, so a cluster heals within seconds of Redis coming back.
 */
import { Redis, type RedisOptions } from 'ioredis'
import * as Y from 'yjs'
import type { Logger } from 'pino'
import {
  LOGGED_TYPES,
  type ReplicaHandler,
  type ReplicatedMessage,
  type Replication,
  type ReplicationSignal,
  type RoomChannel,
} from '../rooms/replication.js'
import { redactUrlPassword } from '../config.js'
import { decodeEnvelope, encodeEnvelope } from './codec.js'

export interface RedisReplicationOptions {
  url: string
  /** @default 'tandem:' */
  prefix?: string
  instanceId: string
  /** Entries kept per room log (approximately: XADD MAXLEN ~). @default 1000 */
  logMaxLen?: number
  /** A room log expires this long after its last entry (ms). @default 86_400_000 */
  logTtlMs?: number
  /** TTL of this instance's liveness key (ms); others drop its clients' presence once it expires. @default 5000 */
  livenessTtlMs?: number
  /** How often the liveness key is refreshed and the others' are checked (ms). @default 2000 */
  heartbeatMs?: number
  /** Queued document messages (while Redis is unreachable) past which a room's queued updates are merged. @default 10_000 */
  maxQueued?: number
  /** How long an XREAD blocks before it is re-issued (ms). @default 2000 */
  blockMs?: number
}

export class RedisConnectError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'RedisConnectError'
  }
}

/** Keys of one room. Exported so tests can fault them (trim, delete) directly. */
export function roomKeys(prefix: string, roomId: string): { log: string; bus: string } {
  const tag = `{${encodeURIComponent(roomId)}}`
  return { log: `${prefix}${tag}:log`, bus: `${prefix}${tag}:bus` }
}

export function livenessKey(prefix: string, instanceId: string): string {
  return `${prefix}instance:${encodeURIComponent(instanceId)}`
}

// Appends with the previous entry's id, trims, and keeps the log alive; atomic, so the chain of
// previous ids is exact. ARGV: maxlen, envelope, ttl ms.
const APPEND_LUA = `
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local prev = '0-0'
if last[1] then prev = last[1][1] end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'p', prev, 'm', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return id
`

interface AppendCommand {
  tandemAppend(key: string, maxLen: number, envelope: Buffer, ttlMs: number): Promise<string>
}

interface Sub {
  readonly roomId: string
  readonly log: string
  readonly bus: string
  readonly handler: ReplicaHandler
  /** Id of the last log entry read; null while unknown (the wire was down when the room joined). */
  cursor: string | null
  /** True while join() fixes the cursor: the reader leaves it alone meanwhile. */
  positioning: boolean
  /** Instances this room heard from: only those rooms are told when one dies. */
  readonly heard: Set<string>
  active: boolean
}

interface Queued {
  roomId: string
  log: string
  message: ReplicatedMessage
}

const READ_COUNT = 256
/** Refusals that pass (a restarting or failing-over Redis, memory pressure): retried, never dropped. */
const TRANSIENT_REPLY = /^(LOADING|BUSY|NOSCRIPT|READONLY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|OOM|NOREPLICAS)\b/
const DEFAULT_BLOCK_MS = 2_000
/** Longest a command may go unanswered before the adapter treats Redis as unreachable (ms). */
const COMMAND_TIMEOUT_MS = 3_000
const WRITE_BATCH = 64
/**
 * Least time between the starts of two room-log reads that bring entries (ms). A busy cluster otherwise
 * re-issues XREAD for every entry or two, and each names every loaded room; what this adds to a delivery
 * across instances is at most this.
 */
const READ_SPACING_MS = 2

export async function createRedisReplication(opts: RedisReplicationOptions, log: Logger): Promise<Replication> {
  const options: RedisOptions = {
    lazyConnect: true,
    // The adapter queues what must survive an outage itself; nothing waits unbounded inside ioredis.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (times) => Math.min(100 * times, 1000),
    connectTimeout: 5_000,
  }
  // A stalled Redis (packets dropped, no reset) must not hold room loads or the writer forever.
  const cmd = new Redis(opts.url, { ...options, commandTimeout: COMMAND_TIMEOUT_MS })
  const reader = cmd.duplicate({ commandTimeout: (opts.blockMs ?? DEFAULT_BLOCK_MS) + COMMAND_TIMEOUT_MS })
  // Resubscribing is ours (#afterReconnect): ioredis's own resubscribe on 'ready' leaves its promise
  // unhandled, so a connection that drops again right after coming back ended the process with an
  // unhandled MaxRetriesPerRequestError.
  const sub = cmd.duplicate({ autoResubscribe: false })
  const all = [cmd, reader, sub]
  for (const c of all) c.on('error', () => {}) // reported through 'close'/'ready' below, once per outage
  try {
    await Promise.all(all.map((c) => c.connect()))
    const info = await cmd.info('server')
    cmd.defineCommand('tandemAppend', { numberOfKeys: 1, lua: APPEND_LUA })
    const replication = new RedisReplication(opts, log, cmd, reader, sub, runIdOf(info))
    await replication.start()
    return replication
  } catch (err) {
    for (const c of all) c.disconnect()
    const reason = err instanceof Error ? err.message : String(err)
    throw new RedisConnectError(`cannot connect to Redis at ${redactUrlPassword(opts.url)}: ${reason}`, { cause: err })
  }
}

class RedisReplication implements Replication {
  readonly instanceId: string
  readonly #prefix: string
  readonly #maxLen: number
  readonly #logTtlMs: number
  readonly #livenessTtlMs: number
  readonly #heartbeatMs: number
  readonly #maxQueued: number
  readonly #blockMs: number
  readonly #byLog = new Map<string, Set<Sub>>()
  readonly #byBus = new Map<string, Set<Sub>>()
  readonly #queue: Queued[] = []
  #closed = false
  #writing: Promise<void> | null = null
  /** True while a batch from the head of the queue waits for Redis's answer. */
  #sending = false
  #reading: Promise<void> | null = null
  /** Resolves the reader's idle wait (no rooms) when a room joins. */
  #wakeReader: (() => void) | null = null
  #readerBlocked = false
  #readerClientId: number | null = null
  #heartbeat: NodeJS.Timeout | null = null
  #beating = false
  /** Set when cmd or sub lost its connection; cleared when both are back (then rooms hear `reconnected`). */
  #outage = false
  #readyWaiters: (() => void)[] = []

  constructor(
    opts: RedisReplicationOptions,
    private readonly log: Logger,
    private readonly cmd: Redis,
    private readonly reader: Redis,
    private readonly sub: Redis,
    private runId: string | null,
  ) {
    this.instanceId = opts.instanceId
    this.#prefix = opts.prefix ?? 'tandem:'
    this.#maxLen = opts.logMaxLen ?? 1000
    this.#logTtlMs = opts.logTtlMs ?? 86_400_000
    this.#livenessTtlMs = opts.livenessTtlMs ?? 5_000
    this.#heartbeatMs = opts.heartbeatMs ?? 2_000
    this.#maxQueued = opts.maxQueued ?? 10_000
    this.#blockMs = opts.blockMs ?? DEFAULT_BLOCK_MS
  }

  async start(): Promise<void> {
    await this.cmd.set(livenessKey(this.#prefix, this.instanceId), '1', 'PX', this.#livenessTtlMs)
    this.sub.on('messageBuffer', (channel: Buffer, data: Buffer) => this.#onBusMessage(channel.toString(), data))
    for (const c of [this.cmd, this.sub]) {
      c.on('close', () => this.#onConnectionLost())
      c.on('ready', () => this.#onConnectionReady())
    }
    this.reader.on('close', () => {
      this.#readerClientId = null
    })
    this.#heartbeat = setInterval(() => void this.#beat(), this.#heartbeatMs)
    this.#heartbeat.unref()
    this.#reading = this.#readLoop()
  }

  async join(roomId: string, handler: ReplicaHandler): Promise<RoomChannel> {
    const keys = roomKeys(this.#prefix, roomId)
    const s: Sub = { roomId, log: keys.log, bus: keys.bus, handler, cursor: null, positioning: true, heard: new Set(), active: !this.#closed }
    addTo(this.#byLog, keys.log, s)
    const firstOnBus = addTo(this.#byBus, keys.bus, s)
    // Position and subscribe at once; both finish before the caller reads the store, so every log entry
    // after the position, and every presence message from now on, is new to it.
    const position = (async () => {
      try {
        if (this.cmd.status === 'ready') s.cursor = await this.#lastId(keys.log)
      } catch (err) {
        this.log.debug({ err, roomId }, 'could not fix the room log position; resyncing once Redis is back')
      } finally {
        s.positioning = false
      }
    })()
    // Bounded: a subscriber connection carries no command timeout, and a stalled Redis must not hold the load.
    const subscribe =
      firstOnBus && this.sub.status === 'ready'
        ? Promise.race([
            this.sub.subscribe(keys.bus).catch((err: unknown) => this.log.debug({ err, roomId }, 'subscribe failed; retried on reconnect')),
            delay(COMMAND_TIMEOUT_MS),
          ])
        : null
    await Promise.all([position, subscribe])
    this.#nudgeReader()
    return {
      publish: (message) => this.publish(roomId, message),
      leave: () => this.#leave(s),
    }
  }

  publish(roomId: string, message: ReplicatedMessage): void {
    if (this.#closed) return
    const keys = roomKeys(this.#prefix, roomId)
    if (LOGGED_TYPES.has(message.type)) {
      this.#queue.push({ roomId, log: keys.log, message })
      // Not while a batch is on the wire: its answer is matched to the head of the queue by position.
      if (this.#queue.length > this.#maxQueued && !this.#sending) this.#mergeQueuedUpdates()
      // Started after the current event-loop turn: everything published in it (the messages of every
      // socket that was readable) goes out in one pipeline.
      this.#writing ??= new Promise<void>((resolve) => setImmediate(resolve))
        .then(() => this.#writeLoop())
        .finally(() => {
          this.#writing = null
        })
      return
    }
    // Perishable: sent now or never.
    if (this.cmd.status !== 'ready') return
    this.cmd.publish(keys.bus, toBuffer(encodeEnvelope(this.instanceId, message))).catch(() => {})
  }

  async close(): Promise<void> {
    if (this.#closed) return
    // Send what is queued while Redis answers, for at most a few seconds.
    const deadline = Date.now() + 3_000
    while (this.#queue.length > 0 && this.cmd.status === 'ready' && Date.now() < deadline) {
      await (this.#writing ?? Promise.resolve())
      if (this.#queue.length > 0) await delay(50)
    }
    this.#closed = true
    if (this.#heartbeat) clearInterval(this.#heartbeat)
    for (const set of this.#byLog.values()) for (const s of set) s.active = false
    this.#byLog.clear()
    this.#byBus.clear()
    this.#wakeReader?.()
    for (const wake of this.#readyWaiters.splice(0)) wake()
    // Tell the others now rather than after the TTL: they drop this instance's presence at once.
    if (this.cmd.status === 'ready') await this.cmd.del(livenessKey(this.#prefix, this.instanceId)).catch(() => {})
    this.reader.disconnect()
    await this.#reading
    this.sub.disconnect()
    await this.cmd.quit().catch(() => this.cmd.disconnect())
  }

  #leave(s: Sub): void {
    if (!s.active) return
    s.active = false
    removeFrom(this.#byLog, s.log, s)
    if (removeFrom(this.#byBus, s.bus, s) && this.sub.status === 'ready') this.sub.unsubscribe(s.bus).catch(() => {})
    this.#nudgeReader()
  }

  async #lastId(logKey: string): Promise<string> {
    const last = (await this.cmd.xrevrange(logKey, '+', '-', 'COUNT', 1)) as [string, string[]][]
    return last[0]?.[0] ?? '0-0'
  }

  /** Makes the reader re-issue its XREAD with the current set of rooms. */
  #nudgeReader(): void {
    if (this.#wakeReader) {
      this.#wakeReader()
      return
    }
    if (this.#readerBlocked && this.#readerClientId !== null && this.cmd.status === 'ready') {
      this.cmd.call('CLIENT', 'UNBLOCK', String(this.#readerClientId)).catch(() => {})
    }
  }

  async #readLoop(): Promise<void> {
    let failures = 0
    let lastReadAt = -Infinity
    let lastReadHadEntries = false
    while (!this.#closed) {
      // Right after a read that brought entries, more are usually on their way: waiting the rest of
      // READ_SPACING_MS lets them arrive and come back in one reply instead of one XREAD (with every
      // room's key and cursor) per entry or two. Before the rooms are listed, so none that joins meanwhile
      // waits for the next read.
      const spacing = lastReadAt + READ_SPACING_MS - performance.now()
      if (lastReadHadEntries && spacing >= 1) {
        await delay(spacing)
        // close() may have run meanwhile: with no rooms left, the idle wait below would never end.
        if (this.#closed) return
      }
      const subs = [...this.#byLog.values()].flatMap((set) => [...set]).filter((s) => !s.positioning)
      if (subs.length === 0) {
        await new Promise<void>((resolve) => {
          this.#wakeReader = resolve
        })
        this.#wakeReader = null
        continue
      }
      try {
        await this.#positionUnknown(subs)
        this.#readerClientId ??= Number(await this.reader.call('CLIENT', 'ID'))
        const streams = new Map<string, string>()
        for (const s of subs) {
          if (s.cursor === null) continue
          const current = streams.get(s.log)
          if (current === undefined || compareIds(s.cursor, current) < 0) streams.set(s.log, s.cursor)
        }
        if (streams.size === 0) throw new Error('no positioned room')
        lastReadAt = performance.now()
        this.#readerBlocked = true
        let reply: unknown
        try {
          reply = await this.reader.callBuffer('XREAD', 'COUNT', READ_COUNT, 'BLOCK', this.#blockMs, 'STREAMS', ...streams.keys(), ...streams.values())
        } finally {
          this.#readerBlocked = false
        }
        failures = 0
        lastReadHadEntries = Array.isArray(reply)
        this.#deliverLogEntries(reply)
      } catch (err) {
        if (this.#closed) return
        failures += 1
        if (failures === 1) this.log.debug({ err }, 'room log read failed; retrying')
        await delay(Math.min(100 * failures, 1_000))
      }
    }
  }

  /** Rooms that joined while Redis was down: fix their position now and have them reload the store. */
  async #positionUnknown(subs: readonly Sub[]): Promise<void> {
    for (const s of subs) {
      if (s.cursor !== null || !s.active) continue
      s.cursor = await this.#lastId(s.log)
      this.#signal(s, { type: 'resync', reason: 'position-unknown' })
    }
  }

  #deliverLogEntries(reply: unknown): void {
    if (!Array.isArray(reply)) return // timed out or unblocked
    for (const stream of reply as [Buffer, [Buffer, Buffer[]][]][]) {
      const subs = this.#byLog.get(stream[0].toString())
      if (!subs) continue
      for (const [idBuf, fields] of stream[1]) {
        const id = idBuf.toString()
        let prev: string | null = null
        let data: Buffer | null = null
        for (let i = 0; i + 1 < fields.length; i += 2) {
          const name = fields[i]?.toString()
          if (name === 'p') prev = fields[i + 1]?.toString() ?? null
          else if (name === 'm') data = fields[i + 1] ?? null
        }
        const envelope = data === null ? null : decodeEnvelope(data)
        for (const s of subs) {
          if (!s.active || s.cursor === null || compareIds(id, s.cursor) <= 0) continue
          if (prev !== s.cursor) this.#signal(s, { type: 'resync', reason: prev === '0-0' ? 'log-lost' : 'trimmed' })
          s.cursor = id
          if (envelope === null) {
            // Written by a newer (or foreign) writer: whatever it carried, the store has or will have it.
            this.log.warn({ roomId: s.roomId, id }, 'a room log entry does not decode; reloading the room from the store')
            this.#signal(s, { type: 'resync', reason: 'undecodable' })
            continue
          }
          if (envelope.origin === this.instanceId) continue
          s.heard.add(envelope.origin)
          this.#deliver(s, envelope.origin, envelope.message)
        }
      }
    }
  }

  #onBusMessage(channel: string, data: Buffer): void {
    const subs = this.#byBus.get(channel)
    if (!subs) return
    const envelope = decodeEnvelope(data)
    if (envelope === null || envelope.origin === this.instanceId) return
    const { message, origin } = envelope
    if (message.type === 'sync-reply' && message.to !== this.instanceId) return
    for (const s of [...subs]) {
      s.heard.add(origin)
      this.#deliver(s, origin, message)
    }
  }

  #deliver(s: Sub, origin: string, message: ReplicatedMessage): void {
    if (!s.active) return
    try {
      s.handler.message({ roomId: s.roomId, origin, message })
    } catch (err) {
      this.log.error({ err, roomId: s.roomId, type: message.type }, 'replication message handler threw')
    }
  }

  #signal(s: Sub, signal: ReplicationSignal): void {
    if (!s.active) return
    try {
      s.handler.signal(signal)
    } catch (err) {
      this.log.error({ err, roomId: s.roomId, signal: signal.type }, 'replication signal handler threw')
    }
  }

  async #writeLoop(): Promise<void> {
    let failures = 0
    while (this.#queue.length > 0 && !this.#closed) {
      if (this.cmd.status !== 'ready') {
        await this.#whenReady()
        continue
      }
      const batch = this.#queue.slice(0, WRITE_BATCH)
      const pipeline = this.cmd.pipeline() as unknown as ReturnType<Redis['pipeline']> & AppendCommand
      for (const item of batch) {
        pipeline.tandemAppend(item.log, this.#maxLen, toBuffer(encodeEnvelope(this.instanceId, item.message)), this.#logTtlMs)
      }
      let results: [Error | null, unknown][] | null
      this.#sending = true
      try {
        results = await pipeline.exec()
      } catch {
        results = null
      } finally {
        this.#sending = false
      }
      let done = 0
      while (results !== null && done < batch.length && !results[done]?.[0]) done += 1
      // A repeat after a lost reply duplicates an entry; updates are idempotent, so that is harmless.
      this.#queue.splice(0, done)
      if (this.#queue.length > this.#maxQueued) this.#mergeQueuedUpdates()
      if (done === batch.length) {
        failures = 0
        continue
      }
      const err = results?.[done]?.[0]
      if (err && err.name === 'ReplyError' && !TRANSIENT_REPLY.test(err.message)) {
        // Redis refused this entry itself (e.g. the key holds another type): retrying would loop forever.
        this.log.error({ err, roomId: batch[done]?.roomId }, 'Redis refused a room log entry; dropped it (the room resyncs from the store)')
        this.#queue.splice(0, 1)
        continue
      }
      failures += 1
      await delay(Math.min(100 * failures, 1_000))
    }
  }

  /**
   * Keeps the queue bounded during a long outage: one merged update per room instead of every keystroke,
   * and only the last commit confirmation per room (each covers the ones before it).
   */
  #mergeQueuedUpdates(): void {
    interface Group {
      index: number
      updates: Uint8Array[]
      seq: number | undefined
      committedUpTo: number | undefined
    }
    const merged = new Map<string, Group>()
    const lastConfirmation = new Map<string, number>()
    const rest: (Queued | null)[] = []
    for (const item of this.#queue) {
      const { message } = item
      if (message.type === 'committed') {
        const previous = lastConfirmation.get(item.roomId)
        if (previous !== undefined) rest[previous] = null
        lastConfirmation.set(item.roomId, rest.length)
        rest.push(item)
        continue
      }
      if (message.type !== 'update') {
        rest.push(item)
        continue
      }
      let group = merged.get(item.roomId)
      if (!group) {
        group = { index: rest.length, updates: [], seq: undefined, committedUpTo: undefined }
        merged.set(item.roomId, group)
        rest.push(null)
      }
      group.updates.push(message.update)
      group.seq = maxDefined(group.seq, message.seq)
      group.committedUpTo = maxDefined(group.committedUpTo, message.committedUpTo)
    }
    for (const [roomId, group] of merged) {
      const update = group.updates.length === 1 ? group.updates[0]! : Y.mergeUpdates(group.updates)
      // The writers of a merged update are several users: receivers learn the client owners from the store.
      // Its seq is the highest merged, so it counts as committed once all of them are.
      const message: Extract<ReplicatedMessage, { type: 'update' }> = { type: 'update', update, userId: null }
      if (group.seq !== undefined) message.seq = group.seq
      if (group.committedUpTo !== undefined) message.committedUpTo = group.committedUpTo
      rest[group.index] = { roomId, log: roomKeys(this.#prefix, roomId).log, message }
    }
    this.#queue.splice(0, this.#queue.length, ...rest.filter((item): item is Queued => item !== null))
    this.log.warn({ queued: this.#queue.length }, 'Redis unreachable for long: merged queued room updates')
  }

  async #beat(): Promise<void> {
    if (this.#beating || this.#closed || this.cmd.status !== 'ready') return
    this.#beating = true
    try {
      await this.cmd.set(livenessKey(this.#prefix, this.instanceId), '1', 'PX', this.#livenessTtlMs)
      const watched = new Map<string, Sub[]>()
      for (const set of this.#byLog.values()) {
        for (const s of set) for (const origin of s.heard) watched.set(origin, [...(watched.get(origin) ?? []), s])
      }
      if (watched.size === 0) return
      const origins = [...watched.keys()]
      const pipeline = this.cmd.pipeline()
      for (const origin of origins) pipeline.exists(livenessKey(this.#prefix, origin))
      const results = await pipeline.exec()
      if (results === null) return
      origins.forEach((origin, i) => {
        const [err, exists] = results[i] ?? [null, 1]
        if (err || exists !== 0) return
        this.log.info({ instanceId: origin }, 'instance stopped refreshing its liveness; dropping its presence')
        for (const s of watched.get(origin) ?? []) {
          if (!s.heard.delete(origin)) continue
          this.#signal(s, { type: 'instance-down', instanceId: origin })
        }
      })
    } catch (err) {
      this.log.debug({ err }, 'liveness heartbeat failed')
    } finally {
      this.#beating = false
    }
  }

  #onConnectionLost(): void {
    if (this.#closed || this.#outage) return
    this.#outage = true
    this.log.warn('Redis connection lost; collaboration continues on this instance, and catches up once it is back')
  }

  #onConnectionReady(): void {
    for (const wake of this.#readyWaiters.splice(0)) wake()
    if (!this.#outage || this.#closed || this.cmd.status !== 'ready' || this.sub.status !== 'ready') return
    this.#outage = false
    void this.#afterReconnect()
  }

  async #afterReconnect(): Promise<void> {
    this.log.info('Redis connection restored')
    const subs = [...this.#byLog.values()].flatMap((set) => [...set])
    try {
      const channels = [...this.#byBus.keys()]
      if (channels.length > 0) await this.sub.subscribe(...channels)
      await this.cmd.set(livenessKey(this.#prefix, this.instanceId), '1', 'PX', this.#livenessTtlMs)
      const runId = runIdOf(await this.cmd.info('server'))
      if (runId !== this.runId) {
        // A restarted Redis may have lost entries nobody read yet: every room reloads the store.
        this.runId = runId
        for (const s of subs) this.#signal(s, { type: 'resync', reason: 'log-lost' })
      }
    } catch (err) {
      this.log.debug({ err }, 'reconnect follow-up failed')
    }
    for (const s of subs) this.#signal(s, { type: 'reconnected' })
    this.#nudgeReader()
  }

  #whenReady(): Promise<void> {
    return new Promise((resolve) => {
      if (this.#closed || this.cmd.status === 'ready') return resolve()
      this.#readyWaiters.push(resolve)
    })
  }
}

function maxDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b
  return b === undefined ? a : Math.max(a, b)
}

function runIdOf(info: string): string | null {
  return /run_id:([0-9a-f]+)/.exec(info)?.[1] ?? null
}

/** Stream ids are `<ms>-<seq>`; compared numerically, not as strings. */
export function compareIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-')
  const [bm = '0', bs = '0'] = b.split('-')
  return compareDecimal(am, bm) || compareDecimal(as, bs)
}

/** Compares two unsigned decimals without leading zeros (both parts of an id can exceed 2^53). */
function compareDecimal(a: string, b: string): number {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1
  return a === b ? 0 : a < b ? -1 : 1
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}

/** Adds to the set under key; true when it is the key's first member. */
function addTo<T>(map: Map<string, Set<T>>, key: string, value: T): boolean {
  const set = map.get(key)
  if (set) {
    set.add(value)
    return false
  }
  map.set(key, new Set([value]))
  return true
}

/** Removes from the set under key; true when the key has no members left. */
function removeFrom<T>(map: Map<string, Set<T>>, key: string, value: T): boolean {
  const set = map.get(key)
  if (!set) return false
  set.delete(value)
  if (set.size > 0) return false
  map.delete(key)
  return true
}
