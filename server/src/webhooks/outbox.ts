/**
 * Turns room events into outbox rows: one delivery per enabled endpoint that subscribes to the event.
 *
 * `room.changed` is debounced in the store, not here: every append records in its own transaction that
 * the room changed (see WebhookOutbox.dueRoomChanges), and this class turns changes that are due (quiet for
 * `debounceMs`, or `maxWaitMs` after the first one) into deliveries, coalesced per room and endpoint. A
 * process killed at any moment after a saved acknowledgement therefore still delivers its room.changed:
 * the next process finds the change and announces it. The store says when a commit recorded changes
 * (onRoomChanges), which arms the one timer; the rooms' own room.changed events are not needed.
 *
 * `room.created` and `room.deleted` are recorded by the store in the transaction that creates or deletes
 * the record (WebhookOutbox.recordedRoomEvents), so they are as durable as the change itself. This class
 * turns recorded events into deliveries, removing each event in the transaction that adds its deliveries:
 * at once when this process's room event says one was recorded, and at start for those a killed process
 * left behind.
 *
 * `user.entered` / `user.left` have no stored cause (a connection is not data), so they are queued in
 * memory: the RoomEvents listener is synchronous and never throws, and a single writer drains the queue
 * into the store in order. A failed write is retried with backoff (a full disk recovers); past
 * MAX_QUEUED_EVENTS the oldest are dropped, and every drop is counted (onDropped) and logged. A process
 * killed before the writer ran loses what was queued.
 */
import type { Logger } from 'pino'
import type {
  NewWebhookDelivery,
  RoomChange,
  SettledRoomChange,
  SettledRoomEvent,
  WebhookEndpoint,
  WebhookOutbox,
} from '../persistence/webhook-outbox.js'
import type { RoomEvent } from '../rooms/events.js'
import { processNow, type Now } from '../clock.js'
import { generateId } from './signer.js'

export const WEBHOOK_EVENT_TYPES = ['room.created', 'room.deleted', 'room.changed', 'room.restored', 'user.entered', 'user.left'] as const
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
  readonly store: WebhookOutbox
  readonly log: Logger
  /** Called with the number of user.* events given up (queue full, or not written by shutdown). */
  readonly onDropped?: (count: number, type: QueuedEvent['type']) => void
  readonly describeRoom: DescribeRoom
  /** Called after rows were written, to wake the dispatcher. */
  readonly onEnqueued: () => void
  /** The clock of stored times (must match the store's). @default processNow (clock.ts) */
  readonly now?: Now
}

/** Base64 state vectors longer than this are left out, keeping room.changed bodies well under 20 KB. */
export const MAX_STATE_VECTOR_BASE64 = 16 * 1024
/** user.* events waiting for the store; past this the oldest are dropped (the store is down or far behind). */
export const MAX_QUEUED_EVENTS = 10_000
const WRITE_BATCH = 256
/** Room changes turned into deliveries per store transaction. */
const CHANGE_BATCH = 64
/** Retry a failed store write after this, doubling up to the cap. */
const RETRY_BASE_MS = 100
const RETRY_MAX_MS = 30_000
const MAX_TIMER_MS = 2 ** 31 - 1
/** "Everything is due" for close(): a time every stored change lies far before. */
const FAR_FUTURE = Number.MAX_SAFE_INTEGER / 2

/** Recorded room events turned into deliveries per store transaction. */
const ROOM_EVENT_BATCH = 256

/** Events written through the bounded in-memory queue (the others are recorded by the store). */
export type QueuedEventType = 'user.entered' | 'user.left' | 'room.restored'

interface QueuedEvent {
  readonly type: QueuedEventType
  readonly at: number
  readonly data: Record<string, unknown>
}

export class Outbox {
  readonly #opts: OutboxOptions
  readonly #deps: OutboxDeps
  readonly #now: Now
  #queue: QueuedEvent[] = []
  #writing: Promise<void> | null = null
  #writeFailures = 0
  #retryTimer: NodeJS.Timeout | null = null
  #closed = false
  #dropped = 0
  /** The batch being written, and the events of it that the bound pushed out meanwhile: lost only if it fails. */
  #batch: ReadonlySet<QueuedEvent> | null = null
  #pushedOut: QueuedEvent[] = []

  /** The one timer for the next look at the stored room changes, and when it fires (#now() time). */
  #changeTimer: NodeJS.Timeout | null = null
  #changeTimerAt = Infinity
  #settling: Promise<void> | null = null
  /** A look was asked for while one was running: run another when it ends. */
  #settleAgain = false
  #settleFailures = 0

