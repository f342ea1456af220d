/**
 * Who is in a room across the cluster, as rooms see it. Rooms own this interface; the edges implement it
 * (createLocalUsers below for one process, replication/redis-users.ts for a cluster). A room reports how
 * many connections each user has in it on this instance; the directory turns that into the cluster-wide
 * view: `user.entered` when a user's first connection on ANY instance opens and `user.left` when the last
 * one closes, emitted as room events by exactly one instance (whichever caused the transition, or, when an
 * instance died, whichever instance removed its entries).
 */
import type { RoomEvents } from './events.js'

export interface ActiveUser {
  readonly userId: string
  readonly name: string | null
  /** Open connections of this user in the room, over every live instance. */
  readonly connections: number
}

export interface ClusterUsers {
  /**
   * This instance now holds `connections` connections of `userId` in the room (0: none any more). Never
   * throws, never blocks: the directory applies it in call order and emits the transitions it causes.
   */
  set(roomId: string, userId: string, name: string | null, connections: number): void
  /** Users connected to the room on every live instance; rejects when the directory is unreachable. */
  list(roomId: string): Promise<ActiveUser[]>
  /** Resolves once every set() so far has been applied (or given up on). */
  flush(): Promise<void>
  /** Withdraws this instance's entries (emitting the last user.left events) and stops. */
  close(): Promise<void>
}

/** One instance: the directory is this process's own count, and transitions are emitted at once. */
export function createLocalUsers(events: RoomEvents): ClusterUsers {
  const rooms = new Map<string, Map<string, { name: string | null; connections: number }>>()
  return {
    set(roomId, userId, name, connections) {
      let users = rooms.get(roomId)
      const known = users?.get(userId)
      if (connections > 0) {
        if (known) {
          known.connections = connections
          return
        }
        if (!users) rooms.set(roomId, (users = new Map()))
        users.set(userId, { name, connections })
        events.emit({ type: 'user.entered', roomId, userId, name, activeUsers: users.size, at: Date.now() })
        return
      }
      if (!known || !users) return
      users.delete(userId)
      if (users.size === 0) rooms.delete(roomId)
      events.emit({ type: 'user.left', roomId, userId, activeUsers: users.size, at: Date.now() })
    },
    list(roomId) {
      const users = rooms.get(roomId)
      return Promise.resolve(users ? [...users].map(([userId, u]) => ({ userId, name: u.name, connections: u.connections })) : [])
    },
    flush: () => Promise.resolve(),
    close: () => Promise.resolve(),
  }
}
