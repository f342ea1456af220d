/**
 * The main thread's side of the load generator: spawns worker threads, hands each whole rooms, sends
 * them commands and gathers their answers.
 */
import { Worker } from 'node:worker_threads'

/**
 * @typedef {{ name: string, senders: number[], observers: number }} RoomPlan
 */

export class LoadPool {
  /**
   * @param {{ workers: number, server: import('./servers.js').RunningServer, totalClients: number,
   *   insertLength?: number }} opts
   */
  constructor(opts) {
    this.nextId = 1
    /** @type {Map<number, { resolve: (v: any) => void, reject: (e: Error) => void }>} */
    this.pending = new Map()
    /** @type {{ sent: number, delivered: number, acked: number, errors: number, connected: number, elu: number }[]} */
    this.progress = []
    /** @type {Worker[]} */
    this.workers = []
    for (let i = 0; i < opts.workers; i++) {
      const worker = new Worker(new URL('./load-worker.js', import.meta.url), {
        workerData: {
          workerId: i,
          host: opts.server.host,
          port: opts.server.port,
          ports: opts.server.ports,
          framing: opts.server.framing,
          singlePath: opts.server.singlePath,
          muxPath: opts.server.muxPath,
          totalClients: Math.max(1, opts.totalClients),
          insertLength: opts.insertLength ?? 8,
        },
      })
      this.progress.push({ sent: 0, delivered: 0, acked: 0, errors: 0, connected: 0, elu: 0 })
      worker.on('message', (msg) => {
        if (msg.type === 'progress') {
          this.progress[i] = msg
          return
        }
        const waiter = this.pending.get(msg.id)
        if (!waiter) return
        this.pending.delete(msg.id)
        if (msg.type === 'error') waiter.reject(new Error(`load worker ${i}: ${msg.message}`))
        else waiter.resolve(msg)
      })
      worker.on('error', (err) => {
        for (const waiter of this.pending.values()) waiter.reject(err)
        this.pending.clear()
      })
      this.workers.push(worker)
    }
  }

  /**
   * Sends a command to one worker.
   * @param {number} i
   * @param {Record<string, unknown>} cmd
   * @param {number} [timeoutMs]
   */
  request(i, cmd, timeoutMs = 600_000) {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`load worker ${i} did not answer ${String(cmd.cmd)} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer)
          resolve(v)
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        },
      })
      this.workers[i].postMessage({ ...cmd, id })
    })
  }

  /**
   * Sends a command to every worker (`cmd` may be a function of the worker index) and waits for all.
   * @param {Record<string, unknown> | ((i: number) => Record<string, unknown>)} cmd
   * @param {number} [timeoutMs]
   * @returns {Promise<any[]>}
   */
  all(cmd, timeoutMs) {
    return Promise.all(this.workers.map((_, i) => this.request(i, typeof cmd === 'function' ? cmd(i) : cmd, timeoutMs)))
  }

  /** Splits rooms over workers, whole rooms per worker, round-robin. @param {RoomPlan[]} rooms */
  split(rooms) {
    /** @type {RoomPlan[][]} */
    const parts = this.workers.map(() => [])
    rooms.forEach((room, i) => parts[i % parts.length].push(room))
    return parts
  }

  /** Live totals for the progress bar. */
  totals() {
    const t = { sent: 0, delivered: 0, acked: 0, errors: 0, connected: 0, eluMax: 0 }
    for (const p of this.progress) {
      t.sent += p.sent
      t.delivered += p.delivered
      t.acked += p.acked
      t.errors += p.errors
      t.connected += p.connected
      t.eluMax = Math.max(t.eluMax, p.elu)
    }
    return t
  }

  async close() {
    try {
      await this.all({ cmd: 'close' }, 10_000)
    } catch {
      // terminate below either way
    }
    await Promise.all(this.workers.map((w) => w.terminate()))
  }
}

/**
 * Plans `rooms` rooms of `clients` senders each, numbered globally, with `observers` observers in each of
 * the first `observerRooms` rooms (consecutive rooms land in different workers).
 * @param {{ rooms: number, clients: number, observers: number, observerRooms: number, prefix?: string }} p
 * @returns {RoomPlan[]}
 */
export function planRooms(p) {
  const prefix = p.prefix ?? `bench-${Date.now().toString(36)}`
  /** @type {RoomPlan[]} */
  const plan = []
  let g = 0
  for (let r = 0; r < p.rooms; r++) {
    const senders = []
    for (let c = 0; c < p.clients; c++) senders.push(g++)
    plan.push({ name: `${prefix}-r${r}`, senders, observers: r < p.observerRooms ? p.observers : 0 })
  }
  return plan
}
