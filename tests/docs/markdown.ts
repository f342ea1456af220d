/**
 * The user-facing documents as the docs tests read them: their fenced code blocks, each named by the
 * `<!-- snippet: name -->` comment on the line before it (invisible once rendered), and their relative
 * links.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

/** Every document whose snippets are run and whose links are checked (paths from the repository root). */
export const DOCUMENTS = ['README.md', 'client-sdk/README.md', 'examples/README.md', 'docs/deployment.md', 'docs/cluster.md', 'docs/beyond-one-redis-and-one-postgres.md']

export interface Snippet {
  /** The marker's name; null for a block without a marker (a test failure, except for `text` blocks). */
  name: string | null
  /** The fence's info string: `js`, `ts`, `tsx`, `sh`, `json`, `nginx`, … */
  lang: string
  /** The block's content, with the fence's indentation removed. */
  code: string
  doc: string
  line: number
}

const FENCE = /^(\s*)```(\S*)\s*$/
const MARKER = /^\s*<!-- snippet: ([a-z0-9-]+) -->\s*$/

export function snippetsOf(doc: string): Snippet[] {
  const lines = readFileSync(path.join(ROOT, doc), 'utf8').split('\n')
  const found: Snippet[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i] ?? '')
    if (!open) continue
    const indent = open[1] ?? ''
    const body: string[] = []
    let j = i + 1
    for (; j < lines.length && !/^\s*```\s*$/.test(lines[j] ?? ''); j++) body.push((lines[j] ?? '').slice(indent.length))
    const marker = MARKER.exec(lines[i - 1] ?? '')
    found.push({ name: marker?.[1] ?? null, lang: open[2] ?? '', code: body.join('\n') + '\n', doc, line: i + 1 })
    i = j
  }
  return found
}

export function allSnippets(): Snippet[] {
  return DOCUMENTS.flatMap(snippetsOf)
}

/** The one snippet with this name (throws when it is missing or named twice). */
export function snippet(name: string): Snippet {
  const matches = allSnippets().filter((s) => s.name === name)
  if (matches.length !== 1) throw new Error(`expected one snippet named ${name}, found ${matches.length}`)
  return matches[0] as Snippet
}

export interface Link {
  doc: string
  line: number
  target: string
}

/** Markdown links `[text](target)` outside code blocks and inline code. */
export function linksOf(doc: string): Link[] {
  const lines = readFileSync(path.join(ROOT, doc), 'utf8').split('\n')
  const links: Link[] = []
  let inFence = false
  lines.forEach((raw, i) => {
    if (/^\s*```/.test(raw)) inFence = !inFence
    if (inFence) return
    const line = raw.replace(/`[^`]*`/g, '')
    for (const m of line.matchAll(/\]\(([^)\s]+)\)/g)) links.push({ doc, line: i + 1, target: m[1] ?? '' })
  })
  return links
}

/** GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens. */
export function anchorsOf(doc: string): Set<string> {
  const anchors = new Set<string>()
  let inFence = false
  for (const line of readFileSync(path.join(ROOT, doc), 'utf8').split('\n')) {
    if (/^\s*```/.test(line)) inFence = !inFence
    const m = inFence ? null : /^#{1,6}\s+(.*)$/.exec(line)
    if (!m) continue
    const text = (m[1] ?? '').replace(/`/g, '').trim().toLowerCase()
    anchors.add(text.replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-'))
  }
  return anchors
}
