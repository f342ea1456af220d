/**
 * The cluster's user directory in Redis (implements rooms/users.ts). Each instance writes how many
 * connections each user has in each room on it; Lua scripts keep a per-room total, so the instance whose
 * write takes a user's total from 0 to 1 (or back to 0) is the one, and the only one, that emits
 * user.entered (user.left).
 *
 * Keys of a room (in its hash tag, so one script touches one Redis Cluster slot):
 *   <prefix>{<room>}:conns   hash  <instance>|<user> -> connections on that instance (instance id encoded, no '|')
 *   <prefix>{<room>}:users   hash  <user> -> connections over every instance (what the transitions read)
 *   <prefix>{<room>}:names   hash  <user> -> JSON display name of the user's first connection
 *   <prefix>{<room>}:seen    zset  <instance> -> until when (Redis clock, ms) its entries in the room hold
 * Global:
 *   <prefix>instances               set of instances that may hold entries (what reapers look through)
 *   <prefix>instance-rooms:<id>     set of rooms in which that instance may hold entries
 *
 * Liveness: every heartbeat an instance extends its `seen` deadline in each of its rooms. When another
 * instance's liveness key (replication/redis.ts) is gone, any instance reaps it: a script per room that,
 * only if the dead instance's deadline there has passed, removes its entries and reports the users whose
 * total reached 0. Scripts are atomic, so however many instances reap at once, each user.left is reported
 * once. An instance that was only cut off (or stalled past its TTL) finds on its next refresh that its
 * deadline was gone and writes all its entries again, which re-announces its users (user.entered).
 *
 * Outages: the local counts are the truth; writes that fail are retried with the latest count once Redis
 * is back, and every room is rewritten in full after a reconnect. Transitions that begin and end during an
 * outage (a user who came and went while Redis was unreachable) are not reported.
 */
import { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { RoomEvents } from '../rooms/events.js'
import type { ActiveUser, ClusterUsers } from '../rooms/users.js'
import { redactUrlPassword } from '../config.js'
import { livenessKey, RedisConnectError } from './redis.js'

export interface RedisUsersOptions {
  url: string
  /** @default 'tandem:' */
  prefix?: string
  instanceId: string
  /** How long this instance's entries in a room hold without a refresh (ms); match the liveness TTL. @default 5000 */
  ttlMs?: number
  /** How often entries are refreshed and dead instances reaped (ms). @default 2000 */
  heartbeatMs?: number
  /** A room's directory keys expire this long after their last write (ms). @default 86_400_000 */
  keyTtlMs?: number
}

/** Keys of one room's directory. Exported for tests. */
export function userKeys(prefix: string, roomId: string): { conns: string; users: string; names: string; seen: string } {
  const tag = `${prefix}{${encodeURIComponent(roomId)}}`
  return { conns: `${tag}:conns`, users: `${tag}:users`, names: `${tag}:names`, seen: `${tag}:seen` }
}

const LUA_COMMON = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Sets one instance's count for a user; returns 1 when the user's total left 0, -1 when it reached 0.
local function set_one(inst, user, n, name)
  local field = inst .. '|' .. user
  local old = tonumber(redis.call('HGET', KEYS[1], field) or '0')
  if n > 0 then redis.call('HSET', KEYS[1], field, n) else redis.call('HDEL', KEYS[1], field) end
  local before = tonumber(redis.call('HGET', KEYS[2], user) or '0')
  local after = before + n - old
  if after > 0 then
    redis.call('HSET', KEYS[2], user, after)
    if before <= 0 then
      redis.call('HSET', KEYS[3], user, name)
      return 1
    end
    return 0
  end
  redis.call('HDEL', KEYS[2], user)
  redis.call('HDEL', KEYS[3], user)
  if before > 0 then return -1 end
  return 0
end
local function touch(ttl)
  for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ttl) end
