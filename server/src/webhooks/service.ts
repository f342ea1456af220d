/**
 * Webhooks as one resource: the outbox listener on room events, the dispatcher, and the operations the
 * REST API exposes (endpoints, deliveries, replay). HTTP-free: routes.ts maps requests onto these calls.
 */
import type { Logger } from 'pino'
import type { Config } from '../config.js'
import type { WebhookMetrics } from '../metrics.js'
import type { DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookOutbox } from '../persistence/webhook-outbox.js'
import type { RoomEvents } from '../rooms/events.js'
import { AppError } from '../errors.js'
import { processNow, type Now } from '../clock.js'
import { generateId, generateSecret } from './signer.js'
import { DestinationError, parseEndpointUrl, resolveDestination, systemResolver, type Resolver } from './ssrf.js'
import { createHttpTransport, type WebhookTransport } from './transport.js'
import { Outbox, WEBHOOK_EVENT_TYPES, type DescribeRoom, type WebhookEventType } from './outbox.js'
import { CONFIG_ENDPOINT_ID, Dispatcher } from './dispatcher.js'

export type WebhooksOptions = Config['webhooks']

export interface WebhooksDeps {
  readonly store: WebhookOutbox
  readonly events: RoomEvents
  readonly log: Logger
  readonly metrics: WebhookMetrics
  /** Size and state vector of a room for room.changed; null when it no longer exists. */
  readonly describeRoom: DescribeRoom
  /** Replaces the HTTP client (tests). The default pins connections to the vetted address. */
  readonly transport?: WebhookTransport
  /** Replaces DNS resolution (tests). @default dns.lookup with all addresses */
  readonly resolver?: Resolver
  /** Attempts in flight at once. @default 8 */
  readonly concurrency?: number
  /** The clock of stored due times and leases (must match the store's). @default processNow (clock.ts) */
  readonly now?: Now
}

/** An endpoint as the API shows it: the secret appears only once, in the creation response. */
export interface EndpointView {
  readonly id: string
  readonly url: string
  readonly events: readonly WebhookEventType[] | null
  /** ms since the epoch */
  readonly createdAt: number
  /** ms since the epoch; set when the receiver answered 410 Gone. */
  readonly disabledAt: number | null
  /** True for the endpoint configured through TANDEM_WEBHOOK_URL. */
  readonly fromConfig: boolean
  /**
   * Until when (wall clock, ms since the epoch) the secret replaced by the last rotation still signs; null
   * when no previous secret signs by expiry (none, it was dropped at once, or ep_config's, which signs while
   * TANDEM_WEBHOOK_PREVIOUS_SECRET is set). A past instant means the overlap is over.
   */
  readonly previousSecretExpiresAt: number | null
}

export interface CreatedEndpoint extends EndpointView {
  /** `whsec_…`: shown once; store it to verify signatures. */
  readonly secret: string
}

export interface DeliveryView {
  readonly id: string
  readonly endpointId: string
  readonly eventType: string
  readonly status: DeliveryStatus
  readonly attempts: number
  /** When the next attempt is due (pending only), ms since the epoch. */
  readonly nextAttemptAt: number | null
  readonly lastError: string | null
  readonly lastStatusCode: number | null
  readonly createdAt: number
  readonly updatedAt: number
  /** The JSON body sent to the receiver. */
  readonly payload: unknown
}

export interface DeliveryPage {
  readonly deliveries: DeliveryView[]
  /** Pass as `cursor` to get the next page; null on the last page. */
  readonly nextCursor: string | null
}

export interface CreateEndpointInput {
  readonly url: string
  /** Event types to deliver; null or omitted means all. */
  readonly events?: readonly WebhookEventType[] | null
}

export interface ListDeliveriesInput {
  readonly status?: DeliveryStatus
  readonly cursor?: string
  /** @default 50 */
  readonly limit?: number
}

