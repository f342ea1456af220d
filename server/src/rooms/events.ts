/**
 * The few typed events rooms emit. Listeners (metrics, webhooks) observe; none can veto or block sync.
 */
export type RoomEvent =
  | { type: 'room.created'; roomId: string; at: number }
  | { type: 'room.deleted'; roomId: string; at: number }
  | { type: 'room.loaded'; roomId: string }
  | { type: 'room.changed'; roomId: string; at: number }
  | { type: 'room.unloaded'; roomId: string }
  | { type: 'peer.joined'; roomId: string; peerId: number; userId: string }
  | { type: 'peer.left'; roomId: string; peerId: number; userId: string }
  /** A user's first connection to a room (per user, not per socket). */
  | { type: 'user.entered'; roomId: string; userId: string; name: string | null; activeUsers: number; at: number }
  /** A user's last connection to a room closed. */
  | { type: 'user.left'; roomId: string; userId: string; activeUsers: number; at: number }
  /** The room's document was restored to a version (REST); `restoredBy` is the caller's sub, if any. */
  | { type: 'room.restored'; roomId: string; versionId: string; beforeRestoreId: string; restoredBy: string | null; at: number }

export type RoomEventListener = (event: RoomEvent) => void

export interface RoomEvents {
  /** Synchronous; listeners must not throw or block. Queue work instead. */
  emit(event: RoomEvent): void
  on(listener: RoomEventListener): () => void
}

export function createRoomEvents(onListenerError: (err: unknown, event: RoomEvent) => void): RoomEvents {
  const listeners = new Set<RoomEventListener>()
  return {
    emit(event) {
      for (const listener of listeners) {
        try {
          listener(event)
        } catch (err) {
          // A broken listener must never break a room.
          onListenerError(err, event)
        }
      }
    },
    on(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
  }
}
