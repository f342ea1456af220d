import { statfs } from 'node:fs/promises'
import { dirname } from 'node:path'
import { Worker } from 'node:worker_threads'
import type { Logger } from 'pino'
import { checkedBindings } from './client-owners.js'
import { processNow, type Now } from '../clock.js'
import { GroupCommitter } from './group-commit.js'
import { Listeners } from './listeners.js'
import { workerExecArgv } from './worker-argv.js'
import type {
  EndpointRow,
  PackedBinding,
  PackedRows,
  ReaderOp,
  RoomRow,
  SerializedError,
  VersionRow,
  WorkerCalls,
  WorkerInit,
  WorkerOp,
  WorkerResponse,
  WorkerResults,
  WorkerRole,
  WorkerStartup,
} from './sqlite-protocol.js'
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
import type { ListVersionsOptions, NewVersion, VersionInfo, VersionKind } from './versions.js'

export interface SqliteStoreOptions {
  /** Database file. Missing parent directories are created. `:memory:` gives a throwaway database. */
  path: string
  /** Times recorded for room changes. @default processNow (clock.ts) */
  now?: Now
}

/**
 * At most one commit (one fsync, one message to the writer thread, which is asleep and must be woken) per
 * this many ms. Without it a steady trickle of writes commits a few rows at a time as fast as the disk
 * answers, paying the per-commit cost for each; at 4,000 updates/s (`npm run bench -- fanout --rate 4`)
 * it took the server from 62-64% to 50-53% of a core. A saved acknowledgement waits at most this much longer.
 */
const COMMIT_SPACING_MS = 5
/** ...unless this many rows are waiting (closed-loop writers, like the bench's `saved`, must not wait). */
const COMMIT_ENOUGH_ROWS = 64

/** What goes through the group committer, in call order: appends and clientID bindings. */
type PendingRow =
  | { kind: 'append'; room: string; data: Uint8Array }
  | { kind: 'bind'; room: string; bindings: ClientBinding[] }

/**
 * Opens (creating if needed) the SQLite database in a dedicated writer thread and resolves once the schema
 * is migrated. Rejects with a clear error when the file cannot be opened, so a bad path fails at boot.
 *
 * A file database in WAL mode also gets a reader thread with a read-only connection, which serves every
 * read that is not part of a read-modify-write (loads, room and delivery lookups, listings, counts, ping):
 * WAL readers see the last committed state without waiting for the writer's commit and fsync. The writer
 * answers a write only after it has committed, and the reader takes a fresh snapshot for every request, so
 * a read issued after a write resolved sees it. `:memory:` cannot be shared between connections (nor can
 * a database that refused WAL be read during a commit): there the writer serves reads too.
 */
export async function createSqliteStore(opts: SqliteStoreOptions, log: Logger): Promise<Store> {
  const storeLog = log.child({ component: 'store', store: 'sqlite' })
  const writer = await startWorker({ path: opts.path, role: 'writer' })
  const shareable = opts.path !== ':memory:' && opts.path !== ''
  if (writer.journalMode !== 'wal' && shareable) {
    storeLog.warn({ journalMode: writer.journalMode }, 'SQLite refused WAL mode; reads will queue behind commits')
  }

  const writerChannel = connect<WorkerOp>(writer.worker, 'writer', storeLog)
  let readerChannel: WorkerChannel<ReaderOp> | null = null
  if (shareable && writer.journalMode === 'wal') {
    try {
      // Only now: the writer has created the file, turned on WAL and migrated, so the reader finds it ready.
      const reader = await startWorker({ path: opts.path, role: 'reader' })
      readerChannel = connect<ReaderOp>(reader.worker, 'reader', storeLog)
      if (!writerChannel.alive) throw new Error('sqlite worker exited while the reader was starting')
    } catch (err) {
      try {
        if (readerChannel) await closeChannel(readerChannel)
      } finally {
        await closeChannel(writerChannel)
      }
      throw err
    }
  }
  // Either thread dying ends the store: the dead one's calls reject now, the survivor's pending calls still
  // get their real answers (a write that committed must not be reported as failed), and every later call
  // rejects with the death as its reason.
  const reads = readerChannel
  writerChannel.onDeath = (err) => reads?.refuse(err)
  if (reads) reads.onDeath = (err) => writerChannel.refuse(err)

  const now = opts.now ?? processNow
  const health = new WriteHealth(shareable ? dirname(opts.path) : null)
  const changeListeners = new Listeners(storeLog)
  const committer = new GroupCommitter<PendingRow>({
    commit: async (rows) => {
      await health.track(commitBatch(writerChannel, rows, now(), storeLog), batchBytes(rows))
      changeListeners.call()
    },
    sizeOf: (row) => (row.kind === 'append' ? row.data.byteLength : 0),
    minIntervalMs: COMMIT_SPACING_MS,
    enoughItems: COMMIT_ENOUGH_ROWS,
  })
  storeLog.info(
    { path: opts.path, journalMode: writer.journalMode, readerThread: readerChannel !== null },
    'sqlite store opened',
  )
  return new SqliteStore(writerChannel, readerChannel, committer, health, changeListeners, now, storeLog)
}

