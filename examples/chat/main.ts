/**
 * Chat demo: channels, messages in a Y.Array, names and "is typing…" through presence.
 *
 * Rooms: `demo-chat` holds the channel directory (a Y.Map), `demo-chat:<channel>` holds one channel's
 * messages. Both share the client's single WebSocket. The server stores every update in SQLite, so
 * history survives restarts; messages sent while offline stay in the Y.Doc and go out on reconnect.
 */
import './style.css'
import type { RoomProvider } from '@tandem/client'
import type * as Y from 'yjs'
import { avatar, createClient, identity, mountNameInput, mountStatus, peopleIn, sharePresence, type Presence } from '../shared/tandem.js'

/** One chat message, as stored in the room's `messages` array (the webhook bot writes the same shape). */
interface ChatMessage {
  id: string
  userId: string
  name: string
  color: string
  text: string
  /** ms since the epoch */
  at: number
  /** Written by the webhook bot. */
  bot?: boolean
  /** The message a bot answer replies to. */
  replyTo?: string
}

const DEFAULT_CHANNELS = ['general', 'random']
const CHANNEL_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/
const TYPING_IDLE_MS = 3000
/** Consecutive messages by one author within this window are grouped under one header. */
const GROUP_MS = 5 * 60_000

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T
const els = {
  channels: $<HTMLUListElement>('channels'),
  newChannel: $<HTMLFormElement>('new-channel'),
  newChannelName: $<HTMLInputElement>('new-channel-name'),
  people: $<HTMLUListElement>('people'),
  peopleCount: $<HTMLSpanElement>('people-count'),
  meAvatar: $<HTMLSpanElement>('me-avatar'),
  meName: $<HTMLInputElement>('me-name'),
  title: $<HTMLHeadingElement>('channel-title'),
  status: $<HTMLSpanElement>('status'),
  messages: $<HTMLOListElement>('messages'),
  typing: $<HTMLDivElement>('typing'),
  composer: $<HTMLFormElement>('composer'),
  input: $<HTMLInputElement>('message'),
}

const me = identity()
const client = createClient()

// ---- the channel directory: one small room every chat page joins ----------------------------------
const directory = client.room('demo-chat')
const channels = directory.doc.getMap<{ createdAt: number; createdBy: string }>('channels')
void directory.whenSynced().then(() => {
  // First visitor ever: create the default channels (two visitors doing this at once converge).
  if (channels.size === 0) directory.doc.transact(() => DEFAULT_CHANNELS.forEach((name) => channels.set(name, { createdAt: Date.now(), createdBy: me.name })))
})
channels.observe(renderChannels)

// ---- the current channel ---------------------------------------------------------------------------
interface Open {
  name: string
  provider: RoomProvider
  presence: Presence
  messages: Y.Array<ChatMessage>
  /** Own messages not yet confirmed as stored by the server. */
  pending: Set<string>
  cleanup: () => void
}
let current: Open | null = null

function channelFromHash(): string {
  const name = decodeURIComponent(location.hash.slice(1)).toLowerCase()
  return CHANNEL_PATTERN.test(name) ? name : 'general'
}

function openChannel(name: string): void {
  if (current?.name === name) return
  current?.cleanup()
  current?.provider.destroy()

  const provider = client.room(`demo-chat:${name}`)
  const presence = sharePresence(provider, { typing: false })
  const messages = provider.doc.getArray<ChatMessage>('messages')
  const open: Open = { name, provider, presence, messages, pending: new Set(), cleanup: () => {} }
  current = open

  const render = (): void => renderMessages(open)
  messages.observe(render)
  provider.awareness.on('change', renderPresence)
  const stopStatus = mountStatus(els.status, provider)
  const offSynced = provider.on('synced', render)
  const offPresence = presence.onChange(renderMe)
  open.cleanup = () => {
    offPresence()
    presence.destroy()
    messages.unobserve(render)
    provider.awareness.off('change', renderPresence)
    stopStatus()
    offSynced()
  }

  // A channel reached by link joins the directory.
  void directory.whenSynced().then(() => {
    if (!channels.has(name)) channels.set(name, { createdAt: Date.now(), createdBy: me.name })
  }, () => {})

  els.title.textContent = `#${name}`
  els.input.placeholder = `Message #${name}`
  document.title = `#${name} · Chat · Tandem demos`
  renderChannels()
  render()
  renderPresence()
  renderMe()
  els.input.focus()
}

