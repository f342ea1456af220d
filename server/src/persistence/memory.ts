import type { Logger } from 'pino'
import { checkedBindings } from './client-owners.js'
import { compactionResult, planCompaction } from './compaction.js'
import { processNow, type Now } from '../clock.js'
import { GroupCommitter } from './group-commit.js'
import { Listeners } from './listeners.js'
import { mergeStateVectors } from './state-vector.js'
import type {
  ClientBinding,
  CompactionResult,
  DeliveryOutcome,
  ListDeliveriesOptions,
  ListRoomsOptions,
  NewWebhookDelivery,
  RecordedRoomEvent,
  RoomChange,
  RoomMetadata,
  RoomRecord,
  Store,
  SettledRoomChange,
  SettledRoomEvent,
  StoredDocument,
  WebhookDelivery,
  WebhookEndpoint,
} from './store.js'
import type { ListVersionsOptions, NewVersion, VersionInfo } from './versions.js'
import { KeyedQueue } from '../keyed-queue.js'

/** What goes through the group committer, in call order: appends and clientID bindings. */
type PendingWrite =
  | { kind: 'append'; room: string; data: Uint8Array }
  | { kind: 'bind'; room: string; bindings: ClientBinding[] }

interface RoomEntry {
  createdAt: number
  updatedAt: number
  /** JSON text, as the SQLite adapter keeps it: what goes in is exactly what a JSON round-trip gives back. */
  metadata: string
}

type Delivery = { -readonly [K in keyof WebhookDelivery]: WebhookDelivery[K] }

/** Everything the memory store holds. Records are private copies; every read hands out fresh ones. */
interface MemoryState {
  rows: Map<string, Uint8Array[]>
  rooms: Map<string, RoomEntry>
  tombstones: Map<string, Uint8Array>
  /** Per room: Yjs clientID -> owner. */
  owners: Map<string, Map<number, string>>
  /** Room → user id → time of the latest removal. */
  removals: Map<string, Map<string, number>>
  endpoints: Map<string, WebhookEndpoint>
  deliveries: Map<string, Delivery>
  /** What the SQLite adapter keeps in extra delivery columns: the room of a room.changed, the lease. */
  deliveryMeta: Map<string, { room: string | null; leasedUntil: number | null }>
  /** The store-side debounce of room.changed, written with the appends. */
  changes: Map<string, { firstAt: number; lastAt: number }>
  /** room.created / room.deleted recorded with the record change, until settled (by id, in id order). */
  roomEvents: Map<number, RecordedRoomEvent>
  nextRoomEventId: number
  /** Per room: version id -> version, in insertion order. */
  versions: Map<string, Map<string, { info: VersionInfo; update: Uint8Array }>>
}

export interface MemoryStoreOptions {
  /** Times recorded for room changes. @default processNow (clock.ts) */
  now?: Now
  /** Where a compaction that had to keep its rows is reported. */
  log?: Logger
}

/**
 * In-process store for tests and single-process demos. Appends go through the same group committer as
 * the SQLite adapter, so they resolve asynchronously and in call order, exactly as a real adapter would.
 */
export function createMemoryStore(opts: MemoryStoreOptions = {}): Store {
  const clock = opts.now ?? processNow
  const state: MemoryState = {
    rows: new Map(),
    rooms: new Map(),
    tombstones: new Map(),
    owners: new Map(),
    removals: new Map(),
    endpoints: new Map(),
    deliveries: new Map(),
    deliveryMeta: new Map(),
    changes: new Map(),
    roomEvents: new Map(),
    nextRoomEventId: 1,
    versions: new Map(),
  }
  const changeListeners = new Listeners(null)
  const committer = new GroupCommitter<PendingWrite>({
    commit: async (items) => {
      const now = Date.now()
      const changedAt = clock()
      for (const item of items) {
        const { room } = item
        if (item.kind === 'bind') {
          let owners = state.owners.get(room)
          if (!owners) state.owners.set(room, (owners = new Map()))
          for (const [clientId, owner] of item.bindings) if (!owners.has(clientId)) owners.set(clientId, owner)
          continue
        }
        const change = state.changes.get(room)
        if (change) change.lastAt = Math.max(change.lastAt, changedAt)
        else state.changes.set(room, { firstAt: changedAt, lastAt: changedAt })
        const list = state.rows.get(room)
        if (list) list.push(item.data)
        else state.rows.set(room, [item.data])
        // Bumps an existing record only; appends never create one.
        const record = state.rooms.get(room)
        if (record) record.updatedAt = now
      }
      changeListeners.call()
    },
    sizeOf: (item) => (item.kind === 'append' ? item.data.byteLength : 0),
  })
  return new MemoryStore(state, committer, changeListeners, opts.log?.child({ component: 'store', store: 'memory' }) ?? null)
}

