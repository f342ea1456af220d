/**
 * Who "you" are in the demos: a random id, a name and a preferred colour, kept in sessionStorage, so
 * every tab or window is its own person (two tabs side by side are Alice and Bob) and a reload keeps
 * the person of that tab. `?name=Alice` in the URL overrides the name.
 */
export interface Identity {
  id: string
  name: string
  /** The preferred colour (from the id); the colour others see may differ, see presence.ts. */
  color: string
  /** A translucent variant for selections and fills. */
  colorLight: string
}

const STORAGE_KEY = 'tandem-demo-identity'
/** The people palette: distinct at a glance, readable under white text. */
export const PALETTE = ['#e5484d', '#f76b15', '#d6a300', '#30a46c', '#12a594', '#0090ff', '#3e63dd', '#8e4ec6', '#d6409f'] as const
const ADJECTIVES = ['Brave', 'Calm', 'Clever', 'Curious', 'Eager', 'Gentle', 'Happy', 'Jolly', 'Lucky', 'Swift', 'Witty', 'Zesty']
const ANIMALS = ['Otter', 'Panda', 'Falcon', 'Fox', 'Koala', 'Lynx', 'Heron', 'Badger', 'Dolphin', 'Gecko', 'Moose', 'Wombat']

function pick<T>(list: readonly T[]): T {
  return list[Math.floor(Math.random() * list.length)] as T
}

function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(9))
  return 'u_' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

/** A stable small hash (FNV-1a), so an id always prefers the same palette slot. */
export function hashOf(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  return h >>> 0
}

export function preferredColor(id: string): string {
  return PALETTE[hashOf(id) % PALETTE.length] as string
}

export function light(color: string): string {
  return `${color}33`
}

function load(): { id: string; name: string } | null {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY)
    if (raw === null) return null
    const value = JSON.parse(raw) as Partial<Identity>
    if (typeof value.id !== 'string' || typeof value.name !== 'string') return null
    return { id: value.id, name: value.name }
  } catch {
    return null
  }
}

function save(me: Identity): void {
  try {
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ id: me.id, name: me.name }))
  } catch {
    // Storage disabled: the identity lasts as long as the page.
  }
}

/**
 * "Duplicate tab" copies sessionStorage, which would make the copy the same person as the original.
 * Tabs announce their id on a BroadcastChannel; an older tab with the same id answers, and the newer
 * one forgets the copied identity and reloads as somebody new (a reload leaves no older tab behind).
 */
function guardAgainstCopies(me: Identity): void {
  if (typeof BroadcastChannel === 'undefined') return
  const channel = new BroadcastChannel(STORAGE_KEY)
  const born = performance.timeOrigin
  channel.onmessage = (event: MessageEvent<{ type?: string; id?: string; born?: number }>) => {
    const msg = event.data
    if (msg.id !== me.id || typeof msg.born !== 'number') return
    if (msg.type === 'hello' && msg.born > born) channel.postMessage({ type: 'taken', id: me.id, born: msg.born })
    else if (msg.type === 'taken' && msg.born === born) {
      try {
        sessionStorage.removeItem(STORAGE_KEY)
      } catch {
        return
      }
      location.reload()
    }
  }
  channel.postMessage({ type: 'hello', id: me.id, born })
}

/** Cleans a display name: trimmed, collapsed spaces, at most 40 characters. */
export function cleanName(name: string): string {
  return name.replace(/\s+/g, ' ').trim().slice(0, 40)
}

let current: Identity | null = null

/** This tab's identity (created on first use). */
export function identity(): Identity {
  if (current) return current
  const stored = load()
  const id = stored?.id ?? randomId()
  const color = preferredColor(id)
  const me: Identity = { id, name: stored?.name ?? `${pick(ADJECTIVES)} ${pick(ANIMALS)}`, color, colorLight: light(color) }
  const fromUrl = cleanName(new URLSearchParams(location.search).get('name') ?? '')
  if (fromUrl !== '') me.name = fromUrl
  save(me)
  current = me
  guardAgainstCopies(me)
  return me
}

/** Renames "you"; returns the cleaned name (unchanged when the new one is empty). */
export function rename(name: string): string {
  const me = identity()
  const cleaned = cleanName(name)
  if (cleaned !== '') {
    me.name = cleaned
    save(me)
  }
  return me.name
}

export function initials(name: string): string {
  const parts = name.split(' ').filter(Boolean)
  const letters = parts.length >= 2 ? (parts[0]?.[0] ?? '') + (parts[1]?.[0] ?? '') : name.slice(0, 1)
  return letters.toUpperCase()
}
