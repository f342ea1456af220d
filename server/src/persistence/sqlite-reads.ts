/**
 * The read-only statements, shared by both workers: the reader serves reads with them, and the writer
 * uses the same ones for reads inside its read-modify-write transactions (and for every read when the
 * database cannot be shared, as with `:memory:`). Runs inside the workers only.
 */
import type Database from 'better-sqlite3'
import type { EndpointRow, LoadResult, ReadCalls, ReadOp, RoomRow, VersionRow, WorkerResults } from './sqlite-protocol.js'
import type { RecordedRoomEvent, RoomChange, WebhookDelivery } from './store.js'

export type ReadHandlers = { [K in ReadOp]: (args: ReadCalls[K]) => WorkerResults[K] }

/** The handlers, plus the statements the writer's transactions reuse. */
export interface Reads {
  handlers: ReadHandlers
  selectRoom: Database.Statement<[string], RoomRow>
  selectTombstone: Database.Statement<[string], Buffer>
  selectDelivery: Database.Statement<[string], WebhookDelivery>
  selectVersion: Database.Statement<[string, string], VersionRow>
}

/** Size of a room's log, computed per returned row (a page at most), never for the whole table. */
const ROOM_COLUMNS = `
  r.name AS name, r.created_at AS createdAt, r.updated_at AS updatedAt, r.metadata AS metadata,
  (SELECT COALESCE(SUM(length(u.data)), 0) FROM updates u WHERE u.room = r.name) AS sizeBytes`

export const ENDPOINT_COLUMNS = `
  id, url, secret, events, created_at AS createdAt, disabled_at AS disabledAt,
  previous_secret AS previousSecret, previous_secret_expires_at AS previousSecretExpiresAt`

export const DELIVERY_COLUMNS = `
  id, endpoint_id AS endpointId, event_type AS eventType, payload, created_at AS createdAt, status, attempts,
  next_attempt_at AS nextAttemptAt, last_error AS lastError, last_status_code AS lastStatusCode,
  updated_at AS updatedAt`

export const VERSION_COLUMNS = `
  id, room, created_at AS createdAt, kind, label, author, length(data) AS sizeBytes, fingerprint`

/** Named parameters of the room listing; only those its statement uses may be present. */
interface ListParams {
  limit: number
  prefix?: string
  upper?: string
  after?: string
}

/** SQL limits: a negative LIMIT means "no limit" to SQLite, so clamp to a non-negative integer. */
export function sqlLimit(limit: number): number {
  return Number.isFinite(limit) ? Math.max(0, Math.floor(limit)) : 0
}

/**
 * Smallest string above every string that starts with `prefix` (in code point order, which is SQLite's
 * BINARY order over UTF-8), or null when there is none. Lets a prefix filter use the primary-key index
 * as a range instead of scanning every later name.
 */
function prefixUpperBound(prefix: string): string | null {
  // Lone surrogates become U+FFFD in SQLite, so no bound computed here would be exact: scan instead.
  if (/\p{Cs}/u.test(prefix)) return null
  const points = Array.from(prefix)
  while (points.length > 0) {
    const last = (points.pop() ?? '').codePointAt(0) ?? 0
    if (last < 0x10ffff) {
      const next = last + 1 === 0xd800 ? 0xe000 : last + 1
      points.push(String.fromCodePoint(next))
      return points.join('')
    }
  }
  return null
}

function packLoad(rows: Buffer[]): Pick<LoadResult, 'packed' | 'lengths'> {
  let total = 0
  for (const r of rows) total += r.byteLength
  const packed = new Uint8Array(total)
  const lengths: number[] = []
  let offset = 0
  for (const r of rows) {
    packed.set(r, offset)
    offset += r.byteLength
    lengths.push(r.byteLength)
  }
  return { packed: packed.buffer, lengths }
}

/**
 * Every handler is one statement or one transaction that has ended when it returns (better-sqlite3 resets
 * a statement after `get`/`all`), so the connection holds no snapshot between requests and each request
 * sees every transaction committed before it started.
 */
