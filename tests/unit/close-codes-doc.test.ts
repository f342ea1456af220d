/**
 * PROTOCOL.md's close-code table is what client authors code against: it must list exactly the codes the
 * server sends, under the names `CLOSE_CODE` gives them.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, test } from 'vitest'
import { CLOSE_CODE } from '../../server/src/errors.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

test('every close code the server sends is in PROTOCOL.md §6, and the table lists nothing else', () => {
  const text = readFileSync(path.join(ROOT, 'client-sdk/PROTOCOL.md'), 'utf8')
  const section = text.slice(text.indexOf('## 6. Close codes'), text.indexOf('## 7.'))
  const documented = new Map<number, string[]>()
  for (const match of section.matchAll(/^\| (\d{4}) \| ([^|]+) \|/gm)) {
    const names = [...(match[2] ?? '').matchAll(/`([a-z_]+)`/g)].map((m) => m[1] ?? '')
    documented.set(Number(match[1]), names)
  }
  const sent = new Map<number, string[]>()
  for (const [name, code] of Object.entries(CLOSE_CODE)) {
    if (code === CLOSE_CODE.normal || code === CLOSE_CODE.going_away) continue // ordinary disconnects, described below the table
    sent.set(code, [...(sent.get(code) ?? []), name])
  }
  expect(new Map([...documented].sort(([a], [b]) => a - b))).toEqual(new Map([...sent].sort(([a], [b]) => a - b)))
})
