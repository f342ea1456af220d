/**
 * The client SDK in real Chromium (playwright-core + Debian's /usr/bin/chromium): a page built with
 * esbuild from the SDK source and yjs, served from 127.0.0.1, edits a room on the real server through
 * the browser's own WebSocket; a Node client sees the edit, and the reverse. The esbuild bundle uses
 * `platform: 'browser'`, so any Node built-in on the SDK's import path fails the build.
 *
 * Without /usr/bin/chromium the suite is skipped with a message, except under CI, where it fails.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { chromium, type Browser, type Page } from 'playwright-core'
import WebSocket from 'ws'
import { TandemClient } from '../../client-sdk/src/index.js'
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
const inCI = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false' && process.env.CI !== '0'
const hasChromium = existsSync(CHROMIUM)
if (!hasChromium && !inCI) {
  console.warn(`[sdk-browser.test] SKIPPED: ${CHROMIUM} is missing (apt-get install -y chromium). Under CI=true this is a failure.`)
}

describe.skipIf(!hasChromium && !inCI)('TandemClient in Chromium', () => {
  let srv: RunningServer
  let web: http.Server
  let pageUrl: string
  let browser: Browser
  const pageErrors: string[] = []

  beforeAll(async () => {
    if (!hasChromium) throw new Error(`CI is set but ${CHROMIUM} is missing: install it with apt-get install -y chromium`)
    const bundle = await build({
      entryPoints: [path.join(FIXTURES, 'sdk-page.ts')],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      write: false,
      logLevel: 'silent',
    })
    const js = bundle.outputFiles[0]?.text ?? ''
    const html = await readFile(path.join(FIXTURES, 'sdk-page.html'), 'utf8')
    web = http.createServer((req, res) => {
      if (req.url === '/') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html)
      else if (req.url === '/sdk-page.js') res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(js)
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

  async function openPage(): Promise<Page> {
    const page = await browser.newPage()
    page.on('pageerror', (err) => pageErrors.push(err.message))
    await page.goto(pageUrl)
    await page.waitForFunction(() => typeof window.tandemTest === 'object')
    return page
  }

  test('a browser page and a Node client edit one room both ways, with presence', async () => {
    const room = `browser-${Date.now().toString(36)}`
    const jwt = await token({ rooms: { [room]: 'write' } })
    const page = await openPage()

    const status = await page.evaluate(([url, t, r]) => window.tandemTest.start(url, t, r), [`${srv.url}/ws`, jwt, room] as const)
    expect(status).toBe('synced')

    const node = new TandemClient({ url: `${srv.url}/ws`, getToken: () => jwt, WebSocket })
    try {
      const provider = node.room(room)
      provider.awareness.setLocalStateField('user', { name: 'node' })
      await provider.whenSynced()
      const nodeText = provider.doc.getText('t')

      // Browser -> Node
      await page.evaluate(() => window.tandemTest.insert(0, 'from the browser'))
      await waitFor(() => nodeText.toString() === 'from the browser', 'Node to receive the browser’s edit')
      expect(await page.evaluate(() => window.tandemTest.whenSaved())).toBe(true)

      // Node -> Browser
      nodeText.insert(0, 'node says hi; ')
      await page.waitForFunction(() => window.tandemTest.text() === 'node says hi; from the browser', undefined, { timeout: 10_000 })
      await provider.whenSaved()

      // Presence both ways
      await waitFor(
        () => [...provider.awareness.getStates().values()].some((s) => (s as { user?: { name?: string } }).user?.name === 'browser'),
        'Node to see the browser’s presence',
      )
      await page.waitForFunction(() => window.tandemTest.peerNames().includes('node'), undefined, { timeout: 10_000 })

      // Leaving the page clears the browser's presence for everyone else.
      const browserIds = [...provider.awareness.getStates().entries()]
        .filter(([, s]) => (s as { user?: { name?: string } }).user?.name === 'browser')
        .map(([id]) => id)
      await page.close()
      await waitFor(() => browserIds.every((id) => !provider.awareness.getStates().has(id)), 'the browser’s presence to go away')

      expect(srv.server.registry.get(room)?.doc.getText('t').toString()).toBe('node says hi; from the browser')
    } finally {
      node.destroy()
    }
    expect(pageErrors).toEqual([])
  })
})