interface Started {
  worker: Worker
  journalMode: string
}

/** Starts one worker and waits for its connection; rejects with a clear error (the worker gone) otherwise. */
async function startWorker(init: WorkerInit): Promise<Started> {
  const worker = new Worker(new URL('./sqlite-worker.js', import.meta.url), {
    workerData: init satisfies WorkerInit,
    execArgv: workerExecArgv(process.execArgv),
  })
  const what = init.role === 'writer' ? 'sqlite worker' : 'sqlite reader worker'
  let startup: WorkerStartup
  try {
    startup = await waitForStartup(worker)
  } catch (err) {
    await worker.terminate()
    throw new Error(`${what} failed to start: ${messageOf(err)}`, { cause: err })
  }
  if (startup.type === 'failed') {
    await worker.terminate()
    const target = init.role === 'writer' ? 'SQLite database' : 'a read-only connection to the SQLite database'
    throw new Error(`cannot open ${target} at ${init.path}: ${startup.error.message}`, {
      cause: deserializeError(startup.error),
    })
  }
  return { worker, journalMode: startup.journalMode }
}

/** Wires a started worker to a channel: answers settle calls; an exit fails them. */
function connect<Op extends WorkerOp>(worker: Worker, role: WorkerRole, log: Logger): WorkerChannel<Op> {
  const channel = new WorkerChannel<Op>(worker)
  const what = role === 'writer' ? 'sqlite worker' : 'sqlite reader worker'
  worker.on('message', (res: WorkerResponse) => channel.settle(res))
  worker.on('error', (err) => {
    channel.cause = err
    log.error({ err, worker: role }, `${what} crashed`)
  })
  worker.on('messageerror', (err) => {
    // An answer we cannot decode leaves a caller waiting forever; stop the worker so everyone gets an error.
    channel.cause = err
    log.error({ err, worker: role }, `${what} sent an unreadable message`)
    void worker.terminate()
  })
  worker.on('exit', (code) => {
    if (channel.stopping) return channel.fail(closedError())
    log.error({ exitCode: code, worker: role }, `${what} exited`)
    const err = new Error(`${what} exited with code ${code}`, { cause: channel.cause })
    channel.fail(err)
    channel.onDeath?.(err)
  })
  // Only pending requests keep the process alive (see WorkerChannel), as with an idle socket.
  worker.unref()
  return channel
}

const noop = (): void => {}

/**
 * Whether the last commit failed (a full disk, an I/O error): readiness must notice, since a read ping
 * still answers while every write fails. Cleared by the next commit that succeeds, or by a readiness
 * check that finds room on the disk again and gets a small write through.
 */
class WriteHealth {
  failure: Error | null = null
  /** Bytes of the batch that failed: the disk must have room for it (twice over) to be called ready. */
  failedBytes = 0

  /** `dir`: where the database lives, for the free-space check; null for `:memory:`. */
  constructor(private readonly dir: string | null) {}

  async track<T>(write: Promise<T>, bytes = 0): Promise<T> {
    try {
      const result = await write
      this.failure = null
      return result
    } catch (err) {
      this.failure = err instanceof Error ? err : new Error(String(err))
      this.failedBytes = bytes
      throw err
    }
  }

  /**
   * After a failure: rejects while the disk lacks room for the failed batch. A tiny write alone would
   * not tell: it may fit in pages the write-ahead log already holds while the next real batch does not.
   */
  async assertRoom(): Promise<void> {
    if (this.dir === null) return
    let free: number
    try {
      const fs = await statfs(this.dir)
      free = fs.bavail * fs.bsize
    } catch {
      return // no answer (an unusual file system): the write probe decides alone
    }
    const needed = Math.max(MIN_FREE_BYTES_AFTER_FAILURE, 2 * this.failedBytes)
    if (free < needed) throw new Error(`${free} bytes free on the database's file system, ${needed} needed`)
  }
}

