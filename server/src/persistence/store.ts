/**
 * The storage contract every adapter (SQLite, memory, later Postgres) implements.
 * Rooms call it; only adapters know SQL. One contract test suite runs against every adapter.
 */
export interface StoredDocument {
  /** Every stored update for the room, oldest first. Empty when the room has never been written. */
  readonly updates: Uint8Array[]
  /** Number of stored rows (after compaction this is 1). */
  readonly rowCount: number
  /** Sum of the stored updates' byte lengths. */
  readonly byteSize: number
}

export interface CompactionResult {
  /** Rows merged into one (0 when there was nothing to compact). */
  readonly rowsMerged: number
  /** Byte length of the merged row (0 when there was nothing to compact). */
  readonly bytesAfter: number
}

export interface Store {
  /** Loads a room's stored updates. Never throws for an unknown room. */
  loadUpdates(room: string): Promise<StoredDocument>
  /**
   * Appends one Yjs update. Resolves only after the transaction that contains it has committed
   * (adapters group many concurrent appends into one transaction). Rejects if the commit failed.
   * Commits happen in call order: when an append resolves, every earlier append has committed.
   */
  appendUpdate(room: string, update: Uint8Array): Promise<void>
  /**
   * Merges the room's rows that exist now into one row (Y.mergeUpdates) and deletes exactly those rows,
   * in one transaction. Appends that race with it are kept as separate rows.
   */
  compact(room: string): Promise<CompactionResult>
  /** Deletes every stored row of the room. */
  deleteRoom(room: string): Promise<void>
  /** Resolves when the store can serve requests; rejects otherwise (readiness). */
  ping(): Promise<void>
  /** Waits for in-flight commits, then releases the store. Later calls reject. */
  close(): Promise<void>
}
