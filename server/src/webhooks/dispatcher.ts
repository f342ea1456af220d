/**
 * Delivers the outbox. One loop claims due rows (leasing them, so a crash mid-attempt retries them after
 * the lease instead of losing them) and runs up to `concurrency` attempts at a time. It sleeps until the
 * next row is due or until it is woken (new rows, a freed slot, shutdown): no busy loop, no fixed-rate
 * polling. Nothing on a room's path awaits any of this.
 */
import type { Logger } from 'pino'
import type { WebhookDelivery, WebhookEndpoint, WebhookOutbox } from '../persistence/webhook-outbox.js'
import type { WebhookMetrics } from '../metrics.js'
import { signWebhook, signingSecrets } from './signer.js'
import { DestinationError, parseEndpointUrl, resolveDestination, type Resolver } from './ssrf.js'
import type { WebhookTransport } from './transport.js'
import { decide, type AttemptResult, type RetryOptions } from './policy.js'
import { processNow, type Now } from '../clock.js'

/** The endpoint configured through TANDEM_WEBHOOK_URL: trusted by the operator, exempt from the address check. */
export const CONFIG_ENDPOINT_ID = 'ep_config'

export interface DispatcherOptions extends RetryOptions {
  /** Per attempt, DNS resolution included. */
  readonly timeoutMs: number
  /** Skip the private-address check for every endpoint (tests, local demos). */
  readonly allowPrivate: boolean
  /** Attempts in flight at once. @default 8 */
  readonly concurrency: number
}

export interface DispatcherDeps {
  readonly store: WebhookOutbox
  readonly log: Logger
  readonly metrics: WebhookMetrics
  readonly transport: WebhookTransport
  readonly resolver: Resolver
  readonly random?: () => number
  /**
   * The clock of due times and leases, which are stored and compared later: a step of the wall clock must
   * not move them. @default processNow (clock.ts)
   */
  readonly now?: Now
}

/**
 * Even with nothing due, look again this often: another instance sharing the store may have enqueued or
 * replayed rows without waking us.
 */
const IDLE_RECHECK_MS = 60_000
/** Queue-depth gauge refresh, at most this often while busy. */
const DEPTH_REPORT_MS = 1_000
const MAX_TIMER_MS = 2 ** 31 - 1

export class Dispatcher {
  readonly #opts: DispatcherOptions
  readonly #deps: DispatcherDeps
  /** Stops the loop from claiming more. */
  readonly #stop = new AbortController()
  /** Aborts attempts still running when the shutdown grace period is over. */
  readonly #hardStop = new AbortController()
  readonly #inFlight = new Set<Promise<void>>()
  /** Claimed rows waiting for a free slot (at most `concurrency`). */
  readonly #ready: { delivery: WebhookDelivery; endpoint: WebhookEndpoint | undefined }[] = []
  /** Endpoints this dispatcher disabled (410) since their rows were claimed. */
  readonly #disabled = new Set<string>()
  #loop: Promise<void> | null = null
  #wakeRequested = false
  #wakeUp: (() => void) | null = null
  #lastDepthReport = -Infinity
  readonly #now: Now

  constructor(opts: DispatcherOptions, deps: DispatcherDeps) {
    this.#opts = opts
    this.#deps = deps
    this.#now = deps.now ?? processNow
  }

  /**
   * How long a claimed row stays invisible to other claims. It outlasts an attempt (timeout) plus the
   * store write that records it, so rows are retried only when their dispatcher really died.
   */
  get leaseMs(): number {
    return 2 * this.#opts.timeoutMs + 1_000
  }

  get inFlight(): number {
    return this.#inFlight.size
  }

  start(): void {
    this.#loop ??= this.#run()
  }

  /** New rows were enqueued (or replayed): look now instead of at the next due time. */
  wake(): void {
    this.#wakeRequested = true
    this.#wakeUp?.()
  }

