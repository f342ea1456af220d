/**
 * The demos in real Chromium (playwright-core + Debian's /usr/bin/chromium), against the demo mode that
 * `npm start` runs (examples/start.js as a child process on a free port, SQLite in a temporary
 * directory). For each demo two browser contexts act as two users and each sees the other's change;
 * the webhook bot answers `/roll`; the editor reaches "All changes saved"; chat history and a message
 * written while the server was down survive a restart. Screenshots: test-output/screenshots/.
 *
 * Without /usr/bin/chromium the suite is skipped with a message, except under CI, where it fails.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { ROOT, startDemoProcess, startFrontProxy, type DemoProcess, type FrontProxy } from './demos/harness.js'

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
const SCREENSHOTS = path.join(ROOT, 'test-output', 'screenshots')
const inCI = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false' && process.env.CI !== '0'
const hasChromium = existsSync(CHROMIUM)
if (!hasChromium && !inCI) {
  console.warn(`[demos.test] SKIPPED: ${CHROMIUM} is missing (apt-get install -y chromium). Under CI=true this is a failure.`)
}

/** How long a UI condition may take (webhook round trips included). */
const UI_TIMEOUT = 15_000
const run = Date.now().toString(36)

describe.skipIf(!hasChromium && !inCI)('demos in Chromium', () => {
  let dataDir: string
  let demo: DemoProcess
  let demoUp = false
  /** Pages and requests go through this, so they keep their address across the server restart. */
  let front: FrontProxy
  let browser: Browser
  const contexts: BrowserContext[] = []
  const pageErrors: string[] = []

  beforeAll(async () => {
    if (!hasChromium) throw new Error(`CI is set but ${CHROMIUM} is missing: install it with apt-get install -y chromium`)
    await mkdir(SCREENSHOTS, { recursive: true })
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tandem-demos-'))
    demo = await startDemoProcess(dataDir)
    demoUp = true
    front = await startFrontProxy(() => (demoUp ? demo.port : null))
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
  }, 60_000)

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => {})
    await browser?.close()
    await demo?.stop()
    await front?.close()
    if (dataDir) await rm(dataDir, { recursive: true, force: true })
  })

  /** A fresh browser context (its own localStorage, so its own identity) with one page at `url`. */
  async function openAs(name: string, pathAndHash: string): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1200, height: 760 } })
    contexts.push(context)
    const page = await context.newPage()
    page.on('pageerror', (err) => pageErrors.push(`${name}: ${err.message}`))
    const [pathname, hash = ''] = pathAndHash.split('#')
    await page.goto(`${front.base}${pathname}?name=${encodeURIComponent(name)}${hash ? `#${hash}` : ''}`)
    return page
  }

  async function waitForStatus(page: Page, status: string): Promise<void> {
    await page.waitForFunction((s) => document.getElementById('status')?.dataset.status === s, status, { timeout: UI_TIMEOUT })
  }

  async function shoot(page: Page, file: string): Promise<void> {
    await page.screenshot({ path: path.join(SCREENSHOTS, file) })
  }

  test('the index links to every demo; the token route is limited to demo- rooms', async () => {
    const page = await openAs('Visitor', '/')
    for (const id of ['demo-chat', 'demo-editor', 'demo-whiteboard', 'demo-bot']) {
      await page.locator(`#${id}`).waitFor({ timeout: UI_TIMEOUT })
    }
    await shoot(page, 'index.png')

    const ok = await fetch(`${front.base}/demo/token?room=demo-chat:x&name=Ann`)
    expect(ok.status).toBe(200)
    const { token } = (await ok.json()) as { token: string }
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { rooms: Record<string, string>; exp: number; iat: number; name: string }
    expect(claims.rooms).toEqual({ 'demo-chat:x': 'write' })
    expect(claims.name).toBe('Ann')
    expect(claims.exp - claims.iat).toBeLessThanOrEqual(600)

    const refused = await fetch(`${front.base}/demo/token?room=private-room`)
    expect(refused.status).toBe(403)
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('forbidden')
  })

  test('chat: two users see each other’s messages and typing; the bot answers /roll', async () => {
    const channel = `e2e-${run}`
    const alice = await openAs('Alice', `/chat#${channel}`)
    const bob = await openAs('Bob', `/chat#${channel}`)
    await waitForStatus(alice, 'synced')
    await waitForStatus(bob, 'synced')

    // Presence: each sees the other in "Here now".
    await alice.locator('#people li[data-name="Bob"]').waitFor({ timeout: UI_TIMEOUT })
    await bob.locator('#people li[data-name="Alice"]').waitFor({ timeout: UI_TIMEOUT })

    await alice.locator('#message').fill('Hello from Alice')
    await alice.locator('#message').press('Enter')
    await bob.locator('.message', { hasText: 'Hello from Alice' }).waitFor({ timeout: UI_TIMEOUT })

    // "is typing…" travels through presence.
    await bob.locator('#message').pressSequentially('Hi Al')
    await alice.locator('#typing', { hasText: 'Bob is typing…' }).waitFor({ timeout: UI_TIMEOUT })
    await bob.locator('#message').fill('Hi Alice! Let me roll for it.')
    await bob.locator('#message').press('Enter')
    await alice.locator('.message', { hasText: 'Let me roll for it' }).waitFor({ timeout: UI_TIMEOUT })
    await alice.waitForFunction(() => document.getElementById('typing')?.textContent === '', undefined, { timeout: UI_TIMEOUT })

    // The webhook bot: room.changed -> bot reads the doc over REST -> writes its answer back.
    await bob.locator('#message').fill('/roll')
    await bob.locator('#message').press('Enter')
    const answer = /🎲 Bob rolled a d6: [1-6]/
    await alice.locator('.message.bot', { hasText: answer }).waitFor({ timeout: UI_TIMEOUT })
    await bob.locator('.message.bot', { hasText: answer }).waitFor({ timeout: UI_TIMEOUT })
    await alice.locator('#message').fill('@bot what can you do?')
    await alice.locator('#message').press('Enter')
    await bob.locator('.message.bot', { hasText: "Hi Alice! I'm a webhook bot" }).waitFor({ timeout: UI_TIMEOUT })

    // Own messages lose their "sending…" mark once the server stored them.
    await alice.waitForFunction(() => document.querySelectorAll('.message.pending').length === 0, undefined, { timeout: UI_TIMEOUT })
    await alice.locator('#message').pressSequentially('Nice')
    await bob.locator('#typing', { hasText: 'Alice is typing…' }).waitFor({ timeout: UI_TIMEOUT })
    await shoot(alice, 'chat-alice.png')
    await shoot(bob, 'chat-bob.png')
  }, 60_000)

  test('editor: text and cursors travel both ways; the status line reaches "All changes saved"', async () => {
    const doc = `e2e-${run}`
    const alice = await openAs('Alice', `/editor#${doc}`)
    const bob = await openAs('Bob', `/editor#${doc}`)
    await waitForStatus(alice, 'synced')
    await waitForStatus(bob, 'synced')

    await alice.locator('.cm-content').click()
    await alice.keyboard.type('# Meeting notes\n\nAlice: ship the demos on Friday.\n')
    await bob.locator('.cm-content', { hasText: 'ship the demos on Friday' }).waitFor({ timeout: UI_TIMEOUT })
    // Alice's cursor, with her name, in Bob's editor.
    await bob.locator('.cm-ySelectionInfo', { hasText: 'Alice' }).waitFor({ timeout: UI_TIMEOUT })

    await bob.locator('.cm-content').click()
    await bob.keyboard.press('Control+End')
    await bob.keyboard.type('Bob: I will write the README.')
    await alice.locator('.cm-content', { hasText: 'I will write the README.' }).waitFor({ timeout: UI_TIMEOUT })
    await alice.locator('.cm-ySelectionInfo', { hasText: 'Bob' }).waitFor({ timeout: UI_TIMEOUT })

    // Bob selects his line, so Alice sees a remote selection too.
    await bob.keyboard.press('Shift+Home')
    await alice.locator('.cm-ySelection').first().waitFor({ timeout: UI_TIMEOUT })

    // "All changes saved" only after the server acknowledged the commit of every edit.
    for (const page of [alice, bob]) {
      await page.locator('#save-status[data-state="saved"]', { hasText: 'All changes saved' }).waitFor({ timeout: UI_TIMEOUT })
    }
    // Both editors hold the same text (read without the remote-cursor widgets).
    const [textA, textB] = await Promise.all([alice, bob].map((page) => page.evaluate(editorText)))
    expect(textA).toBe(textB)
    expect(textA).toContain('Bob: I will write the README.')
    await bob.locator('#facepile .avatar').nth(1).waitFor({ timeout: UI_TIMEOUT })
    await shoot(alice, 'editor-alice.png')
    await shoot(bob, 'editor-bob.png')
  }, 60_000)

  test('whiteboard: shapes and pointers travel both ways; undo only undoes your own changes', async () => {
    const board = `e2e-${run}`
    const alice = await openAs('Alice', `/whiteboard#${board}`)
    const bob = await openAs('Bob', `/whiteboard#${board}`)
    await waitForStatus(alice, 'synced')
    await waitForStatus(bob, 'synced')
    const count = (page: Page): Promise<number> => page.locator('#shapes .shape').count()
    const waitCount = (page: Page, n: number): Promise<unknown> =>
      page.waitForFunction((expected) => document.querySelectorAll('#shapes .shape').length === expected, n, { timeout: UI_TIMEOUT })

    // Alice draws a blue rectangle.
    await alice.locator('button.swatch[title="#0090ff"]').click()
    await alice.locator('button[data-tool="rect"]').click()
    await alice.mouse.move(260, 240)
    await alice.mouse.down()
    await alice.mouse.move(360, 300, { steps: 4 })
    await alice.mouse.move(470, 380, { steps: 4 })
    await alice.mouse.up()
    await waitCount(alice, 1)
    await waitCount(bob, 1)
    expect(await bob.locator('#shapes .shape[data-kind="rect"] rect').getAttribute('stroke')).toBe('#0090ff')

    // Bob draws a freehand stroke (the pen is the default tool).
    await bob.mouse.move(620, 260)
    await bob.mouse.down()
    for (let i = 1; i <= 12; i++) await bob.mouse.move(620 + i * 18, 260 + Math.round(Math.sin(i / 2) * 40))
    await bob.mouse.up()
    await waitCount(alice, 2)

    // Live pointers: each sees the other's named cursor.
    await bob.mouse.move(700, 450)
    await alice.locator('.cursor[data-name="Bob"]').waitFor({ timeout: UI_TIMEOUT })
    await alice.mouse.move(420, 470)
    await bob.locator('.cursor[data-name="Alice"]').waitFor({ timeout: UI_TIMEOUT })

    // Alice's undo removes her rectangle, not Bob's stroke; redo brings it back, for both.
    await alice.locator('#undo').click()
    await waitCount(alice, 1)
    await waitCount(bob, 1)
    expect(await bob.locator('#shapes .shape[data-kind="stroke"]').count()).toBe(1)
    await expectDisabled(alice, '#undo')
    await alice.locator('#redo').click()
    await waitCount(bob, 2)
    expect(await count(alice)).toBe(2)

    // Bob adds an ellipse so the screenshots show all three kinds.
    await bob.locator('button.swatch[title="#30a46c"]').click()
    await bob.locator('button[data-tool="ellipse"]').click()
    await bob.mouse.move(560, 420)
    await bob.mouse.down()
    await bob.mouse.move(760, 540, { steps: 5 })
    await bob.mouse.up()
    await waitCount(alice, 3)
    await bob.mouse.move(780, 500)
    await alice.mouse.move(420, 470)
    await alice.locator('.cursor[data-name="Bob"]').waitFor({ timeout: UI_TIMEOUT })
    await shoot(alice, 'whiteboard-alice.png')
    await shoot(bob, 'whiteboard-bob.png')
  }, 60_000)

  // Last: it restarts the server.
  test('chat: history and a message written while the server was down survive a restart', async () => {
    const channel = `restart-${run}`
    const alice = await openAs('Alice', `/chat#${channel}`)
    await waitForStatus(alice, 'synced')
    await alice.locator('#message').fill('Before the restart')
    await alice.locator('#message').press('Enter')
    await alice.waitForFunction(() => document.querySelectorAll('.message.pending').length === 0, undefined, { timeout: UI_TIMEOUT })

    demoUp = false
    expect(await demo.stop()).toBe(0)
    await alice.waitForFunction(() => ['reconnecting', 'offline'].includes(document.getElementById('status')?.dataset.status ?? ''), undefined, {
      timeout: UI_TIMEOUT,
    })
    // Offline: the message stays in the Y.Doc, marked as not yet saved.
    await alice.locator('#message').fill('Written while the server was down')
    await alice.locator('#message').press('Enter')
    await alice.locator('.message.pending', { hasText: 'Written while the server was down' }).waitFor({ timeout: UI_TIMEOUT })
    await shoot(alice, 'chat-offline.png')

    demo = await startDemoProcess(dataDir)
    demoUp = true
    await waitForStatus(alice, 'synced')
    await alice.waitForFunction(() => document.querySelectorAll('.message.pending').length === 0, undefined, { timeout: UI_TIMEOUT })

    const carol = await openAs('Carol', `/chat#${channel}`)
    await waitForStatus(carol, 'synced')
    await carol.locator('.message', { hasText: 'Before the restart' }).waitFor({ timeout: UI_TIMEOUT })
    await carol.locator('.message', { hasText: 'Written while the server was down' }).waitFor({ timeout: UI_TIMEOUT })
    // The channel survived in the directory room too.
    await carol.locator(`#channels a[href="#${channel}"]`).waitFor({ timeout: UI_TIMEOUT })
    expect(pageErrors).toEqual([])
  }, 90_000)
})

async function expectDisabled(page: Page, selector: string): Promise<void> {
  await page.waitForFunction((s) => (document.querySelector(s) as HTMLButtonElement | null)?.disabled === true, selector, { timeout: UI_TIMEOUT })
}

/** The editor's text as the user sees it, minus y-codemirror.next's remote caret widgets. */
function editorText(): string {
  return [...document.querySelectorAll('.cm-content .cm-line')]
    .map((line) => {
      const copy = line.cloneNode(true) as HTMLElement
      for (const caret of copy.querySelectorAll('.cm-ySelectionCaret')) caret.remove()
      return (copy.textContent ?? '').replace(/\u2060/g, '')
    })
    .join('\n')
}