export interface Webhooks {
  /** Validates the URL (scheme, credentials, every resolved address) and stores a new endpoint. */
  createEndpoint(input: CreateEndpointInput): Promise<CreatedEndpoint>
  listEndpoints(): Promise<EndpointView[]>
  /** Deletes the endpoint and its pending deliveries; `webhook_not_found` if unknown. */
  deleteEndpoint(id: string): Promise<void>
  /**
   * Gives the endpoint a new secret; the current one keeps signing (second) for `overlapSec` seconds
   * (default TANDEM_WEBHOOK_SECRET_OVERLAP_SEC; 0 drops it at once). `webhook_not_found` if unknown,
   * `webhook_managed_by_config` for ep_config.
   */
  rotateSecret(id: string, overlapSec?: number): Promise<CreatedEndpoint>
  listDeliveries(input: ListDeliveriesInput): Promise<DeliveryPage>
  /** Sends the delivery again from attempt 1 (same webhook-id); `delivery_not_found` if unknown. */
  replayDelivery(id: string): Promise<DeliveryView>
  /** Pending debounced changes (tests: returns to zero when rooms go quiet). */
  readonly pendingChanges: number
  /**
   * Stops listening, turns recorded room changes into room.changed deliveries, stops the dispatcher and waits
   * for attempts in flight up to `graceMs` (default `timeoutMs`; cut-off ones are retried after their lease).
   */
  close(graceMs?: number): Promise<void>
}

export const DEFAULT_CONCURRENCY = 8
export const MAX_DELIVERY_PAGE = 200
const DEFAULT_DELIVERY_PAGE = 50

export async function createWebhooks(opts: WebhooksOptions, deps: WebhooksDeps): Promise<Webhooks> {
  const log = deps.log.child({ component: 'webhooks' })
  await upsertConfigEndpoint(opts, deps.store, log)
  const concurrency = deps.concurrency ?? DEFAULT_CONCURRENCY
  let transport = deps.transport
  let closeTransport = (): void => {}
  if (transport === undefined) {
    const http = createHttpTransport({ maxSockets: concurrency })
    transport = http.send
    closeTransport = () => http.close()
  }
  const dispatcher = new Dispatcher(
    { ...opts, concurrency },
    {
      store: deps.store,
      log,
      metrics: deps.metrics,
      transport,
      resolver: deps.resolver ?? systemResolver,
      now: deps.now ?? processNow,
    },
  )
  const outbox = new Outbox(opts, {
    store: deps.store,
    log,
    describeRoom: deps.describeRoom,
    onEnqueued: () => dispatcher.wake(),
    onDropped: (count, type) => deps.metrics.webhookEventsDropped(count, type),
    now: deps.now ?? processNow,
  })
  const unsubscribe = deps.events.on(outbox.onEvent)
  outbox.start()
  dispatcher.start()
  return new WebhookService(opts, deps, { outbox, dispatcher, unsubscribe, closeTransport })
}

interface Parts {
  outbox: Outbox
  dispatcher: Dispatcher
  unsubscribe: () => void
  closeTransport: () => void
}

class WebhookService implements Webhooks {
  #closing: Promise<void> | null = null

  constructor(
    private readonly opts: WebhooksOptions,
    private readonly deps: WebhooksDeps,
    private readonly parts: Parts,
  ) {}

  get pendingChanges(): number {
    return this.parts.outbox.pendingChanges
  }

  async createEndpoint(input: CreateEndpointInput): Promise<CreatedEndpoint> {
    this.#assertOpen()
    let url: URL
    const deadline = AbortSignal.timeout(this.opts.timeoutMs)
    try {
      url = parseEndpointUrl(input.url)
      await resolveDestination(url, { checkAddresses: !this.opts.allowPrivate, resolver: this.deps.resolver ?? systemResolver, signal: deadline })
    } catch (err) {
      if (err instanceof DestinationError) throw new AppError('bad_request', `webhook url refused: ${err.reason}`, { cause: err })
      if (deadline.aborted) throw new AppError('bad_request', `webhook url refused: its host did not resolve within ${this.opts.timeoutMs} ms`, { cause: err })
      throw err
    }
    const events = normalizeEvents(input.events)
    const endpoint: WebhookEndpoint = {
      id: generateId('ep_'),
      url: url.href,
      secret: generateSecret(),
      events,
      createdAt: Date.now(),
      disabledAt: null,
      previousSecret: null,
      previousSecretExpiresAt: null,
    }
    await this.deps.store.saveWebhookEndpoint(endpoint)
    return { ...toEndpointView(endpoint), secret: endpoint.secret }
  }

