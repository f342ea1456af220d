/**
 * The webhook side of the store: endpoints, the durable outbox of deliveries, the room changes that
 * appends record (the store-side debounce of `room.changed`) and the room events that record changes
 * record (`room.created`, `room.deleted`). webhooks/ calls it. An adapter implements it
 * over the same storage as the document log, because appendUpdate records the room change in the append's commit.
 */
export interface WebhookEndpoint {
  /** `ep_…`; the endpoint configured through the environment has the fixed id `ep_config`. */
  readonly id: string
  readonly url: string
  /** `whsec_` + base64 of the HMAC key (Standard Webhooks). */
  readonly secret: string
  /** Event types delivered to it; null means every event. */
  readonly events: readonly string[] | null
  readonly createdAt: number
  /** Set when the receiver answered 410 Gone; disabled endpoints get no new deliveries. */
  readonly disabledAt: number | null
  /**
   * The secret a rotation replaced (rotateWebhookSecret), or, for `ep_config`, TANDEM_WEBHOOK_PREVIOUS_SECRET.
   * Attempts are signed with it too (after `secret`) while it is valid, so receivers can switch without a
   * failed delivery.
   */
  readonly previousSecret: string | null
  /**
   * Wall-clock ms since the epoch until which `previousSecret` also signs; null with a previous secret means
   * "as long as it is set" (ep_config, whose secrets the environment manages).
   */
  readonly previousSecretExpiresAt: number | null
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed'

export interface NewWebhookDelivery {
  /** `msg_…`: the Standard Webhooks `webhook-id`, the same on every attempt. */
  readonly id: string
  readonly endpointId: string
  readonly eventType: string
  /** The exact JSON body to send. */
  readonly payload: string
  readonly createdAt: number
}

export interface WebhookDelivery extends NewWebhookDelivery {
  readonly status: DeliveryStatus
  /** Attempts made so far. */
  readonly attempts: number
  /** When the next attempt is due (pending), ms since the epoch. */
  readonly nextAttemptAt: number
  readonly lastError: string | null
  readonly lastStatusCode: number | null
  readonly updatedAt: number
}

export type DeliveryOutcome =
  | { readonly status: 'delivered'; readonly statusCode: number }
  | { readonly status: 'pending'; readonly nextAttemptAt: number; readonly error: string; readonly statusCode: number | null }
  | { readonly status: 'failed'; readonly error: string; readonly statusCode: number | null }

/**
 * A room that changed and has not been announced yet: the store-side debounce of `room.changed`. Appends
 * record it in their own transaction, so an acknowledged edit always leaves one behind.
 */
export interface RoomChange {
  readonly room: string
  /** When the first unannounced change was committed (process clock, ms since the epoch). */
  readonly firstAt: number
  /** When the latest one was committed. */
  readonly lastAt: number
}

/**
 * A room created or deleted, recorded by createRoom/ensureRoom (when they created the record) and deleteRoom
 * (when something existed) in the transaction of that change, and waiting to become deliveries: so a
 * `room.created` or `room.deleted` webhook is as durable as the record change that caused it.
 */
export interface RecordedRoomEvent {
  /** Increasing in the order the events committed (per store). */
  readonly id: number
  readonly type: 'room.created' | 'room.deleted'
  readonly room: string
  /** When it happened: wall clock, ms since the epoch (the record's createdAt for room.created). */
  readonly at: number
}

/** What the outbox made of a recorded room event (see settleRoomEvents). */
export interface SettledRoomEvent {
  /** RecordedRoomEvent.id */
  readonly id: number
  /** Its deliveries, one per subscribed endpoint; none to only clear it. */
  readonly deliveries: readonly NewWebhookDelivery[]
}

/** What the outbox made of a due room change (see settleRoomChanges). */
export interface SettledRoomChange {
  readonly room: string
  /** `lastAt` as read: if the room changed again since, the change is kept (and becomes due again). */
  readonly lastAt: number
  /** The JSON body of the `room.changed` delivery; null to only clear the change (room gone, no endpoint). */
  readonly payload: string | null
  /** One new delivery id per endpoint that subscribes to room.changed. */
  readonly deliveries: readonly { readonly id: string; readonly endpointId: string }[]
}

export interface ListDeliveriesOptions {
  readonly status?: DeliveryStatus
  /** Only deliveries whose id sorts after this (exclusive): the paging cursor. */
  readonly after?: string
  readonly limit: number
}

export interface WebhookOutbox {