class MemoryStore implements Store {
  #closed = false
  #closing: Promise<void> | null = null
  readonly #restores = new KeyedQueue()

  constructor(
    private readonly state: MemoryState,
    private readonly committer: GroupCommitter<PendingWrite>,
    private readonly changeListeners: Listeners,
    private readonly log: Logger | null,
  ) {}

  // ---- document log -------------------------------------------------------------------------------

  async loadUpdates(room: string): Promise<StoredDocument> {
    this.#assertOpen()
    // Copies, so a caller mutating what it loaded cannot change what is stored.
    const updates = (this.state.rows.get(room) ?? []).map((u) => u.slice())
    const tombstone = this.state.tombstones.get(room)?.slice() ?? null
    const clientOwners = new Map(this.state.owners.get(room) ?? [])
    return { updates, rowCount: updates.length, byteSize: sumBytes(updates), tombstone, clientOwners }
  }

  appendUpdate(room: string, update: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(closedError())
    // Callers may reuse their buffer (uWS does) as soon as this returns.
    return this.committer.enqueue({ kind: 'append', room, data: new Uint8Array(update) })
  }

  bindClients(room: string, bindings: readonly ClientBinding[]): Promise<void> {
    if (this.#closed) return Promise.reject(closedError())
    let checked: ClientBinding[]
    try {
      checked = checkedBindings(bindings)
    } catch (err) {
      return Promise.reject(err)
    }
    // Through the committer, so appends issued after this commit with it or later.
    return this.committer.enqueue({ kind: 'bind', room, bindings: checked })
  }

  async compact(room: string): Promise<CompactionResult> {
    this.#assertOpen()
    const list = this.state.rows.get(room) ?? []
    // Synchronous from here on: no append can land between reading the rows and replacing them.
    const plan = planCompaction(list)
    if (plan.outcome === 'kept') this.log?.error({ roomId: room, rows: list.length, reason: plan.reason }, 'compaction kept the rows')
    if (plan.outcome === 'compacted') this.state.rows.set(room, plan.rows.map((row) => row.slice()))
    return compactionResult(list.length, plan)
  }

  // ---- room records -------------------------------------------------------------------------------

  async createRoom(name: string, metadata: RoomMetadata): Promise<RoomRecord | null> {
    this.#assertOpen()
    if (this.state.rooms.has(name)) return null
    const now = Date.now()
    this.state.rooms.set(name, { createdAt: now, updatedAt: now, metadata: JSON.stringify(metadata) })
    this.#recordRoomEvent('room.created', name, now)
    return this.#record(name)
  }

  async ensureRoom(name: string): Promise<{ record: RoomRecord; created: boolean }> {
    this.#assertOpen()
    const created = !this.state.rooms.has(name)
    if (created) {
      const now = Date.now()
      this.state.rooms.set(name, { createdAt: now, updatedAt: now, metadata: '{}' })
      this.#recordRoomEvent('room.created', name, now)
    }
    const record = this.#record(name)
    if (!record) throw new Error(`room ${name} vanished while being ensured`)
    return { record, created }
  }

  async getRoom(name: string): Promise<RoomRecord | null> {
    this.#assertOpen()
    return this.#record(name)
  }

  async listRooms(opts: ListRoomsOptions): Promise<RoomRecord[]> {
    this.#assertOpen()
    const { prefix, after } = opts
    const names = [...this.state.rooms.keys()]
      .filter((name) => (prefix === undefined || name.startsWith(prefix)) && (after === undefined || compareCodePoints(name, after) > 0))
      .sort(compareCodePoints)
      .slice(0, clampLimit(opts.limit))
    return names.map((name) => this.#record(name)).filter((r): r is RoomRecord => r !== null)
  }

  async updateRoomMetadata(name: string, metadata: RoomMetadata): Promise<RoomRecord | null> {
    this.#assertOpen()
    const entry = this.state.rooms.get(name)
    if (!entry) return null
    entry.metadata = JSON.stringify(metadata)
    entry.updatedAt = Date.now()
    return this.#record(name)
  }

  async deleteRoom(name: string, tombstone: Uint8Array | null): Promise<boolean> {
    this.#assertOpen()
    // Appends issued before the delete must not reappear after it.
    await this.committer.flush()
    // Merge first: a malformed tombstone throws before anything is deleted, as the SQLite rollback does.
    const merged = tombstone ? mergeStateVectors(this.state.tombstones.get(name) ?? null, tombstone) : null
    const existed = this.state.rooms.delete(name) || this.state.rows.has(name)
    this.state.rows.delete(name)
    this.state.owners.delete(name)
    this.state.removals.delete(name)
    this.state.versions.delete(name)
    if (merged) this.state.tombstones.set(name, merged)
    if (existed) this.#recordRoomEvent('room.deleted', name, Date.now())
    return existed
  }

  async recordRemoval(room: string, userId: string, atMs: number): Promise<void> {
    this.#assertOpen()
    let removals = this.state.removals.get(room)
    if (!removals) this.state.removals.set(room, (removals = new Map()))
    removals.set(userId, Math.max(removals.get(userId) ?? atMs, atMs))
  }

  async loadRemovals(room: string): Promise<Map<string, number>> {
    this.#assertOpen()
    return new Map(this.state.removals.get(room) ?? [])
  }

  #recordRoomEvent(type: RecordedRoomEvent['type'], room: string, at: number): void {
    const id = this.state.nextRoomEventId++
    this.state.roomEvents.set(id, { id, type, room, at })
  }

  // ---- versions -----------------------------------------------------------------------------------

  async saveVersion(version: NewVersion, keepAuto?: number): Promise<VersionInfo | null> {
    this.#assertOpen()
    if (!this.state.rooms.has(version.room)) return null
    let versions = this.state.versions.get(version.room)
    if (!versions) this.state.versions.set(version.room, (versions = new Map()))
    if (versions.has(version.id)) throw new Error(`version ${version.id} already exists`)
    const info: VersionInfo = {
      id: version.id,
      room: version.room,
      createdAt: version.createdAt,
      kind: version.kind,
      label: version.label,
      author: version.author,
      sizeBytes: version.update.byteLength,
      fingerprint: version.fingerprint.slice(),
    }
    versions.set(version.id, { info, update: version.update.slice() })
    if (keepAuto !== undefined && version.kind === 'auto') {
      const autos = [...versions.values()].filter((v) => v.info.kind === 'auto').sort((a, b) => compareCodePoints(b.info.id, a.info.id))
      for (const old of autos.slice(Math.max(0, Math.floor(keepAuto)))) versions.delete(old.info.id)
    }
    return copyVersion(info)
  }

  async listVersions(room: string, opts: ListVersionsOptions): Promise<VersionInfo[]> {
    this.#assertOpen()
    const { before } = opts
    return [...(this.state.versions.get(room)?.values() ?? [])]
      .map((v) => v.info)
      .filter((v) => before === undefined || compareCodePoints(v.id, before) < 0)
      .sort((a, b) => compareCodePoints(b.id, a.id))
      .slice(0, clampLimit(opts.limit))
      .map(copyVersion)
  }

  async getVersion(room: string, id: string): Promise<VersionInfo | null> {
    this.#assertOpen()
    const v = this.state.versions.get(room)?.get(id)
    return v ? copyVersion(v.info) : null
  }

  async getVersionUpdate(room: string, id: string): Promise<Uint8Array | null> {
    this.#assertOpen()
    return this.state.versions.get(room)?.get(id)?.update.slice() ?? null
  }

  async deleteVersion(room: string, id: string): Promise<boolean> {
    this.#assertOpen()
    return this.state.versions.get(room)?.delete(id) ?? false
  }

  /** Queued per room. Shared: tests run several servers on one memory store, as a cluster on Postgres. */
  exclusiveRestore<T>(room: string, restore: (opts: { shared: boolean }) => Promise<T>): Promise<T> {
    this.#assertOpen()
    return this.#restores.run(room, () => restore({ shared: true }))
  }

  // ---- webhook endpoints and outbox ----------------------------------------------------------------

  async saveWebhookEndpoint(endpoint: WebhookEndpoint): Promise<void> {
    this.#assertOpen()
    this.state.endpoints.set(endpoint.id, copyEndpoint(endpoint))
  }

  async listWebhookEndpoints(): Promise<WebhookEndpoint[]> {
    this.#assertOpen()
    return [...this.state.endpoints.values()]
      .sort((a, b) => a.createdAt - b.createdAt || compareCodePoints(a.id, b.id))
      .map(copyEndpoint)
  }

  async deleteWebhookEndpoint(id: string): Promise<boolean> {
    this.#assertOpen()
    for (const d of this.state.deliveries.values()) {
      if (d.endpointId === id && d.status === 'pending') {
        this.state.deliveries.delete(d.id)
        this.state.deliveryMeta.delete(d.id)
      }
    }
    return this.state.endpoints.delete(id)
  }

  async disableWebhookEndpoint(id: string, at: number): Promise<void> {
    this.#assertOpen()
    const endpoint = this.state.endpoints.get(id)
    if (endpoint) this.state.endpoints.set(id, { ...endpoint, disabledAt: at })
  }

  async rotateWebhookSecret(id: string, newSecret: string, previousExpiresAt: number | null): Promise<WebhookEndpoint | null> {
    this.#assertOpen()
    const endpoint = this.state.endpoints.get(id)
    if (endpoint === undefined) return null
    const rotated: WebhookEndpoint = {
      ...endpoint,
      secret: newSecret,
      previousSecret: previousExpiresAt === null ? null : endpoint.secret,
      previousSecretExpiresAt: previousExpiresAt,
    }
    this.state.endpoints.set(id, rotated)
    return copyEndpoint(rotated)
  }

  async enqueueDeliveries(deliveries: readonly NewWebhookDelivery[]): Promise<void> {
    this.#assertOpen()
    // All or nothing, like the SQLite transaction: check every id before inserting any.
    const ids = new Set<string>()
    for (const d of deliveries) {
      if (this.state.deliveries.has(d.id) || ids.has(d.id)) throw new Error(`webhook delivery ${d.id} already exists`)
      ids.add(d.id)
    }
    for (const d of deliveries) {
      this.state.deliveries.set(d.id, {
        id: d.id,
        endpointId: d.endpointId,
        eventType: d.eventType,
        payload: d.payload,
        createdAt: d.createdAt,
        status: 'pending',
        attempts: 0,
        nextAttemptAt: d.createdAt,
        lastError: null,
        lastStatusCode: null,
        updatedAt: d.createdAt,
      })
    }
  }

  async claimDueDeliveries(now: number, limit: number, leaseMs: number): Promise<WebhookDelivery[]> {
    this.#assertOpen()
    const due = [...this.state.deliveries.values()]
      .filter((d) => d.status === 'pending' && d.nextAttemptAt <= now)
      .sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || a.createdAt - b.createdAt || compareCodePoints(a.id, b.id))
      .slice(0, clampLimit(limit))
    for (const d of due) {
      d.nextAttemptAt = now + leaseMs
      this.#meta(d.id).leasedUntil = now + leaseMs
    }
    return due.map((d) => ({ ...d }))
  }

