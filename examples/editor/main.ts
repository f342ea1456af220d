/**
 * Collaborative editor demo: CodeMirror 6 bound to a Y.Text with y-codemirror.next, remote cursors
 * and selections with names and colours, and a status line driven by the SDK's saved acknowledgements.
 *
 * Room: `demo-editor:<doc>` (the document name comes from the URL hash, `#welcome` by default).
 */
import './style.css'
import { basicSetup } from 'codemirror'
import { markdown } from '@codemirror/lang-markdown'
import { EditorState } from '@codemirror/state'
import { EditorView, keymap, placeholder } from '@codemirror/view'
import { yCollab, yRemoteSelectionsTheme, yUndoManagerKeymap } from 'y-codemirror.next'
import * as Y from 'yjs'
import { createClient, mountFacepile, mountNameInput, mountStatus, saveState, sharePresence } from '../shared/tandem.js'
import { mountHistory } from './history.js'
import { remoteCarets } from './remote-carets.js'

const DOC_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T

const docName = ((): string => {
  const name = decodeURIComponent(location.hash.slice(1))
  return DOC_PATTERN.test(name) ? name : 'welcome'
})()
document.title = `${docName}.md · Docs · Tandem demos`

// ---- the room ----------------------------------------------------------------------------------
const client = createClient()
const roomName = `demo-editor:${docName}`
const provider = client.room(roomName)
const ytext = provider.doc.getText('body')
// Undo only your own edits (y-codemirror.next tracks the binding's local origin).
const undoManager = new Y.UndoManager(ytext)
// Remote cursors are drawn from `user.name`, `user.color` and `user.colorLight`; the colour is one nobody else here has.
const presence = sharePresence(provider)

const view = new EditorView({
  parent: $('editor'),
  state: EditorState.create({
    doc: ytext.toString(),
    extensions: [
      keymap.of(yUndoManagerKeymap),
      basicSetup,
      markdown(),
      EditorView.lineWrapping,
      placeholder('Start writing… everyone who opens this document sees your edits and your cursor live.'),
      // Text sync and undo from y-codemirror.next; its remote cursors label a caret by colour only (see remote-carets.ts).
      yCollab(ytext, null, { undoManager }),
      yRemoteSelectionsTheme,
      remoteCarets(ytext, provider.awareness),
    ],
  }),
})
view.focus()

// ---- status line: connecting / synced / saving… / all changes saved --------------------------------
const saveStatus = $('save-status')
function renderSaveStatus(): void {
  const { state, long } = saveState(provider)
  saveStatus.dataset.state = state
  saveStatus.textContent = long
}

provider.on('status', renderSaveStatus)
provider.on('saved', renderSaveStatus)
// A local edit makes hasUnsavedChanges true at once: show "Saving…" without waiting for the network.
provider.doc.on('update', renderSaveStatus)
renderSaveStatus()

// ---- word count, presence, name, document switcher -----------------------------------------------
const counts = $('counts')
function renderCounts(): void {
  const text = ytext.toString()
  const words = text.trim() === '' ? 0 : text.trim().split(/\s+/).length
  counts.textContent = `${words} ${words === 1 ? 'word' : 'words'} · ${text.length} characters`
}
ytext.observe(renderCounts)
renderCounts()

mountStatus($('status'), provider)
mountHistory({ button: $<HTMLButtonElement>('history-toggle'), panel: $('history'), room: roomName, provider, textKey: 'body' })
mountFacepile($('facepile'), provider)
mountNameInput($<HTMLInputElement>('me-name'), () => presence.refresh())

const docInput = $<HTMLInputElement>('doc-name')
docInput.value = docName
$('doc-form').addEventListener('submit', (event) => {
  event.preventDefault()
  const name = docInput.value.trim()
  if (DOC_PATTERN.test(name) && name !== docName) location.hash = name
})
window.addEventListener('hashchange', () => location.reload())
