/**
 * Presence as the demos publish it in `awareness` (`state.user`), with a colour per room that nobody
 * else present has, as long as there are no more people than palette colours.
 *
 * Colours are settled without any extra messages: everyone is ranked by when their page opened
 * (`since`, ties broken by id), and each person only gives way to those ranked before them. You keep
 * your colour while nobody ranked before you has it; otherwise you take the first free one, starting
 * at the slot your id hashes to. Everyone sees the same states, so exactly one side of a clash moves.
 */
import type { RoomProvider } from '@tandem/client'
import { hashOf, identity, light, PALETTE } from './identity.js'

export interface PresenceUser {
  id: string
  name: string
  color: string
  colorLight: string
  /** When this page opened (ms since the epoch): earlier arrivals keep their colour. */
  since: number
}

/** When this page opened: one value for every room of the page. */
const SINCE = Date.now()

/** True when `a` ranks before `b` (arrived earlier; the id breaks ties). */
function ranksBefore(a: PresenceUser, b: PresenceUser): boolean {
  return a.since !== b.since ? a.since < b.since : a.id < b.id
}

/**
 * The colour `self` should show, given the others present: its current colour unless someone ranked
 * before it has that one, else the first palette colour none of them has (from its id's slot on).
 */
export function pickColor(self: PresenceUser, others: readonly PresenceUser[], palette: readonly string[] = PALETTE): string {
  const taken = new Set(others.filter((o) => o.id !== self.id && ranksBefore(o, self)).map((o) => o.color))
  if (!taken.has(self.color)) return self.color
  const start = hashOf(self.id) % palette.length
  for (let i = 0; i < palette.length; i++) {
    const color = palette[(start + i) % palette.length] as string
    if (!taken.has(color)) return color
  }
  return palette[start] as string // more people than colours: share the preferred one
}

/** A valid `state.user` of someone else, or null. */
export function userOf(state: unknown): PresenceUser | null {
  const user = (state as { user?: Partial<PresenceUser> } | null)?.user
  if (!user || typeof user.id !== 'string' || typeof user.name !== 'string' || typeof user.color !== 'string') return null
  return {
    id: user.id,
    name: user.name,
    color: user.color,
    colorLight: typeof user.colorLight === 'string' ? user.colorLight : light(user.color),
    since: typeof user.since === 'number' ? user.since : 0,
  }
}

export interface Presence {
  /** You, as published in this room right now. */
  readonly user: PresenceUser
  /** Publishes your name again (after a rename). */
  refresh(): void
  /** Called whenever your published user changes (a new colour or name). Returns an unsubscribe. */
  onChange(listener: (user: PresenceUser) => void): () => void
  destroy(): void
}

/**
 * Publishes you in `provider`'s awareness as `{ ...fields, user }` and keeps your colour distinct from
 * everyone present. `fields` are the page's other presence fields (pointer, typing…).
 */
export function sharePresence(provider: RoomProvider, fields: Record<string, unknown> = {}): Presence {
  const me = identity()
  let user: PresenceUser = { id: me.id, name: me.name, color: me.color, colorLight: me.colorLight, since: SINCE }
  const listeners = new Set<(user: PresenceUser) => void>()
  const awareness = provider.awareness

  const publish = (next: PresenceUser): void => {
    user = next
    awareness.setLocalStateField('user', user)
    for (const listener of listeners) listener(user)
  }
  const others = (): PresenceUser[] => {
    const out: PresenceUser[] = []
    for (const [clientId, state] of awareness.getStates()) {
      const other = clientId === awareness.clientID ? null : userOf(state)
      if (other) out.push(other)
    }
    return out
  }
  const settle = (): void => {
    // Another binding (Tiptap's caret extension) may have replaced the local state: put ours back.
    const local = awareness.getLocalState()
    if (local === null) return
    const color = pickColor(user, others())
    const published = userOf(local)
    if (color !== user.color || published?.color !== color || published.name !== user.name) {
      publish({ ...user, color, colorLight: light(color) })
    }
  }

  awareness.setLocalState({ ...fields, user })
  awareness.on('change', settle)
  settle()
  return {
    get user() {
      return user
    },
    refresh() {
      publish({ ...user, name: identity().name })
    },
    onChange(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    destroy() {
      awareness.off('change', settle)
      listeners.clear()
    },
  }
}
