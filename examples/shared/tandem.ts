/**
 * What every demo page shares: one TandemClient whose tokens come from the demo token route (in a real
 * app, your backend mints them), a connection-status pill, a list of who is here, and the name field.
 */
import { TandemClient, type RoomProvider, type RoomStatus, type StatusDetail } from '@tandem/client'
import { identity, initials, rename, type Identity } from './identity.js'

export { identity, type Identity }

/** The SDK client for this page: `ws(s)://<this host>/ws`, tokens from `GET /demo/token`. */
export function createClient(): TandemClient {
  const me = identity()
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
  return new TandemClient({
    url: `${scheme}://${location.host}/ws`,
    // Called on every (re)connect and after a token expires: always fetch a fresh one.
    getToken: async (room) => {
      const query = new URLSearchParams({ room, name: me.name, user: me.id })
      const res = await fetch(`/demo/token?${query}`)
      if (!res.ok) throw new Error(`token request failed: HTTP ${res.status}`)
      const body = (await res.json()) as { token: string }
      return body.token
    },
  })
}

/** Presence as the demos publish it in `awareness`. */
export interface PresenceUser {
  id: string
  name: string
  color: string
  colorLight: string
}

/** Everyone in the room according to awareness, one entry per user (a user may have several tabs). */
export function peopleIn(provider: RoomProvider): { clientId: number; user: PresenceUser; self: boolean; state: Record<string, unknown> }[] {
  const seen = new Set<string>()
  const out: { clientId: number; user: PresenceUser; self: boolean; state: Record<string, unknown> }[] = []
  const selfId = provider.doc.clientID
  const states = [...provider.awareness.getStates().entries()].sort(([a], [b]) => (a === selfId ? -1 : b === selfId ? 1 : a - b))
  for (const [clientId, state] of states) {
    const user = (state as { user?: PresenceUser }).user
    if (!user || typeof user.name !== 'string' || seen.has(user.id)) continue
    seen.add(user.id)
    out.push({ clientId, user, self: clientId === selfId, state })
  }
  return out
}

const LABELS: Record<RoomStatus, string> = {
  connecting: 'Connecting…',
  syncing: 'Syncing…',
  synced: 'Connected',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
  closed: 'Disconnected',
}

/** Renders the room's connection status into `el` (a pill with a coloured dot) and keeps it current. */
export function mountStatus(el: HTMLElement, provider: RoomProvider): () => void {
  let countdown: ReturnType<typeof setInterval> | null = null
  const render = (status: RoomStatus, detail: StatusDetail): void => {
    if (countdown !== null) clearInterval(countdown)
    countdown = null
    el.dataset.status = status
    el.title = detail.error ? detail.error.message : `Room ${provider.name}: ${status}`
    const label = LABELS[status]
    if (status === 'reconnecting' && detail.retryInMs !== undefined && detail.retryInMs > 1500) {
      const until = Date.now() + detail.retryInMs
      const tick = (): void => {
        const s = Math.max(0, Math.ceil((until - Date.now()) / 1000))
        el.textContent = s > 0 ? `Reconnecting in ${s}s` : label
      }
      tick()
      countdown = setInterval(tick, 500)
    } else {
      el.textContent = label
    }
  }
  render(provider.status, {})
  const off = provider.on('status', render)
  return () => {
    off()
    if (countdown !== null) clearInterval(countdown)
  }
}

/** A round avatar with initials in the user's colour. */
export function avatar(user: { name: string; color: string }, size: 'sm' | 'md' = 'md'): HTMLElement {
  const el = document.createElement('span')
  el.className = `avatar avatar-${size}`
  el.style.backgroundColor = user.color
  el.textContent = initials(user.name)
  el.title = user.name
  return el
}

/** Renders the avatars of everyone in the room into `el` (yourself first). */
export function mountFacepile(el: HTMLElement, provider: RoomProvider): () => void {
  const render = (): void => {
    const people = peopleIn(provider)
    el.replaceChildren(
      ...people.map(({ user, self }) => {
        const a = avatar(user, 'sm')
        a.title = self ? `${user.name} (you)` : user.name
        return a
      }),
    )
  }
  render()
  provider.awareness.on('change', render)
  return () => provider.awareness.off('change', render)
}

/**
 * Wires the "your name" input: renaming updates presence at once (tokens pick it up on the next
 * connect). `onRename` publishes the new name into the page's rooms.
 */
export function mountNameInput(input: HTMLInputElement, onRename: (name: string) => void): void {
  input.value = identity().name
  const commit = (): void => {
    const name = rename(input.value)
    input.value = name
    onRename(name)
  }
  input.addEventListener('change', commit)
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') input.blur()
  })
}

/** The presence record this page publishes as `user`. */
export function presenceUser(): PresenceUser {
  const me = identity()
  return { id: me.id, name: me.name, color: me.color, colorLight: me.colorLight }
}
