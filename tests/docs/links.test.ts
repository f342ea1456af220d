/**
 * Every relative link in the user-facing documents resolves: the file (or directory) exists in the
 * repository, and a `#fragment` names a heading of the target document. Absolute links (https://…) are
 * not fetched. The documents also cite no file that is missing, and speak to users rather than about
 * the project's history (no issue numbers).
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, test } from 'vitest'
import { DOCUMENTS, ROOT, anchorsOf, linksOf } from './markdown.js'

// Markdown files of the repository (tracked or new), for names a document mentions without a path.
const markdownFiles = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.md'], { cwd: ROOT, encoding: 'utf8' })
  .split('\n')
  .filter((f) => f !== '')

describe.each(DOCUMENTS)('%s', (doc) => {
  test('every relative link resolves', () => {
    const broken: string[] = []
    for (const link of linksOf(doc)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(link.target)) continue // https:, mailto:
      const [file = '', fragment] = link.target.split('#')
      const target = file === '' ? doc : path.posix.normalize(path.posix.join(path.posix.dirname(doc), file))
      const where = `${doc}:${link.line} → ${link.target}`
      if (target.startsWith('..') || !existsSync(path.join(ROOT, target))) {
        broken.push(`${where}: ${target} does not exist`)
        continue
      }
      if (fragment !== undefined && fragment !== '') {
        if (statSync(path.join(ROOT, target)).isDirectory() || !target.endsWith('.md')) broken.push(`${where}: a fragment on a non-Markdown target`)
        else if (!anchorsOf(target).has(fragment)) broken.push(`${where}: ${target} has no heading #${fragment}`)
      }
    }
    expect(broken).toEqual([])
  })

  test('cites no missing Markdown file by name and mentions no issue numbers', () => {
    const text = readFileSync(path.join(ROOT, doc), 'utf8')
    const missing = [...text.matchAll(/\b([A-Za-z0-9_./-]+\.md)\b/g)]
      .map((m) => m[1] ?? '')
      .filter((name) => !/^https?:/.test(name))
      .filter((name) => !markdownFiles.some((f) => f === name || f.endsWith(`/${name}`)))
    expect(missing).toEqual([])
    expect(text).not.toMatch(/\b[Ii]ssue\s*#?\d+/)
    expect(text).not.toMatch(/(^|\s)#\d+\b/m)
  })
})
