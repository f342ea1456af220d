/**
 * In-process replication. `createLocalReplication` is what a single instance uses: nothing to forward,
 * nothing ever arrives, nothing kept. `createLocalHub` connects several "instances" inside one process
 * with the same delivery rules as the Redis adapter (a capped per-room log read from cursors, perishable
 * presence, liveness), so the contract suite and room tests can run two instances without Redis; its
 * fault controls (cut, restore, trim, kill) model what a network and a dying process do.
 */
import {
  LOGGED_TYPES,
  type Envelope,
  type ReplicaHandler,
  type ReplicatedMessage,
  type Replication,
  type ReplicationSignal,
  type RoomChannel,
} from '../rooms/replication.js'

/** One instance, no peers to tell: publishing is a no-op and nothing ever arrives. */
export function createLocalReplication(instanceId: string): Replication {
  const channel: RoomChannel = { publish() {}, leave() {} }
  return {
    instanceId,
    join: () => Promise.resolve(channel),
    publish() {},
    close: () => Promise.resolve(),
  }
}

export interface LocalHubOptions {
  /** Entries kept per room log; a reader further behind than this gets a resync signal. @default 1000 */
  logMaxLen?: number
}

export interface LocalHub {
  /** A new instance on the hub. */
  connect(instanceId: string): Replication
  /** Cuts the instance off: its logged publishes wait, perishable ones in either direction are lost. */
  cut(instanceId: string): void
  /** Reconnects it: it sends what waited, reads from its cursors, and its rooms hear `reconnected`. */
  restore(instanceId: string): void
  /** Drops all but the newest `keep` entries of a room's log (what Redis's MAXLEN does under load). */
  trim(roomId: string, keep: number): void
  /** The instance dies: it stops, and rooms on other instances that heard from it get `instance-down`. */
  kill(instanceId: string): void
}

interface LogEntry {
  seq: number
  origin: string
  message: ReplicatedMessage
}

interface RoomLog {
  entries: LogEntry[]
  /** Sequence number of the next entry; entries[0].seq is the oldest kept. */
  nextSeq: number
}

interface Sub {
  instance: Instance
  roomId: string
  handler: ReplicaHandler
  /** Last sequence number read; null while the instance could not fix its position (it was cut). */
  cursor: number | null
  /** Origins this room has heard from: only those rooms learn that an instance died. */
  heard: Set<string>
  active: boolean
}

interface Instance {
  id: string
  cut: boolean
  dead: boolean
  subs: Set<Sub>
  /** Logged publishes made while cut, sent in order on restore. */
  waiting: { roomId: string; message: ReplicatedMessage }[]
}

