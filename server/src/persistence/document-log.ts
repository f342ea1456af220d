/**
 * The document log: each room's Yjs updates, appended as clients write and read back when the room loads,
 * with the clientID owners and the tombstone that travel with them. Rooms (room.ts, registry.ts) call it;
 * adapters implement it together with the other concerns of store.ts, over the same storage, because an
 * append also touches the room's record and its pending room change (see appendUpdate).
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

/** One clientID -> owner binding (see DocumentLog.bindClients). */
export type ClientBinding = readonly [clientId: number, owner: string]

export interface DocumentLog {
  /** Loads a room's stored updates and tombstone. Never throws for an unknown room. */
  loadUpdates(room: string): Promise<StoredDocument>
  /**
   * Appends one Yjs update. Resolves only after the transaction that contains it has committed
   * (adapters group many concurrent appends into one transaction). Rejects if the commit failed.
   * Commits happen in call order: when an append resolves, every earlier append has committed.
   * Also bumps the room record's `updatedAt` (creating no record: see RoomRecords.ensureRoom), and
   * records in the same transaction that the room changed (see WebhookOutbox.dueRoomChanges): a
   * `room.changed` webhook is as durable as the edit that caused it.
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
}
