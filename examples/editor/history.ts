/**
 * The History panel: the document's versions (time, kind, author), a read-only preview of one, "Restore"
 * (the document changes live in every open window: the server applies it as an ordinary edit), and
 * "Save version" with a label. The page talks to `/demo/versions…`, which relays to the REST API with the
 * admin key, as your backend would; the browser never holds the admin key.
 */
import type { RoomProvider } from '@tandem/client'
import { identity } from '../shared/tandem.js'

interface Version {
  id: string
  createdAt: string
  kind: 'auto' | 'named' | 'before-restore'
  label: string | null
  author: string | null
  sizeBytes: number
}

export interface HistoryOptions {
  /** The toggle button, the panel, and the room (`demo-editor:<doc>`). */
  button: HTMLButtonElement
  panel: HTMLElement
  room: string
  provider: RoomProvider
  /** The key of the Y.Text the editor shows, read from the version's JSON for the preview. */
  textKey: string
}

export function mountHistory(opts: HistoryOptions): void {
  const { button, panel, room, provider, textKey } = opts
  panel.innerHTML = `
    <div class="history-head"><h2>History</h2><button type="button" class="history-close" aria-label="Close history">×</button></div>
    <form class="history-save" autocomplete="off">
      <input name="label" maxlength="200" placeholder="Name this version…" aria-label="Version label" required />
      <button type="submit">Save version</button>
    </form>
    <p class="history-notice" hidden></p>
    <ol class="history-list" aria-label="Versions"></ol>
    <div class="history-preview" hidden>
      <div class="history-preview-head"><strong class="history-preview-title"></strong><button type="button" class="history-restore">Restore this version</button></div>
      <pre class="history-preview-text" aria-label="Version preview (read-only)"></pre>
    </div>`
  const $ = <T extends Element>(selector: string): T => panel.querySelector(selector) as T
  const list = $<HTMLOListElement>('.history-list')
  const form = $<HTMLFormElement>('.history-save')
  const notice = $<HTMLParagraphElement>('.history-notice')
  const preview = $<HTMLDivElement>('.history-preview')
  const previewTitle = $<HTMLElement>('.history-preview-title')
  const previewText = $<HTMLPreElement>('.history-preview-text')
  const restoreButton = $<HTMLButtonElement>('.history-restore')
  let selected: Version | null = null

  const query = (extra: Record<string, string> = {}): string => new URLSearchParams({ room, name: identity().name, ...extra }).toString()

  const say = (text: string): void => {
    notice.textContent = text
    notice.hidden = text === ''
  }

  const describe = (v: Version): string => {
    if (v.kind === 'named') return v.label ?? 'Named version'
    if (v.kind === 'before-restore') return 'Before a restore'
    return 'Saved automatically'
  }

  async function refresh(): Promise<void> {
    const res = await fetch(`/demo/versions?${new URLSearchParams({ room })}`)
    if (!res.ok) return say(`Could not load the history (HTTP ${res.status}).`)
    const { versions } = (await res.json()) as { versions: Version[] }
    list.replaceChildren(
      ...versions.map((v) => {
        const item = document.createElement('li')
        const pick = document.createElement('button')
        pick.type = 'button'
        pick.className = 'history-item'
        pick.dataset.id = v.id
        pick.dataset.kind = v.kind
        if (selected?.id === v.id) pick.setAttribute('aria-current', 'true')
        const title = document.createElement('span')
        title.className = 'history-item-title'
        title.textContent = describe(v)
        const meta = document.createElement('span')
        meta.className = 'history-item-meta'
        meta.textContent = `${new Date(v.createdAt).toLocaleString()}${v.author ? ` · ${v.author}` : ''}`
        pick.append(title, meta)
        pick.addEventListener('click', () => void show(v))
        item.append(pick)
        return item
      }),
    )
    if (versions.length === 0) {
      const empty = document.createElement('li')
      empty.className = 'history-empty'
      empty.textContent = 'No versions yet. Versions are saved automatically after a pause in editing, or name one above.'
      list.replaceChildren(empty)
    }
  }

  async function show(v: Version): Promise<void> {
    selected = v
    for (const el of list.querySelectorAll('.history-item')) el.toggleAttribute('aria-current', (el as HTMLElement).dataset.id === v.id)
    const res = await fetch(`/demo/version-doc?${new URLSearchParams({ room, id: v.id })}`)
    if (!res.ok) return say(`Could not load that version (HTTP ${res.status}).`)
    const doc = (await res.json()) as Record<string, unknown>
    const text = doc[textKey]
    previewTitle.textContent = `${describe(v)} — ${new Date(v.createdAt).toLocaleString()}`
    previewText.textContent = typeof text === 'string' ? text : ''
    preview.hidden = false
  }

  restoreButton.addEventListener('click', async () => {
    if (selected === null) return
    restoreButton.disabled = true
    try {
      const res = await fetch(`/demo/restore?${query({ id: selected.id })}`, { method: 'POST' })
      if (!res.ok) return say(`Restore failed (HTTP ${res.status}).`)
      say(`Restored “${describe(selected)}”. The previous text was kept as “Before a restore”.`)
      preview.hidden = true
      selected = null
      await refresh()
    } finally {
      restoreButton.disabled = false
    }
  })

  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    const input = form.elements.namedItem('label') as HTMLInputElement
    const label = input.value.trim()
    if (label === '') return
    const res = await fetch(`/demo/versions?${query()}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ label }),
    })
    if (!res.ok) return say(`Could not save the version (HTTP ${res.status}).`)
    input.value = ''
    say(`Saved “${label}”.`)
    await refresh()
  })

  const open = (visible: boolean): void => {
    panel.hidden = !visible
    button.setAttribute('aria-expanded', String(visible))
    if (visible) void refresh()
  }
  button.addEventListener('click', () => open(panel.hidden !== false))
  $<HTMLButtonElement>('.history-close').addEventListener('click', () => open(false))

  // The server tells every window when someone restored; the text itself arrives as an ordinary edit.
  provider.on('stateless', (payload) => {
    let notice: { type?: string; restoredBy?: string | null }
    try {
      notice = JSON.parse(payload) as { type?: string; restoredBy?: string | null }
    } catch {
      return // not JSON: another app message
    }
    if (notice?.type !== 'room.restored') return
    say(`${notice.restoredBy ?? 'Someone'} restored an earlier version.`)
    if (!panel.hidden) void refresh()
  })
}
