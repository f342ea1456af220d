/**
 * Remote cursors and selections for CodeMirror 6 over a Y.Text, in place of y-codemirror.next's
 * `yRemoteSelections` (0.3.x).
 *
 * Why not theirs: its caret widget's `eq()` compares only the colour, and CodeMirror reuses the DOM of a
 * widget that compares equal. Two people with one colour therefore share a label (Bob's caret says
 * "Alice"), and a rename never reaches the label. Here a caret equals another only with the same
 * colour *and* name. The rest follows theirs: publish your own cursor as relative positions in
 * `awareness` (`cursor: { anchor, head }`), draw everyone else's from `user.name` / `user.color` /
 * `user.colorLight`. Styles come from their `yRemoteSelectionsTheme`.
 */
import { RangeSet, type Range } from '@codemirror/state'
import { Decoration, ViewPlugin, WidgetType, type DecorationSet, type EditorView, type ViewUpdate } from '@codemirror/view'
import type { Awareness } from 'y-protocols/awareness'
import * as Y from 'yjs'

class RemoteCaret extends WidgetType {
  constructor(
    readonly color: string,
    readonly name: string,
  ) {
    super()
  }

  toDOM(): HTMLElement {
    const caret = document.createElement('span')
    caret.className = 'cm-ySelectionCaret'
    caret.style.backgroundColor = this.color
    caret.style.borderColor = this.color
    const dot = document.createElement('div')
    dot.className = 'cm-ySelectionCaretDot'
    const info = document.createElement('div')
    info.className = 'cm-ySelectionInfo'
    info.textContent = this.name
    // Word joiners keep the caret from breaking the line it sits in.
    caret.append('\u2060', dot, '\u2060', info, '\u2060')
    return caret
  }

  override eq(other: RemoteCaret): boolean {
    return other.color === this.color && other.name === this.name
  }

  override get estimatedHeight(): number {
    return -1
  }

  override ignoreEvent(): boolean {
    return true
  }
}

interface CursorState {
  anchor: unknown
  head: unknown
}

/** The extension: `remoteCarets(ytext, awareness)`, next to `yCollab(ytext, null, { undoManager })`. */
export function remoteCarets(ytext: Y.Text, awareness: Awareness) {
  return ViewPlugin.fromClass(
    class {
      decorations: DecorationSet = RangeSet.of([])
      readonly #onChange: (changes: { added: number[]; updated: number[]; removed: number[] }) => void

      constructor(view: EditorView) {
        this.#onChange = ({ added, updated, removed }) => {
          // Redraw when someone else's state changed (ours is drawn by CodeMirror itself).
          if ([...added, ...updated, ...removed].some((id) => id !== awareness.clientID)) view.dispatch({})
        }
        awareness.on('change', this.#onChange)
      }

      destroy(): void {
        awareness.off('change', this.#onChange)
      }

      update(update: ViewUpdate): void {
        this.#publishOwnCursor(update)
        this.decorations = Decoration.set(this.#remoteDecorations(update), true)
      }

      #publishOwnCursor(update: ViewUpdate): void {
        const local = awareness.getLocalState() as { cursor?: CursorState | null } | null
        if (local === null) return
        const hasFocus = update.view.hasFocus && update.view.dom.ownerDocument.hasFocus()
        const sel = hasFocus ? update.state.selection.main : null
        if (sel !== null) {
          const anchor = Y.createRelativePositionFromTypeIndex(ytext, sel.anchor)
          const head = Y.createRelativePositionFromTypeIndex(ytext, sel.head)
          const current = local.cursor
          if (
            current == null ||
            !Y.compareRelativePositions(Y.createRelativePositionFromJSON(current.anchor), anchor) ||
            !Y.compareRelativePositions(Y.createRelativePositionFromJSON(current.head), head)
          ) {
            awareness.setLocalStateField('cursor', { anchor, head })
          }
        } else if (local.cursor != null && hasFocus) {
          awareness.setLocalStateField('cursor', null)
        }
      }

      #remoteDecorations(update: ViewUpdate): Range<Decoration>[] {
        const doc = ytext.doc
        const out: Range<Decoration>[] = []
        if (doc === null) return out
        for (const [clientId, state] of awareness.getStates()) {
          if (clientId === awareness.clientID) continue
          const { cursor, user } = state as { cursor?: CursorState | null; user?: { name?: unknown; color?: unknown; colorLight?: unknown } }
          if (cursor == null || cursor.anchor == null || cursor.head == null) continue
          const anchor = Y.createAbsolutePositionFromRelativePosition(Y.createRelativePositionFromJSON(cursor.anchor), doc)
          const head = Y.createAbsolutePositionFromRelativePosition(Y.createRelativePositionFromJSON(cursor.head), doc)
          if (anchor === null || head === null || anchor.type !== ytext || head.type !== ytext) continue
          const color = typeof user?.color === 'string' ? user.color : '#30bced'
          const name = typeof user?.name === 'string' ? user.name : 'Anonymous'
          const colorLight = typeof user?.colorLight === 'string' ? user.colorLight : `${color}33`
          const length = update.state.doc.length
          const start = Math.min(anchor.index, head.index, length)
          const end = Math.min(Math.max(anchor.index, head.index), length)
          const mark = Decoration.mark({ attributes: { style: `background-color: ${colorLight}` }, class: 'cm-ySelection' })
          const startLine = update.state.doc.lineAt(start)
          const endLine = update.state.doc.lineAt(end)
          if (startLine.number === endLine.number) {
            if (end > start) out.push(mark.range(start, end))
          } else {
            if (startLine.to > start) out.push(mark.range(start, startLine.to))
            if (end > endLine.from) out.push(mark.range(endLine.from, end))
            for (let i = startLine.number + 1; i < endLine.number; i++) {
              const from = update.state.doc.line(i).from
              out.push(Decoration.line({ attributes: { style: `background-color: ${colorLight}`, class: 'cm-yLineSelection' } }).range(from))
            }
          }
          const at = Math.min(head.index, length)
          // Outside the remote selection, so the local cursor is not drawn inside it.
          out.push(Decoration.widget({ side: head.index - anchor.index > 0 ? -1 : 1, block: false, widget: new RemoteCaret(color, name) }).range(at))
        }
        return out
      }
    },
    { decorations: (plugin) => plugin.decorations },
  )
}
