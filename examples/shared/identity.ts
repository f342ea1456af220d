/**
 * Who "you" are in the demos: a random id, a name and a colour, kept in localStorage so every demo
 * page shows the same person. `?name=Alice` in the URL overrides the name (handy for two tabs).
 */
export interface Identity {
  id: string
  name: string
  color: string
  /** A translucent variant for selections and fills. */
  colorLight: string
}

const STORAGE_KEY = 'tandem-demo-identity'
const COLORS = ['#e5484d', '#f76b15', '#d6a300', '#30a46c', '#12a594', '#0090ff', '#3e63dd', '#8e4ec6', '#d6409f']
const ADJECTIVES = ['Brave', 'Calm', 'Clever', 'Curious', 'Eager', 'Gentle', 'Happy', 'Jolly', 'Lucky', 'Swift', 'Witty', 'Zesty']
const ANIMALS = ['Otter', 'Panda', 'Falcon', 'Fox', 'Koala', 'Lynx', 'Heron', 'Badger', 'Dolphin', 'Gecko', 'Moose', 'Wombat']

function pick<T>(list: readonly T[]): T {
  return list[Math.floor(Math.random() * list.length)] as T
}

function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(9))
  return 'u_' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

export function light(color: string): string {
  return `${color}33`
}

function load(): Identity | null {
  try {
    const raw = localStorage.getItem(STORAGE_KEY)
    if (raw === null) return null
    const value = JSON.parse(raw) as Partial<Identity>
    if (typeof value.id !== 'string' || typeof value.name !== 'string' || typeof value.color !== 'string') return null
    return { id: value.id, name: value.name, color: value.color, colorLight: light(value.color) }
  } catch {
    return null
  }
}

function save(me: Identity): void {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify({ id: me.id, name: me.name, color: me.color }))
  } catch {
    // Private mode: the identity lasts as long as the page.
  }
}

/** Cleans a display name: trimmed, collapsed spaces, at most 40 characters. */
export function cleanName(name: string): string {
  return name.replace(/\s+/g, ' ').trim().slice(0, 40)
}

let current: Identity | null = null

/** This browser's identity (created on first use). */
export function identity(): Identity {
  if (current) return current
  const stored = load()
  const color = stored?.color ?? pick(COLORS)
  const me: Identity = stored ?? { id: randomId(), name: `${pick(ADJECTIVES)} ${pick(ANIMALS)}`, color, colorLight: light(color) }
  const fromUrl = cleanName(new URLSearchParams(location.search).get('name') ?? '')
  if (fromUrl !== '') me.name = fromUrl
  save(me)
  current = me
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
