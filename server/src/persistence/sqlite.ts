import { Worker } from 'node:worker_threads'
import type { Logger } from 'pino'
import { GroupCommitter } from './group-commit.js'
import type {
  EndpointRow,
  PackedRows,
  RoomRow,
  SerializedError,
  WorkerCalls,
  WorkerInit,
  WorkerOp,
  WorkerResponse,
  WorkerResults,
  WorkerStartup,
} from './sqlite-worker.js'
import type {
  CompactionResult,
  DeliveryOutcome,
  ListDeliveriesOptions,
  ListRoomsOptions,
  NewWebhookDelivery,
  RoomMetadata,
  RoomRecord,
  Store,
  StoredDocument,
  WebhookDelivery,
  WebhookEndpoint,
} from './store.js'

export interface SqliteStoreOptions {
  /** Database file. Missing parent directories are created. `:memory:` gives a throwaway database. */
  path: string
}

interface PendingRow {
  room: string
  data: Uint8Array
}

/**
 * Opens (creating if needed) the SQLite database in a dedicated worker thread and resolves once the schema
 * is migrated. Rejects with a clear error when the file cannot be opened, so a bad path fails at boot.
 */
export async function createSqliteStore(opts: SqliteStoreOptions, log: Logger): Promise<Store> {
  const storeLog = log.child({ component: 'store', store: 'sqlite' })
  const worker = new Worker(new URL('./sqlite-worker.js', import.meta.url), {
    workerData: { path: opts.path } satisfies WorkerInit,
    execArgv: workerExecArgv(process.execArgv),
  })

  let startup: WorkerStartup
  try {
    startup = await waitForStartup(worker)
  } catch (err) {
    await worker.terminate()
    throw new Error(`sqlite worker failed to start: ${messageOf(err)}`, { cause: err })
  }
  if (startup.type === 'failed') {
    await worker.terminate()
    throw new Error(`cannot open SQLite database at ${opts.path}: ${startup.error.message}`, {
      cause: deserializeError(startup.error),
    })
  }
  if (startup.journalMode !== 'wal' && opts.path !== ':memory:') {
    storeLog.warn({ journalMode: startup.journalMode }, 'SQLite refused WAL mode; writers will block readers')
  }

  const channel = new WorkerChannel(worker)
  worker.on('message', (res: WorkerResponse) => channel.settle(res))
  worker.on('error', (err) => {
    channel.cause = err
    storeLog.error({ err }, 'sqlite worker crashed')
  })
  worker.on('messageerror', (err) => {
    // An answer we cannot decode leaves a caller waiting forever; stop the worker so everyone gets an error.
    channel.cause = err
    storeLog.error({ err }, 'sqlite worker sent an unreadable message')
    void worker.terminate()
  })
  worker.on('exit', (code) => {
    if (channel.stopping) return channel.fail(closedError())
    storeLog.error({ exitCode: code }, 'sqlite worker exited')
    channel.fail(new Error(`sqlite worker exited with code ${code}`, { cause: channel.cause }))
  })
  // Only pending requests keep the process alive (see WorkerChannel), as with an idle socket.
  worker.unref()

  const committer = new GroupCommitter<PendingRow>({
    commit: (rows) => commitBatch(channel, rows, storeLog),
    sizeOf: (row) => row.data.byteLength,
  })
  storeLog.info({ path: opts.path, journalMode: startup.journalMode }, 'sqlite store opened')
  return new SqliteStore(channel, committer, storeLog)
}

class SqliteStore implements Store {
  #closed = false
  #closing: Promise<void> | null = null

  constructor(
    private readonly channel: WorkerChannel,
    private readonly committer: GroupCommitter<PendingRow>,
    private readonly log: Logger,
  ) {}

  // ---- document log -------------------------------------------------------------------------------

  async loadUpdates(room: string): Promise<StoredDocument> {
    const { packed, lengths, tombstone } = await this.#call('load', { room })
    const updates: Uint8Array[] = []
    let offset = 0
    for (const len of lengths) {
      updates.push(new Uint8Array(packed, offset, len))
      offset += len
    }
    return { updates, rowCount: updates.length, byteSize: packed.byteLength, tombstone }
  }

  appendUpdate(room: string, update: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(closedError())
    // Copy now: callers may reuse their buffer (uWS does) before the batch is packed.
    return this.committer.enqueue({ room, data: new Uint8Array(update) })
  }

  compact(room: string): Promise<CompactionResult> {
    return this.#call('compact', { room })
  }

  // ---- room records -------------------------------------------------------------------------------

  async createRoom(name: string, metadata: RoomMetadata): Promise<RoomRecord | null> {
    const row = await this.#call('createRoom', { name, metadata: JSON.stringify(metadata) })
    return row && toRoomRecord(row)
  }

  async ensureRoom(name: string): Promise<{ record: RoomRecord; created: boolean }> {
    const { row, created } = await this.#call('ensureRoom', { name })
    return { record: toRoomRecord(row), created }
  }

  async getRoom(name: string): Promise<RoomRecord | null> {
    const row = await this.#call('getRoom', { name })
    return row && toRoomRecord(row)
  }

