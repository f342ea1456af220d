/**
 * The storage contract every adapter (SQLite, memory, later Postgres) implements.
 * Rooms, REST and webhooks call it; only adapters know SQL. One contract suite runs against every adapter.
 */
export interface StoredDocument {
  /** Every stored update for the room, oldest first. Empty when the room has never been written. */
  readonly updates: Uint8Array[]
  /** Number of stored rows (after compaction this is 1). */
  readonly rowCount: number
  /** Sum of the stored updates' byte lengths. */
  readonly byteSize: number
  /**
   * State vector of content deleted with an earlier incarnation of this room (merged across deletions),
   * or null. Updates covered by it are old content and must not resurrect the room.
   */
  readonly tombstone: Uint8Array | null
  /**
   * Which user first wrote under each Yjs clientID in this room (clientID -> owner, the JWT `sub`), as
   * recorded by bindClients. Survives restarts and compaction; deleteRoom forgets it.
   */
  readonly clientOwners: ReadonlyMap<number, string>
}

export interface CompactionResult {
  /**
   * `compacted`: the rows read were replaced by `rowsWritten` rows. `nothing`: fewer than two rows, or the
   * log already was in compacted form. `kept`: the compacted rows would not have rebuilt the same document
   * (or a row did not replay), so the rows were left as they were and an error was logged (see `reason`).
   */
  readonly outcome: 'compacted' | 'nothing' | 'kept'
  /** Rows the compaction read (and, when compacted, deleted). */
  readonly rowsRead: number
  /** Rows deleted and replaced (rowsRead when compacted, else 0). */
  readonly rowsMerged: number
  /**
   * Rows written in their place (0 unless compacted): the integrated state, then any pending content
   * (at most 3). The room's row count changes by `rowsWritten - rowsMerged`.
   */
  readonly rowsWritten: number
  /** Byte length of the rows written (0 unless compacted). */
  readonly bytesAfter: number
  /** Why the rows were kept; only with outcome `kept`. */
  readonly reason?: string
}

/** One clientID -> owner binding (see Store.bindClients). */
export type ClientBinding = readonly [clientId: number, owner: string]

/** JSON object stored with a room (bounded by the REST layer). */
export type RoomMetadata = Readonly<Record<string, unknown>>

export interface RoomRecord {
  readonly name: string
  /** Milliseconds since the Unix epoch. */
  readonly createdAt: number
  /** Last stored update or metadata change, ms since the epoch. */
  readonly updatedAt: number
  readonly metadata: RoomMetadata
  /** Bytes of the room's stored update log. */
  readonly sizeBytes: number
}

export interface ListRoomsOptions {
  /** Only rooms whose name starts with this. */
  readonly prefix?: string
  /** Only rooms whose name sorts after this (exclusive): the paging cursor. */
  readonly after?: string
  /** At most this many, ordered by name ascending. */
  readonly limit: number
}

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

export interface Store {
  // ---- document log -------------------------------------------------------------------------------

  /** Loads a room's stored updates and tombstone. Never throws for an unknown room. */
  loadUpdates(room: string): Promise<StoredDocument>
  /**
   * Appends one Yjs update. Resolves only after the transaction that contains it has committed
   * (adapters group many concurrent appends into one transaction). Rejects if the commit failed.
   * Commits happen in call order: when an append resolves, every earlier append has committed.
   * Also bumps the room record's `updatedAt` (creating no record: see ensureRoom), and records in the
   * same transaction that the room changed (see dueRoomChanges): a `room.changed` webhook is as durable
   * as the edit that caused it.
   */
  appendUpdate(room: string, update: Uint8Array): Promise<void>
  /**
   * Records which user owns each Yjs clientID in the room: inserts the bindings that do not exist yet
   * (the first writer wins; an existing binding is never changed, and within one call the first entry for
   * a clientID wins). Ordered with appends: an appendUpdate called after bindClients (resolved or not)
   * commits in the same transaction as the binding or a later one. Resolves after the commit; rejects
   * if it failed, or at once for a clientID that is not a non-negative safe integer or an owner that is
   * not a string. Remembered with the room across restarts and compaction; removed by deleteRoom.
   */
  bindClients(room: string, bindings: readonly ClientBinding[]): Promise<void>
  /**
   * Compacts the rows that exist now, in one transaction (see compaction.ts): replays exactly those rows,
   * and replaces them with the integrated state plus, in later rows, any content still pending, after
   * checking that the new rows rebuild the same document; otherwise keeps them (outcome `kept`).
   * Appends that race with it are kept as separate rows, after the new ones.
   */
  compact(room: string): Promise<CompactionResult>

  // ---- room records -------------------------------------------------------------------------------

  /** Creates the room's record; null if it already exists. */
  createRoom(name: string, metadata: RoomMetadata): Promise<RoomRecord | null>
  /** The room's record, created with empty metadata when missing; `created` tells which. */
  ensureRoom(name: string): Promise<{ record: RoomRecord; created: boolean }>
  getRoom(name: string): Promise<RoomRecord | null>
  listRooms(opts: ListRoomsOptions): Promise<RoomRecord[]>
  /** Replaces the metadata; null if the room does not exist. */
  updateRoomMetadata(name: string, metadata: RoomMetadata): Promise<RoomRecord | null>
  /**
   * Deletes the room's record and every stored update in one transaction (after queued appends have
   * committed), and merges `tombstone` (a state vector) into the room's remembered tombstone.
   * Returns false when neither a record nor updates existed.
   */
  deleteRoom(name: string, tombstone: Uint8Array | null): Promise<boolean>

  // ---- webhook endpoints and outbox ----------------------------------------------------------------

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

  // ---- lifecycle ----------------------------------------------------------------------------------

  /**
   * Resolves when the store can serve requests; rejects otherwise (readiness). Writes count: after a
   * commit failed (a full disk, an I/O error) it rejects until a write succeeds again, trying a tiny one.
   */
  ping(): Promise<void>
  /** Waits for in-flight commits, then releases the store. Later calls reject. */
  close(): Promise<void>
}
