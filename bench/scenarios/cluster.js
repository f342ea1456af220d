/**
 * cluster: the fanout load over N instances of one cluster that share one PostgreSQL schema and one
 * Redis (a fresh prefix per run): Tandem (`tandem serve` with TANDEM_REDIS_URL and the postgres store)
 * or Hocuspocus with extension-redis and extension-database (bench/servers/hocuspocus-cluster.js). Load
 * client g connects to instance g % N for both, so every room has clients on several instances and most
 * deliveries cross Redis. Reports cross-instance next to same-instance delivery latency, CPU per
 * instance and per delivered update, the CPU of the machine's Redis and Postgres processes (per update
 * sent), Redis commands/s and rooms loaded per instance.
 */
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { ackMeaning, connectRooms, drainAndCheck, measureRate, round } from '../lib/measure.js'
import { startServer } from '../lib/servers.js'
import { DEFAULT_DATABASE_URL, dropSchema, ensureReachable, freshSchemaName } from '../lib/postgres.js'
import { cpuSeconds, cpuCount, machineTicks, processGroupCpuSeconds } from '../lib/proc.js'
import { int } from './fanout.js'

export const name = 'cluster'
export const summary = 'fanout over N instances (Postgres + Redis), Tandem or Hocuspocus + Redis; cross- vs same-instance latency, CPU per delivered update, Redis and Postgres CPU'
export const servers = ['tandem', 'hocuspocus-redis']
export const compareServers = ['tandem', 'hocuspocus-redis']

/** This machine's Redis only; the bench sends traffic to 127.0.0.1 alone. */
const REDIS_URL = 'redis://127.0.0.1:6379'

/** @type {Record<string, { default: string, help: string }>} */
export const options = {
  instances: { default: '2', help: 'instances (2..8), each its own process on its own port' },
  rooms: { default: '100', help: 'rooms' },
  clients: { default: '10', help: 'clients per room, spread over the instances' },
  rate: { default: '2', help: 'updates per second per client' },
  duration: { default: '10', help: 'measured seconds' },
  warmup: { default: '3', help: 'seconds at rate before measuring' },
  observers: { default: '2', help: 'observer clients (real Y.Docs) per observed room, on different instances' },
  'observer-rooms': { default: '2', help: 'rooms that get observers' },
  insert: { default: '8', help: 'characters per update' },
}

export const metrics = [
  { key: 'deliveredPerS', label: 'delivered/s', unit: '/s', better: 'higher' },
  { key: 'sentPerS', label: 'sent/s', unit: '/s', better: 'higher' },
  { key: 'deliveryRatio', label: 'delivered / expected', unit: '', better: 'higher' },
  { key: 'latencyCrossMs.p50', label: 'cross-instance latency p50', unit: 'ms', better: 'lower' },
  { key: 'latencyCrossMs.p99', label: 'cross-instance latency p99', unit: 'ms', better: 'lower', chart: true },
  { key: 'latencySameMs.p50', label: 'same-instance latency p50', unit: 'ms', better: 'lower' },
  { key: 'latencySameMs.p99', label: 'same-instance latency p99', unit: 'ms', better: 'lower' },
  { key: 'ackMs.p50', label: 'own-update ack p50', unit: 'ms', better: 'lower' },
  { key: 'ackMs.p99', label: 'own-update ack p99', unit: 'ms', better: 'lower' },
  { key: 'clusterCpuPct', label: 'CPU, all instances', unit: '% core', better: 'lower', chart: true },
  { key: 'instanceCpu', label: 'CPU per instance', unit: '% core', better: 'info' },
  { key: 'cpuPerDeliveredUs', label: 'instance CPU per delivered update', unit: 'µs', better: 'lower', chart: true },
  { key: 'redisCpuPct', label: 'redis-server CPU (whole server)', unit: '% core', better: 'info' },
  { key: 'redisUsPerUpdate', label: 'redis-server CPU per update sent', unit: 'µs', better: 'lower' },
  { key: 'postgresCpuPct', label: 'postgres CPU (all its processes)', unit: '% core', better: 'info' },
  { key: 'postgresUsPerUpdate', label: 'postgres CPU per update sent', unit: 'µs', better: 'lower' },
  { key: 'redisCommandsPerS', label: 'Redis commands/s (whole server)', unit: '/s', better: 'info' },
  { key: 'redisTopCommands', label: 'Redis busiest commands', unit: '/s', better: 'info' },
  { key: 'roomsLoaded', label: 'rooms loaded per instance', unit: '', better: 'info' },
  { key: 'clientCpuPct', label: 'generator CPU', unit: '% core', better: 'info' },
  { key: 'othersCpuPct', label: 'other processes CPU', unit: '% core', better: 'info' },
  { key: 'errors', label: 'errors', unit: '', better: 'lower' },
  { key: 'converged', label: 'observers converged', unit: '', better: 'bool' },
]