// ---- sending and typing ----------------------------------------------------------------------------
let typingTimer: ReturnType<typeof setTimeout> | null = null

function setTyping(typing: boolean): void {
  if (typingTimer !== null) clearTimeout(typingTimer)
  typingTimer = typing ? setTimeout(() => setTyping(false), TYPING_IDLE_MS) : null
  const awareness = current?.provider.awareness
  if (awareness && awareness.getLocalState()?.typing !== typing) awareness.setLocalStateField('typing', typing)
}

els.input.addEventListener('input', () => setTyping(els.input.value.trim() !== ''))

els.composer.addEventListener('submit', (event) => {
  event.preventDefault()
  const text = els.input.value.trim()
  if (text === '' || current === null) return
  const open = current
  const { color } = open.presence.user
  const message: ChatMessage = { id: messageId(), userId: me.id, name: me.name, color, text, at: Date.now() }
  open.pending.add(message.id)
  // Works offline too: the change waits in the Y.Doc and the SDK sends it when the room reconnects.
  open.messages.push([message])
  els.input.value = ''
  setTyping(false)
  // "Saved" means the server committed it to storage, not merely received it.
  open.provider.whenSaved().then(
    () => {
      open.pending.delete(message.id)
      if (current === open) renderMessages(open)
    },
    () => {}, // the channel was closed first
  )
})

function messageId(): string {
  return `m_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
}

// ---- rendering -------------------------------------------------------------------------------------
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' })

function renderMessages(open: Open): void {
  if (current !== open) return
  const list = els.messages
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40
  const all = open.messages.toArray().slice(-500)
  if (all.length === 0) {
    const empty = document.createElement('li')
    empty.className = 'empty'
    empty.textContent = open.provider.status === 'synced' ? `This is the start of #${open.name}. Say hello!` : 'Loading messages…'
    list.replaceChildren(empty)
    return
  }
  const items: HTMLLIElement[] = []
  let previous: ChatMessage | null = null
  for (const message of all) {
    const continued = previous !== null && previous.userId === message.userId && message.at - previous.at < GROUP_MS
    items.push(renderMessage(message, continued, open.pending.has(message.id)))
    previous = message
  }
  list.replaceChildren(...items)
  if (atBottom || previous?.userId === me.id) list.scrollTop = list.scrollHeight
}

function renderMessage(message: ChatMessage, continued: boolean, pending: boolean): HTMLLIElement {
  const li = document.createElement('li')
  li.className = ['message', continued && 'continued', message.bot && 'bot', pending && 'pending'].filter(Boolean).join(' ')
  li.dataset.author = message.name

  const meta = document.createElement('div')
  meta.className = 'meta'
  const author = document.createElement('span')
  author.className = 'author'
  author.textContent = message.name
  const time = document.createElement('time')
  time.className = 'time'
  time.dateTime = new Date(message.at).toISOString()
  time.textContent = timeFormat.format(message.at)
  meta.append(author)
  if (message.bot) {
    const badge = document.createElement('span')
    badge.className = 'badge'
    badge.textContent = 'BOT'
    meta.append(badge)
  }
  meta.append(time)

  const body = document.createElement('div')
  body.className = 'body'
  // Highlight @mentions; everything else is plain text (never innerHTML).
  for (const part of message.text.split(/(@[\w-]+)/)) {
    if (part.startsWith('@')) {
      const mention = document.createElement('span')
      mention.className = 'mention'
      mention.textContent = part
      body.append(mention)
    } else if (part !== '') {
      body.append(part)
    }
  }
  if (pending) {
    const note = document.createElement('span')
    note.className = 'pending-note'
    note.textContent = '· sending…'
    note.title = 'Not yet stored by the server; sent when the connection is back'
    body.append(note)
  }

  li.append(avatar({ name: message.name, color: message.color }), meta, body)
  return li
}