  /** Turning recorded room.created/room.deleted into deliveries: one run at a time, another if asked meanwhile. */
  #eventsRun: Promise<void> | null = null
  #eventsAgain = false
  #eventsTimer: NodeJS.Timeout | null = null
  #eventsFailures = 0

  constructor(opts: OutboxOptions, deps: OutboxDeps) {
    this.#opts = opts
    this.#deps = deps
    this.#now = deps.now ?? processNow
  }

  #unwatch: (() => void) | null = null

  /**
   * Starts watching the store's commits for room changes, and announces those a previous process
   * recorded but did not announce (it may have been killed).
   */
  start(): void {
    if (this.#closed || this.#unwatch !== null) return
    // A commit just recorded a change: it is due at most this long from now. Looking a little early costs
    // one read, which re-arms the timer for the real due time.
    this.#unwatch = this.#deps.store.onRoomChanges(() => this.#lookAt(this.#now() + Math.min(this.#opts.debounceMs, this.#opts.maxWaitMs)))
    this.#lookAt(this.#now())
    this.#settleEventsSoon()
  }

  /** The RoomEvents listener. Synchronous; never throws; ignores events it does not deliver. */
  readonly onEvent = (event: RoomEvent): void => {
    if (this.#closed) return
    switch (event.type) {
      case 'room.created':
      case 'room.deleted':
        return this.#settleEventsSoon() // recorded by the store with the record change

      case 'room.changed':
        return // recorded by the store with the append that caused it (see start)
      case 'user.entered':
        return this.#push({
          type: event.type,
          at: event.at,
          data: { room: event.roomId, userId: event.userId, name: event.name, activeUsers: event.activeUsers },
        })
      case 'user.left':
        return this.#push({
          type: event.type,
          at: event.at,
          data: { room: event.roomId, userId: event.userId, activeUsers: event.activeUsers },
        })
      case 'room.restored':
        return this.#push({
          type: event.type,
          at: event.at,
          data: { room: event.roomId, version: event.versionId, beforeRestore: event.beforeRestoreId, restoredBy: event.restoredBy },
        })
      default:
        return // room.loaded, room.unloaded, peer.*: internal
    }
  }

  /** Timers armed for room changes (0 or 1; returns to zero when every change is announced). */
  get pendingChanges(): number {
    return this.#changeTimer === null ? 0 : 1
  }

  /** Resolves once everything queued so far has been written (or is waiting for a retry). */
  async idle(): Promise<void> {
    while (this.#writing !== null || this.#settling !== null || this.#eventsRun !== null) {
      await this.#writing
      await this.#settling
      await this.#eventsRun
    }
  }

  /**
   * Stops accepting events, announces every recorded room change now (due or not), writes the queue
   * once more, and waits for the writer. What cannot be written now is logged; room changes stay in the
   * store for the next process.
   */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true
      this.#unwatch?.()
      this.#unwatch = null
      this.#clearChangeTimer()
      if (this.#retryTimer !== null) clearTimeout(this.#retryTimer)
      this.#retryTimer = null
      if (this.#eventsTimer !== null) clearTimeout(this.#eventsTimer)
      this.#eventsTimer = null
      await this.idle()
      try {
        await this.#settle(true)
      } catch (err) {
        this.#deps.log.warn({ err }, 'could not announce room changes at shutdown; the next start will')
      }
      try {
        await this.#settleEvents()
      } catch (err) {
        this.#deps.log.warn({ err }, 'could not turn recorded room events into deliveries at shutdown; the next start will')
      }
      this.#kick()
    }
    await this.idle()
    if (this.#queue.length > 0) {
      this.#deps.log.error({ events: this.#queue.length }, 'could not write webhook events before shutdown; events lost')
      this.#countDropped(this.#queue)
      this.#queue = []
    }
  }

  // ---- room.changed ------------------------------------------------------------------------------

  /** Makes sure the stored changes are looked at by `at` (a #now() time). */
  #lookAt(at: number): void {
    if (this.#closed) return
    if (this.#settling !== null) {
      this.#settleAgain = true
      return
    }
    if (this.#changeTimer !== null && this.#changeTimerAt <= at) return
    this.#clearChangeTimer()
    this.#changeTimerAt = at
    this.#changeTimer = setTimeout(() => {
      this.#changeTimer = null
      this.#changeTimerAt = Infinity
      this.#runSettle()
    }, Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(at - this.#now()))))
    this.#changeTimer.unref()
  }

  #clearChangeTimer(): void {
    if (this.#changeTimer !== null) clearTimeout(this.#changeTimer)
    this.#changeTimer = null
    this.#changeTimerAt = Infinity
  }

  #runSettle(): void {
    if (this.#closed || this.#settling !== null) return
    this.#settleAgain = false
    this.#settling = this.#settle(false)
      .then(() => {
        this.#settleFailures = 0
        return this.#deps.store.nextRoomChangeDueAt(this.#opts.debounceMs, this.#opts.maxWaitMs)
      })
      .then(
        (next) => {
          this.#settling = null
          // A change announced meanwhile may not have been committed when `next` was read.
          const hinted = this.#settleAgain ? this.#now() + Math.min(this.#opts.debounceMs, this.#opts.maxWaitMs) : Infinity
          const at = Math.min(next ?? Infinity, hinted)
          if (at !== Infinity) this.#lookAt(at)
        },
        (err: unknown) => {
          this.#settling = null
          const retryInMs = backoff(++this.#settleFailures)
          this.#deps.log.error({ err, retryInMs }, 'could not turn room changes into webhook deliveries; will retry')
          this.#lookAt(this.#now() + retryInMs)
        },
      )
  }

  /** Turns due changes (all of them when `everything`) into deliveries, a batch per transaction. */
  async #settle(everything: boolean): Promise<void> {
    const { store } = this.#deps
    for (;;) {
      const now = this.#now()
      const due = await store.dueRoomChanges(everything ? FAR_FUTURE : now, this.#opts.debounceMs, this.#opts.maxWaitMs, CHANGE_BATCH)
      if (due.length === 0) return
      const targets = (await this.#endpoints()).filter((e) => subscribes(e, 'room.changed'))
      const settled: SettledRoomChange[] = []
      for (const change of due) settled.push(await this.#describeChange(change, targets))
      await store.settleRoomChanges(settled, this.#now())
      if (settled.some((s) => s.payload !== null && s.deliveries.length > 0)) this.#deps.onEnqueued()
      if (due.length < CHANGE_BATCH) return
    }
  }

  async #describeChange(change: RoomChange, targets: readonly WebhookEndpoint[]): Promise<SettledRoomChange> {
    const none: SettledRoomChange = { room: change.room, lastAt: change.lastAt, payload: null, deliveries: [] }
    if (targets.length === 0) return none
    let described: Awaited<ReturnType<DescribeRoom>>
    try {
      described = await this.#deps.describeRoom(change.room)
    } catch (err) {
      // Kept, it would be due again at once and block the rooms behind it; the store failing as a whole
      // makes settleRoomChanges fail instead, and then everything is retried.
      this.#deps.log.warn({ err, roomId: change.room }, 'could not describe room for room.changed; skipped')
      return none
    }
    if (described === null) return none // deleted meanwhile
    const stateVector = Buffer.from(described.stateVector).toString('base64')
    const payload: WebhookPayload = {
      type: 'room.changed',
      // When it is announced, as the receiver's clock reads time: the wall clock.
      timestamp: iso(Date.now()),
      data: {
        room: change.room,
        sizeBytes: described.sizeBytes,
        // Thin by design: receivers fetch the document over REST when they need it.
        stateVector: stateVector.length <= MAX_STATE_VECTOR_BASE64 ? stateVector : null,
        firstChangeAt: iso(change.firstAt),
        lastChangeAt: iso(change.lastAt),
      },
    }
    const createdAt = this.#now()
    return {
      room: change.room,
      lastAt: change.lastAt,
      payload: JSON.stringify(payload),
      deliveries: targets.map((e) => ({ id: generateId('msg_', createdAt), endpointId: e.id })),
    }
  }

  // ---- room.created / room.deleted -----------------------------------------------------------------

  /** Turns recorded room events into deliveries now, or right after the run in progress. */
  #settleEventsSoon(): void {
    if (this.#closed) return
    if (this.#eventsRun !== null) {
      this.#eventsAgain = true
      return
    }
    if (this.#eventsTimer !== null) return // a retry is scheduled; it reads everything recorded
    this.#eventsAgain = false
    this.#eventsRun = this.#settleEvents().then(
      () => {
        this.#eventsFailures = 0
        this.#eventsRun = null
        if (this.#eventsAgain) this.#settleEventsSoon()
      },
      (err: unknown) => {
        this.#eventsRun = null
        const retryInMs = backoff(++this.#eventsFailures)
        this.#deps.log.error({ err, retryInMs }, 'could not turn room events into webhook deliveries; will retry')
        this.#eventsTimer = setTimeout(() => {
          this.#eventsTimer = null
          this.#settleEventsSoon()
        }, retryInMs)
        this.#eventsTimer.unref()
      },
    )
  }

  async #settleEvents(): Promise<void> {
    const { store } = this.#deps
    for (;;) {
      const recorded = await store.recordedRoomEvents(ROOM_EVENT_BATCH)
      if (recorded.length === 0) return
      const endpoints = await this.#endpoints()
      const settled = recorded.map((event): SettledRoomEvent => {
        const targets = endpoints.filter((e) => subscribes(e, event.type))
        const body = JSON.stringify({ type: event.type, timestamp: iso(event.at), data: { room: event.room } } satisfies WebhookPayload)
        const createdAt = this.#now()
        const deliveries = targets.map((e) => ({ id: generateId('msg_', createdAt), endpointId: e.id, eventType: event.type, payload: body, createdAt }))
        return { id: event.id, deliveries }
      })
      await store.settleRoomEvents(settled)
      if (settled.some((s) => s.deliveries.length > 0)) this.#deps.onEnqueued()
      if (recorded.length < ROOM_EVENT_BATCH) return
    }
  }

  // ---- user.entered / user.left -------------------------------------------------------------------

  #countDropped(events: readonly QueuedEvent[]): void {
    for (const type of ['user.entered', 'user.left'] as const) {
      const n = events.filter((e) => e.type === type).length
      if (n > 0) this.#deps.onDropped?.(n, type)
    }
  }

  #push(item: QueuedEvent): void {
    if (this.#queue.length >= MAX_QUEUED_EVENTS) {
      const oldest = this.#queue.shift()
      if (oldest !== undefined && this.#batch?.has(oldest) === true) this.#pushedOut.push(oldest)
      else if (oldest !== undefined) this.#countDropped([oldest])
      if (this.#dropped++ % 1000 === 0) {
        this.#deps.log.error({ dropped: this.#dropped }, 'webhook outbox is not keeping up (store failing?): dropping oldest events')
      }
    }
    this.#queue.push(item)
    this.#kick()
  }

  #kick(): void {
    if (this.#writing !== null || this.#retryTimer !== null || this.#queue.length === 0) return
    this.#writing = this.#drain().finally(() => {
      this.#writing = null
      this.#kick()
    })
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.slice(0, WRITE_BATCH)
      this.#batch = new Set(batch)
      try {
        await this.#write(batch)
        this.#writeFailures = 0
      } catch (err) {
        this.#countDropped(this.#pushedOut.splice(0))
        if (this.#closed) {
          this.#deps.log.error({ err, events: batch.length }, 'could not write webhook deliveries at shutdown; events lost')
          this.#countDropped(this.#queue.splice(0, batch.length))
          continue
        }
        // Kept at the head of the queue (in order) and retried: a store that fails now (a full disk) may
        // recover. The queue's bound, not this, decides what is given up.
        const retryInMs = backoff(++this.#writeFailures)
        this.#deps.log.error({ err, events: this.#queue.length, retryInMs }, 'could not write webhook deliveries; will retry')
        this.#retryTimer = setTimeout(() => {
          this.#retryTimer = null
          this.#kick()
        }, retryInMs)
        this.#retryTimer.unref()
        return
      } finally {
        this.#batch = null
        this.#pushedOut = []
      }
      // Drops while this batch was written took events from the head, the batch's own first: remove what
      // is left of it (everything up to its last event, -1 + 1 = nothing when all of it was dropped).
      this.#queue.splice(0, Math.min(batch.length, this.#queue.indexOf(batch[batch.length - 1] as QueuedEvent) + 1))
    }
  }

  async #write(batch: readonly QueuedEvent[]): Promise<void> {
    const endpoints = await this.#endpoints()
    if (endpoints.length === 0) return
    const rows: NewWebhookDelivery[] = []
    for (const item of batch) {
      const targets = endpoints.filter((e) => subscribes(e, item.type))
      if (targets.length === 0) continue
      const body = JSON.stringify({ type: item.type, timestamp: iso(item.at), data: item.data } satisfies WebhookPayload)
      const createdAt = this.#now()
      for (const endpoint of targets) {
        rows.push({ id: generateId('msg_', createdAt), endpointId: endpoint.id, eventType: item.type, payload: body, createdAt })
      }
    }
    if (rows.length === 0) return
    await this.#deps.store.enqueueDeliveries(rows)
    this.#deps.onEnqueued()
  }

  async #endpoints(): Promise<WebhookEndpoint[]> {
    return (await this.#deps.store.listWebhookEndpoints()).filter((e) => e.disabledAt === null)
  }
}

function subscribes(endpoint: WebhookEndpoint, type: WebhookEventType): boolean {
  return endpoint.events === null || endpoint.events.includes(type)
}

function backoff(failures: number): number {
  return Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.min(failures - 1, 16))
}

function iso(ms: number): string {
  return new Date(ms).toISOString()
}