end
`

// ARGV: instance, user, connections, name JSON, ttl ms, key ttl ms. Returns {transition, active users, deadline was new}.
const SET_LUA = `${LUA_COMMON}
local added = redis.call('ZADD', KEYS[4], now_ms() + tonumber(ARGV[5]), ARGV[1])
local ev = set_one(ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4])
touch(tonumber(ARGV[6]))
return {ev, redis.call('HLEN', KEYS[2]), added}
`

// ARGV: instance, ttl ms, key ttl ms, force ('1' rewrites even when the deadline held), then
// (user, connections, name JSON) for every user of the room on this instance.
// Returns {transition, user, active users, ...}.
const REFRESH_LUA = `${LUA_COMMON}
local added = redis.call('ZADD', KEYS[4], now_ms() + tonumber(ARGV[2]), ARGV[1])
local out = {}
if added == 1 or ARGV[4] == '1' then
  local want = {}
  for i = 5, #ARGV, 3 do want[ARGV[i]] = true end
  local prefix = ARGV[1] .. '|'
  for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
    if string.sub(field, 1, #prefix) == prefix then
      local user = string.sub(field, #prefix + 1)
      if not want[user] then
        local ev = set_one(ARGV[1], user, 0, 'null')
        if ev ~= 0 then
          table.insert(out, ev); table.insert(out, user); table.insert(out, redis.call('HLEN', KEYS[2]))
        end
      end
    end
  end
  for i = 5, #ARGV, 3 do
    local ev = set_one(ARGV[1], ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2])
    if ev ~= 0 then
      table.insert(out, ev); table.insert(out, ARGV[i]); table.insert(out, redis.call('HLEN', KEYS[2]))
    end
  end
end
touch(tonumber(ARGV[3]))
return out
`

// ARGV: dead instance. Returns -1 when its deadline in the room still holds, else {user, active users, ...}
// for the users whose last connection was there.
const REAP_LUA = `${LUA_COMMON}
local d = redis.call('ZSCORE', KEYS[4], ARGV[1])
if d and tonumber(d) > now_ms() then return -1 end
redis.call('ZREM', KEYS[4], ARGV[1])
local out = {}
local prefix = ARGV[1] .. '|'
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, 1, #prefix) == prefix then
    local user = string.sub(field, #prefix + 1)
    if set_one(ARGV[1], user, 0, 'null') == -1 then
      table.insert(out, user); table.insert(out, redis.call('HLEN', KEYS[2]))
    end
  end
end
return out
`

// Users of instances whose deadline holds. Returns {user, connections, name JSON, ...}.
const LIST_LUA = `${LUA_COMMON}
local live = {}
for _, inst in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '(' .. now_ms(), '+inf')) do live[inst] = true end
local counts, order = {}, {}
local flat = redis.call('HGETALL', KEYS[1])
for i = 1, #flat, 2 do
  local bar = string.find(flat[i], '|', 1, true)
  if bar and live[string.sub(flat[i], 1, bar - 1)] then
    local user = string.sub(flat[i], bar + 1)
    if not counts[user] then counts[user] = 0; table.insert(order, user) end
    counts[user] = counts[user] + tonumber(flat[i + 1])
  end
end
local out = {}
for _, user in ipairs(order) do
  table.insert(out, user); table.insert(out, counts[user]); table.insert(out, redis.call('HGET', KEYS[3], user) or 'null')
