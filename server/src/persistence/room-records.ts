/**
 * Room records: the rooms that exist by name, with their metadata and timestamps, for REST (create,
 * list, get, update, delete) and for the registry (a join creates or requires a record).
 */
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

export interface RoomRecords {
  /**
   * Creates the room's record; null if it already exists. A created record also records a `room.created`
   * event in the same transaction (WebhookOutbox.recordedRoomEvents), as does ensureRoom when it creates one.
   */
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
   * Returns false when neither a record nor updates existed; otherwise records a `room.deleted` event in
   * the same transaction (WebhookOutbox.recordedRoomEvents).
   *
   * It lives here rather than in DocumentLog because deleting is what ends a room as a resource: REST
   * and the registry call it beside createRoom/getRoom, and "did the room exist" is a question about
   * records. It also erases the room's document log (updates, clientID owners) and its versions, and writes the tombstone
   * the log loads back, in the same transaction, which is why an adapter implements both over one storage.
   */
  deleteRoom(name: string, tombstone: Uint8Array | null): Promise<boolean>
  /**
   * Remembers that `userId` was removed from the room (REST kick) at `atMs`, ms since the epoch; a later
   * removal of the same user replaces an earlier one, an earlier one changes nothing. Tokens issued
   * before it no longer admit the user to the room, on any instance (rooms/ checks at join). Erased with
   * the room by deleteRoom.
   */
  recordRemoval(room: string, userId: string, atMs: number): Promise<void>
  /** The room's removals: user id → time of the latest removal, ms since the epoch. */
  loadRemovals(room: string): Promise<Map<string, number>>
}
