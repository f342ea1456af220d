/**
 * Turns room events into outbox rows: one delivery per enabled endpoint that subscribes to the event.
 * The RoomEvents listener only queues (it is synchronous and never throws); a single writer drains the
 * queue into the store in order. `room.changed` is debounced per room first, so a busy room adds one row
 * per quiet period (or per max wait), not one per keystroke.
 */
import type { Logger } from 'pino'
import type { NewWebhookDelivery, Store, WebhookEndpoint } from '../persistence/store.js'
import type { RoomEvent } from '../rooms/events.js'
import { generateId } from './signer.js'
import { afterQuiet, type QuietWait } from '../quiet-wait.js'

export const WEBHOOK_EVENT_TYPES = ['room.created', 'room.deleted', 'room.changed', 'user.entered', 'user.left'] as const
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number]

/** What the lead's wiring reports about a room for `room.changed`; null when the room no longer exists. */
export type DescribeRoom = (roomId: string) => Promise<{ sizeBytes: number; stateVector: Uint8Array } | null>

/** The JSON body of every delivery (Standard Webhooks convention). */
export interface WebhookPayload {
  readonly type: WebhookEventType
  /** ISO 8601: when the event happened. */
  readonly timestamp: string
  readonly data: Readonly<Record<string, unknown>>
}

export interface OutboxOptions {
  /** room.changed is written after this much quiet per room… @default 2_000 */
  readonly debounceMs: number
  /** …or at the latest this long after the room's first unsent change. @default 10_000 */
  readonly maxWaitMs: number
}

export interface OutboxDeps {
  readonly store: Store
  readonly log: Logger
  readonly describeRoom: DescribeRoom
  /** Called after rows were written, to wake the dispatcher. */
  readonly onEnqueued: () => void
}

/** Base64 state vectors longer than this are left out, keeping room.changed bodies well under 20 KB. */
export const MAX_STATE_VECTOR_BASE64 = 16 * 1024
/** Events waiting for the store; past this the oldest are dropped (the store is down or far behind). */
export const MAX_QUEUED_EVENTS = 10_000
const WRITE_BATCH = 256

type QueuedItem =
  | { readonly kind: 'event'; readonly type: WebhookEventType; readonly at: number; readonly data: Record<string, unknown> }
  | { readonly kind: 'changed'; readonly roomId: string; readonly firstAt: number; readonly lastAt: number }

interface PendingChange {
  readonly firstAt: number
  lastAt: number
  wait: QuietWait | null
}

export class Outbox {
  readonly #opts: OutboxOptions
  readonly #deps: OutboxDeps
  readonly #debounced = new Map<string, PendingChange>()
  #queue: QueuedItem[] = []
  #writing: Promise<void> | null = null
  #closed = false
  #dropped = 0

  constructor(opts: OutboxOptions, deps: OutboxDeps) {
    this.#opts = opts
    this.#deps = deps
  }