  async completeDelivery(id: string, outcome: DeliveryOutcome, at: number): Promise<void> {
    this.#assertOpen()
    const d = this.state.deliveries.get(id)
    if (!d) return
    d.attempts += 1
    d.updatedAt = at
    this.#meta(id).leasedUntil = null
    d.status = outcome.status
    switch (outcome.status) {
      case 'delivered':
        d.lastStatusCode = outcome.statusCode
        break
      case 'pending':
        d.nextAttemptAt = outcome.nextAttemptAt
        d.lastError = outcome.error
        d.lastStatusCode = outcome.statusCode
        break
      case 'failed':
        d.lastError = outcome.error
        d.lastStatusCode = outcome.statusCode
        break
    }
  }

  async getDelivery(id: string): Promise<WebhookDelivery | null> {
    this.#assertOpen()
    const d = this.state.deliveries.get(id)
    return d ? { ...d } : null
  }

  async listDeliveries(opts: ListDeliveriesOptions): Promise<WebhookDelivery[]> {
    this.#assertOpen()
    const { status, after } = opts
    return [...this.state.deliveries.values()]
      .filter((d) => (status === undefined || d.status === status) && (after === undefined || compareCodePoints(d.id, after) > 0))
      .sort((a, b) => compareCodePoints(a.id, b.id))
      .slice(0, clampLimit(opts.limit))
      .map((d) => ({ ...d }))
  }