export function createLocalHub(opts: LocalHubOptions = {}): LocalHub {
  const maxLen = opts.logMaxLen ?? 1000
  const logs = new Map<string, RoomLog>()
  const instances = new Map<string, Instance>()
  // Deliveries run later, in order, from one queue: a publish never re-enters a handler synchronously.
  const queue: (() => void)[] = []
  let draining = false

  const schedule = (fn: () => void): void => {
    queue.push(fn)
    if (draining) return
    draining = true
    queueMicrotask(() => {
      for (let fn = queue.shift(); fn !== undefined; fn = queue.shift()) fn()
      draining = false
    })
  }

  const logOf = (roomId: string): RoomLog => {
    let log = logs.get(roomId)
    if (!log) {
      log = { entries: [], nextSeq: 1 }
      logs.set(roomId, log)
    }
    return log
  }

  const deliver = (sub: Sub, envelope: Envelope): void => {
    if (!sub.active || sub.instance.cut) return
    sub.heard.add(envelope.origin)
    sub.handler.message(envelope)
  }

  const signal = (sub: Sub, s: ReplicationSignal): void => {
    if (sub.active && !sub.instance.cut) sub.handler.signal(s)
  }

  /** Reads the sub's log from its cursor, as the Redis reader loop does. */
  const pump = (sub: Sub): void => {
    if (!sub.active || sub.instance.cut || sub.cursor === null) return
    const log = logOf(sub.roomId)
    const oldest = log.entries[0]?.seq ?? log.nextSeq
    if (sub.cursor < oldest - 1) {
      sub.cursor = oldest - 1
      signal(sub, { type: 'resync', reason: 'trimmed' })
    }
    for (const entry of log.entries) {
      if (entry.seq <= sub.cursor) continue
      sub.cursor = entry.seq
      if (entry.origin !== sub.instance.id) deliver(sub, { roomId: sub.roomId, origin: entry.origin, message: entry.message })
    }
  }

  const send = (from: Instance, roomId: string, message: ReplicatedMessage): void => {
    if (LOGGED_TYPES.has(message.type)) {
      const log = logOf(roomId)
      log.entries.push({ seq: log.nextSeq++, origin: from.id, message })
      if (log.entries.length > maxLen) log.entries.splice(0, log.entries.length - maxLen)
      for (const instance of instances.values()) {
        if (instance === from) continue
        for (const sub of instance.subs) if (sub.roomId === roomId) schedule(() => pump(sub))
      }
      return
    }
    if (message.type === 'sync-reply' && !instances.has(message.to)) return
    for (const instance of instances.values()) {
      if (instance === from || instance.cut) continue
      if (message.type === 'sync-reply' && message.to !== instance.id) continue
      for (const sub of instance.subs) if (sub.roomId === roomId) schedule(() => deliver(sub, { roomId, origin: from.id, message }))
    }
  }

  const publish = (instance: Instance, roomId: string, message: ReplicatedMessage): void => {
    if (instance.dead) return
    if (instance.cut) {
      if (LOGGED_TYPES.has(message.type)) instance.waiting.push({ roomId, message })
      return
    }
    send(instance, roomId, message)
  }

  const get = (id: string): Instance => {
    const instance = instances.get(id)
    if (!instance) throw new Error(`no instance ${id} on this hub`)
    return instance
  }

  return {
    connect(instanceId) {
      if (instances.has(instanceId)) throw new Error(`instance ${instanceId} is already on this hub`)
      const instance: Instance = { id: instanceId, cut: false, dead: false, subs: new Set(), waiting: [] }
      instances.set(instanceId, instance)
      return {
        instanceId,
        join(roomId, handler) {
          const log = logOf(roomId)
          const sub: Sub = { instance, roomId, handler, cursor: instance.cut ? null : log.nextSeq - 1, heard: new Set(), active: true }
          instance.subs.add(sub)
          return Promise.resolve({
            publish: (message) => publish(instance, roomId, message),
            leave() {
              sub.active = false
              instance.subs.delete(sub)
            },
          })
        },
        publish: (roomId, message) => publish(instance, roomId, message),
        close() {
          instance.dead = true
          for (const sub of instance.subs) sub.active = false
          instance.subs.clear()
          instances.delete(instanceId)
          return Promise.resolve()
        },
      }
    },

    cut(instanceId) {
      get(instanceId).cut = true
    },

    restore(instanceId) {
      const instance = get(instanceId)
      if (!instance.cut) return
      instance.cut = false
      for (const { roomId, message } of instance.waiting.splice(0)) send(instance, roomId, message)
      for (const sub of instance.subs) {
        schedule(() => {
          if (sub.cursor === null) {
            sub.cursor = logOf(sub.roomId).nextSeq - 1
            signal(sub, { type: 'resync', reason: 'position-unknown' })
          }
          pump(sub)
          signal(sub, { type: 'reconnected' })
        })
      }
    },

    trim(roomId, keep) {
      const log = logOf(roomId)
      if (log.entries.length > keep) log.entries.splice(0, log.entries.length - keep)
    },

    kill(instanceId) {
      const dead = get(instanceId)
      dead.dead = true
      for (const sub of dead.subs) sub.active = false
      dead.subs.clear()
      instances.delete(instanceId)
      for (const instance of instances.values()) {
        for (const sub of instance.subs) {
          if (!sub.heard.delete(instanceId)) continue
          schedule(() => signal(sub, { type: 'instance-down', instanceId }))
        }
      }
    },
  }
}