/** After a failed commit, the disk must have at least this much free before the store reports ready. */
const MIN_FREE_BYTES_AFTER_FAILURE = 1024 * 1024

function batchBytes(rows: readonly PendingRow[]): number {
  let n = 0
  for (const row of rows) if (row.kind === 'append') n += row.data.byteLength
  return n
}

class SqliteStore implements Store {
  #closed = false
  /** Settles when the last compaction asked for has finished (see compact). */
  #compactions: Promise<void> = Promise.resolve()
  #closing: Promise<void> | null = null

  /** Serves reads: the reader thread, or the writer when there is none. */
  readonly #reads: WorkerChannel<ReaderOp>

  constructor(
    private readonly writer: WorkerChannel<WorkerOp>,
    private readonly reader: WorkerChannel<ReaderOp> | null,
    private readonly committer: GroupCommitter<PendingRow>,
    private readonly health: WriteHealth,
    private readonly changeListeners: Listeners,
    private readonly now: Now,
    private readonly log: Logger,
  ) {
    this.#reads = reader ?? writer
  }

  // ---- document log -------------------------------------------------------------------------------

  async loadUpdates(room: string): Promise<StoredDocument> {
    const { packed, lengths, tombstone, clientOwners } = await this.#read('load', { room })
    const updates: Uint8Array[] = []
    let offset = 0
    for (const len of lengths) {
      updates.push(new Uint8Array(packed, offset, len))
      offset += len
    }
    return { updates, rowCount: updates.length, byteSize: packed.byteLength, tombstone, clientOwners: new Map(clientOwners) }
  }

  appendUpdate(room: string, update: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(closedError())
    // Copy now: callers may reuse their buffer (uWS does) before the batch is packed.
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
    // Through the committer: appends issued after this land in the same transaction or a later one.
    return this.committer.enqueue({ kind: 'bind', room, bindings: checked })
  }

