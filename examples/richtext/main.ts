/**
 * Rich-text demo: Tiptap 3 on the Tandem SDK. The provider's `doc` and `awareness` are all Tiptap's
 * collaboration extensions need:
 *
 * - StarterKit with its own undo/redo switched off (`undoRedo: false`): Collaboration brings an undo
 *   that only undoes your own changes, and the two must not both be active.
 * - Collaboration bound to the Y.XmlFragment `default` (Tiptap's default field name, so any Tiptap app
 *   pointing at the same room sees the same document).
 * - CollaborationCaret: everyone's caret and selection, named and coloured from the demo identity.
 * - The shared status pill: "Saved" once the server acknowledged the storage commit of every edit.
 *
 * Room: `demo-richtext:<doc>` (the document name comes from the URL hash, `#welcome` by default).
 */
import './style.css'
import { Editor } from '@tiptap/core'
import StarterKit from '@tiptap/starter-kit'
import Collaboration from '@tiptap/extension-collaboration'
import CollaborationCaret from '@tiptap/extension-collaboration-caret'
import type { RoomProvider } from '@tandem/client'
import { createClient, mountFacepile, mountNameInput, mountStatus, peopleIn, sharePresence, type PresenceUser } from '../shared/tandem.js'

const DOC_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
/** The Y.XmlFragment the document lives in. */
const FIELD = 'default'
/** How long switching documents waits for unsaved edits to be stored before it goes anyway. */
const SAVE_BEFORE_LEAVING_MS = 3000

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T

const docName = ((): string => {
  const name = decodeURIComponent(location.hash.slice(1))
  return DOC_PATTERN.test(name) ? name : 'welcome'
})()
$('doc-name').textContent = docName
document.title = `${docName} · Rich text · Tandem demos`

// ---- the room ----------------------------------------------------------------------------------
const client = createClient()
const provider: RoomProvider = client.room(`demo-richtext:${docName}`)
const presence = sharePresence(provider)

/** A caret: a thin bar in the person's colour with their name above it. */
function renderCaret(user: Record<string, unknown>): HTMLElement {
  const caret = document.createElement('span')
  caret.className = 'collaboration-carets__caret'
  const label = document.createElement('div')
  label.className = 'collaboration-carets__label'
  caret.append(label)
  if (typeof user.id === 'string') caret.dataset.userId = user.id
  paintCaret(caret, String(user.name ?? 'Anonymous'), String(user.color ?? '#6b6f7b'))
  return caret
}

function paintCaret(caret: HTMLElement, name: string, color: string): void {
  caret.style.borderColor = color
  caret.dataset.name = name
  caret.dataset.color = color
  const label = caret.firstElementChild as HTMLElement | null
  if (label) {
    label.style.backgroundColor = color
    label.textContent = name
  }
}

const editor = new Editor({
  element: $('editor'),
  extensions: [
    StarterKit.configure({ undoRedo: false }),
    Collaboration.configure({ fragment: provider.doc.getXmlFragment(FIELD) }),
    CollaborationCaret.configure({
      provider,
      // Publishes this object as `user` once the editor view exists; `presence` keeps it current after that.
      user: presence.user,
      render: renderCaret,
      selectionRender: (user: Record<string, unknown>) => ({
        nodeName: 'span',
        class: 'collaboration-carets__selection',
        style: `background-color: ${typeof user.colorLight === 'string' ? user.colorLight : `${String(user.color)}33`}`,
        'data-user': String(user.name ?? ''),
      }),
    }),
  ],
  editorProps: { attributes: { class: 'prose', 'aria-label': 'Document' } },
  autofocus: true,
})
// CollaborationCaret replaced `user` with its snapshot: publish the settled one again.
presence.refresh()

/**
 * y-tiptap keys caret widgets by client id, so ProseMirror keeps a caret's DOM when the colour or name
 * behind it changes (say, a colour that gave way to someone who was here first). Repaint them.
 */