  async listEndpoints(): Promise<EndpointView[]> {
    return (await this.deps.store.listWebhookEndpoints()).map(toEndpointView)
  }

  async deleteEndpoint(id: string): Promise<void> {
    if (id === CONFIG_ENDPOINT_ID) {
      throw new AppError('bad_request', 'ep_config comes from TANDEM_WEBHOOK_URL; unset the variable to remove it')
    }
    if (!(await this.deps.store.deleteWebhookEndpoint(id))) throw new AppError('webhook_not_found', `webhook endpoint ${id} does not exist`)
  }

  async rotateSecret(id: string, overlapSec: number = this.opts.secretOverlapSec): Promise<CreatedEndpoint> {
    this.#assertOpen()
    if (id === CONFIG_ENDPOINT_ID) {
      throw new AppError(
        'webhook_managed_by_config',
        'ep_config signs with TANDEM_WEBHOOK_SECRET: to rotate it, set TANDEM_WEBHOOK_PREVIOUS_SECRET to the old secret and TANDEM_WEBHOOK_SECRET to the new one, then restart',
      )
    }
    // Wall clock: the expiry is stored, shown to operators and compared by whichever instance signs.
    const previousExpiresAt = overlapSec > 0 ? Date.now() + overlapSec * 1000 : null
    const rotated = await this.deps.store.rotateWebhookSecret(id, generateSecret(), previousExpiresAt)
    if (rotated === null) throw new AppError('webhook_not_found', `webhook endpoint ${id} does not exist`)
    return { ...toEndpointView(rotated), secret: rotated.secret }
  }

  async listDeliveries(input: ListDeliveriesInput): Promise<DeliveryPage> {
    const limit = Math.min(Math.max(1, Math.floor(input.limit ?? DEFAULT_DELIVERY_PAGE)), MAX_DELIVERY_PAGE)
    // One extra row tells whether another page exists without a count query.
    const rows = await this.deps.store.listDeliveries({
      ...(input.status !== undefined && { status: input.status }),
      ...(input.cursor !== undefined && { after: input.cursor }),
      limit: limit + 1,
    })
    const page = rows.slice(0, limit)
    const last = page[page.length - 1]
    return { deliveries: page.map(toDeliveryView), nextCursor: rows.length > limit && last ? last.id : null }
  }

  async replayDelivery(id: string): Promise<DeliveryView> {
    this.#assertOpen()
    const existing = await this.deps.store.getDelivery(id)
    if (existing === null) throw new AppError('delivery_not_found', `webhook delivery ${id} does not exist`)
    const endpoint = (await this.deps.store.listWebhookEndpoints()).find((e) => e.id === existing.endpointId)
    if (endpoint === undefined) throw new AppError('webhook_not_found', `webhook endpoint ${existing.endpointId} of delivery ${id} was deleted`)
    if (endpoint.disabledAt !== null) {
      throw new AppError('bad_request', `webhook endpoint ${endpoint.id} is disabled (it answered 410 Gone); register the receiver again`)
    }
    const replayed = await this.deps.store.replayDelivery(id, (this.deps.now ?? processNow)())
    if (replayed === null) throw new AppError('delivery_not_found', `webhook delivery ${id} does not exist`)
    this.parts.dispatcher.wake()
    return toDeliveryView(replayed)
  }

  close(graceMs: number = this.opts.timeoutMs): Promise<void> {
    this.#closing ??= this.#close(graceMs)
    return this.#closing
  }