  compact(room: string): Promise<CompactionResult> {
    // One at a time: the writer answers requests in order, so compactions queued back to back (every
    // busy room crossing its threshold together) would hold every append, and its saved ack, behind them.
    const run = this.#compactions.then(async () => {
      const result = await this.#write('compact', { room })
      if (result.outcome === 'kept') {
        this.log.error({ roomId: room, rows: result.rowsRead, reason: result.reason }, 'compaction kept the rows')
      }
      return result
    })
    this.#compactions = run.then(noop, noop)
    return run
  }

  // ---- room records -------------------------------------------------------------------------------

  async createRoom(name: string, metadata: RoomMetadata): Promise<RoomRecord | null> {
    const row = await this.#write('createRoom', { name, metadata: JSON.stringify(metadata) })
    return row && toRoomRecord(row)
  }

  async ensureRoom(name: string): Promise<{ record: RoomRecord; created: boolean }> {
    const { row, created } = await this.#write('ensureRoom', { name })
    return { record: toRoomRecord(row), created }
  }

  async getRoom(name: string): Promise<RoomRecord | null> {
    const row = await this.#read('getRoom', { name })
    return row && toRoomRecord(row)
  }

  async listRooms(opts: ListRoomsOptions): Promise<RoomRecord[]> {
    const rows = await this.#read('listRooms', {
      prefix: opts.prefix ?? null,
      after: opts.after ?? null,
      limit: opts.limit,
    })
    return rows.map(toRoomRecord)
  }

  async updateRoomMetadata(name: string, metadata: RoomMetadata): Promise<RoomRecord | null> {
    const row = await this.#write('updateRoomMetadata', { name, metadata: JSON.stringify(metadata) })
    return row && toRoomRecord(row)
  }

  async deleteRoom(name: string, tombstone: Uint8Array | null): Promise<boolean> {
    this.#assertOpen()
    // Appends issued before the delete must not be committed after it and bring the room back.
    await this.committer.flush()
    return this.#write('deleteRoom', { room: name, tombstone })
  }

  recordRemoval(room: string, userId: string, atMs: number): Promise<void> {
    return this.#write('recordRemoval', { room, userId, at: atMs })
  }

  async loadRemovals(room: string): Promise<Map<string, number>> {
    return new Map(await this.#read('loadRemovals', { room }))
  }

  // ---- versions -----------------------------------------------------------------------------------

  async saveVersion(version: NewVersion, keepAuto?: number): Promise<VersionInfo | null> {
    // Only the contract's fields cross the thread boundary.
    const { id, room, createdAt, kind, label, author, update, fingerprint } = version
    const row = await this.#write('saveVersion', {
      version: { id, room, createdAt, kind, label, author, update, fingerprint },
      keepAuto: keepAuto ?? null,
    })
    return row && toVersionInfo(row)
  }

  async listVersions(room: string, opts: ListVersionsOptions): Promise<VersionInfo[]> {
    const rows = await this.#read('listVersions', { room, before: opts.before ?? null, limit: opts.limit })
    return rows.map(toVersionInfo)
  }

  async getVersion(room: string, id: string): Promise<VersionInfo | null> {
    const row = await this.#read('getVersion', { room, id })
    return row && toVersionInfo(row)
  }

  getVersionUpdate(room: string, id: string): Promise<Uint8Array | null> {
    return this.#read('getVersionUpdate', { room, id })
  }

  deleteVersion(room: string, id: string): Promise<boolean> {
    return this.#write('deleteVersion', { room, id })
  }

  /** One process owns the database (the data-dir lock): the room's own restore queue is enough. */
  exclusiveRestore<T>(_room: string, restore: (opts: { shared: boolean }) => Promise<T>): Promise<T> {
    return restore({ shared: false })
  }

  // ---- webhook endpoints and outbox ----------------------------------------------------------------

  saveWebhookEndpoint(endpoint: WebhookEndpoint): Promise<void> {
    return this.#write('saveEndpoint', {
      endpoint: {
        id: endpoint.id,
        url: endpoint.url,
        secret: endpoint.secret,
        events: endpoint.events === null ? null : JSON.stringify(endpoint.events),
        createdAt: endpoint.createdAt,
        disabledAt: endpoint.disabledAt,
        previousSecret: endpoint.previousSecret,
        previousSecretExpiresAt: endpoint.previousSecretExpiresAt,
      },
    })
  }

  async listWebhookEndpoints(): Promise<WebhookEndpoint[]> {
    return (await this.#read('listEndpoints', {})).map(toEndpoint)
  }

  deleteWebhookEndpoint(id: string): Promise<boolean> {
    return this.#write('deleteEndpoint', { id })
  }

  disableWebhookEndpoint(id: string, at: number): Promise<void> {
    return this.#write('disableEndpoint', { id, at })
  }

  async rotateWebhookSecret(id: string, newSecret: string, previousExpiresAt: number | null): Promise<WebhookEndpoint | null> {
    const row = await this.#write('rotateEndpointSecret', { id, secret: newSecret, previousExpiresAt })
    return row && toEndpoint(row)
  }

  enqueueDeliveries(deliveries: readonly NewWebhookDelivery[]): Promise<void> {
    // Only the contract's fields cross the thread boundary, whatever else the caller's objects carry.
    const rows = deliveries.map(({ id, endpointId, eventType, payload, createdAt }) => ({
      id,
      endpointId,
      eventType,
      payload,
      createdAt,
    }))
    return this.#write('enqueueDeliveries', { deliveries: rows })
  }

  claimDueDeliveries(now: number, limit: number, leaseMs: number): Promise<WebhookDelivery[]> {
    return this.#write('claimDeliveries', { now, limit, leaseMs })
  }

  completeDelivery(id: string, outcome: DeliveryOutcome, at: number): Promise<void> {
    return this.#write('completeDelivery', { id, outcome, at })
  }

  getDelivery(id: string): Promise<WebhookDelivery | null> {
    return this.#read('getDelivery', { id })
  }

  listDeliveries(opts: ListDeliveriesOptions): Promise<WebhookDelivery[]> {
    return this.#read('listDeliveries', { status: opts.status ?? null, after: opts.after ?? null, limit: opts.limit })
  }

  replayDelivery(id: string, now: number): Promise<WebhookDelivery | null> {
    return this.#write('replayDelivery', { id, now })
  }

  countPendingDeliveries(): Promise<number> {
    return this.#read('countPending', {})
  }

  nextDeliveryDueAt(): Promise<number | null> {
    return this.#read('nextDueAt', {})
  }

  dueRoomChanges(now: number, quietMs: number, maxWaitMs: number, limit: number): Promise<RoomChange[]> {
    return this.#read('dueRoomChanges', { now, quietMs, maxWaitMs, limit })
  }

  onRoomChanges(listener: () => void): () => void {
    return this.changeListeners.add(listener)
  }

  nextRoomChangeDueAt(quietMs: number, maxWaitMs: number): Promise<number | null> {
    return this.#read('nextRoomChangeDueAt', { quietMs, maxWaitMs })
  }

  settleRoomChanges(changes: readonly SettledRoomChange[], now: number): Promise<void> {
    const plain = changes.map(({ room, lastAt, payload, deliveries }) => ({
      room,
      lastAt,
      payload,
      deliveries: deliveries.map(({ id, endpointId }) => ({ id, endpointId })),
    }))
    return this.#write('settleRoomChanges', { changes: plain, now })
  }

  recordedRoomEvents(limit: number): Promise<RecordedRoomEvent[]> {
    return this.#read('roomEvents', { limit })
  }

  settleRoomEvents(events: readonly SettledRoomEvent[]): Promise<void> {
    // Only the contract's fields cross the thread boundary.
    const plain = events.map(({ id, deliveries }) => ({
      id,
      deliveries: deliveries.map(({ id: deliveryId, endpointId, eventType, payload, createdAt }) => ({ id: deliveryId, endpointId, eventType, payload, createdAt })),
    }))
    return this.#write('settleRoomEvents', { events: plain })
  }

  // ---- lifecycle ----------------------------------------------------------------------------------

  async ping(): Promise<void> {
    await this.#read('ping', {})
    const failure = this.health.failure
    if (failure === null) return
    // The last commit failed: ready again only once the disk has room and a write goes through.
    try {
      await this.health.assertRoom()
      await this.#write('probeWrite', { at: this.now() })
      this.health.failure = null
    } catch (err) {
      throw new Error(`storage writes are failing (${messageOf(failure)}): ${messageOf(err)}`, { cause: err })
    }
  }

  close(): Promise<void> {
    this.#closed = true
    this.#closing ??= this.#shutdown()
    return this.#closing
  }

  async #shutdown(): Promise<void> {
    await this.committer.close()
    try {
      // First the reader, so that the writer's connection is the last one and its close checkpoints the WAL.
      if (this.reader) await closeChannel(this.reader)
    } finally {
      await closeChannel(this.writer)
    }
    this.log.info('sqlite store closed')
  }

  /** A read; rejects (without posting) once the store is closed. */
  async #read<K extends ReaderOp>(op: K, args: WorkerCalls[K]): Promise<WorkerResults[K]> {
    this.#assertOpen()
    return this.#reads.request(op, args)
  }

  /** A write or read-modify-write, always on the writer; rejects (without posting) once the store is closed. */
  async #write<K extends WorkerOp>(op: K, args: WorkerCalls[K]): Promise<WorkerResults[K]> {
    this.#assertOpen()
    return this.writer.request(op, args)
  }

  #assertOpen(): void {
    if (this.#closed) throw closedError()
  }
}