export function createReads(db: Database.Database): Reads {
  // ---- document log ------------------------------------------------------------------------------
  const selectData = db.prepare<[string], Buffer>('SELECT data FROM updates WHERE room = ? ORDER BY id').pluck()
  const selectTombstone = db
    .prepare<[string], Buffer>('SELECT state_vector FROM room_tombstones WHERE name = ?')
    .pluck()
  const selectOwners = db
    .prepare<[string], [number, string]>('SELECT client, owner FROM room_clients WHERE room = ? ORDER BY client')
    .raw()
  const ping = db.prepare('SELECT 1').pluck()

  // One read transaction: the rows, the tombstone and the client owners come from the same snapshot.
  const load = db.transaction((room: string): LoadResult => {
    const tombstone = selectTombstone.get(room)
    return {
      ...packLoad(selectData.all(room)),
      tombstone: tombstone ? new Uint8Array(tombstone) : null,
      clientOwners: selectOwners.all(room),
    }
  })

  // ---- room records ------------------------------------------------------------------------------
  const selectRoom = db.prepare<[string], RoomRow>(`SELECT ${ROOM_COLUMNS} FROM rooms r WHERE r.name = ?`)

  /** One statement per filter combination, so each keeps its index range (an `? IS NULL OR` would not). */
  const listStatements = new Map<string, Database.Statement<[ListParams], RoomRow>>()
  const listStatement = (lower: 'none' | 'after' | 'prefix', hasPrefix: boolean, hasUpper: boolean) => {
    const key = `${lower}/${hasPrefix}/${hasUpper}`
    let stmt = listStatements.get(key)
    if (!stmt) {
      const where: string[] = []
      if (lower === 'after') where.push('r.name > :after')
      if (lower === 'prefix') where.push('r.name >= :prefix')
      // substr/length compare characters literally: '%' and '_' are not wildcards here.
      if (hasPrefix) where.push('substr(r.name, 1, length(:prefix)) = :prefix')
      if (hasUpper) where.push('r.name < :upper')
      const filter = where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''
      stmt = db.prepare<ListParams, RoomRow>(`SELECT ${ROOM_COLUMNS} FROM rooms r ${filter} ORDER BY r.name LIMIT :limit`)
      listStatements.set(key, stmt)
    }
    return stmt
  }

  const listRooms = ({ prefix, after, limit }: ReadCalls['listRooms']): RoomRow[] => {
    // Only the tighter lower bound goes into the query (the other one is implied), so the index range
    // starts where the page does. Buffer.compare on UTF-8 is exactly SQLite's BINARY collation.
    const afterIsTighter = after !== null && (prefix === null || Buffer.compare(Buffer.from(after), Buffer.from(prefix)) >= 0)
    const lower = afterIsTighter ? 'after' : prefix !== null ? 'prefix' : 'none'
    const upper = prefix === null ? null : prefixUpperBound(prefix)
    const params: ListParams = { limit: sqlLimit(limit) }
    if (prefix !== null) params.prefix = prefix
    if (upper !== null) params.upper = upper
    if (afterIsTighter && after !== null) params.after = after
    return listStatement(lower, prefix !== null, upper !== null).all(params)
  }

  // ---- webhook endpoints and outbox --------------------------------------------------------------
  const selectEndpoints = db.prepare<[], EndpointRow>(
    `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY created_at, id`,
  )
  const selectDelivery = db.prepare<[string], WebhookDelivery>(
    `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = ?`,
  )
  const listAll = db.prepare<[string, number], WebhookDelivery>(
    `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id > ? ORDER BY id LIMIT ?`,
  )
  const listByStatus = db.prepare<[string, string, number], WebhookDelivery>(
    `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE status = ? AND id > ? ORDER BY id LIMIT ?`,
  )
  const countPending = db
    .prepare<[], number>("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'")
    .pluck()
  const nextDueAt = db
    .prepare<[], number | null>("SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE status = 'pending'")
    .pluck()

  // ---- room changes (the store-side debounce of room.changed) ------------------------------------
  const selectDueChanges = db.prepare<[number, number, number], RoomChange>(
    `SELECT room, first_at AS firstAt, last_at AS lastAt FROM room_changes
     WHERE last_at <= ? OR first_at <= ? ORDER BY first_at, room LIMIT ?`,
  )
  const selectNextChangeDue = db
    .prepare<[number, number], number | null>('SELECT MIN(min(last_at + ?, first_at + ?)) FROM room_changes')
    .pluck()

  const selectRoomEvents = db.prepare<[number], RecordedRoomEvent>('SELECT id, type, room, at FROM room_events ORDER BY id LIMIT ?')
  // ---- versions ----------------------------------------------------------------------------------
  const selectVersion = db.prepare<[string, string], VersionRow>(`SELECT ${VERSION_COLUMNS} FROM room_versions WHERE room = ? AND id = ?`)
  const selectVersionData = db.prepare<[string, string], Buffer>('SELECT data FROM room_versions WHERE room = ? AND id = ?').pluck()
  const listVersionsFirst = db.prepare<[string, number], VersionRow>(
    `SELECT ${VERSION_COLUMNS} FROM room_versions WHERE room = ? ORDER BY id DESC LIMIT ?`,
  )
  const listVersionsBefore = db.prepare<[string, string, number], VersionRow>(
    `SELECT ${VERSION_COLUMNS} FROM room_versions WHERE room = ? AND id < ? ORDER BY id DESC LIMIT ?`,
  )

  const selectRemovals = db.prepare<[string], [string, number]>('SELECT user_id, at FROM room_removals WHERE room = ?').raw()

  return {
    selectRoom,
    selectTombstone,
    selectDelivery,
    selectVersion,
    handlers: {
      listVersions: ({ room, before, limit }) =>
        before === null ? listVersionsFirst.all(room, sqlLimit(limit)) : listVersionsBefore.all(room, before, sqlLimit(limit)),
      getVersion: ({ room, id }) => selectVersion.get(room, id) ?? null,
      getVersionUpdate: ({ room, id }) => {
        const data = selectVersionData.get(room, id)
        return data === undefined ? null : new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      },
      load: ({ room }) => load(room),
      loadRemovals: ({ room }) => selectRemovals.all(room),
      getRoom: ({ name }) => selectRoom.get(name) ?? null,
      listRooms,
      listEndpoints: () => selectEndpoints.all(),
      getDelivery: ({ id }) => selectDelivery.get(id) ?? null,
      // '' sorts before every id, so it stands for "no cursor".
      listDeliveries: ({ status, after, limit }) =>
        status === null ? listAll.all(after ?? '', sqlLimit(limit)) : listByStatus.all(status, after ?? '', sqlLimit(limit)),
      countPending: () => countPending.get() ?? 0,
      nextDueAt: () => nextDueAt.get() ?? null,
      dueRoomChanges: ({ now, quietMs, maxWaitMs, limit }) => selectDueChanges.all(now - quietMs, now - maxWaitMs, sqlLimit(limit)),
      nextRoomChangeDueAt: ({ quietMs, maxWaitMs }) => selectNextChangeDue.get(quietMs, maxWaitMs) ?? null,
      roomEvents: ({ limit }) => selectRoomEvents.all(sqlLimit(limit)),
      ping: () => void ping.get(),
    },
  }
}
