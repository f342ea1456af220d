/**
 * Whiteboard demo: rectangles, ellipses and freehand strokes kept in Yjs types and drawn as SVG, live
 * pointers of everyone on the board (presence), and undo/redo of your own changes only
 * (Y.UndoManager tracking the local origin).
 *
 * Room: `demo-board:<board>` (the board name comes from the URL hash, `#main` by default).
 * Document: `shapes`, a Y.Map from shape id to a Y.Map of fields; strokes keep their points in a
 * Y.Array, so a stroke streams to the others while it is being drawn.
 */
import './style.css'
import * as Y from 'yjs'
import { createClient, identity, mountFacepile, mountNameInput, mountStatus, peopleIn, sharePresence } from '../shared/tandem.js'

type Tool = 'select' | 'pen' | 'rect' | 'ellipse'
type Kind = 'rect' | 'ellipse' | 'stroke'
/** A shape's fields (its Y.Map). `points` (strokes) are x,y pairs relative to (x, y). */
type Shape = Y.Map<unknown>

interface Pointer {
  x: number
  y: number
}

const COLORS = ['#1c1d21', '#e5484d', '#f76b15', '#30a46c', '#0090ff', '#8e4ec6']
const BOARD_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
const SVG_NS = 'http://www.w3.org/2000/svg'
/** Origin of every local change: the UndoManager tracks exactly these, so undo never touches others' work. */
const LOCAL = Symbol('local')

const $ = <T extends Element>(id: string): T => document.getElementById(id) as unknown as T
const board = $<HTMLDivElement>('board')
const canvas = $<SVGSVGElement>('canvas')
const shapesLayer = $<SVGGElement>('shapes')
const selectionLayer = $<SVGGElement>('selection')
const cursorsLayer = $<HTMLDivElement>('cursors')

const boardName = ((): string => {
  const name = decodeURIComponent(location.hash.slice(1))
  return BOARD_PATTERN.test(name) ? name : 'main'
})()
$<HTMLSpanElement>('board-name').textContent = boardName
document.title = `${boardName} · Whiteboard · Tandem demos`

// ---- the room --------------------------------------------------------------------------------------
const client = createClient()
const provider = client.room(`demo-board:${boardName}`)
const doc = provider.doc
const shapes = doc.getMap<Shape>('shapes')
// One undo step per gesture, however long it takes: steps are cut with stopCapturing(), never by time.
const undoManager = new Y.UndoManager(shapes, { trackedOrigins: new Set([LOCAL]), captureTimeout: Number.POSITIVE_INFINITY })
const awareness = provider.awareness
const presence = sharePresence(provider, { pointer: null, selection: null })

const local = (fn: () => void): void => doc.transact(fn, LOCAL)
/** A change that is one undo step by itself (delete, recolour). */
const step = (fn: () => void): void => {
  undoManager.stopCapturing()
  local(fn)
  undoManager.stopCapturing()
}

// ---- tools and colours -------------------------------------------------------------------------------
let tool: Tool = 'pen'
let color = COLORS[0] as string
let selected: string | null = null

function setTool(next: Tool): void {
  tool = next
  board.dataset.tool = next
  for (const button of document.querySelectorAll<HTMLButtonElement>('[data-tool]')) {
    if (button.classList.contains('tool')) button.setAttribute('aria-pressed', String(button.dataset.tool === next))
  }
  if (next !== 'select') select(null)
}

function select(id: string | null): void {
  selected = id
  awareness.setLocalStateField('selection', id)
  $<HTMLButtonElement>('delete').disabled = id === null
  scheduleRender()
}

const swatches = $<HTMLSpanElement>('swatches')
for (const c of COLORS) {
  const b = document.createElement('button')
  b.className = 'swatch'
  b.style.background = c
  b.title = c
  b.setAttribute('aria-label', `Colour ${c}`)
  b.addEventListener('click', () => {
    color = c
    for (const s of swatches.children) s.setAttribute('aria-pressed', String(s === b))
    // Recolour the selected shape, as drawing tools do.
    const shape = selected === null ? undefined : shapes.get(selected)
    if (shape) step(() => shape.set('color', c))
  })
  b.setAttribute('aria-pressed', String(c === color))
  swatches.append(b)
}

for (const button of document.querySelectorAll<HTMLButtonElement>('button.tool[data-tool]')) {
  button.addEventListener('click', () => setTool(button.dataset.tool as Tool))
}
setTool('pen')

