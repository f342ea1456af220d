/**
 * The threads that touch the SQLite file. better-sqlite3 is synchronous (and `synchronous = FULL` fsyncs on
 * every commit), so running it here keeps the main event loop free for fan-out.
 *
 * One file, two roles (`WorkerInit.role`). The writer is the only thread that writes: it creates and
 * migrates the database and serves every operation. For a file database in WAL mode the adapter also
 * starts a reader, with a read-only connection, and sends it the read operations: a WAL reader neither
 * waits for the writer's commit (and its fsync) nor blocks it. Both answer requests one at a time, in
 * arrival order (see sqlite-protocol.ts).
 */
import { parentPort, workerData } from 'node:worker_threads'
import type Database from 'better-sqlite3'
import { compactionResult, planCompaction } from './compaction.js'
import type {
  EndpointRow,
  LoadResult,
  PackedRows,
  ReaderOp,
  RoomRow,
  SerializedError,
  WorkerCalls,
  WorkerInit,
  WorkerOp,
  WorkerRequest,
  WorkerResponse,
  WorkerResults,
  WorkerStartup,
} from './sqlite-protocol.js'
import { DELIVERY_COLUMNS, ENDPOINT_COLUMNS, createReads, sqlLimit } from './sqlite-reads.js'
import { openReader, openWriter } from './sqlite-schema.js'
import { mergeStateVectors } from './state-vector.js'
import type { CompactionResult, NewVersion, NewWebhookDelivery, SettledRoomChange, SettledRoomEvent, WebhookDelivery } from './store.js'

type Handlers<Op extends WorkerOp> = { [K in Op]: (args: WorkerCalls[K]) => WorkerResults[K] }

function serializeError(err: unknown): SerializedError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    return {
      name: err.name,
      message: err.message,
      ...(typeof code === 'string' ? { code } : {}),
      ...(err.stack !== undefined ? { stack: err.stack } : {}),
    }
  }
  return { name: 'Error', message: String(err) }
}