  /**
   * Stops claiming, lets attempts in flight finish for up to `graceMs`, then aborts the rest. Aborted
   * rows keep their lease and are retried after it expires (by the next process).
   */
  async close(graceMs: number): Promise<void> {
    this.#stop.abort()
    this.wake()
    await this.#loop
    if (this.#inFlight.size > 0) {
      let timer: NodeJS.Timeout | undefined
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs)
      })
      await Promise.race([Promise.allSettled([...this.#inFlight]), grace])
      clearTimeout(timer)
    }
    this.#hardStop.abort()
    await Promise.allSettled([...this.#inFlight])
  }

  async #run(): Promise<void> {
    const { store, log } = this.#deps
    const signal = this.#stop.signal
    const { concurrency } = this.#opts
    let failures = 0
    while (!signal.aborted) {
      try {
        this.#wakeRequested = false
        this.#launchReady()
        // Claim in batches of at least `concurrency` rows (one claim per batch, not per delivery), keeping
        // at most `concurrency` claimed rows waiting for a slot: each of them starts within one attempt's
        // timeout and finishes within a second one, inside the lease.
        const held = this.#inFlight.size + this.#ready.length
        let claimed: WebhookDelivery[] = []
        const now = this.#now()
        if (held <= concurrency) {
          claimed = await store.claimDueDeliveries(now, 2 * concurrency - held, this.leaseMs)
          if (claimed.length > 0) {
            const endpoints = new Map((await store.listWebhookEndpoints()).map((e) => [e.id, e]))
            for (const delivery of claimed) this.#ready.push({ delivery, endpoint: endpoints.get(delivery.endpointId) })
            this.#launchReady()
          }
        }
        await this.#reportDepth(false)
        failures = 0
        // A full batch may mean more rows are due: claim again as soon as there is room.
        if (claimed.length > 0 && claimed.length === 2 * concurrency - held) continue
        let waitMs = IDLE_RECHECK_MS
        if (this.#inFlight.size + this.#ready.length <= concurrency) {
          const due = await store.nextDeliveryDueAt()
          // A row due now that the claim did not return was taken by someone else; do not spin on it.
          if (due !== null) waitMs = Math.min(waitMs, due <= now && claimed.length === 0 ? 100 : Math.max(0, due - this.#now()))
        } else {
          waitMs = Infinity // no room: a finishing attempt wakes us
        }
        if (this.#inFlight.size === 0) await this.#reportDepth(true)
        await this.#sleep(waitMs)
      } catch (err) {
        if (signal.aborted) break
        failures++
        const retryInMs = Math.min(30_000, 100 * 2 ** Math.min(failures, 10))
        log.error({ err, retryInMs }, 'webhook dispatcher could not read the outbox')
        await this.#sleep(retryInMs, false)
      }
    }
    // Claimed rows that never started keep their lease and are retried after it, by whoever runs next.
    this.#ready.length = 0
  }

  #launchReady(): void {
    while (this.#inFlight.size < this.#opts.concurrency && !this.#stop.signal.aborted) {
      const next = this.#ready.shift()
      if (next === undefined) return
      this.#launch(next.delivery, next.endpoint)
    }
  }

  #launch(delivery: WebhookDelivery, endpoint: WebhookEndpoint | undefined): void {
    const attempt: Promise<void> = this.#attempt(delivery, endpoint)
      .catch((err: unknown) => {
        this.#deps.log.error({ err, deliveryId: delivery.id }, 'could not record webhook attempt; retried after its lease')
      })
      .finally(() => {
        this.#inFlight.delete(attempt)
        this.#launchReady()
        this.wake()
      })
    this.#inFlight.add(attempt)
  }

  async #attempt(delivery: WebhookDelivery, endpoint: WebhookEndpoint | undefined): Promise<void> {
    const { store, log, metrics } = this.#deps
    if (endpoint === undefined || endpoint.disabledAt !== null || this.#disabled.has(endpoint.id)) {
      const error = endpoint === undefined ? 'endpoint was deleted' : 'endpoint is disabled (it answered 410 Gone)'
      await store.completeDelivery(delivery.id, { status: 'failed', error, statusCode: null }, this.#now())
      return
    }
    const number = delivery.attempts + 1
    const result = await this.#send(delivery, endpoint)
    if (result === null) return // shutting down: the lease brings it back
    const now = this.#now()
    const decision = decide(result, number, this.#opts, now, this.#deps.random)
    if (decision.disableEndpoint) {
      this.#disabled.add(endpoint.id)
      await store.disableWebhookEndpoint(endpoint.id, now)
    }
    await store.completeDelivery(delivery.id, decision.outcome, now)
    metrics.webhookAttempt(decision.metric)
    const ctx = { deliveryId: delivery.id, endpointId: endpoint.id, event: delivery.eventType, attempt: number }
    if (decision.outcome.status === 'delivered') log.debug(ctx, 'webhook delivered')
    else if (decision.disableEndpoint) log.warn(ctx, 'webhook endpoint answered 410 Gone: disabled')
    else if (decision.outcome.status === 'failed') log.warn({ ...ctx, error: decision.outcome.error }, 'webhook delivery failed for good')
    else log.debug({ ...ctx, error: decision.outcome.error, retryInMs: decision.outcome.nextAttemptAt - now }, 'webhook attempt failed; will retry')
  }

  /** One signed POST; null when the attempt was cut off by shutdown. */
  async #send(delivery: WebhookDelivery, endpoint: WebhookEndpoint): Promise<AttemptResult | null> {
    const deadline = AbortSignal.timeout(this.#opts.timeoutMs)
    const signal = AbortSignal.any([deadline, this.#hardStop.signal])
    try {
      const url = parseEndpointUrl(endpoint.url)
      // Checked again on every attempt: DNS may point somewhere else now than at registration.
      const destination = await resolveDestination(url, {
        checkAddresses: !this.#opts.allowPrivate && endpoint.id !== CONFIG_ENDPOINT_ID,
        resolver: this.#deps.resolver,
        signal,
      })
      // Re-signed per attempt with the same id: a fresh timestamp keeps receivers' replay windows valid.
      // During a rotation's overlap the previous secret signs too, so a receiver holding either one accepts.
      const wallNow = Date.now()
      const headers = signWebhook(signingSecrets(endpoint, wallNow), { id: delivery.id, timestampSec: wallNow / 1000, body: delivery.payload })
      const res = await this.#deps.transport({ destination, headers: { ...headers }, body: delivery.payload, signal })
      return { kind: 'response', statusCode: res.statusCode, retryAfter: res.retryAfter, body: res.body }
    } catch (err) {
      if (this.#hardStop.signal.aborted) return null
      if (deadline.aborted) return { kind: 'error', message: `timed out after ${this.#opts.timeoutMs} ms` }
      if (err instanceof DestinationError) {
        this.#deps.log.warn({ endpointId: endpoint.id, reason: err.reason }, 'webhook destination refused')
        return { kind: 'error', message: `destination refused: ${err.reason}` }
      }
      return { kind: 'error', message: describeError(err) }
    }
  }

  async #reportDepth(force: boolean): Promise<void> {
    const now = performance.now()
    if (!force && now - this.#lastDepthReport < DEPTH_REPORT_MS) return
    this.#lastDepthReport = now
    this.#deps.metrics.webhookQueueDepth(await this.#deps.store.countPendingDeliveries())
  }

  /** Sleeps up to `ms`, returning early on wake() (when `wakeable`) or on stop. */
  #sleep(ms: number, wakeable = true): Promise<void> {
    if (this.#stop.signal.aborted || (wakeable && this.#wakeRequested)) return Promise.resolve()
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined
      const done = (): void => {
        clearTimeout(timer)
        this.#stop.signal.removeEventListener('abort', done)
        if (this.#wakeUp === done) this.#wakeUp = null
        resolve()
      }
      if (Number.isFinite(ms)) timer = setTimeout(done, Math.min(Math.max(0, ms), MAX_TIMER_MS))
      this.#stop.signal.addEventListener('abort', done, { once: true })
      if (wakeable) this.#wakeUp = done
    })
  }
}

function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = 'code' in err && typeof err.code === 'string' ? err.code : null
    return code !== null && !err.message.includes(code) ? `${code}: ${err.message}` : err.message
  }
  return String(err)
}
