/**
 * What every demo page shares: one TandemClient whose tokens come from the demo token route (in a real
 * app, your backend mints them), the status pill (connection and saved state), a list of who is here,
 * and the name field.
 */
import { TandemClient, type RoomProvider, type RoomStatus, type StatusDetail } from '@tandem/client'
import { identity, initials, rename, type Identity } from './identity.js'
import { sharePresence, userOf, type Presence, type PresenceUser } from './presence.js'

export { identity, sharePresence, type Identity, type Presence, type PresenceUser }

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

/** Everyone in the room according to awareness, one entry per user (a user may have several tabs). */
export function peopleIn(provider: RoomProvider): { clientId: number; user: PresenceUser; self: boolean; state: Record<string, unknown> }[] {
  const seen = new Set<string>()
  const out: { clientId: number; user: PresenceUser; self: boolean; state: Record<string, unknown> }[] = []
  const selfId = provider.doc.clientID
  const states = [...provider.awareness.getStates().entries()].sort(([a], [b]) => (a === selfId ? -1 : b === selfId ? 1 : a - b))
  for (const [clientId, state] of states) {
    const user = userOf(state)
    if (!user || seen.has(user.id)) continue
    seen.add(user.id)
    out.push({ clientId, user, self: clientId === selfId, state })
  }
  return out
}

/** What the status pill says: the connection and, once connected, whether your edits are stored. */
export type SaveState = 'connecting' | 'saving' | 'saved' | 'offline' | 'error'

/**
 * The save state of a room: "saved" only once the server has acknowledged the storage commit of every
 * local edit (`hasUnsavedChanges` false), never merely because they were sent.
 */
export function saveState(provider: RoomProvider): { state: SaveState; short: string; long: string } {
  const status = provider.status
  const unsaved = provider.hasUnsavedChanges
  switch (status) {
    case 'synced':
      return unsaved
        ? { state: 'saving', short: 'Saving…', long: 'Saving…' }
        : { state: 'saved', short: 'Saved', long: 'All changes saved' }
    case 'connecting':
    case 'syncing': {
      const short = status === 'syncing' ? 'Syncing…' : 'Connecting…'
      return { state: 'connecting', short, long: unsaved ? `${short} your edits will be saved once connected` : short }
    }
    case 'reconnecting':
    case 'offline': {
      const where = status === 'offline' ? 'Offline' : 'Not connected'
      return unsaved
        ? { state: 'offline', short: `${status === 'offline' ? 'Offline' : 'Reconnecting…'} · unsaved`, long: `${where} — unsaved edits are kept here and saved when the connection is back` }
        : { state: 'offline', short: status === 'offline' ? 'Offline' : 'Reconnecting…', long: `${where} — reconnecting…` }
    }
    case 'closed':
      return { state: 'error', short: 'Disconnected', long: unsaved ? 'Disconnected — unsaved edits were not stored' : 'Disconnected' }
  }
}

/**
 * Renders the room's status into `el`, a pill with a coloured dot, and keeps it current: the connection
 * (`data-status`, the SDK's RoomStatus) and whether your edits are stored (`data-saved`).
 * Returns a function that stops it.
 */
export function mountStatus(el: HTMLElement, provider: RoomProvider): () => void {
  let countdown: ReturnType<typeof setInterval> | null = null
  let lastDetail: StatusDetail = {}
  let lastError: string | null = null
  const render = (): void => {
    if (countdown !== null) clearInterval(countdown)
    countdown = null
    const status: RoomStatus = provider.status
    const { state, short, long } = saveState(provider)
    el.dataset.status = status
    el.dataset.saved = state
    el.title = lastError !== null && status === 'closed' ? lastError : `Room ${provider.name}: ${long}`
    const unsaved = provider.hasUnsavedChanges
    if (status === 'reconnecting' && lastDetail.retryInMs !== undefined && lastDetail.retryInMs > 1500) {
      const until = Date.now() + lastDetail.retryInMs
      const tick = (): void => {
        const s = Math.max(0, Math.ceil((until - Date.now()) / 1000))
        el.textContent = s > 0 ? `Reconnecting in ${s}s${unsaved ? ' · unsaved' : ''}` : short
      }
      tick()
      countdown = setInterval(tick, 500)
    } else {
      el.textContent = short
    }
  }
  const onStatus = (_status: RoomStatus, detail: StatusDetail): void => {
    lastDetail = detail
    if (detail.error) lastError = detail.error.message
    render()
  }
  render()
  const offs = [
    provider.on('status', onStatus),
    provider.on('saved', render),
    provider.on('error', (err) => {
      lastError = err.message
      render()
    }),
  ]
  // A local edit makes hasUnsavedChanges true at once: show "Saving…" without waiting for the network.
  provider.doc.on('update', render)
  return () => {
    for (const off of offs) off()
    provider.doc.off('update', render)
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