// ---- undo / redo / delete -------------------------------------------------------------------------------
const undoButton = $<HTMLButtonElement>('undo')
const redoButton = $<HTMLButtonElement>('redo')
function renderUndo(): void {
  undoButton.disabled = undoManager.undoStack.length === 0
  redoButton.disabled = undoManager.redoStack.length === 0
}
undoManager.on('stack-item-added', renderUndo)
undoManager.on('stack-item-popped', renderUndo)
undoManager.on('stack-cleared', renderUndo)
undoButton.addEventListener('click', () => undoManager.undo())
redoButton.addEventListener('click', () => undoManager.redo())

function deleteSelected(): void {
  if (selected === null) return
  const id = selected
  select(null)
  step(() => shapes.delete(id))
}
$<HTMLButtonElement>('delete').addEventListener('click', deleteSelected)

window.addEventListener('keydown', (event) => {
  const target = event.target as HTMLElement | null
  if (target && (target.tagName === 'INPUT' || target.isContentEditable)) return
  const mod = event.ctrlKey || event.metaKey
  const key = event.key.toLowerCase()
  if (mod && key === 'z') {
    event.preventDefault()
    if (event.shiftKey) undoManager.redo()
    else undoManager.undo()
  } else if (mod && key === 'y') {
    event.preventDefault()
    undoManager.redo()
  } else if (!mod && (key === 'delete' || key === 'backspace')) {
    deleteSelected()
  } else if (!mod && key === 'escape') {
    select(null)
  } else if (!mod) {
    const tools: Record<string, Tool> = { v: 'select', p: 'pen', r: 'rect', o: 'ellipse' }
    const next = tools[key]
    if (next) setTool(next)
  }
})

// ---- drawing ---------------------------------------------------------------------------------------
type Drag =
  | { kind: 'stroke'; shape: Shape; points: Y.Array<number>; ox: number; oy: number; lastX: number; lastY: number }
  | { kind: 'box'; id: string; shape: Shape }
  | { kind: 'move'; shape: Shape; startX: number; startY: number; fromX: number; fromY: number }

let drag: Drag | null = null

function boardPoint(event: PointerEvent): Pointer {
  const rect = board.getBoundingClientRect()
  return { x: Math.round(event.clientX - rect.left), y: Math.round(event.clientY - rect.top) }
}