function renderChannels(): void {
  const names = [...new Set([...DEFAULT_CHANNELS, ...channels.keys()])].sort((a, b) => (a === 'general' ? -1 : b === 'general' ? 1 : a.localeCompare(b)))
  if (current && !names.includes(current.name)) names.push(current.name)
  els.channels.replaceChildren(
    ...names.map((name) => {
      const li = document.createElement('li')
      const a = document.createElement('a')
      a.href = `#${name}`
      a.textContent = `# ${name}`
      if (current?.name === name) a.setAttribute('aria-current', 'page')
      li.append(a)
      return li
    }),
  )
}

function renderPresence(): void {
  if (!current) return
  const people = peopleIn(current.provider)
  els.peopleCount.textContent = `· ${people.length}`
  els.people.replaceChildren(
    ...people.map(({ user, self, state }) => {
      const li = document.createElement('li')
      li.dataset.name = user.name
      const name = document.createElement('span')
      name.textContent = user.name
      li.append(avatar(user, 'sm'), name)
      if (self) {
        const you = document.createElement('span')
        you.className = 'you'
        you.textContent = '(you)'
        li.append(you)
      } else if (state.typing === true) {
        const dot = document.createElement('span')
        dot.className = 'typing-dot'
        dot.textContent = 'typing…'
        li.append(dot)
      }
      return li
    }),
  )
  const typing = people.filter((p) => !p.self && p.state.typing === true).map((p) => p.user.name)
  els.typing.textContent =
    typing.length === 0
      ? ''
      : typing.length === 1
        ? `${typing[0]} is typing…`
        : typing.length === 2
          ? `${typing[0]} and ${typing[1]} are typing…`
          : 'Several people are typing…'
}

// ---- channel creation, your name, navigation ---------------------------------------------------------
els.newChannel.addEventListener('submit', (event) => {
  event.preventDefault()
  const name = els.newChannelName.value.trim().toLowerCase().replace(/\s+/g, '-')
  if (!CHANNEL_PATTERN.test(name)) {
    els.newChannelName.setCustomValidity('Lowercase letters, digits and dashes')
    els.newChannelName.reportValidity()
    return
  }
  els.newChannelName.setCustomValidity('')
  if (!channels.has(name)) channels.set(name, { createdAt: Date.now(), createdBy: me.name })
  els.newChannelName.value = ''
  location.hash = name
})

function renderMe(): void {
  // The colour others see you in here (it avoids the colours of those who were here first).
  els.meAvatar.replaceChildren(avatar({ name: me.name, color: current?.presence.user.color ?? me.color }))
}
mountNameInput(els.meName, () => current?.presence.refresh())

// ---- the sidebar on narrow screens: behind a toggle, closed by a pick, the backdrop or Escape --------
const app = $<HTMLDivElement>('chat-app')
const toggle = $<HTMLButtonElement>('sidebar-toggle')
const backdrop = $<HTMLDivElement>('sidebar-backdrop')
function setSidebar(open: boolean): void {
  app.dataset.sidebar = open ? 'open' : 'closed'
  toggle.setAttribute('aria-expanded', String(open))
  backdrop.hidden = !open
}
toggle.addEventListener('click', () => setSidebar(app.dataset.sidebar !== 'open'))
backdrop.addEventListener('click', () => setSidebar(false))
els.channels.addEventListener('click', (event) => {
  if ((event.target as Element).closest('a')) setSidebar(false)
})
window.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && app.dataset.sidebar === 'open') setSidebar(false)
})

window.addEventListener('hashchange', () => openChannel(channelFromHash()))
openChannel(channelFromHash())
