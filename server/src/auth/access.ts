import type { Access, Principal } from './verify.js'

/**
 * The access a principal has to one room: an exact key wins, otherwise the longest prefix key `p*` with
 * `room.startsWith(p)`, where `*` alone is the empty prefix. Null means no access.
 *
 * Cost is bounded by the room name's length (≤ 128 lookups), not by the size of the token's `rooms` claim.
 */
export function accessFor(principal: Pick<Principal, 'rooms'>, room: string): Access | null {
  const { rooms } = principal
  if (Object.hasOwn(rooms, room)) return rooms[room] ?? null
  for (let end = room.length; end >= 0; end--) {
    const key = `${room.slice(0, end)}*`
    if (Object.hasOwn(rooms, key)) return rooms[key] ?? null
  }
  return null
}
