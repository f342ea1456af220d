/**
 * File descriptors: the process's limit, a connection cap that stays below it, and a guard that stops
 * accepting while the limit is reached.
 *
 * Why the guard exists: uSockets (inside uWS) accepts in a loop on a level-triggered poll, and when
 * accept4() fails with EMFILE it just returns ("Todo: start timer here" in its loop.c). The listen
 * socket stays readable, so the event loop spins at 100 % CPU on failing accept4() calls while every
 * new client waits in the kernel backlog until it times out. uWS exposes no way to pause accepting, so
 * the guard closes the listen socket (new clients are refused at once by the kernel, at no cost) and
 * listens again once enough descriptors are free. A small reserve of descriptors is held while
 * listening and released on exhaustion, so the store, logs and webhooks keep working meanwhile.
 */
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs'
import type { Logger } from 'pino'

/** The soft RLIMIT_NOFILE of this process (Node raises it to the hard limit at startup), or null off Linux. */
export function openFileLimit(): number | null {
  try {
    const match = /^Max open files\s+(\d+|unlimited)\s/m.exec(readFileSync('/proc/self/limits', 'utf8'))
    if (!match?.[1] || match[1] === 'unlimited') return null
    return Number(match[1])
  } catch {
    return null
  }
}

/** Descriptors open in this process right now, or null off Linux. */
export function openDescriptorCount(): number | null {
  try {
    return readdirSync('/proc/self/fd').length - 1 // minus the one reading the directory
  } catch {
    return null
  }
}

/**
 * The default server-wide WebSocket cap for a descriptor limit: the limit minus a reserve for what
 * else needs descriptors (the store and its WAL, logs, webhook and JWKS requests, REST requests and
 * sockets still in their HTTP handshake): a tenth of the limit, at least 64, at most 1024.
 */
export function defaultMaxConnections(limit: number): number {
  const reserve = Math.min(1024, Math.max(64, Math.floor(limit / 10)))
  return Math.max(1, limit - reserve)
}

export interface DescriptorGuardOptions {
  limit: number
  log: Logger
  /** Stop accepting (close the listen socket). */
  pause: () => void
  /** Accept again; false if listening failed (tried again on the next check). */
  resume: () => boolean
  checkMs?: number
  /** Descriptors held while listening and released on exhaustion. */
  reserve?: number
}

export class DescriptorGuard {
  readonly #options: Required<DescriptorGuardOptions>
  readonly #resumeAt: number
  #reserved: number[] = []
  #timer: NodeJS.Timeout | null = null
  #paused = false
  #pauses = 0

  constructor(options: DescriptorGuardOptions) {
    this.#options = { checkMs: 500, reserve: 8, ...options }
    // Listen again only with real headroom, or one more burst exhausts the limit straight away.
    this.#resumeAt = options.limit - Math.max(2 * this.#options.reserve, Math.floor(options.limit / 10))
  }

  get paused(): boolean {
    return this.#paused
  }

  /** How often accepting was paused (tests, diagnostics). */
  get pauses(): number {
    return this.#pauses
  }

  start(): void {
    if (this.#timer !== null) return
    this.#takeReserve()
    this.#timer = setInterval(() => this.check(), this.#options.checkMs)
    this.#timer.unref()
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    this.#releaseReserve()
  }

  /** One check: pause on exhaustion; while paused, resume once enough descriptors are free. */
  check(): void {
    if (!this.#paused) {
      if (!exhausted()) return
      this.#paused = true
      this.#pauses++
      this.#options.pause()
      this.#releaseReserve()
      // While paused nothing else keeps the process alive if every client leaves: keep the timer ref'd.
      this.#timer?.ref()
      this.#options.log.warn(
        { openFileLimit: this.#options.limit },
        'out of file descriptors: stopped accepting connections until some close (raise the limit with `ulimit -n` / LimitNOFILE)',
      )
      return
    }
    const open = openDescriptorCount()
    if (open === null || open > this.#resumeAt) return
    if (!this.#options.resume()) return
    this.#paused = false
    this.#timer?.unref()
    this.#takeReserve()
    this.#options.log.info({ openDescriptors: open, openFileLimit: this.#options.limit }, 'file descriptors available again: accepting connections')
  }

  #takeReserve(): void {
    while (this.#reserved.length < this.#options.reserve) {
      try {
        this.#reserved.push(openSync('/dev/null', 'r'))
      } catch {
        return
      }
    }
  }

  #releaseReserve(): void {
    for (const fd of this.#reserved) closeSync(fd)
    this.#reserved = []
  }
}

/** True when the process cannot open one more descriptor. */
function exhausted(): boolean {
  let fd: number
  try {
    fd = openSync('/dev/null', 'r')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    return code === 'EMFILE' || code === 'ENFILE'
  }
  closeSync(fd)
  return false
}