  async listRooms(opts: ListRoomsOptions): Promise<RoomRecord[]> {
    const rows = await this.#call('listRooms', {
      prefix: opts.prefix ?? null,
      after: opts.after ?? null,
      limit: opts.limit,
    })
    return rows.map(toRoomRecord)
  }

  async updateRoomMetadata(name: string, metadata: RoomMetadata): Promise<RoomRecord | null> {
    const row = await this.#call('updateRoomMetadata', { name, metadata: JSON.stringify(metadata) })
    return row && toRoomRecord(row)
  }

  async deleteRoom(name: string, tombstone: Uint8Array | null): Promise<boolean> {
    this.#assertOpen()
    // Appends issued before the delete must not be committed after it and bring the room back.
    await this.committer.flush()
    return this.#call('deleteRoom', { room: name, tombstone })
  }

  // ---- webhook endpoints and outbox ----------------------------------------------------------------

  saveWebhookEndpoint(endpoint: WebhookEndpoint): Promise<void> {
    return this.#call('saveEndpoint', {
      endpoint: {
        id: endpoint.id,
        url: endpoint.url,
        secret: endpoint.secret,
        events: endpoint.events === null ? null : JSON.stringify(endpoint.events),
        createdAt: endpoint.createdAt,
        disabledAt: endpoint.disabledAt,
      },
    })
  }

  async listWebhookEndpoints(): Promise<WebhookEndpoint[]> {
    return (await this.#call('listEndpoints', {})).map(toEndpoint)
  }

  deleteWebhookEndpoint(id: string): Promise<boolean> {
    return this.#call('deleteEndpoint', { id })
  }

  disableWebhookEndpoint(id: string, at: number): Promise<void> {
    return this.#call('disableEndpoint', { id, at })
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
    return this.#call('enqueueDeliveries', { deliveries: rows })
  }

  claimDueDeliveries(now: number, limit: number, leaseMs: number): Promise<WebhookDelivery[]> {
    return this.#call('claimDeliveries', { now, limit, leaseMs })
  }

  completeDelivery(id: string, outcome: DeliveryOutcome, at: number): Promise<void> {
    return this.#call('completeDelivery', { id, outcome, at })
  }

  getDelivery(id: string): Promise<WebhookDelivery | null> {
    return this.#call('getDelivery', { id })
  }

  listDeliveries(opts: ListDeliveriesOptions): Promise<WebhookDelivery[]> {
    return this.#call('listDeliveries', { status: opts.status ?? null, after: opts.after ?? null, limit: opts.limit })
  }

  replayDelivery(id: string, now: number): Promise<WebhookDelivery | null> {
    return this.#call('replayDelivery', { id, now })
  }

  countPendingDeliveries(): Promise<number> {
    return this.#call('countPending', {})
  }

  nextDeliveryDueAt(): Promise<number | null> {
    return this.#call('nextDueAt', {})
  }

  // ---- lifecycle ----------------------------------------------------------------------------------

  async ping(): Promise<void> {
    await this.#call('ping', {})
  }

  close(): Promise<void> {
    this.#closed = true
    this.#closing ??= this.#shutdown()
    return this.#closing
  }

  async #shutdown(): Promise<void> {
    await this.committer.close()
    try {
      // The worker answers in order, so this also waits for any request sent before it.
      if (this.channel.alive) await this.channel.request('close', {})
    } finally {
      await this.channel.stop()
    }
    this.log.info('sqlite store closed')
  }

  /** One request to the worker; rejects (without posting) once the store is closed. */
  async #call<K extends WorkerOp>(op: K, args: WorkerCalls[K]): Promise<WorkerResults[K]> {
    this.#assertOpen()
    return this.channel.request(op, args)
  }

  #assertOpen(): void {
    if (this.#closed) throw closedError()
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

function toEndpoint(row: EndpointRow): WebhookEndpoint {
  return {
    id: row.id,
    url: row.url,
    secret: row.secret,
    events: row.events === null ? null : (JSON.parse(row.events) as string[]),
    createdAt: row.createdAt,
    disabledAt: row.disabledAt,
  }
}

async function commitBatch(channel: WorkerChannel, rows: PendingRow[], log: Logger): Promise<void> {
  const started = performance.now()
  const batch = packRows(rows)
  // One message, one transaction.
  await channel.request('append', batch, [batch.packed])
  log.debug(
    { updates: rows.length, batchBytes: batch.packed.byteLength, commitMs: performance.now() - started },
    'batch committed',
  )
}

function packRows(rows: readonly PendingRow[]): PackedRows {
  let total = 0
  for (const row of rows) total += row.data.byteLength
  const packed = new Uint8Array(total)
  const rooms: string[] = []
  const lengths: number[] = []
  let offset = 0
  for (const row of rows) {
    packed.set(row.data, offset)
    offset += row.data.byteLength
    rooms.push(row.room)
    lengths.push(row.data.byteLength)
  }
  return { rooms, lengths, packed: packed.buffer }
}

interface Pending {
  op: WorkerOp
  resolve: (result: unknown) => void
  reject: (err: Error) => void
}

/** Request/response over postMessage, matched by id. Once the worker is gone every call rejects. */
class WorkerChannel {
  /** Last error the worker reported before exiting; becomes the `cause` of the exit error. */
  cause: unknown = undefined
  /** True once we are terminating the worker on purpose. */
  stopping = false
  #nextId = 1
  #dead: Error | null = null
  readonly #pending = new Map<number, Pending>()

  constructor(private readonly worker: Worker) {}

  get alive(): boolean {
    return this.#dead === null
  }

  request<K extends WorkerOp>(op: K, args: WorkerCalls[K], transfer: ArrayBuffer[] = []): Promise<WorkerResults[K]> {
    if (this.#dead) return Promise.reject(opError(op, this.#dead))
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

/**
 * Worker threads inherit the parent's flags, and Node refuses to start a worker from a file under
 * `--input-type` (set by `node --input-type=module -e …`, which scripts and tests use). Drop only that one.
 */
function workerExecArgv(parent: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < parent.length; i++) {
    const arg = parent[i] ?? ''
    if (arg === '--input-type') i++
    else if (!arg.startsWith('--input-type=')) out.push(arg)
  }
  return out
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
