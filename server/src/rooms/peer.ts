import type { Message } from '@tandem/client/protocol'

/**
 * One client's membership in one room, as the room sees it. The WebSocket edge implements it per
 * framing: rooms never know how bytes are framed or which socket carries them.
 */
export interface Peer {
  /** Unique per process. */
  readonly id: number
  readonly userId: string
  readonly userName: string | null
  /** When the token that admitted this peer was issued (`iat`, in ms), or null when it has no `iat`. */
  readonly tokenIssuedAtMs: number | null
  readonly canWrite: boolean
  /** True once the underlying connection is gone; sends become no-ops. */
  readonly closed: boolean
  /** Deliver one message to this peer only. */
  send(message: Message): void
  /**
   * Everything this peer sent up to `update` is durably stored. Single framing echoes the update
   * (what y-websocket's sync-status reads); multiplexed framing sends SyncStatus(applied).
   */
  acknowledgeSaved(update: Uint8Array): void
  /** A read-only peer sent content the room refused. */
  refuseUpdate(): void
  /** End this peer's membership with a close code (the edge decides whether the socket goes too). */
  close(code: number, reason: string): void
}

/** Broadcast one message to a room's peers, encoded once per framing, not once per peer. */
export type Broadcast = (roomId: string, message: Message, except?: Peer) => void