/**
 * Lines under the server's name in the report.
 * @param {Record<string, any>} rec
 */
export function details(rec) {
  const lines = []
  if (Array.isArray(rec.redisPids)) {
    lines.push(`Redis and Postgres CPU: the machine's redis-server (pid ${rec.redisPids.join(', ') || 'none found'}) and all ${rec.postgresPids} postgres processes, from /proc; other users' work on them is counted too`)
  }
  if (Array.isArray(rec.documentStoresPerInstance)) {
    lines.push(`whole-document stores to Postgres since start, per instance: ${rec.documentStoresPerInstance.join(' / ')} (read after the window)`)
  }
  return lines
}

/**
 * Starts the instances one after another (the first creates the schema's tables) and returns them as one
 * RunningServer whose `ports`/`pids` list every instance; stop() stops all, drops the schema and the
 * Redis prefix's keys.
 * @param {import('../lib/servers.js').ServerKind} kind tandem or hocuspocus-redis
 * @param {Record<string, string>} o
 * @param {import('../lib/context.js').Context} ctx
 * @returns {Promise<import('../lib/servers.js').RunningServer>}
 */
export async function startServers(kind, o, ctx) {
  if (kind !== 'tandem' && kind !== 'hocuspocus-redis') throw new Error(`cluster runs tandem or hocuspocus-redis, not ${kind}`)
  const n = int(o.instances, 'instances')
  if (n < 2 || n > 8) throw new Error('--instances must be 2..8')
  const url = ctx.store === 'postgres' ? ctx.databaseUrl : DEFAULT_DATABASE_URL
  await ensureReachable(url)
  const hocuspocus = kind === 'hocuspocus-redis'
  const database = { url, schema: freshSchemaName(hocuspocus ? 'hocuspocus' : 'tandem') }
  // Hocuspocus's extension adds the ':' itself (keys and channels are `<prefix>:<room>`).
  const prefix = hocuspocus ? `hocuspocus_bench_${randomBytes(6).toString('hex')}` : `tandem_bench_${randomBytes(6).toString('hex')}:`
  const keyPattern = hocuspocus ? `${prefix}:` : prefix
  const env = { TANDEM_REDIS_URL: REDIS_URL, TANDEM_REDIS_PREFIX: prefix, TANDEM_MAX_CONNECTIONS_PER_ADDRESS: '0' }
  /** @type {import('../lib/servers.js').RunningServer[]} */
  const instances = []
  const cleanup = async () => {
    await Promise.all(instances.map((s) => s.stop()))
    const warning = await dropSchema(database.url, database.schema)
    if (warning) console.warn(warning)
    await deletePrefix(keyPattern).catch((err) => console.warn(`could not delete Redis keys ${keyPattern}*: ${err.message}`))
  }
  try {
    for (let i = 0; i < n; i++) {
      instances.push(
        hocuspocus
          ? await startServer('hocuspocus-redis', { database, profile: ctx.profile, cluster: { redisUrl: REDIS_URL, redisPrefix: prefix, instanceId: `bench-${i}` } })
          : await startServer('tandem', { store: 'postgres', database, profile: ctx.profile, env: { ...env, TANDEM_INSTANCE_ID: `bench-${i}` } }),
      )
    }
  } catch (err) {
    await cleanup()
    throw err
  }
  const first = instances[0]
  return {
    ...first,
    ports: instances.map((s) => s.port),
    pids: instances.map((s) => s.pid),
    description: hocuspocus
      ? `${n} instances of ${first.description}: Hocuspocus's default debounce (store 2 s after the last change, at most every 10 s while changes keep coming) of the whole document into one row per room (schema ${database.schema}), Redis lock per store; SyncStatus when applied, before it is stored; Redis ${REDIS_URL}, prefix ${prefix}:`
      : `${n} Tandem instances (postgres store, schema ${database.schema}; Redis ${REDIS_URL}, prefix ${prefix})`,
    get exited() {
      return instances.some((s) => s.exited)
    },
    logTail: () => instances.map((s, i) => `[instance ${i}]\n${s.logTail()}`).join('\n'),
    async stop() {
      await cleanup()
      return { code: 0, signal: null }
    },
  }
}

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
  const ports = server.ports ?? [server.port]
  const pids = server.pids ?? [server.pid]
  if (clients < ports.length) throw new Error('--clients must be at least --instances (every room spans the instances)')
  const insertLength = int(o.insert, 'insert')
  const updatesPerClient = Math.ceil(rate * (warmup + duration + 3) * 1.1) + 5

  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 5_000 })
  redis.on('error', () => {})
  await redis.connect()
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
    const step = await measureRate({
      pool,
      server,
      ctx,
      rate,
      warmup,
      duration,
      receiversPerSend: clients - 1,
      onWindowStart: async () => ({
        at: performance.now(),
        cpu: pids.map(cpuSeconds),
        machine: machineTicks(),
        redisServer: processGroupCpuSeconds('redis-server'),
        postgres: processGroupCpuSeconds('postgres'),
        redis: await redisStats(redis),
      }),
      onWindowEnd: async (start, summary) => {
        const seconds = (performance.now() - start.at) / 1000
        const cpuS = pids.map((pid, i) => cpuSeconds(pid) - start.cpu[i])
        const cpu = cpuS.map((s) => round((s / seconds) * 100, 1))
        const m1 = machineTicks()
        const redisServer = processGroupCpuSeconds('redis-server')
        const postgres = processGroupCpuSeconds('postgres')
        const busy = (m1.busy - start.machine.busy) / Math.max(1, m1.total - start.machine.total)
        const redisEnd = await redisStats(redis)
        const totalExact = (cpuS.reduce((a, b) => a + b, 0) / seconds) * 100
        const total = round(totalExact, 1)
        const redisCpuPct = ((redisServer.seconds - start.redisServer.seconds) / seconds) * 100
        const postgresCpuPct = ((postgres.seconds - start.postgres.seconds) / seconds) * 100
        // µs of CPU per event: (% of a core / 100) CPU-seconds per second, over events per second.
        const usPer = (/** @type {number} */ pct, /** @type {number} */ perS) => (perS > 0 ? round(((pct / 100) * 1e6) / perS, 1) : null)
        /** @type {Record<string, number>} */
        const perCommand = {}
        for (const [cmd, calls] of Object.entries(redisEnd.perCommand)) {
          const d = calls - (start.redis.perCommand[cmd] ?? 0)
          if (d > 0) perCommand[cmd] = round(d / seconds)
        }
        const top = Object.entries(perCommand).sort((a, b) => b[1] - a[1]).slice(0, 4)
        return {
          clusterCpuPct: total,
          instanceCpuPct: cpu,
          instanceCpu: cpu.map((c) => `${c}%`).join(' / '),
          cpuPerDeliveredUs: usPer(totalExact, summary.deliveredPerS),
          redisCpuPct: round(redisCpuPct, 1),
          redisUsPerUpdate: usPer(redisCpuPct, summary.sentPerS),
          postgresCpuPct: round(postgresCpuPct, 1),
          postgresUsPerUpdate: usPer(postgresCpuPct, summary.sentPerS),
          redisPids: redisServer.pids,
          postgresPids: postgres.pids.length,
          // Window counts every instance as "the server"; here the others are the rest of the machine
          // besides the instances, the generator, Redis and Postgres.
          othersCpuPct: round(Math.max(0, busy * 100 * cpuCount() - totalExact - summary.clientCpuPct - redisCpuPct - postgresCpuPct), 1),
          redisCommandsPerS: round((redisEnd.total - start.redis.total) / seconds),
          redisCommandsByType: perCommand,
          redisTopCommands: top.map(([k, v]) => `${k} ${v}`).join(', '),
        }
      },
    })
    const hocuspocus = server.kind === 'hocuspocus-redis'
    const stats = hocuspocus ? await Promise.all(ports.map((port) => hocuspocusStats(server.host, port))) : null
    const loaded = stats ? stats.map((s) => s.documents) : await Promise.all(ports.map((port) => roomsLoaded(server.host, port)))
    const after = await drainAndCheck(pool, ctx)
    return {
      params: { instances: ports.length, rooms, clients, rate, duration, warmup, insertLength, updateBytes: Math.round(updateBytes * 10) / 10, poolMB: Math.round(poolMB), workers: ctx.workers },
      ackMeaning: ackMeaning(server.kind, 'postgres'),
      connect,
      ...step,
      roomsLoadedPerInstance: loaded,
      roomsLoaded: loaded.join(' / '),
      ...(stats && { documentStoresPerInstance: stats.map((s) => s.stores) }),
      ...after,
      converged: after.convergence.converged,
    }
  } finally {
    await pool.close()
    redis.disconnect()
  }
}

