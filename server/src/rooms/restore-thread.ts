/**
 * The main-thread side of restore-worker.ts: `compute(current, target)` is restoreUpdate run on a worker
 * thread. The thread starts on first use and is unref'd while idle, so it keeps no process alive.
 */
import { Worker } from 'node:worker_threads'
import { workerExecArgv } from '../persistence/worker-argv.js'

export interface RestoreRequest {
  id: number
  current: ArrayBuffer
  target: ArrayBuffer
}

export type RestoreResponse = { id: number; ok: true; update: ArrayBuffer | null } | { id: number; ok: false; message: string }

interface Waiting {
  resolve: (update: Uint8Array | null) => void
  reject: (err: Error) => void
}

export class RestoreThread {
  #worker: Worker | null = null
  #nextId = 1
  readonly #waiting = new Map<number, Waiting>()

  /** restoreUpdate(current, target) off the main thread. Both are copied; the caller's buffers stay usable. */
  compute(current: Uint8Array, target: Uint8Array): Promise<Uint8Array | null> {
    const worker = this.#start()
    const id = this.#nextId++
    const a = current.slice()
    const b = target.slice()
    return new Promise<Uint8Array | null>((resolve, reject) => {
      if (this.#waiting.size === 0) worker.ref()
      this.#waiting.set(id, { resolve, reject })
      worker.postMessage({ id, current: a.buffer, target: b.buffer } satisfies RestoreRequest, [a.buffer, b.buffer])
    })
  }

  async close(): Promise<void> {
    const worker = this.#worker
    this.#worker = null
    if (worker) await worker.terminate()
    this.#failAll(new Error('restore thread stopped'))
  }

  #start(): Worker {
    if (this.#worker) return this.#worker
    const worker = new Worker(new URL('./restore-worker.js', import.meta.url), { execArgv: workerExecArgv(process.execArgv) })
    worker.unref()
    worker.on('message', (res: RestoreResponse) => {
      const waiting = this.#waiting.get(res.id)
      if (!waiting) return
      this.#waiting.delete(res.id)
      if (this.#waiting.size === 0) worker.unref()
      if (!res.ok) return waiting.reject(new Error(`computing the restore failed: ${res.message}`))
      waiting.resolve(res.update === null ? null : new Uint8Array(res.update))
    })
    const gone = (err: Error): void => {
      if (this.#worker === worker) this.#worker = null
      this.#failAll(err)
    }
    worker.on('error', gone)
    worker.on('exit', (code) => gone(new Error(`restore thread exited with code ${code}`)))
    this.#worker = worker
    return worker
  }

  #failAll(err: Error): void {
    for (const w of this.#waiting.values()) w.reject(err)
    this.#waiting.clear()
  }
}
