/**
 * What crosses instances, as rooms see it. Rooms own this interface; the edges implement it
 * (replication/local.ts for one process, replication/redis.ts for a cluster). Nothing here knows how a
 * message travels: rooms publish typed messages and receive the other instances' messages and a few
 * signals about the wire itself.
 *
 * Delivery rules every adapter keeps (tests/contract/replication.test.ts checks them):
 * - A room never hears its own instance's messages (no echo), and every message names its origin.
 * - Document messages (`update`, `committed`, `room-deleted`, `kick`) travel through a per-room log read from a cursor:
 *   in publish order, and after a cut the reader resumes where it stopped. When it cannot (the cursor was
 *   trimmed away, the log vanished), the room gets a `resync` signal and reloads from the store.
 * - Presence and the rest (`awareness`, `stateless`, `sync-request`, `sync-reply`) are perishable: lost
 *   across a cut, never replayed.
 * - `join` resolves once the room's position in the log is fixed. The room joins BEFORE it reads the
 *   store, so whatever is published while it loads arrives afterwards and nothing falls in between.
 *
 * When an update is published: as soon as it is applied, before its commit (see Room#persist), so
 * clients on other instances see an edit as quickly as clients on its own instance do. The commit still
 * comes before the author's saved acknowledgement, and the origin confirms commits afterwards (`seq` and
 * `committedUpTo` on later updates, or a `committed` message once it goes quiet). A receiver keeps each
 * update it has not seen confirmed and stores it itself when the confirmation does not come: when the
 * origin is declared dead, or after a while (the origin's commit failed, or its link broke). So an edit
 * other instances received is never held only in memory: the store gets it from its origin or from them
 * (twice, at worst; Yjs updates are idempotent).
 */

export type ReplicatedMessage =
  /**
   * A document update (the bytes the origin stores) and the user (JWT sub) whose connection wrote it,
   * null for server-side (REST) edits: receivers learn which user owns the Yjs client ids it introduces.
   * `seq` numbers the origin's updates (increasing, per instance); without it the update is already
   * committed. `committedUpTo`: every update of the origin with a seq up to this one is committed.
   */
  | { type: 'update'; update: Uint8Array; userId: string | null; seq?: number; committedUpTo?: number }
  /** Every update of the origin for this room with a seq up to `upTo` is committed. */
  | { type: 'committed'; upTo: number }
  /** Presence entries accepted from one connection of `userId` on the origin instance (y-protocols awareness update). */
  | { type: 'awareness'; update: Uint8Array; userId: string }
  /** "Send me content beyond this state vector, and your clients' presence." */
  | { type: 'sync-request'; stateVector: Uint8Array }
  /** Answer to a sync-request, for instance `to` only; its own content in it is committed. */
  | { type: 'sync-reply'; to: string; update: Uint8Array }
  /** The room was deleted: close its peers with 4404 and drop it (the store already forgot it). */
  | { type: 'room-deleted' }
  /** A stateless message for the room's multiplexed clients (REST broadcast). */
  | { type: 'stateless'; payload: string }
  /** Close every connection of this user in the room. */
  /** `at`: when the user was removed (ms since the epoch); tokens issued before it no longer admit it. */
  | { type: 'kick'; userId: string; code: number; reason: string; at: number }

export type ReplicatedMessageType = ReplicatedMessage['type']

/** The kinds that travel through the per-room log (ordered, resumable); the rest are perishable. */
export const LOGGED_TYPES: ReadonlySet<ReplicatedMessageType> = new Set(['update', 'committed', 'room-deleted', 'kick'])

export interface Envelope {
  readonly roomId: string
  /** Instance id of the publisher. */
  readonly origin: string
  readonly message: ReplicatedMessage
}

/** What the wire itself tells a room. */
export type ReplicationSignal =
  /**
   * The room may have missed document messages (its cursor was trimmed away, the log was lost, the room
   * could not fix its position while the wire was down, or an entry did not decode): reload the store and
   * apply what is new.
   */
  | { type: 'resync'; reason: 'trimmed' | 'log-lost' | 'position-unknown' | 'undecodable' }
  /**
   * Another instance stopped refreshing its liveness: drop the presence of its clients, store what it
   * published without confirming the commit, and reload the store in case it committed something whose
   * publication was lost (queued while Redis was unreachable).
   */
  | { type: 'instance-down'; instanceId: string }
  /**
   * This instance's link came back after an outage: others may have dropped its clients' presence, and
   * may hold committed content whose publication this instance missed. Re-announce and ask.
   */
  | { type: 'reconnected' }

export interface ReplicaHandler {
  message(envelope: Envelope): void
  signal(signal: ReplicationSignal): void
}

/** One room's membership in the replication: how it publishes, and how it stops listening. */
export interface RoomChannel {
  /**
   * Queues the message for the other instances; never throws, never blocks (the adapter keeps document
   * messages through outages and sends them once the wire is back). Still works after leave().
   */
  publish(message: ReplicatedMessage): void
  /** Stops delivery to this room's handler. Idempotent. */
  leave(): void
}

export interface Replication {
  /** This instance's id: the origin of everything it publishes. */
  readonly instanceId: string
  /**
   * Starts delivering the room's messages to `handler`; resolves once the room's position in the log is
   * fixed (so the caller may read the store next). Never rejects because the wire is down: the room then
   * gets `resync` (position-unknown) once the wire is back.
   */
  join(roomId: string, handler: ReplicaHandler): Promise<RoomChannel>
  /** Publishes for a room this instance may not hold (a deletion, a REST broadcast). Same rules as RoomChannel.publish. */
  publish(roomId: string, message: ReplicatedMessage): void
  /** Stops every loop and connection. */
  close(): Promise<void>
}