/**
 * Commands Redis processed so far, in total and per command. Redis is the machine's: other users'
 * commands are counted too (the README says so), the prefix only separates keys and channels.
 * @param {Redis} redis
 */
async function redisStats(redis) {
  const stats = await redis.info('stats')
  const total = Number(/^total_commands_processed:(\d+)/m.exec(stats)?.[1] ?? NaN)
  const text = await redis.info('commandstats')
  /** @type {Record<string, number>} */
  const perCommand = {}
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) perCommand[m[1]] = Number(m[2])
  return { total, perCommand }
}

/** tandem_rooms_loaded from one instance's /metrics. @param {string} host @param {number} port */
async function roomsLoaded(host, port) {
  const res = await fetch(`http://${host}:${port}/metrics`, { signal: AbortSignal.timeout(10_000) })
  const text = await res.text()
  const m = /^tandem_rooms_loaded (\S+)$/m.exec(text)
  return m ? Number(m[1]) : null
}

/**
 * Documents loaded and whole-document stores done so far by one Hocuspocus instance
 * (bench/servers/hocuspocus-cluster.js's /bench/stats).
 * @param {string} host
 * @param {number} port
 */
async function hocuspocusStats(host, port) {
  const res = await fetch(`http://${host}:${port}/bench/stats`, { signal: AbortSignal.timeout(10_000) })
  const body = /** @type {{ documents?: number, stores?: number }} */ (await res.json())
  return { documents: body.documents ?? null, stores: body.stores ?? null }
}

/** Removes what the run left under its Redis prefix (bounded: SCAN in pages, at most 100 pages). @param {string} prefix */
async function deletePrefix(prefix) {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 5_000 })
  redis.on('error', () => {})
  try {
    await redis.connect()
    let cursor = '0'
    for (let page = 0; page < 100; page++) {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      if (keys.length > 0) await redis.del(...keys)
      cursor = next
      if (cursor === '0') break
    }
  } finally {
    redis.disconnect()
  }
}