function newId(): string {
  return `s_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
}

function createShape(kind: Kind, p: Pointer): { id: string; shape: Shape } {
  const shape = new Y.Map<unknown>()
  const id = newId()
  local(() => {
    shape.set('kind', kind)
    shape.set('x', p.x)
    shape.set('y', p.y)
    shape.set('color', color)
    shape.set('by', identity().id)
    // Paint order: creation time (ties broken by id).
    shape.set('z', Date.now())
    if (kind === 'stroke') {
      const points = new Y.Array<number>()
      points.push([0, 0])
      shape.set('points', points)
    } else {
      shape.set('w', 0)
      shape.set('h', 0)
    }
    shapes.set(id, shape)
  })
  return { id, shape }
}

canvas.addEventListener('pointerdown', (event) => {
  if (event.button !== 0) return
  const p = boardPoint(event)
  canvas.setPointerCapture(event.pointerId)
  undoManager.stopCapturing() // every gesture is its own undo step
  if (tool === 'select') {
    const el = (event.target as Element).closest<SVGGElement>('.shape')
    const id = el?.dataset.id ?? null
    const shape = id === null ? undefined : shapes.get(id)
    select(shape ? id : null)
    if (shape) drag = { kind: 'move', shape, startX: p.x, startY: p.y, fromX: Number(shape.get('x')), fromY: Number(shape.get('y')) }
    return
  }
  if (tool === 'pen') {
    const { shape } = createShape('stroke', p)
    drag = { kind: 'stroke', shape, points: shape.get('points') as Y.Array<number>, ox: p.x, oy: p.y, lastX: p.x, lastY: p.y }
  } else {
    drag = { kind: 'box', ...createShape(tool, p) }
  }
})

canvas.addEventListener('pointermove', (event) => {
  const p = boardPoint(event)
  publishPointer(p)
  if (drag === null) return
  const d = drag
  if (d.kind === 'stroke') {
    if (Math.hypot(p.x - d.lastX, p.y - d.lastY) < 2) return
    d.lastX = p.x
    d.lastY = p.y
    local(() => d.points.push([p.x - d.ox, p.y - d.oy]))
  } else if (d.kind === 'box') {
    local(() => {
      d.shape.set('w', p.x - Number(d.shape.get('x')))
      d.shape.set('h', p.y - Number(d.shape.get('y')))
    })
  } else {
    local(() => {
      d.shape.set('x', d.fromX + p.x - d.startX)
      d.shape.set('y', d.fromY + p.y - d.startY)
    })
  }
})

function endDrag(event: PointerEvent): void {
  if (canvas.hasPointerCapture(event.pointerId)) canvas.releasePointerCapture(event.pointerId)
  const d = drag
  drag = null
  if (d === null) return
  if (d.kind === 'box') {
    const { id, shape } = d
    const x = Number(shape.get('x'))
    const y = Number(shape.get('y'))
    const w = Number(shape.get('w'))
    const h = Number(shape.get('h'))
    local(() => {
      if (Math.abs(w) < 4 && Math.abs(h) < 4) {
        // A click, not a drag: drop the empty shape (same undo step, so undo sees nothing).
        shapes.delete(id)
        return
      }
      // Store boxes normalised: x/y is the top-left corner.
      shape.set('x', Math.min(x, x + w))
      shape.set('y', Math.min(y, y + h))
      shape.set('w', Math.abs(w))
      shape.set('h', Math.abs(h))
    })
  }
  undoManager.stopCapturing()
}
canvas.addEventListener('pointerup', endDrag)
canvas.addEventListener('pointercancel', endDrag)

// ---- live pointers ------------------------------------------------------------------------------------
let pendingPointer: Pointer | null | undefined
function publishPointer(p: Pointer | null): void {
  // At most one presence update per frame.
  if (pendingPointer === undefined) {
    requestAnimationFrame(() => {
      awareness.setLocalStateField('pointer', pendingPointer ?? null)
      pendingPointer = undefined
    })
  }
  pendingPointer = p
}
board.addEventListener('pointerleave', () => publishPointer(null))

const cursorEls = new Map<number, HTMLDivElement>()
function renderCursors(): void {
  const seen = new Set<number>()
  for (const { clientId, user, self, state } of peopleIn(provider)) {
    const pointer = state.pointer as Pointer | null | undefined
    if (self || !pointer) continue
    seen.add(clientId)
    let el = cursorEls.get(clientId)
    if (!el) {
      el = document.createElement('div')
      el.className = 'cursor'
      el.innerHTML =
        '<svg viewBox="0 0 18 22"><path d="M1 1v17l4.6-4.3 3.1 7 3-1.3-3-6.9H15z" stroke="#fff" stroke-width="1.5" stroke-linejoin="round"/></svg><span class="label"></span>'
      cursorsLayer.append(el)
      cursorEls.set(clientId, el)
    }
    el.querySelector('path')?.setAttribute('fill', user.color)
    const label = el.querySelector<HTMLSpanElement>('.label')
    if (label) {
      label.textContent = user.name
      label.style.background = user.color
    }
    el.dataset.name = user.name
    el.style.transform = `translate(${pointer.x - 1}px, ${pointer.y - 1}px)`
  }
  for (const [clientId, el] of cursorEls) {
    if (!seen.has(clientId)) {
      el.remove()
      cursorEls.delete(clientId)
    }
  }
}
awareness.on('change', () => {
  renderCursors()
  scheduleRender() // remote selections
})

// ---- rendering the shapes ---------------------------------------------------------------------------------
const nodes = new Map<string, SVGGElement>()
let frame = 0

function scheduleRender(): void {
  if (frame === 0) frame = requestAnimationFrame(render)
}
shapes.observeDeep(scheduleRender)

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number> = {}): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag)
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v))
  return el
}

function strokePath(points: number[]): string {
  if (points.length < 2) return ''
  const x0 = points[0] as number
  const y0 = points[1] as number
  if (points.length === 2) return `M${x0} ${y0}l0.01 0` // a dot
  let d = `M${x0} ${y0}`
  // Quadratic curves through the midpoints: smooth without extra points.
  for (let i = 2; i + 3 < points.length; i += 2) {
    const x = points[i] as number
    const y = points[i + 1] as number
    const nx = points[i + 2] as number
    const ny = points[i + 3] as number
    d += `Q${x} ${y} ${(x + nx) / 2} ${(y + ny) / 2}`
  }
  d += `L${points[points.length - 2]} ${points[points.length - 1]}`
  return d
}

function updateNode(g: SVGGElement, shape: Shape): void {
  const kind = shape.get('kind') as Kind
  const c = String(shape.get('color') ?? COLORS[0])
  g.setAttribute('transform', `translate(${Number(shape.get('x'))} ${Number(shape.get('y'))})`)
  if (kind === 'stroke') {
    const d = strokePath((shape.get('points') as Y.Array<number> | undefined)?.toArray() ?? [])
    let [hit, line] = [g.children[0], g.children[1]]
    if (!hit || !line) {
      hit = svg('path', { fill: 'none', stroke: 'transparent', 'stroke-width': 14, 'stroke-linecap': 'round', 'stroke-linejoin': 'round' })
      line = svg('path', { fill: 'none', 'stroke-width': 3, 'stroke-linecap': 'round', 'stroke-linejoin': 'round' })
      g.replaceChildren(hit, line)
    }
    hit.setAttribute('d', d)
    line.setAttribute('d', d)
    line.setAttribute('stroke', c)
    return
  }
  const w = Number(shape.get('w'))
  const h = Number(shape.get('h'))
  const x = Math.min(0, w)
  const y = Math.min(0, h)
  let el = g.children[0]
  if (!el) {
    el = kind === 'ellipse' ? svg('ellipse') : svg('rect', { rx: 6 })
    el.setAttribute('stroke-width', '2.5')
    g.replaceChildren(el)
  }
  if (kind === 'ellipse') {
    el.setAttribute('cx', String(x + Math.abs(w) / 2))
    el.setAttribute('cy', String(y + Math.abs(h) / 2))
    el.setAttribute('rx', String(Math.abs(w) / 2))
    el.setAttribute('ry', String(Math.abs(h) / 2))
  } else {
    el.setAttribute('x', String(x))
    el.setAttribute('y', String(y))
    el.setAttribute('width', String(Math.abs(w)))
    el.setAttribute('height', String(Math.abs(h)))
  }
  el.setAttribute('stroke', c)
  el.setAttribute('fill', `${c}1f`)
}

function render(): void {
  frame = 0
  const ordered = [...shapes.entries()].sort(([a, sa], [b, sb]) => Number(sa.get('z')) - Number(sb.get('z')) || (a < b ? -1 : 1))
  for (const [id, shape] of ordered) {
    let g = nodes.get(id)
    if (!g) {
      g = svg('g', { class: 'shape' })
      g.dataset.id = id
      g.dataset.kind = String(shape.get('kind'))
      nodes.set(id, g)
    }
    updateNode(g, shape)
    shapesLayer.append(g) // (re)appending keeps the DOM in paint order
  }
  for (const [id, g] of nodes) {
    if (!shapes.has(id)) {
      g.remove()
      nodes.delete(id)
    }
  }
  if (selected !== null && !shapes.has(selected)) select(null)

  // Selection outlines: yours dashed in accent, others' in their colour.
  const outlines: SVGRectElement[] = []
  const outline = (id: string, stroke: string): void => {
    const g = nodes.get(id)
    if (!g) return
    const box = g.getBBox()
    const shape = shapes.get(id)
    const tx = Number(shape?.get('x'))
    const ty = Number(shape?.get('y'))
    outlines.push(svg('rect', { class: 'selection-box', x: tx + box.x - 6, y: ty + box.y - 6, width: box.width + 12, height: box.height + 12, rx: 6, stroke }))
  }
  if (selected !== null) outline(selected, '#4f5bd5')
  for (const { self, user, state } of peopleIn(provider)) {
    if (!self && typeof state.selection === 'string') outline(state.selection, user.color)
  }
  selectionLayer.replaceChildren(...outlines)

  $<HTMLParagraphElement>('empty').hidden = shapes.size > 0
  $<HTMLSpanElement>('shape-count').textContent = `${shapes.size} ${shapes.size === 1 ? 'shape' : 'shapes'}`
}

// ---- chrome ---------------------------------------------------------------------------------------------
mountStatus($<HTMLSpanElement>('status'), provider)
mountFacepile($<HTMLDivElement>('facepile'), provider)
mountNameInput($<HTMLInputElement>('me-name'), () => presence.refresh())
window.addEventListener('hashchange', () => location.reload())
render()
