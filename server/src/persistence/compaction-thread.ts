/**
 * The main-thread side of compaction-worker.ts: `plan(rows)` is planCompaction run on a worker thread.
 * The thread starts on first use and is unref'd while idle, so an idle store keeps no process alive.
 */
import { Worker } from 'node:worker_threads'
import type { CompactionOutcome, CompactionPlan } from './compaction.js'
import { workerExecArgv } from './worker-argv.js'

export interface PlanRequest {
  id: number
  packed: ArrayBuffer
  lengths: number[]
}

export type PlanResponse =
  | { id: number; ok: true; outcome: CompactionOutcome; packed: ArrayBuffer; lengths: number[]; reason?: string }
  | { id: number; ok: false; message: string }

interface Waiting {
  resolve: (plan: CompactionPlan) => void
  reject: (err: Error) => void
}

export class CompactionThread {
  #worker: Worker | null = null
  #nextId = 1
  readonly #waiting = new Map<number, Waiting>()

  /** planCompaction(rows) off the main thread. The rows are copied; the caller's buffers stay usable. */
  plan(rows: readonly Uint8Array[]): Promise<CompactionPlan> {
    const worker = this.#start()
    let total = 0
    for (const row of rows) total += row.byteLength
    const packed = new Uint8Array(total)
    const lengths: number[] = []
    let offset = 0
    for (const row of rows) {
      packed.set(row, offset)
      offset += row.byteLength
      lengths.push(row.byteLength)
    }
    const id = this.#nextId++
    return new Promise<CompactionPlan>((resolve, reject) => {
      if (this.#waiting.size === 0) worker.ref()
      this.#waiting.set(id, { resolve, reject })
      worker.postMessage({ id, packed: packed.buffer, lengths } satisfies PlanRequest, [packed.buffer])
    })
  }

  async close(): Promise<void> {
    const worker = this.#worker
    this.#worker = null
    if (worker) await worker.terminate()
    this.#failAll(new Error('compaction thread stopped'))
  }

  #start(): Worker {
    if (this.#worker) return this.#worker
    const worker = new Worker(new URL('./compaction-worker.js', import.meta.url), { execArgv: workerExecArgv(process.execArgv) })
    worker.unref()
    worker.on('message', (res: PlanResponse) => {
      const waiting = this.#waiting.get(res.id)
      if (!waiting) return
      this.#waiting.delete(res.id)
      if (this.#waiting.size === 0) worker.unref()
      if (!res.ok) return waiting.reject(new Error(`compaction planning failed: ${res.message}`))
      const rows: Uint8Array[] = []
      let offset = 0
      for (const len of res.lengths) {
        rows.push(new Uint8Array(res.packed, offset, len))
        offset += len
      }
      waiting.resolve({ outcome: res.outcome, rows, ...(res.reason !== undefined && { reason: res.reason }) })
    })
    const gone = (err: Error): void => {
      if (this.#worker === worker) this.#worker = null
      this.#failAll(err)
    }
    worker.on('error', gone)
    worker.on('exit', (code) => gone(new Error(`compaction thread exited with code ${code}`)))
    this.#worker = worker
    return worker
  }

  #failAll(err: Error): void {
    for (const w of this.#waiting.values()) w.reject(err)
    this.#waiting.clear()
  }
}