  /** Inserts or replaces an endpoint by id. */
  saveWebhookEndpoint(endpoint: WebhookEndpoint): Promise<void>
  listWebhookEndpoints(): Promise<WebhookEndpoint[]>
  /** Deletes an endpoint and its pending deliveries (failed and delivered ones are kept). */
  deleteWebhookEndpoint(id: string): Promise<boolean>
  disableWebhookEndpoint(id: string, at: number): Promise<void>
  /**
   * Atomically makes `newSecret` the endpoint's secret and its current secret the previous one, valid
   * until `previousExpiresAt` (null: drop the current secret at once, keeping no previous one). A previous
   * secret from an earlier rotation is discarded: only one is kept. Null if the endpoint does not exist.
   */
  rotateWebhookSecret(id: string, newSecret: string, previousExpiresAt: number | null): Promise<WebhookEndpoint | null>
  /** Adds deliveries (status pending, attempts 0, due now) in one transaction. */
  enqueueDeliveries(deliveries: readonly NewWebhookDelivery[]): Promise<void>
  /**
   * Returns up to `limit` pending deliveries due at `now`, oldest first, and pushes their
   * `nextAttemptAt` to `now + leaseMs` in the same transaction, so a crash mid-delivery retries them
   * after the lease instead of losing or duplicating them concurrently.
   */
  claimDueDeliveries(now: number, limit: number, leaseMs: number): Promise<WebhookDelivery[]>
  /** Records an attempt's outcome (increments attempts). */
  completeDelivery(id: string, outcome: DeliveryOutcome, at: number): Promise<void>
  getDelivery(id: string): Promise<WebhookDelivery | null>
  listDeliveries(opts: ListDeliveriesOptions): Promise<WebhookDelivery[]>
  /** Puts a delivery back to pending, due at `now`, attempts reset to 0; null if unknown. */
  replayDelivery(id: string, now: number): Promise<WebhookDelivery | null>
  /** Pending deliveries (queue depth). */
  countPendingDeliveries(): Promise<number>
  /** Earliest nextAttemptAt among pending deliveries, or null. */
  nextDeliveryDueAt(): Promise<number | null>
  /**
   * Up to `limit` recorded room changes that are due at `now`: quiet since `lastAt + quietMs`, or waiting
   * since `firstAt + maxWaitMs`. Oldest first.
   */
  dueRoomChanges(now: number, quietMs: number, maxWaitMs: number, limit: number): Promise<RoomChange[]>
  /**
   * Calls `listener` after every commit that recorded room changes, so the outbox knows when to look
   * without polling (the room's own event comes before its commit). Returns the unsubscribe function.
   */
  onRoomChanges(listener: () => void): () => void
  /** When the earliest recorded room change becomes due, or null when there is none. */
  nextRoomChangeDueAt(quietMs: number, maxWaitMs: number): Promise<number | null>
  /**
   * Turns due room changes into `room.changed` deliveries, in one transaction, coalesced: for each room
   * and endpoint at most one pending delivery that is not being attempted. A pending one never attempted
   * takes the new payload (its id is kept: no receiver has seen it); one waiting for a retry is marked
   * failed ("superseded by …") and the new one inherits its due time. Each change is then cleared, unless
   * the room changed again after `lastAt`: then it stays, counted from `lastAt`.
   */
  settleRoomChanges(changes: readonly SettledRoomChange[], now: number): Promise<void>
  /** Up to `limit` recorded room.created/room.deleted events not yet turned into deliveries, oldest first. */
  recordedRoomEvents(limit: number): Promise<RecordedRoomEvent[]>
  /**
   * In one transaction, for each event: removes it and, only if it was still recorded (no one settled it
   * first, e.g. another instance), adds its deliveries (pending, attempts 0, due at their createdAt). So
   * each recorded event becomes its deliveries exactly once.
   */
  settleRoomEvents(events: readonly SettledRoomEvent[]): Promise<void>
}