/** Every operation, reads included: the writer's connection sees its own writes the moment they commit. */
function createWriterHandlers(db: Database.Database): Handlers<WorkerOp> {
  const reads = createReads(db)
  const { selectRoom, selectTombstone, selectDelivery, selectVersion } = reads

  // ---- document log ------------------------------------------------------------------------------
  const insert = db.prepare<[string, Uint8Array, number]>(
    'INSERT INTO updates (room, data, created_at) VALUES (?, ?, ?)',
  )
  const selectRows = db.prepare<[string], { id: number; data: Buffer }>(
    'SELECT id, data FROM updates WHERE room = ? ORDER BY id',
  )
  const deleteUpTo = db.prepare<[string, number]>('DELETE FROM updates WHERE room = ? AND id <= ?')
  const deleteAll = db.prepare<[string]>('DELETE FROM updates WHERE room = ?')
  const upsertTombstone = db.prepare<[string, Uint8Array]>(
    `INSERT INTO room_tombstones (name, state_vector) VALUES (?, ?)
     ON CONFLICT (name) DO UPDATE SET state_vector = excluded.state_vector`,
  )
  const touchRoom = db.prepare<[number, string]>('UPDATE rooms SET updated_at = ? WHERE name = ?')
  // The first binding for a clientID wins; an existing one is never changed.
  const bindClient = db.prepare<[string, number, string]>(
    'INSERT INTO room_clients (room, client, owner) VALUES (?, ?, ?) ON CONFLICT (room, client) DO NOTHING',
  )
  const deleteClients = db.prepare<[string]>('DELETE FROM room_clients WHERE room = ?')
  const deleteVersions = db.prepare<[string]>('DELETE FROM room_versions WHERE room = ?')

  // The store-side debounce of room.changed (see settleRoomChanges): written with the updates, so an
  // acknowledged edit always leaves its webhook behind, whenever the process dies.
  const recordChange = db.prepare<[string, number, number]>(
    `INSERT INTO room_changes (room, first_at, last_at) VALUES (?, ?, ?)
     ON CONFLICT (room) DO UPDATE SET last_at = max(last_at, excluded.last_at)`,
  )

  const appendBatch = db.transaction(({ rooms, lengths, packed, bindings, changedAt }: PackedRows) => {
    const now = Date.now()
    // In the transaction of the appends queued after them: no such append commits without its binding.
    for (const b of bindings) bindClient.run(b.room, b.clientId, b.owner)
    let offset = 0
    for (let i = 0; i < rooms.length; i++) {
      const len = lengths[i] ?? 0
      insert.run(rooms[i] ?? '', new Uint8Array(packed, offset, len), now)
      offset += len
    }
    // Rooms without a record stay without one: only ensureRoom/createRoom create records.
    for (const room of new Set(rooms)) {
      touchRoom.run(now, room)
      recordChange.run(room, changedAt, changedAt)
    }
  })

  const compact = db.transaction((room: string): CompactionResult => {
    const rows = selectRows.all(room)
    const last = rows[rows.length - 1]
    const plan = planCompaction(rows.map((r) => r.data))
    if (plan.outcome === 'compacted' && last) {
      const now = Date.now()
      // In order: the integrated state, then pending content, with ids above every row read...
      for (const row of plan.rows) insert.run(room, row, now)
      // ...and exactly the rows read above are deleted: nothing else writes while this transaction runs.
      deleteUpTo.run(room, last.id)
    }
    return compactionResult(rows.length, plan)
  })

  // ---- room records ------------------------------------------------------------------------------
  const insertRoom = db.prepare<[string, number, number, string]>(
    `INSERT INTO rooms (name, created_at, updated_at, metadata) VALUES (?, ?, ?, ?)
     ON CONFLICT (name) DO NOTHING`,
  )
  const setMetadata = db.prepare<[string, number, string]>(
    'UPDATE rooms SET metadata = ?, updated_at = ? WHERE name = ?',
  )
  const deleteRoomRecord = db.prepare<[string]>('DELETE FROM rooms WHERE name = ?')
  const upsertRemoval = db.prepare<[string, string, number]>(
    `INSERT INTO room_removals (room, user_id, at) VALUES (?, ?, ?)
     ON CONFLICT (room, user_id) DO UPDATE SET at = max(at, excluded.at)`,
  )
  const deleteRemovals = db.prepare<[string]>('DELETE FROM room_removals WHERE room = ?')
  // In the record change's transaction: a created or deleted room always leaves its webhook event behind.
  const recordRoomEvent = db.prepare<[string, string, number]>('INSERT INTO room_events (type, room, at) VALUES (?, ?, ?)')

  const createRoom = db.transaction((name: string, metadata: string): RoomRow | null => {
    const now = Date.now()
    if (insertRoom.run(name, now, now, metadata).changes === 0) return null
    recordRoomEvent.run('room.created', name, now)
    return selectRoom.get(name) ?? null
  })

  const ensureRoom = db.transaction((name: string): { row: RoomRow; created: boolean } => {
    const now = Date.now()
    const created = insertRoom.run(name, now, now, '{}').changes > 0
    if (created) recordRoomEvent.run('room.created', name, now)
    const row = selectRoom.get(name)
    if (!row) throw new Error(`room ${name} vanished while being ensured`)
    return { row, created }
  })

  const updateRoomMetadata = db.transaction((name: string, metadata: string): RoomRow | null => {
    if (setMetadata.run(metadata, Date.now(), name).changes === 0) return null
    return selectRoom.get(name) ?? null
  })

  const deleteRoom = db.transaction((room: string, tombstone: Uint8Array | null): boolean => {
    const existed = deleteRoomRecord.run(room).changes + deleteAll.run(room).changes > 0
    deleteClients.run(room)
    deleteRemovals.run(room)
    deleteVersions.run(room)
    if (tombstone) {
      // A malformed vector throws here and rolls the whole deletion back.
      const merged = mergeStateVectors(selectTombstone.get(room) ?? null, tombstone)
      if (merged) upsertTombstone.run(room, merged)
    }
    if (existed) recordRoomEvent.run('room.deleted', room, Date.now())
    return existed
  })

  // ---- webhook endpoints -------------------------------------------------------------------------
  const upsertEndpoint = db.prepare<[string, string, string, string | null, number, number | null, string | null, number | null]>(
    `INSERT INTO webhook_endpoints (id, url, secret, events, created_at, disabled_at, previous_secret, previous_secret_expires_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (id) DO UPDATE SET url = excluded.url, secret = excluded.secret, events = excluded.events,
       created_at = excluded.created_at, disabled_at = excluded.disabled_at, previous_secret = excluded.previous_secret,
       previous_secret_expires_at = excluded.previous_secret_expires_at`,
  )
  // One statement, so the old secret moves to previous_secret in the same write that replaces it.
  // SET expressions read the row as it was: `secret` in the CASE is the one being replaced.
  const rotateSecret = db.prepare<[number | null, number | null, string, string], EndpointRow>(
    `UPDATE webhook_endpoints SET previous_secret = CASE WHEN ? IS NULL THEN NULL ELSE secret END,
       previous_secret_expires_at = ?, secret = ?
     WHERE id = ? RETURNING ${ENDPOINT_COLUMNS}`,
  )
  const deleteEndpointRow = db.prepare<[string]>('DELETE FROM webhook_endpoints WHERE id = ?')
  const deletePendingOf = db.prepare<[string]>(
    "DELETE FROM webhook_deliveries WHERE endpoint_id = ? AND status = 'pending'",
  )
  const disableEndpoint = db.prepare<[number, string]>('UPDATE webhook_endpoints SET disabled_at = ? WHERE id = ?')

  const deleteEndpoint = db.transaction((id: string): boolean => {
    deletePendingOf.run(id)
    return deleteEndpointRow.run(id).changes > 0
  })

  // ---- delivery outbox ---------------------------------------------------------------------------
  const insertDelivery = db.prepare<[string, string, string, string, number, number, number]>(
    `INSERT INTO webhook_deliveries
       (id, endpoint_id, event_type, payload, status, attempts, next_attempt_at, created_at, updated_at)
     VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?)`,
  )
  const selectDue = db.prepare<[number, number], WebhookDelivery>(
    `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries
     WHERE status = 'pending' AND next_attempt_at <= ?
     ORDER BY next_attempt_at, created_at, id LIMIT ?`,
  )
  const lease = db.prepare<[number, number, string]>(
    'UPDATE webhook_deliveries SET next_attempt_at = ?, leased_until = ? WHERE id = ?',
  )
  const markDelivered = db.prepare<[number, number, string]>(
    `UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, last_status_code = ?,
       updated_at = ?, leased_until = NULL WHERE id = ?`,
  )
  const markRetry = db.prepare<[number, string, number | null, number, string]>(
    `UPDATE webhook_deliveries SET status = 'pending', attempts = attempts + 1, next_attempt_at = ?,
       last_error = ?, last_status_code = ?, updated_at = ?, leased_until = NULL WHERE id = ?`,
  )
  const markFailed = db.prepare<[string, number | null, number, string]>(
    `UPDATE webhook_deliveries SET status = 'failed', attempts = attempts + 1, last_error = ?,
       last_status_code = ?, updated_at = ?, leased_until = NULL WHERE id = ?`,
  )
  const replay = db.prepare<[number, number, string]>(
    `UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ?,
       leased_until = NULL WHERE id = ?`,
  )

  const enqueue = db.transaction((deliveries: readonly NewWebhookDelivery[]) => {
    for (const d of deliveries) {
      insertDelivery.run(d.id, d.endpointId, d.eventType, d.payload, d.createdAt, d.createdAt, d.createdAt)
    }
  })

  const claim = db.transaction((now: number, limit: number, leaseMs: number): WebhookDelivery[] => {
    const due = selectDue.all(now, sqlLimit(limit))
    const until = now + leaseMs
    for (const d of due) lease.run(until, until, d.id)
    return due.map((d) => ({ ...d, nextAttemptAt: until }))
  })

  // ---- room.changed from recorded room changes ---------------------------------------------------
  const insertRoomDelivery = db.prepare<[string, string, string, number, number, number, string]>(
    `INSERT INTO webhook_deliveries
       (id, endpoint_id, event_type, payload, status, attempts, next_attempt_at, created_at, updated_at, room)
     VALUES (?, ?, 'room.changed', ?, 'pending', 0, ?, ?, ?, ?)`,
  )
  // Pending and not being attempted right now (no lease, or the lease of a process that died); an unsent
  // one first, as it can simply take the newer payload.
  const selectCoalescible = db.prepare<[string, string, number], { id: string; attempts: number; nextAttemptAt: number }>(
    `SELECT id, attempts, next_attempt_at AS nextAttemptAt FROM webhook_deliveries
     WHERE room = ? AND endpoint_id = ? AND status = 'pending' AND event_type = 'room.changed'
       AND (leased_until IS NULL OR leased_until <= ?)
     ORDER BY attempts > 0, created_at, id`,
  )
  const replacePayload = db.prepare<[string, number, string]>(
    'UPDATE webhook_deliveries SET payload = ?, updated_at = ? WHERE id = ?',
  )
  const supersede = db.prepare<[string, number, string]>(
    `UPDATE webhook_deliveries SET status = 'failed', last_error = ?, updated_at = ?, leased_until = NULL
     WHERE id = ?`,
  )
  const clearChange = db.prepare<[string, number]>('DELETE FROM room_changes WHERE room = ? AND last_at <= ?')
  const restartChange = db.prepare<[number, string]>('UPDATE room_changes SET first_at = max(first_at, ?) WHERE room = ?')

  const settleRoomChanges = db.transaction((changes: readonly SettledRoomChange[], now: number) => {
    for (const c of changes) {
      if (c.payload !== null) {
        for (const { id, endpointId } of c.deliveries) {
          const [first, ...rest] = selectCoalescible.all(c.room, endpointId, now)
          // An unsent one takes the newer payload (no receiver knows its id yet); otherwise a new row, due
          // when the soonest retry was (keeping the backoff a failing receiver earned).
          const unsent = first?.attempts === 0 ? first : null
          const keptId = unsent?.id ?? id
          if (unsent) replacePayload.run(c.payload, now, unsent.id)
          let dueAt = Infinity
          for (const old of unsent ? rest : [first, ...rest]) {
            if (!old) continue
            supersede.run(`superseded by ${keptId}`, now, old.id)
            dueAt = Math.min(dueAt, old.nextAttemptAt)
          }
          if (!unsent) insertRoomDelivery.run(id, endpointId, c.payload, Math.max(now, dueAt === Infinity ? now : dueAt), now, now, c.room)
        }
      }
      if (clearChange.run(c.room, c.lastAt).changes === 0) restartChange.run(c.lastAt, c.room)
    }
  })

  const clearRoomEvent = db.prepare<[number]>('DELETE FROM room_events WHERE id = ?')
  const settleRoomEvents = db.transaction((events: readonly SettledRoomEvent[]) => {
    for (const e of events) {
      if (clearRoomEvent.run(e.id).changes === 0) continue // settled already
      for (const d of e.deliveries) insertDelivery.run(d.id, d.endpointId, d.eventType, d.payload, d.createdAt, d.createdAt, d.createdAt)
    }
  })

  // ---- versions ----------------------------------------------------------------------------------
  const roomExists = db.prepare<[string], number>('SELECT 1 FROM rooms WHERE name = ?').pluck()
  const insertVersion = db.prepare<[string, string, number, string, string | null, string | null, Uint8Array, Uint8Array]>(
    `INSERT INTO room_versions (id, room, created_at, kind, label, author, fingerprint, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  )
  // Automatic versions beyond the newest N; named and before-restore ones are never pruned.
  const pruneAuto = db.prepare<[string, string, number]>(
    `DELETE FROM room_versions WHERE room = ? AND kind = 'auto' AND id NOT IN (
       SELECT id FROM room_versions WHERE room = ? AND kind = 'auto' ORDER BY id DESC LIMIT ?)`,
  )
  const deleteVersion = db.prepare<[string, string]>('DELETE FROM room_versions WHERE room = ? AND id = ?')

  const saveVersion = db.transaction((v: NewVersion, keepAuto: number | null) => {
    if (roomExists.get(v.room) === undefined) return null
    insertVersion.run(v.id, v.room, v.createdAt, v.kind, v.label, v.author, v.fingerprint, v.update)
    if (keepAuto !== null && v.kind === 'auto') pruneAuto.run(v.room, v.room, sqlLimit(keepAuto))
    return selectVersion.get(v.room, v.id) ?? null
  })

  const probe = db.prepare<[number]>('INSERT INTO store_probe (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at')

  const replayDelivery = db.transaction((id: string, now: number): WebhookDelivery | null => {
    if (replay.run(now, now, id).changes === 0) return null
    return selectDelivery.get(id) ?? null
  })

  return {
    ...reads.handlers,
    append: (batch) => void appendBatch(batch),
    compact: ({ room }) => compact(room),
    deleteRoom: ({ room, tombstone }) => deleteRoom(room, tombstone),
    createRoom: ({ name, metadata }) => createRoom(name, metadata),
    ensureRoom: ({ name }) => ensureRoom(name),
    updateRoomMetadata: ({ name, metadata }) => updateRoomMetadata(name, metadata),
    recordRemoval: ({ room, userId, at }) => void upsertRemoval.run(room, userId, at),
    saveEndpoint: ({ endpoint: e }) =>
      void upsertEndpoint.run(e.id, e.url, e.secret, e.events, e.createdAt, e.disabledAt, e.previousSecret, e.previousSecretExpiresAt),
    rotateEndpointSecret: ({ id, secret, previousExpiresAt }) => rotateSecret.get(previousExpiresAt, previousExpiresAt, secret, id) ?? null,
    deleteEndpoint: ({ id }) => deleteEndpoint(id),
    disableEndpoint: ({ id, at }) => void disableEndpoint.run(at, id),
    enqueueDeliveries: ({ deliveries }) => void enqueue(deliveries),
    claimDeliveries: ({ now, limit, leaseMs }) => claim(now, limit, leaseMs),
    completeDelivery: ({ id, outcome, at }) => {
      switch (outcome.status) {
        case 'delivered':
          markDelivered.run(outcome.statusCode, at, id)
          return undefined
        case 'pending':
          markRetry.run(outcome.nextAttemptAt, outcome.error, outcome.statusCode, at, id)
          return undefined
        case 'failed':
          markFailed.run(outcome.error, outcome.statusCode, at, id)
          return undefined
      }
    },
    replayDelivery: ({ id, now }) => replayDelivery(id, now),
    settleRoomChanges: ({ changes, now }) => void settleRoomChanges(changes, now),
    settleRoomEvents: ({ events }) => void settleRoomEvents(events),
    probeWrite: ({ at }) => void probe.run(at),
    saveVersion: ({ version, keepAuto }) => saveVersion(version, keepAuto),
    deleteVersion: ({ room, id }) => deleteVersion.run(room, id).changes > 0,
    // Closing the last connection checkpoints the WAL into the main file and removes the -wal file
    // (the adapter closes the reader first, so the writer's connection is the last one).
    close: () => void db.close(),
  }
}

/** Reads only; a write operation sent here is a bug in the adapter and fails without touching the file. */
function createReaderHandlers(db: Database.Database): Handlers<ReaderOp> {
  return { ...createReads(db).handlers, close: () => void db.close() }
}

function main(): void {
  const port = parentPort
  if (!port) throw new Error('sqlite-worker must run inside a worker thread')
  const { path, role } = workerData as WorkerInit

  let db: Database.Database
  try {
    db = role === 'writer' ? openWriter(path) : openReader(path)
  } catch (err) {
    // No listener is installed, so the thread exits after this message.
    port.postMessage({ type: 'failed', error: serializeError(err) } satisfies WorkerStartup)
    return
  }

  const handlers: Partial<Handlers<WorkerOp>> = role === 'writer' ? createWriterHandlers(db) : createReaderHandlers(db)
  const dispatch = (req: WorkerRequest): WorkerResults[WorkerOp] => {
    // TypeScript cannot correlate `op` and `args` through the union; the request type pairs them.
    if (!Object.hasOwn(handlers, req.op)) throw new Error(`the sqlite ${role} does not serve ${req.op}`)
    const handler = handlers[req.op] as (args: WorkerRequest['args']) => WorkerResults[WorkerOp]
    return handler(req.args)
  }

  port.on('message', (req: WorkerRequest) => {
    let response: WorkerResponse
    const transfer: ArrayBuffer[] = []
    try {
      const result = dispatch(req)
      if (req.op === 'load') transfer.push((result as LoadResult).packed)
      response = result === undefined ? { id: req.id, ok: true } : { id: req.id, ok: true, result }
    } catch (err) {
      response = { id: req.id, ok: false, error: serializeError(err) }
    }
    // Read-your-writes rests on this: a connection that kept a transaction open between requests would go
    // on answering from that transaction's snapshot. Every handler ends its own (statements are reset after
    // get/all, transactions commit or roll back), so this only turns a future bug into a loud error.
    if (db.open && db.inTransaction) {
      db.exec('ROLLBACK')
      response = { id: req.id, ok: false, error: serializeError(new Error(`sqlite ${role}: ${req.op} left a transaction open`)) }
      transfer.length = 0
    }
    port.postMessage(response, transfer)
  })
  const journalMode = String(db.pragma('journal_mode', { simple: true }))
  port.postMessage({ type: 'ready', journalMode } satisfies WorkerStartup)
}

main()
