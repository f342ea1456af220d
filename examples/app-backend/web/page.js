// @ts-check
/**
 * The page: one TandemClient whose getToken asks the backend (the session cookie goes along), a textarea
 * bound to a Y.Text, the connection status, "Saved" once the server has stored every edit, and who else
 * is here. The token is for one room only; the backend answers 403 for rooms this user may not open.
 */
import { TandemClient } from '@tandem/client'

const config = JSON.parse(document.getElementById('config')?.textContent ?? '{}')
const textarea = /** @type {HTMLTextAreaElement} */ (document.getElementById('text'))
const select = /** @type {HTMLSelectElement} */ (document.getElementById('room'))
const statusEl = /** @type {HTMLElement} */ (document.getElementById('status'))
const savedEl = /** @type {HTMLElement} */ (document.getElementById('saved'))
const peopleEl = /** @type {HTMLElement} */ (document.getElementById('people'))

const client = new TandemClient({
  url: config.url,
  getToken: async (room) => {
    const res = await fetch(`/api/tandem-token?room=${encodeURIComponent(room)}`)
    if (!res.ok) throw new Error(`the backend refused a token for ${room}: ${res.status}`)
    return (await res.json()).token
  },
})

/** @type {(() => void) | null} */
let leave = null

function open(/** @type {string} */ name) {
  leave?.()
  const room = client.room(name)
  const text = room.doc.getText('body')
  room.awareness.setLocalStateField('user', { name: config.name, id: config.userId })

  const render = () => {
    if (textarea.value === text.toString()) return
    const { selectionStart, selectionEnd } = textarea
    textarea.value = text.toString()
    textarea.setSelectionRange(selectionStart, selectionEnd)
  }
  // A local edit becomes the smallest Yjs change: keep the common prefix and suffix, replace the middle.
  const onInput = () => {
    const before = text.toString()
    const after = textarea.value
    let start = 0
    while (start < before.length && start < after.length && before[start] === after[start]) start++
    let end = 0
    while (end < before.length - start && end < after.length - start && before[before.length - 1 - end] === after[after.length - 1 - end]) end++
    room.doc.transact(() => {
      text.delete(start, before.length - start - end)
      text.insert(start, after.slice(start, after.length - end))
    })
  }
  const showPeople = () => {
    const names = [...room.awareness.getStates().values()].map((s) => s.user?.name).filter(Boolean)
    peopleEl.textContent = `here: ${names.join(', ')}`
  }
  const showSaved = () => (savedEl.textContent = room.hasUnsavedChanges ? 'Saving…' : 'Saved')

  text.observe(render)
  textarea.addEventListener('input', onInput)
  room.awareness.on('change', showPeople)
  const offs = [
    room.on('status', (status) => {
      statusEl.textContent = status
      // A read-only token: the server refuses edits, so the page does not offer them.
      textarea.readOnly = room.scope === 'readonly'
    }),
    room.on('saved', showSaved),
    room.on('error', (err) => (statusEl.textContent = `${err.code}: ${err.message}`)),
  ]
  room.doc.on('update', showSaved)
  render()
  leave = () => {
    text.unobserve(render)
    textarea.removeEventListener('input', onInput)
    room.awareness.off('change', showPeople)
    for (const off of offs) off()
    room.destroy()
  }
}

select.addEventListener('change', () => open(select.value))
open(select.value)