  async replayDelivery(id: string, now: number): Promise<WebhookDelivery | null> {
    this.#assertOpen()
    const d = this.state.deliveries.get(id)
    if (!d) return null
    d.status = 'pending'
    d.attempts = 0
    d.nextAttemptAt = now
    d.updatedAt = now
    this.#meta(id).leasedUntil = null
    return { ...d }
  }

  async countPendingDeliveries(): Promise<number> {
    this.#assertOpen()
    let n = 0
    for (const d of this.state.deliveries.values()) if (d.status === 'pending') n++
    return n
  }

  async nextDeliveryDueAt(): Promise<number | null> {
    this.#assertOpen()
    let next: number | null = null
    for (const d of this.state.deliveries.values()) {
      if (d.status === 'pending' && (next === null || d.nextAttemptAt < next)) next = d.nextAttemptAt
    }
    return next
  }

  async dueRoomChanges(now: number, quietMs: number, maxWaitMs: number, limit: number): Promise<RoomChange[]> {
    this.#assertOpen()
    return [...this.state.changes]
      .filter(([, c]) => c.lastAt <= now - quietMs || c.firstAt <= now - maxWaitMs)
      .sort(([a, x], [b, y]) => x.firstAt - y.firstAt || compareCodePoints(a, b))
      .slice(0, clampLimit(limit))
      .map(([room, c]) => ({ room, firstAt: c.firstAt, lastAt: c.lastAt }))
  }

