/**
 * `@tandem/client/react` in real Chromium with React 19: a page bundled with esbuild from the built
 * package (through its exports map), rendered in StrictMode with the development build, opened by two
 * users in two browser contexts against a real server. Checks status, edits both ways, useSaved's
 * false -> true, useOthers, provider sharing, that components do not re-render on unrelated changes, and
 * that unmounting leaves the room.
 *
 * Without /usr/bin/chromium the suite is skipped with a message, except under CI, where it fails.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { existsSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { chromium, type Browser, type Page } from 'playwright-core'
import { startServer, token, waitFor, type RunningServer } from '../helpers/server.js'

const CHROMIUM = '/usr/bin/chromium'
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
]
const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures')
const HTML = '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Tandem React e2e</title><link rel="icon" href="data:,"><script type="module" src="/react-page.js"></script></head><body></body></html>'
const inCI = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false' && process.env.CI !== '0'
const hasChromium = existsSync(CHROMIUM)
if (!hasChromium && !inCI) {
  console.warn(`[react-hooks.test] SKIPPED: ${CHROMIUM} is missing (apt-get install -y chromium). Under CI=true this is a failure.`)
}

describe.skipIf(!hasChromium && !inCI)('@tandem/client/react in Chromium', () => {
  let srv: RunningServer
  let web: http.Server
  let pageUrl: string
  let browser: Browser
  const pageErrors: string[] = []

  beforeAll(async () => {
    if (!hasChromium) throw new Error(`CI is set but ${CHROMIUM} is missing: install it with apt-get install -y chromium`)
    const bundle = await build({
      entryPoints: [path.join(FIXTURES, 'react-page.ts')],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      // React's development build: StrictMode then double-runs effects, which the hooks must survive.
      define: { 'process.env.NODE_ENV': '"development"' },
      write: false,
      logLevel: 'silent',
    })
    const js = bundle.outputFiles[0]?.text ?? ''
    web = http.createServer((req, res) => {
      if (req.url === '/') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(HTML)
      else if (req.url === '/react-page.js') res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(js)
      else res.writeHead(404).end()
    })
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve))
    pageUrl = `http://127.0.0.1:${(web.address() as AddressInfo).port}/`
    srv = await startServer({ TANDEM_STORE: 'memory' })
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
  })

  afterAll(async () => {
    await browser?.close()
    await srv?.stop()
    await new Promise<void>((resolve) => (web ? web.close(() => resolve()) : resolve()))
  })

  /** A page in its own browser context (its own storage, like another user's browser). */
  async function openAs(name: string, room: string): Promise<Page> {
    const context = await browser.newContext()
    const page = await context.newPage()
    page.on('pageerror', (err) => pageErrors.push(`${name}: ${err.message}`))
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageErrors.push(`${name}: console.error: ${msg.text()}`)
    })
    await page.goto(pageUrl)
    await page.waitForFunction(() => typeof window.reactTest === 'object')
    const jwt = await token({ sub: name, name, rooms: { [room]: 'write' } })
    await page.evaluate(([url, t, r, n]) => window.reactTest.start(url, t, r, n), [`${srv.url}/ws`, jwt, room, name] as const)
    return page
  }

  const text = (page: Page): Promise<string> => page.locator('#text').innerText()
  const othersOf = (page: Page): Promise<string[]> => page.locator('#others li').allInnerTexts()

  test('two users: status, edits both ways, saved, others, shared providers, no needless renders', async () => {
    const room = `react-${Date.now().toString(36)}`
    const ada = await openAs('ada', room)
    const bob = await openAs('bob', room)

    for (const page of [ada, bob]) {
      await page.waitForFunction(() => document.querySelector('#status')?.textContent === 'synced', undefined, { timeout: 10_000 })
      // Four components called useRoom(room): one provider, and StrictMode's effect re-run kept it.
      expect(await page.evaluate(() => window.reactTest.sharedProvider())).toBe(true)
    }
    expect(srv.server.connectionCount).toBe(2)

    // Edit in one, shown in the other; useSaved went false, then true once the server stored it.
    await ada.evaluate(() => window.reactTest.insert('hello from ada'))
    await bob.waitForFunction(() => document.querySelector('#text')?.textContent === 'hello from ada', undefined, { timeout: 10_000 })
    await ada.waitForFunction(() => document.querySelector('#saved')?.textContent === 'true', undefined, { timeout: 10_000 })
    const history = await ada.evaluate(() => window.reactTest.savedHistory())
    expect(history.at(-1)).toBe(true)
    expect(history.lastIndexOf(false)).toBeGreaterThan(history.indexOf(true))

    await bob.evaluate(() => window.reactTest.insert('; hi ada'))
    await ada.waitForFunction(() => document.querySelector('#text')?.textContent === 'hello from ada; hi ada', undefined, { timeout: 10_000 })

    // Each sees the other (and not itself) through useOthers.
    await ada.waitForFunction(() => document.querySelector('#others')?.textContent === 'bob', undefined, { timeout: 10_000 })
    await bob.waitForFunction(() => document.querySelector('#others')?.textContent === 'ada', undefined, { timeout: 10_000 })
    expect(await othersOf(ada)).toEqual(['bob'])

    // Unrelated changes: an edit does not re-render the status badge or the others list, and a presence
    // change re-renders the others list but not the status badge or the editor.
    const before = await ada.evaluate(() => window.reactTest.renders())
    await bob.evaluate(() => window.reactTest.insert('!'))
    await ada.waitForFunction(() => document.querySelector('#text')?.textContent === 'hello from ada; hi ada!', undefined, { timeout: 10_000 })
    const afterEdit = await ada.evaluate(() => window.reactTest.renders())
    expect(afterEdit.editor).toBeGreaterThan(before.editor ?? 0)
    expect(afterEdit.status).toBe(before.status)
    expect(afterEdit.others).toBe(before.others)
    expect(afterEdit.presence).toBe(before.presence)

    await bob.evaluate(() => window.reactTest.setPresence({ name: 'bobby' }))
    await ada.waitForFunction(() => document.querySelector('#others')?.textContent === 'bobby', undefined, { timeout: 10_000 })
    const afterPresence = await ada.evaluate(() => window.reactTest.renders())
    expect(afterPresence.others).toBeGreaterThan(afterEdit.others ?? 0)
    expect(afterPresence.status).toBe(before.status)
    expect(afterPresence.editor).toBe(afterEdit.editor)
    expect(afterPresence.presence).toBe(afterEdit.presence)

    // Ada's own presence edit changes her #me but not her others list.
    await ada.evaluate(() => window.reactTest.setPresence({ name: 'ada lovelace' }))
    await ada.waitForFunction(() => document.querySelector('#me')?.textContent === 'ada lovelace', undefined, { timeout: 10_000 })
    await bob.waitForFunction(() => document.querySelector('#others')?.textContent === 'ada lovelace', undefined, { timeout: 10_000 })
    expect((await ada.evaluate(() => window.reactTest.renders())).others).toBe(afterPresence.others)

    // Unmounting the app leaves the room: Bob's list empties, the server drops Ada's socket.
    await ada.evaluate(() => window.reactTest.unmount())
    await bob.waitForFunction(() => document.querySelectorAll('#others li').length === 0, undefined, { timeout: 10_000 })
    await waitFor(() => srv.server.connectionCount === 1, 'Ada’s socket to close after unmount')

    expect(await text(bob)).toBe('hello from ada; hi ada!')
    expect(srv.server.registry.get(room)?.doc.getText('t').toString()).toBe('hello from ada; hi ada!')
    expect(pageErrors).toEqual([])
  })
})