/** Asks a worker to close its connection, then stops it (even when the request failed). */
async function closeChannel(channel: WorkerChannel<'close'>): Promise<void> {
  try {
    // A worker answers in order, so this also waits for any request sent to it before.
    if (channel.alive) await channel.request('close', {})
  } finally {
    await channel.stop()
  }
}

function toRoomRecord(row: RoomRow): RoomRecord {
  return {
    name: row.name,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    metadata: JSON.parse(row.metadata) as RoomMetadata,
    sizeBytes: row.sizeBytes,
  }
}

function toVersionInfo(row: VersionRow): VersionInfo {
  return {
    id: row.id,
    room: row.room,
    createdAt: row.createdAt,
    kind: row.kind as VersionKind,
    label: row.label,
    author: row.author,
    sizeBytes: row.sizeBytes,
    fingerprint: new Uint8Array(row.fingerprint),
  }
}

function toEndpoint(row: EndpointRow): WebhookEndpoint {
  return {
    id: row.id,
    url: row.url,
    secret: row.secret,
    events: row.events === null ? null : (JSON.parse(row.events) as string[]),
    createdAt: row.createdAt,
    disabledAt: row.disabledAt,
    previousSecret: row.previousSecret,
    previousSecretExpiresAt: row.previousSecretExpiresAt,
  }
}

async function commitBatch(channel: WorkerChannel<WorkerOp>, rows: PendingRow[], changedAt: number, log: Logger): Promise<void> {
  const started = performance.now()
  const batch = packRows(rows, changedAt)
  // One message, one transaction.
  await channel.request('append', batch, [batch.packed])
  log.debug(
    { updates: batch.rooms.length, bindings: batch.bindings.length, batchBytes: batch.packed.byteLength, commitMs: performance.now() - started },
    'batch committed',
  )
}