  onRoomChanges(listener: () => void): () => void {
    return this.changeListeners.add(listener)
  }

  async nextRoomChangeDueAt(quietMs: number, maxWaitMs: number): Promise<number | null> {
    this.#assertOpen()
    let next: number | null = null
    for (const c of this.state.changes.values()) {
      const due = Math.min(c.lastAt + quietMs, c.firstAt + maxWaitMs)
      if (next === null || due < next) next = due
    }
    return next
  }

  async recordedRoomEvents(limit: number): Promise<RecordedRoomEvent[]> {
    this.#assertOpen()
    // Map iteration is insertion order, which is id order.
    return [...this.state.roomEvents.values()].slice(0, clampLimit(limit)).map((e) => ({ ...e }))
  }

  async settleRoomEvents(events: readonly SettledRoomEvent[]): Promise<void> {
    this.#assertOpen()
    // All or nothing, like the SQL transaction: check the delivery ids before changing anything.
    const ids = new Set<string>()
    for (const e of events) {
      if (!this.state.roomEvents.has(e.id)) continue
      for (const d of e.deliveries) {
        if (this.state.deliveries.has(d.id) || ids.has(d.id)) throw new Error(`webhook delivery ${d.id} already exists`)
        ids.add(d.id)
      }
    }
    const rows: NewWebhookDelivery[] = []
    for (const e of events) {
      if (this.state.roomEvents.delete(e.id)) rows.push(...e.deliveries)
    }
    await this.enqueueDeliveries(rows)
  }