function repaintCarets(): void {
  const users = new Map<string, PresenceUser>(peopleIn(provider).map(({ user }) => [user.id, user]))
  for (const caret of editor.view.dom.querySelectorAll<HTMLElement>('.collaboration-carets__caret')) {
    const user = caret.dataset.userId === undefined ? undefined : users.get(caret.dataset.userId)
    if (user && (caret.dataset.name !== user.name || caret.dataset.color !== user.color)) paintCaret(caret, user.name, user.color)
  }
}
provider.awareness.on('change', repaintCarets)

// ---- toolbar -------------------------------------------------------------------------------------
const commands: Record<string, { run: () => boolean; active?: () => boolean }> = {
  bold: { run: () => editor.chain().focus().toggleBold().run(), active: () => editor.isActive('bold') },
  italic: { run: () => editor.chain().focus().toggleItalic().run(), active: () => editor.isActive('italic') },
  strike: { run: () => editor.chain().focus().toggleStrike().run(), active: () => editor.isActive('strike') },
  code: { run: () => editor.chain().focus().toggleCode().run(), active: () => editor.isActive('code') },
  h1: { run: () => editor.chain().focus().toggleHeading({ level: 1 }).run(), active: () => editor.isActive('heading', { level: 1 }) },
  h2: { run: () => editor.chain().focus().toggleHeading({ level: 2 }).run(), active: () => editor.isActive('heading', { level: 2 }) },
  bulletList: { run: () => editor.chain().focus().toggleBulletList().run(), active: () => editor.isActive('bulletList') },
  orderedList: { run: () => editor.chain().focus().toggleOrderedList().run(), active: () => editor.isActive('orderedList') },
  blockquote: { run: () => editor.chain().focus().toggleBlockquote().run(), active: () => editor.isActive('blockquote') },
  // Collaboration's undo: only your own changes, never someone else's.
  undo: { run: () => editor.chain().focus().undo().run() },
  redo: { run: () => editor.chain().focus().redo().run() },
}
const buttons = [...$('toolbar').querySelectorAll<HTMLButtonElement>('button[data-command]')]
for (const button of buttons) {
  // mousedown would take the focus (and the selection) away from the editor.
  button.addEventListener('mousedown', (event) => event.preventDefault())
  button.addEventListener('click', () => commands[button.dataset.command ?? '']?.run())
}
function renderToolbar(): void {
  for (const button of buttons) {
    const command = commands[button.dataset.command ?? '']
    if (command?.active) button.setAttribute('aria-pressed', String(command.active()))
    if (button.dataset.command === 'undo') button.disabled = !editor.can().undo()
    if (button.dataset.command === 'redo') button.disabled = !editor.can().redo()
  }
}
editor.on('transaction', renderToolbar)
renderToolbar()

// ---- status, counts, presence, name --------------------------------------------------------------
mountStatus($('status'), provider)
mountFacepile($('facepile'), provider)
mountNameInput($<HTMLInputElement>('me-name'), () => presence.refresh())

const savedAt = $('saved-at')
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' })
provider.on('saved', () => {
  savedAt.textContent = `All changes saved · ${timeFormat.format(Date.now())}`
})

const counts = $('counts')
function renderCounts(): void {
  const text = editor.state.doc.textBetween(0, editor.state.doc.content.size, ' ', ' ')
  const words = text.trim() === '' ? 0 : text.trim().split(/\s+/).length
  counts.textContent = `${words} ${words === 1 ? 'word' : 'words'}`
}
editor.on('update', renderCounts)
renderCounts()

// Another document: this page keeps edits in memory only, so give unsaved ones a moment to be stored first.
window.addEventListener('hashchange', () => {
  const leave = (): void => location.reload()
  if (!provider.hasUnsavedChanges || provider.status !== 'synced') return leave()
  const timer = setTimeout(leave, SAVE_BEFORE_LEAVING_MS)
  provider.whenSaved().then(
    () => {
      clearTimeout(timer)
      leave()
    },
    () => {},
  )
})
// Closing the tab with unsaved edits: let the browser ask.
window.addEventListener('beforeunload', (event) => {
  if (provider.hasUnsavedChanges) event.preventDefault()
})