function packRows(rows: readonly PendingRow[], changedAt: number): PackedRows {
  let total = 0
  for (const row of rows) if (row.kind === 'append') total += row.data.byteLength
  const packed = new Uint8Array(total)
  const rooms: string[] = []
  const lengths: number[] = []
  const bindings: PackedBinding[] = []
  let offset = 0
  for (const row of rows) {
    if (row.kind === 'bind') {
      for (const [clientId, owner] of row.bindings) bindings.push({ room: row.room, clientId, owner })
      continue
    }
    packed.set(row.data, offset)
    offset += row.data.byteLength
    rooms.push(row.room)
    lengths.push(row.data.byteLength)
  }
  return { rooms, lengths, packed: packed.buffer, bindings, changedAt }
}

interface Pending {
  op: WorkerOp
  resolve: (result: unknown) => void
  reject: (err: Error) => void
}

/**
 * Request/response over postMessage, matched by id. Once the worker is gone every call rejects; once the
 * other worker is gone (`refuse`) every new call but `close` rejects while pending ones still settle.
 */
class WorkerChannel<Op extends WorkerOp> {
  /** Last error the worker reported before exiting; becomes the `cause` of the exit error. */
  cause: unknown = undefined
  /** True once we are terminating the worker on purpose. */
  stopping = false
  /** Called once if the worker exits without being stopped, with the error its calls rejected with. */
  onDeath: ((err: Error) => void) | null = null
  #nextId = 1
  #dead: Error | null = null
  #refused: Error | null = null
  readonly #pending = new Map<number, Pending>()

  constructor(private readonly worker: Worker) {}

  get alive(): boolean {
    return this.#dead === null
  }

  request<K extends Op>(op: K, args: WorkerCalls[K], transfer: ArrayBuffer[] = []): Promise<WorkerResults[K]> {
    const refusal = this.#dead ?? (op === 'close' ? null : this.#refused)
    if (refusal) return Promise.reject(opError(op, refusal))
    const id = this.#nextId++
    return new Promise<WorkerResults[K]>((resolve, reject) => {
      try {
        this.worker.postMessage({ id, op, args }, transfer)
      } catch (err) {
        reject(opError(op, err))
        return
      }
      if (this.#pending.size === 0) this.worker.ref()
      this.#pending.set(id, { op, resolve: resolve as (result: unknown) => void, reject })
    })
  }

  settle(res: WorkerResponse): void {
    const pending = this.#pending.get(res.id)
    if (!pending) return
    this.#forget(res.id)
    if (res.ok) pending.resolve(res.result)
    else pending.reject(opError(pending.op, deserializeError(res.error)))
  }

  /** Rejects every pending call and all future ones with `err`. */
  fail(err: Error): void {
    this.#dead ??= err
    for (const [id, pending] of this.#pending) {
      this.#forget(id)
      pending.reject(opError(pending.op, err))
    }
  }

  /** Rejects every future call except `close` with `err`; pending calls still get their answers. */
  refuse(err: Error): void {
    this.#refused ??= err
  }

  async stop(): Promise<void> {
    this.stopping = true
    await this.worker.terminate()
    this.fail(closedError())
  }

  #forget(id: number): void {
    this.#pending.delete(id)
    if (this.#pending.size === 0) this.worker.unref()
  }
}

function waitForStartup(worker: Worker): Promise<WorkerStartup> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      worker.off('message', onMessage)
      worker.off('error', onError)
      worker.off('exit', onExit)
    }
    const onMessage = (msg: WorkerStartup): void => {
      cleanup()
      resolve(msg)
    }
    const onError = (err: Error): void => {
      cleanup()
      reject(err)
    }
    const onExit = (code: number): void => {
      cleanup()
      reject(new Error(`sqlite worker exited with code ${code} before it was ready`))
    }
    worker.on('message', onMessage)
    worker.on('error', onError)
    worker.on('exit', onExit)
  })
}

function opError(op: WorkerOp, cause: unknown): Error {
  return new Error(`sqlite ${op} failed: ${messageOf(cause)}`, { cause })
}

function deserializeError(e: SerializedError): Error {
  const err = new Error(e.message)
  err.name = e.name
  if (e.stack !== undefined) err.stack = e.stack
  if (e.code !== undefined) Object.assign(err, { code: e.code })
  return err
}

function closedError(): Error {
  return new Error('sqlite store is closed')
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