  async settleRoomChanges(changes: readonly SettledRoomChange[], now: number): Promise<void> {
    this.#assertOpen()
    // Synchronous from here on, as one transaction.
    for (const c of changes) {
      if (c.payload !== null) {
        for (const { id, endpointId } of c.deliveries) {
          const [first, ...rest] = this.#coalescible(c.room, endpointId, now)
          // As the SQLite adapter: an unsent one takes the payload, the others are superseded.
          const unsent = first?.attempts === 0 ? first : null
          const keptId = unsent?.id ?? id
          if (unsent) {
            unsent.payload = c.payload
            unsent.updatedAt = now
          }
          let dueAt = Infinity
          for (const old of unsent ? rest : [first, ...rest]) {
            if (!old) continue
            old.status = 'failed'
            old.lastError = `superseded by ${keptId}`
            old.updatedAt = now
            this.#meta(old.id).leasedUntil = null
            dueAt = Math.min(dueAt, old.nextAttemptAt)
          }
          if (unsent) continue
          dueAt = Math.max(now, dueAt === Infinity ? now : dueAt)
          this.state.deliveries.set(id, {
            id,
            endpointId,
            eventType: 'room.changed',
            payload: c.payload,
            createdAt: now,
            status: 'pending',
            attempts: 0,
            nextAttemptAt: dueAt,
            lastError: null,
            lastStatusCode: null,
            updatedAt: now,
          })
          this.state.deliveryMeta.set(id, { room: c.room, leasedUntil: null })
        }
      }
      const change = this.state.changes.get(c.room)
      if (change === undefined) continue
      if (change.lastAt <= c.lastAt) this.state.changes.delete(c.room)
      else change.firstAt = Math.max(change.firstAt, c.lastAt)
    }
  }

  // ---- lifecycle ----------------------------------------------------------------------------------

  async ping(): Promise<void> {
    this.#assertOpen()
  }

  close(): Promise<void> {
    this.#closed = true
    this.#closing ??= this.committer.close()
    return this.#closing
  }

  #record(name: string): RoomRecord | null {
    const entry = this.state.rooms.get(name)
    if (!entry) return null
    return {
      name,
      createdAt: entry.createdAt,
      updatedAt: entry.updatedAt,
      metadata: JSON.parse(entry.metadata) as RoomMetadata,
      sizeBytes: sumBytes(this.state.rows.get(name) ?? []),
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw closedError()
  }

  #meta(id: string): { room: string | null; leasedUntil: number | null } {
    let meta = this.state.deliveryMeta.get(id)
    if (!meta) {
      meta = { room: null, leasedUntil: null }
      this.state.deliveryMeta.set(id, meta)
    }
    return meta
  }

  /** The pending room.changed deliveries of this room and endpoint that no attempt holds: unsent first, then oldest. */
  #coalescible(room: string, endpointId: string, now: number): Delivery[] {
    const found: Delivery[] = []
    for (const d of this.state.deliveries.values()) {
      const meta = this.state.deliveryMeta.get(d.id)
      if (meta?.room !== room || d.endpointId !== endpointId || d.status !== 'pending' || d.eventType !== 'room.changed') continue
      if (meta.leasedUntil !== null && meta.leasedUntil > now) continue
      found.push(d)
    }
    return found.sort((a, b) => Number(a.attempts > 0) - Number(b.attempts > 0) || a.createdAt - b.createdAt || compareCodePoints(a.id, b.id))
  }
}

function copyVersion(v: VersionInfo): VersionInfo {
  return { ...v, fingerprint: v.fingerprint.slice() }
}

function copyEndpoint(e: WebhookEndpoint): WebhookEndpoint {
  return {
    id: e.id,
    url: e.url,
    secret: e.secret,
    events: e.events === null ? null : [...e.events],
    createdAt: e.createdAt,
    disabledAt: e.disabledAt,
    previousSecret: e.previousSecret,
    previousSecretExpiresAt: e.previousSecretExpiresAt,
  }
}

/** As SQL's LIMIT after the SQLite adapter's clamping: a non-negative integer. */
function clampLimit(limit: number): number {
  return Number.isFinite(limit) ? Math.max(0, Math.floor(limit)) : 0
}

/**
 * Compares strings by Unicode code point, the order of SQLite's BINARY collation over UTF-8, so both
 * adapters page identically. JavaScript's `<` compares UTF-16 code units, which puts U+10000 and above
 * before U+E000–U+FFFF.
 */
function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x !== y) return codePointRank(x) - codePointRank(y)
  }
  return a.length - b.length
}

// Surrogates (U+D800–U+DFFF) only encode code points above U+FFFF: rank them after U+E000–U+FFFF.
function codePointRank(unit: number): number {
  if (unit >= 0xd800 && unit < 0xe000) return unit + 0x2000
  if (unit >= 0xe000) return unit - 0x800
  return unit
}

function closedError(): Error {
  return new Error('memory store is closed')
}

function sumBytes(updates: readonly Uint8Array[]): number {
  let n = 0
  for (const u of updates) n += u.byteLength
  return n
}