  /** The RoomEvents listener. Synchronous; never throws; ignores events it does not deliver. */
  readonly onEvent = (event: RoomEvent): void => {
    if (this.#closed) return
    switch (event.type) {
      case 'room.created':
        return this.#push({ kind: 'event', type: event.type, at: event.at, data: { room: event.roomId } })
      case 'room.deleted':
        // A change still waiting for its quiet period belongs to the deleted incarnation: drop it.
        this.#cancelChange(event.roomId)
        return this.#push({ kind: 'event', type: event.type, at: event.at, data: { room: event.roomId } })
      case 'room.changed':
        return this.#debounceChange(event.roomId, event.at)
      case 'user.entered':
        return this.#push({
          kind: 'event',
          type: event.type,
          at: event.at,
          data: { room: event.roomId, userId: event.userId, name: event.name, activeUsers: event.activeUsers },
        })
      case 'user.left':
        return this.#push({
          kind: 'event',
          type: event.type,
          at: event.at,
          data: { room: event.roomId, userId: event.userId, activeUsers: event.activeUsers },
        })
      default:
        return // room.loaded, room.unloaded, peer.*: internal
    }
  }

  /** Debounce timers currently armed (returns to zero when rooms go quiet: a tested invariant). */
  get pendingChanges(): number {
    return this.#debounced.size
  }

  /** Resolves once everything queued so far has been written (or given up on). */
  async idle(): Promise<void> {
    while (this.#writing !== null) await this.#writing
  }

  /** Stops accepting events, writes every debounced change now, and waits for the writer. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true
      for (const [roomId, pending] of this.#debounced) {
        pending.wait?.cancel()
        this.#queue.push({ kind: 'changed', roomId, firstAt: pending.firstAt, lastAt: pending.lastAt })
      }
      this.#debounced.clear()
      this.#kick()
    }
    await this.idle()
  }

  #debounceChange(roomId: string, at: number): void {
    const pending = this.#debounced.get(roomId)
    if (pending) {
      pending.lastAt = at
      return
    }
    const change: PendingChange = { firstAt: Date.now(), lastAt: at, wait: null }
    this.#debounced.set(roomId, change)
    change.wait = afterQuiet({
      quietMs: this.#opts.debounceMs,
      maxWaitMs: this.#opts.maxWaitMs,
      lastActivityAt: () => change.lastAt,
      fire: () => this.#fireChange(roomId),
    })
  }

  #fireChange(roomId: string): void {
    const pending = this.#debounced.get(roomId)
    if (!pending) return
    this.#debounced.delete(roomId)
    this.#push({ kind: 'changed', roomId, firstAt: pending.firstAt, lastAt: pending.lastAt })
  }

  #cancelChange(roomId: string): void {
    const pending = this.#debounced.get(roomId)
    if (!pending) return
    pending.wait?.cancel()
    this.#debounced.delete(roomId)
  }

  #push(item: QueuedItem): void {
    if (this.#queue.length >= MAX_QUEUED_EVENTS) {
      this.#queue.shift()
      if (this.#dropped++ % 1000 === 0) {
        this.#deps.log.error({ dropped: this.#dropped }, 'webhook outbox is not keeping up (store failing?): dropping oldest events')
      }
    }
    this.#queue.push(item)
    this.#kick()
  }

  #kick(): void {
    if (this.#writing !== null || this.#queue.length === 0) return
    this.#writing = this.#drain().finally(() => {
      this.#writing = null
      this.#kick()
    })
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, WRITE_BATCH)
      try {
        await this.#write(batch)
      } catch (err) {
        this.#deps.log.error({ err, events: batch.length }, 'could not write webhook deliveries; events lost')
      }
    }
  }

  async #write(batch: readonly QueuedItem[]): Promise<void> {
    const endpoints = (await this.#deps.store.listWebhookEndpoints()).filter((e) => e.disabledAt === null)
    if (endpoints.length === 0) return
    const rows: NewWebhookDelivery[] = []
    for (const item of batch) {
      const type = item.kind === 'changed' ? 'room.changed' : item.type
      const targets = endpoints.filter((e) => subscribes(e, type))
      if (targets.length === 0) continue
      const payload = item.kind === 'changed' ? await this.#describeChange(item) : { type, timestamp: iso(item.at), data: item.data }
      if (payload === null) continue
      const body = JSON.stringify(payload)
      const createdAt = Date.now()
      for (const endpoint of targets) {
        rows.push({ id: generateId('msg_', createdAt), endpointId: endpoint.id, eventType: type, payload: body, createdAt })
      }
    }
    if (rows.length === 0) return
    await this.#deps.store.enqueueDeliveries(rows)
    this.#deps.onEnqueued()
  }

  async #describeChange(item: Extract<QueuedItem, { kind: 'changed' }>): Promise<WebhookPayload | null> {
    let described: Awaited<ReturnType<DescribeRoom>>
    try {
      described = await this.#deps.describeRoom(item.roomId)
    } catch (err) {
      this.#deps.log.warn({ err, roomId: item.roomId }, 'could not describe room for room.changed; skipped')
      return null
    }
    if (described === null) return null // deleted meanwhile
    const stateVector = Buffer.from(described.stateVector).toString('base64')
    return {
      type: 'room.changed',
      timestamp: iso(Date.now()),
      data: {
        room: item.roomId,
        sizeBytes: described.sizeBytes,
        // Thin by design: receivers fetch the document over REST when they need it.
        stateVector: stateVector.length <= MAX_STATE_VECTOR_BASE64 ? stateVector : null,
        firstChangeAt: iso(item.firstAt),
        lastChangeAt: iso(item.lastAt),
      },
    }
  }
}

function subscribes(endpoint: WebhookEndpoint, type: WebhookEventType): boolean {
  return endpoint.events === null || endpoint.events.includes(type)
}

function iso(ms: number): string {
  return new Date(ms).toISOString()
}