  async #close(graceMs: number): Promise<void> {
    this.parts.unsubscribe()
    await this.parts.outbox.close()
    await this.parts.dispatcher.close(graceMs)
    this.parts.closeTransport()
  }

  #assertOpen(): void {
    if (this.#closing !== null) throw new AppError('unavailable', 'webhooks are shutting down')
  }
}

/**
 * Makes the stored `ep_config` match the environment: created or updated when TANDEM_WEBHOOK_URL is
 * set (re-enabled too: the operator's configuration says to deliver there), deleted when it was unset.
 */
async function upsertConfigEndpoint(opts: WebhooksOptions, store: WebhookOutbox, log: Logger): Promise<void> {
  const existing = (await store.listWebhookEndpoints()).find((e) => e.id === CONFIG_ENDPOINT_ID) ?? null
  if (opts.url === null || opts.secret === null) {
    if (existing !== null) {
      await store.deleteWebhookEndpoint(CONFIG_ENDPOINT_ID)
      log.info({ endpointId: CONFIG_ENDPOINT_ID }, 'TANDEM_WEBHOOK_URL is no longer set: removed its endpoint and pending deliveries')
    }
    return
  }
  let url: URL
  try {
    url = parseEndpointUrl(opts.url) // scheme and credentials only: the operator may point it anywhere
  } catch (err) {
    throw new Error(`TANDEM_WEBHOOK_URL: ${err instanceof DestinationError ? err.reason : String(err)}`, { cause: err })
  }
  if (
    existing !== null &&
    existing.url === url.href &&
    existing.secret === opts.secret &&
    existing.previousSecret === opts.previousSecret &&
    existing.previousSecretExpiresAt === null &&
    existing.events === null &&
    existing.disabledAt === null
  ) {
    return
  }
  if (existing?.disabledAt != null) log.warn({ endpointId: CONFIG_ENDPOINT_ID }, 're-enabling the configured webhook endpoint that had answered 410 Gone')
  await store.saveWebhookEndpoint({
    id: CONFIG_ENDPOINT_ID,
    url: url.href,
    secret: opts.secret,
    events: null,
    createdAt: existing?.createdAt ?? Date.now(),
    disabledAt: null,
    // Signs beside the secret for as long as the variable is set: the operator ends the overlap by unsetting it.
    previousSecret: opts.previousSecret,
    previousSecretExpiresAt: null,
  })
}

function normalizeEvents(events: readonly string[] | null | undefined): WebhookEventType[] | null {
  if (events === null || events === undefined) return null
  const known = new Set<string>(WEBHOOK_EVENT_TYPES)
  const unknown = events.filter((e) => !known.has(e))
  if (unknown.length > 0) throw new AppError('bad_request', `unknown webhook event type ${unknown.join(', ')}; known: ${WEBHOOK_EVENT_TYPES.join(', ')}`)
  if (events.length === 0) throw new AppError('bad_request', 'events must name at least one event type (or be null for all)')
  return WEBHOOK_EVENT_TYPES.filter((t) => events.includes(t))
}

function toEndpointView(endpoint: WebhookEndpoint): EndpointView {
  return {
    id: endpoint.id,
    url: endpoint.url,
    events: endpoint.events === null ? null : (endpoint.events.filter((e) => (WEBHOOK_EVENT_TYPES as readonly string[]).includes(e)) as WebhookEventType[]),
    createdAt: endpoint.createdAt,
    disabledAt: endpoint.disabledAt,
    fromConfig: endpoint.id === CONFIG_ENDPOINT_ID,
    previousSecretExpiresAt: endpoint.previousSecret === null ? null : endpoint.previousSecretExpiresAt,
  }
}

function toDeliveryView(d: WebhookDelivery): DeliveryView {
  let payload: unknown
  try {
    payload = JSON.parse(d.payload)
  } catch {
    payload = d.payload
  }
  return {
    id: d.id,
    endpointId: d.endpointId,
    eventType: d.eventType,
    status: d.status,
    attempts: d.attempts,
    nextAttemptAt: d.status === 'pending' ? d.nextAttemptAt : null,
    lastError: d.lastError,
    lastStatusCode: d.lastStatusCode,
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
    payload,
  }
}