end
return out
`

interface UserCommands {
  tandemUserSet(conns: string, users: string, names: string, seen: string, ...argv: (string | number)[]): Promise<[number, number, number]>
  tandemUserRefresh(conns: string, users: string, names: string, seen: string, ...argv: (string | number)[]): Promise<(string | number)[]>
  tandemUserReap(conns: string, users: string, names: string, seen: string, inst: string): Promise<number | (string | number)[]>
  tandemUserList(conns: string, users: string, names: string, seen: string): Promise<(string | number)[]>
}

type Client = Redis & UserCommands

const WRITE_BATCH = 128

export async function createRedisUsers(opts: RedisUsersOptions, events: RoomEvents, log: Logger): Promise<ClusterUsers> {
  const client = new Redis(opts.url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (times) => Math.min(100 * times, 1000),
    connectTimeout: 5_000,
    commandTimeout: 3_000,
  })
  client.on('error', () => {})
  for (const [name, lua] of [
    ['tandemUserSet', SET_LUA],
    ['tandemUserRefresh', REFRESH_LUA],
    ['tandemUserReap', REAP_LUA],
    ['tandemUserList', LIST_LUA],
  ] as const) {
    client.defineCommand(name, { numberOfKeys: 4, lua })
  }
  try {
    await client.connect()
  } catch (err) {
    client.disconnect()
    const reason = err instanceof Error ? err.message : String(err)
    throw new RedisConnectError(`cannot connect to Redis at ${redactUrlPassword(opts.url)}: ${reason}`, { cause: err })
  }
  const users = new RedisUsers(opts, events, log, client as Client)
  users.start()
  return users
}

interface LocalUser {
  name: string | null
  connections: number
}

class RedisUsers implements ClusterUsers {
  readonly #prefix: string
  readonly #inst: string
  readonly #ttlMs: number
  readonly #heartbeatMs: number
  readonly #keyTtlMs: number
  /** This instance's connections per room and user: the truth every write carries. */
  readonly #local = new Map<string, Map<string, LocalUser>>()
  /** (room, user) whose count changed since it was last written; the value written is read at send time. */
  readonly #dirty = new Map<string, { roomId: string; userId: string }>()
  /** Rooms to rewrite in full (after a reconnect, or when this instance's deadline there had lapsed). */
  readonly #forced = new Set<string>()
  #writing: Promise<void> | null = null
  #heartbeat: NodeJS.Timeout | null = null
  #beating: Promise<void> | null = null
  #closed = false
  #outage = false
  #failures = 0

  constructor(
    private readonly opts: RedisUsersOptions,
    private readonly events: RoomEvents,
    private readonly log: Logger,
    private readonly client: Client,
  ) {
    this.#prefix = opts.prefix ?? 'tandem:'
    this.#inst = encodeURIComponent(opts.instanceId)
    this.#ttlMs = opts.ttlMs ?? 5_000
    this.#heartbeatMs = opts.heartbeatMs ?? 2_000
    this.#keyTtlMs = opts.keyTtlMs ?? 86_400_000
  }

  start(): void {
    this.client.on('close', () => {
      if (!this.#closed) this.#outage = true
    })
    this.client.on('ready', () => {
      if (!this.#outage || this.#closed) return
      this.#outage = false
      // Entries written during the outage failed, and others may have reaped ours meanwhile.
      for (const roomId of this.#local.keys()) this.#forced.add(roomId)
      this.#kick()
    })
    this.#heartbeat = setInterval(() => {
      this.#beating ??= this.#beat().finally(() => {
        this.#beating = null
      })
    }, this.#heartbeatMs)
    this.#heartbeat.unref()
  }

  set(roomId: string, userId: string, name: string | null, connections: number): void {
    if (this.#closed) return
    let room = this.#local.get(roomId)
    if (connections > 0) {
      if (!room) this.#local.set(roomId, (room = new Map()))
      const known = room.get(userId)
      if (known) known.connections = connections
      else room.set(userId, { name, connections })
    } else if (room) {
      room.delete(userId)
      if (room.size === 0) this.#local.delete(roomId)
    }
    const key = `${roomId}\n${userId}`
    this.#dirty.delete(key)
    this.#dirty.set(key, { roomId, userId })
    this.#kick()
  }

  async list(roomId: string): Promise<ActiveUser[]> {
    const k = userKeys(this.#prefix, roomId)
    const flat = await this.client.tandemUserList(k.conns, k.users, k.names, k.seen)
    const out: ActiveUser[] = []
    for (let i = 0; i + 2 < flat.length; i += 3) {
      out.push({ userId: String(flat[i]), connections: Number(flat[i + 1]), name: parseName(String(flat[i + 2])) })
    }
    return out.sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0))
  }

  async flush(): Promise<void> {
    const deadline = Date.now() + 5_000
    while ((this.#writing !== null || this.#dirty.size > 0) && Date.now() < deadline) {
      if (this.#writing) await this.#writing
      else if (this.#dirty.size > 0) {
        if (this.client.status !== 'ready') return // nothing reaches Redis now; others reap this instance
        this.#kick()
        if (this.#writing === null) return
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    // Whatever is still connected leaves now (the rooms closed their peers first, so normally nothing).
    for (const [roomId, room] of [...this.#local]) for (const userId of [...room.keys()]) this.set(roomId, userId, null, 0)
    await this.flush()
    this.#closed = true
    if (this.#heartbeat) clearInterval(this.#heartbeat)
    await this.#beating
    if (this.client.status === 'ready') {
      await Promise.all([
        this.client.del(this.#indexKey(this.opts.instanceId)),
        this.client.srem(`${this.#prefix}instances`, this.opts.instanceId),
      ]).catch(() => {})
    }
    await this.client.quit().catch(() => this.client.disconnect())
  }

  #indexKey(instanceId: string): string {
    return `${this.#prefix}instance-rooms:${encodeURIComponent(instanceId)}`
  }

  #kick(): void {
    if (this.#writing !== null || this.#closed) return
    if (this.#dirty.size === 0 && this.#forced.size === 0) return
    this.#writing = this.#write().finally(() => {
      this.#writing = null
      if (this.client.status === 'ready') this.#kick()
    })
  }

  async #write(): Promise<void> {
    while (this.#dirty.size > 0 || this.#forced.size > 0) {
      if (this.client.status !== 'ready') return // resumed by 'ready' (every room is then rewritten)
      const batch = [...this.#dirty.values()].slice(0, WRITE_BATCH)
      for (const item of batch) this.#dirty.delete(`${item.roomId}\n${item.userId}`)
      const forced = [...this.#forced]
      this.#forced.clear()
      const pipeline = this.client.pipeline() as unknown as ReturnType<Redis['pipeline']> & UserCommands
      const emptied = new Set<string>()
      const indexed = new Set<(typeof batch)[number]>()
      for (const item of batch) {
        const { roomId, userId } = item
        const k = userKeys(this.#prefix, roomId)
        const user = this.#local.get(roomId)?.get(userId)
        if (user) {
          // Listed before its first entry is written, so a reaper finds it even if it dies before its first heartbeat.
          pipeline.sadd(`${this.#prefix}instances`, this.opts.instanceId)
          pipeline.sadd(this.#indexKey(this.opts.instanceId), roomId)
          indexed.add(item)
        } else if (!this.#local.has(roomId)) emptied.add(roomId)
        pipeline.tandemUserSet(k.conns, k.users, k.names, k.seen, this.#inst, userId, user?.connections ?? 0, JSON.stringify(user?.name ?? null), this.#ttlMs, this.#keyTtlMs)
      }
      for (const roomId of forced) this.#queueRefresh(pipeline, roomId, true)
      // Sent after the room's last write, on the same connection: a later join re-adds it first.
      for (const roomId of emptied) pipeline.srem(this.#indexKey(this.opts.instanceId), roomId)
      let results: [Error | null, unknown][] | null
      try {
        results = await pipeline.exec()
      } catch {
        results = null
      }
      let failed = results === null
      let i = 0
      for (const item of batch) {
        const { roomId, userId } = item
        if (indexed.has(item)) i += 2 // the SADDs
        const [err, reply] = results?.[i++] ?? [new Error('no reply'), null]
        if (err) {
          failed = true
          const key = `${roomId}\n${userId}`
          if (!this.#dirty.has(key)) this.#dirty.set(key, { roomId, userId })
          continue
        }
        const [ev, active, added] = reply as [number, number, number]
        this.#emit(roomId, userId, ev, active)
        if (added === 1) this.#forced.add(roomId) // our deadline had lapsed: the room's other users were reaped
      }
      for (const roomId of forced) {
        const [err, reply] = results?.[i++] ?? [new Error('no reply'), null]
        if (err) {
          failed = true
          this.#forced.add(roomId)
        } else this.#emitRefresh(roomId, reply as (string | number)[])
      }
      if (failed) {
        this.#failures += 1
        if (this.#failures === 1) this.log.warn('could not write the user directory to Redis; retrying')
        await delay(Math.min(100 * this.#failures, 1_000))
        if (this.client.status !== 'ready') return
      } else {
        this.#failures = 0
      }
    }
  }

  #queueRefresh(pipeline: UserCommands, roomId: string, force: boolean): void {
    const k = userKeys(this.#prefix, roomId)
    const argv: (string | number)[] = [this.#inst, this.#ttlMs, this.#keyTtlMs, force ? '1' : '0']
    for (const [userId, u] of this.#local.get(roomId) ?? []) argv.push(userId, u.connections, JSON.stringify(u.name))
    void pipeline.tandemUserRefresh(k.conns, k.users, k.names, k.seen, ...argv)
  }

  #emitRefresh(roomId: string, flat: (string | number)[]): void {
    for (let i = 0; i + 2 < flat.length; i += 3) this.#emit(roomId, String(flat[i + 1]), Number(flat[i]), Number(flat[i + 2]))
  }

  #emit(roomId: string, userId: string, ev: number, activeUsers: number): void {
    const at = Date.now()
    if (ev === 1) {
      const name = this.#local.get(roomId)?.get(userId)?.name ?? null
      this.events.emit({ type: 'user.entered', roomId, userId, name, activeUsers, at })
    } else if (ev === -1) {
      this.events.emit({ type: 'user.left', roomId, userId, activeUsers, at })
    }
  }

  async #beat(): Promise<void> {
    if (this.#closed || this.client.status !== 'ready') return
    try {
      const pipeline = this.client.pipeline() as unknown as ReturnType<Redis['pipeline']> & UserCommands
      const rooms = [...this.#local.keys()]
      pipeline.sadd(`${this.#prefix}instances`, this.opts.instanceId)
      for (const roomId of rooms) this.#queueRefresh(pipeline, roomId, false)
      pipeline.smembers(`${this.#prefix}instances`)
      const results = (await pipeline.exec()) ?? []
      rooms.forEach((roomId, i) => {
        const [err, reply] = results[i + 1] ?? [null, null]
        if (!err && Array.isArray(reply)) this.#emitRefresh(roomId, reply as (string | number)[])
      })
      const [, members] = results[rooms.length + 1] ?? [null, []]
      await this.#reap(((members as string[] | null) ?? []).filter((id) => id !== this.opts.instanceId))
    } catch (err) {
      this.log.debug({ err }, 'user directory heartbeat failed')
    }
  }

  /** Removes the entries of instances whose liveness key is gone, reporting the users who left with them. */
  async #reap(others: string[]): Promise<void> {
    if (others.length === 0) return
    const alive = await Promise.all(others.map((id) => this.client.exists(livenessKey(this.#prefix, id))))
    for (const [index, id] of others.entries()) {
      if (alive[index] !== 0) continue
      const rooms = await this.client.smembers(this.#indexKey(id))
      const inst = encodeURIComponent(id)
      let stillHolding = false
      for (const roomId of rooms) {
        const k = userKeys(this.#prefix, roomId)
        const reply = await this.client.tandemUserReap(k.conns, k.users, k.names, k.seen, inst)
        if (reply === -1) {
          stillHolding = true
          continue
        }
        const flat = reply as (string | number)[]
        for (let i = 0; i + 1 < flat.length; i += 2) this.events.emit({ type: 'user.left', roomId, userId: String(flat[i]), activeUsers: Number(flat[i + 1]), at: Date.now() })
      }
      if (stillHolding) continue
      this.log.info({ instanceId: id }, 'instance stopped refreshing its liveness; removed its users from the directory')
      await this.client.del(this.#indexKey(id))
      await this.client.srem(`${this.#prefix}instances`, id)
    }
  }
}

function parseName(json: string): string | null {
  try {
    const value: unknown = JSON.parse(json)
    return typeof value === 'string' ? value : null
  } catch {
    return null
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}
