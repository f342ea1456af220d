/**
 * The demos in real Chromium (playwright-core + Debian's /usr/bin/chromium), against the demo mode that
 * `npm start` runs (examples/start.js as a child process on a free port, SQLite in a temporary
 * directory). For each demo two browser contexts act as two users and each sees the other's change;
 * the webhook bot answers `/roll`; the editors and the whiteboard reach "saved"; two tabs of one browser
 * are two people with distinct colours; the pages work at 390 px wide; chat history, a message written
 * while the server was down and the bot's memory of whom it welcomed survive a restart.
 * Screenshots: test-output/screenshots/.
 *
 * Without /usr/bin/chromium the suite is skipped with a message, except under CI, where it fails.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core'
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

/** A rich-text node's text as its reader sees it: other users' carets (name labels included) sit inside the text and are left out. */
const proseText = (node: Locator): Promise<string> =>
  node.evaluate((element) => {
    const copy = element.cloneNode(true) as HTMLElement
    for (const caret of copy.querySelectorAll('.collaboration-carets__caret')) caret.remove()
    return copy.textContent ?? ''
  })

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

  async function newContext(viewport = { width: 1200, height: 760 }): Promise<BrowserContext> {
    const context = await browser.newContext({ viewport })
    contexts.push(context)
    return context
  }

  /** A new tab in `context` at `pathAndHash`, with `?name=` when `name` is given. */
  async function openIn(context: BrowserContext, label: string, pathAndHash: string, name: string | null = label): Promise<Page> {
    const page = await context.newPage()
    page.on('pageerror', (err) => pageErrors.push(`${label}: ${err.message}`))
    const [pathname, hash = ''] = pathAndHash.split('#')
    await page.goto(`${front.base}${pathname}${name === null ? '' : `?name=${encodeURIComponent(name)}`}${hash ? `#${hash}` : ''}`)
    return page
  }

  /** A fresh browser context (so its own identity) with one page at `pathAndHash`. */
  async function openAs(name: string, pathAndHash: string, viewport?: { width: number; height: number }): Promise<Page> {
    return openIn(await newContext(viewport), name, pathAndHash)
  }

  /** The identity a tab keeps in sessionStorage. */
  async function identityOf(page: Page): Promise<{ id: string; name: string }> {
    return page.evaluate(() => JSON.parse(sessionStorage.getItem('tandem-demo-identity') ?? 'null') as { id: string; name: string })
  }

  async function waitForStatus(page: Page, status: string): Promise<void> {
    await page.waitForFunction((s) => document.getElementById('status')?.dataset.status === s, status, { timeout: UI_TIMEOUT })
  }

  async function shoot(page: Page, file: string): Promise<void> {
    await page.screenshot({ path: path.join(SCREENSHOTS, file) })
  }

  test('the index links to every demo; the token route is limited to demo- rooms', async () => {
    const page = await openAs('Visitor', '/')
    for (const id of ['demo-chat', 'demo-editor', 'demo-richtext', 'demo-whiteboard', 'demo-bot']) {
      await page.locator(`#${id}`).waitFor({ timeout: UI_TIMEOUT })
    }
    // Demo mode listens on loopback: the page says so and how to open it up, not "send the link".
    const text = (await page.locator('body').textContent()) ?? ''
    expect(text).not.toMatch(/send the link/i)
    expect(text).toContain('127.0.0.1')
    expect(text).toContain('npm start -- --host 0.0.0.0')
    for (const pathname of ['/chat', '/editor', '/richtext', '/whiteboard']) expect((await fetch(`${front.base}${pathname}`)).status).toBe(200)
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

  test('editor history: Alice saves a version and restores it; Bob’s editor shows the restored text without a reload', async () => {
    const doc = `history-${run}`
    const alice = await openAs('Alice', `/editor#${doc}`)
    const bob = await openAs('Bob', `/editor#${doc}`)
    await waitForStatus(alice, 'synced')
    await waitForStatus(bob, 'synced')

    await alice.locator('.cm-content').click()
    await alice.keyboard.type('First draft of the plan.')
    await alice.locator('#save-status[data-state="saved"]').waitFor({ timeout: UI_TIMEOUT })
    await alice.locator('#history-toggle').click()
    await alice.locator('.history-save input').fill('First draft')
    await alice.locator('.history-save button').click()
    await alice.locator('.history-item', { hasText: 'First draft' }).waitFor({ timeout: UI_TIMEOUT })
    await expect(alice.locator('.history-item', { hasText: 'First draft' }).locator('.history-item-meta').textContent()).resolves.toContain('Alice')

    await bob.locator('.cm-content', { hasText: 'First draft of the plan.' }).waitFor({ timeout: UI_TIMEOUT })
    await bob.locator('.cm-content').click()
    await bob.keyboard.press('Control+End')
    await bob.keyboard.type(' Bob rewrote the ending.')
    await alice.locator('.cm-content', { hasText: 'Bob rewrote the ending.' }).waitFor({ timeout: UI_TIMEOUT })
    await bob.locator('#save-status[data-state="saved"]').waitFor({ timeout: UI_TIMEOUT })
    // Marks Bob's page, so a reload (which would clear it) cannot pass for a live change.
    await bob.evaluate(() => ((window as unknown as { historyMarker: number }).historyMarker = 42))

    // The preview is read-only and shows the version, not the live text.
    await alice.locator('.history-item', { hasText: 'First draft' }).click()
    await alice.locator('.history-preview-text', { hasText: 'First draft of the plan.' }).waitFor({ timeout: UI_TIMEOUT })
    expect(await alice.locator('.history-preview-text').textContent()).toBe('First draft of the plan.')
    await shoot(alice, 'editor-history-preview.png')
    await alice.locator('.history-restore').click()

    await bob.waitForFunction(() => !(document.querySelector('.cm-content')?.textContent ?? '').includes('Bob rewrote the ending.'), undefined, { timeout: UI_TIMEOUT })
    for (const page of [alice, bob]) expect(await page.evaluate(editorText)).toBe('First draft of the plan.')
    expect(await bob.evaluate(() => (window as unknown as { historyMarker?: number }).historyMarker)).toBe(42)
    // Bob is told what happened; Alice's list gained the version that undoes the restore.
    await bob.locator('#history .history-notice', { hasText: 'restored an earlier version' }).waitFor({ state: 'attached', timeout: UI_TIMEOUT })
    await alice.locator('.history-item[data-kind="before-restore"]').waitFor({ timeout: UI_TIMEOUT })
    await shoot(alice, 'editor-history-alice.png')
    await shoot(bob, 'editor-history-bob.png')
  }, 60_000)

  test('whiteboard: shapes and pointers travel both ways; undo only undoes your own changes', async () => {
    const board = `e2e-${run}`
    const alice = await openAs('Alice', `/whiteboard#${board}`)
    const bob = await openAs('Bob', `/whiteboard#${board}`)
    await waitForStatus(alice, 'synced')
    await waitForStatus(bob, 'synced')
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
    // Each page renders in its own animation frame: wait for both rather than read one after the other.
    await waitCount(bob, 2)
    await waitCount(alice, 2)

    // The shared status pill tells the whiteboard's saved state too.
    for (const page of [alice, bob]) await page.locator('#status[data-saved="saved"]', { hasText: 'Saved' }).waitFor({ timeout: UI_TIMEOUT })

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

  test('identity: two tabs of one browser are two people, each stable across its reloads; ?name= wins', async () => {
    const channel = `tabs-${run}`
    const context = await newContext()
    const first = await openIn(context, 'tab 1', `/chat#${channel}`, null)
    const second = await openIn(context, 'tab 2', `/chat#${channel}`, null)
    await waitForStatus(first, 'synced')
    await waitForStatus(second, 'synced')
    const [a, b] = [await identityOf(first), await identityOf(second)]
    expect(a.id).not.toBe(b.id)
    expect(a.name).not.toBe('')
    // Each tab lists the other as someone else, in another colour.
    for (const page of [first, second]) {
      await page.waitForFunction(() => document.querySelectorAll('#people li').length === 2, undefined, { timeout: UI_TIMEOUT })
    }
    // Two people whose preferred colours collide settle on distinct ones once each sees the other: poll.
    const colours = (): Promise<string[]> => first.locator('#people li .avatar').evaluateAll((els) => els.map((el) => (el as HTMLElement).style.backgroundColor))
    await expect.poll(async () => new Set(await colours()).size, { timeout: UI_TIMEOUT }).toBe(2)

    // A reload keeps the tab's person.
    await first.reload()
    await waitForStatus(first, 'synced')
    expect(await identityOf(first)).toEqual(a)
    expect(await first.locator('#me-name').inputValue()).toBe(a.name)

    // ?name= overrides the stored name.
    await first.goto(`${front.base}/chat?name=Zed#${channel}`)
    await waitForStatus(first, 'synced')
    expect(await first.locator('#me-name').inputValue()).toBe('Zed')
    expect((await identityOf(first)).id).toBe(a.id)

    // "Duplicate tab" copies sessionStorage: the copy notices the original and becomes someone new.
    const copy = await context.newPage()
    copy.on('pageerror', (err) => pageErrors.push(`copy: ${err.message}`))
    await copy.addInitScript((stored) => {
      if (sessionStorage.getItem('e2e-copied') !== null) return
      sessionStorage.setItem('e2e-copied', '1')
      sessionStorage.setItem('tandem-demo-identity', stored)
    }, JSON.stringify(b))
    await copy.goto(`${front.base}/chat#${channel}`)
    await copy.waitForFunction((id) => {
      const raw = sessionStorage.getItem('tandem-demo-identity')
      return raw !== null && (JSON.parse(raw) as { id: string }).id !== id
    }, b.id, { timeout: UI_TIMEOUT })
    await waitForStatus(copy, 'synced')
    await second.waitForFunction(() => document.querySelectorAll('#people li').length === 3, undefined, { timeout: UI_TIMEOUT })
    expect((await identityOf(second)).id).toBe(b.id)
  }, 60_000)

  test('editor: people who prefer one colour get distinct ones; caret labels follow names', async () => {
    const doc = `colours-${run}`
    // Three ids that hash to the same palette slot, so all three prefer the same colour.
    const ids = sameSlotIds(3)
    const people: Page[] = []
    for (const [i, name] of ['Alice', 'Bob', 'Carol'].entries()) {
      const context = await newContext()
      await context.addInitScript((identity) => {
        if (sessionStorage.getItem('tandem-demo-identity') === null) sessionStorage.setItem('tandem-demo-identity', identity)
      }, JSON.stringify({ id: ids[i], name }))
      const page = await openIn(context, name, `/editor#${doc}`)
      await waitForStatus(page, 'synced')
      people.push(page)
    }
    const [alice, bob, carol] = people as [Page, Page, Page]
    for (const page of people) await page.waitForFunction(() => document.querySelectorAll('#facepile .avatar').length === 3, undefined, { timeout: UI_TIMEOUT })
    const colours = async (page: Page): Promise<Record<string, string>> =>
      Object.fromEntries(
        await page.locator('#facepile .avatar').evaluateAll((els) => els.map((el) => [(el as HTMLElement).title.replace(/ \(you\)$/, ''), (el as HTMLElement).style.backgroundColor])),
      ) as Record<string, string>
    // Everyone settles on three different colours, and all agree who has which.
    await expect.poll(async () => new Set(Object.values(await colours(alice))).size, { timeout: UI_TIMEOUT }).toBe(3)
    const seen = await colours(alice)
    await expect.poll(() => colours(bob), { timeout: UI_TIMEOUT }).toEqual(seen)
    await expect.poll(() => colours(carol), { timeout: UI_TIMEOUT }).toEqual(seen)

    await alice.locator('.cm-content').click()
    await alice.keyboard.type('Alice was here.\n')
    await bob.locator('.cm-content', { hasText: 'Alice was here.' }).waitFor({ timeout: UI_TIMEOUT })
    await bob.locator('.cm-content').click()
    await bob.keyboard.press('Control+End')
    await bob.keyboard.type('Bob too.')
    // Carol sees two carets, each labelled with its owner's name in its owner's colour.
    const label = (page: Page, name: string) => page.locator('.cm-ySelectionInfo', { hasText: new RegExp(`^${name}$`) })
    await label(carol, 'Alice').waitFor({ timeout: UI_TIMEOUT })
    await label(carol, 'Bob').waitFor({ timeout: UI_TIMEOUT })
    const caretColour = (page: Page, name: string): Promise<string> =>
      label(page, name).evaluate((el) => (el.parentElement as HTMLElement).style.backgroundColor)
    expect(await caretColour(carol, 'Alice')).toBe(seen.Alice)
    expect(await caretColour(carol, 'Bob')).toBe(seen.Bob)
    expect(await carol.locator('.cm-ySelectionInfo').count()).toBe(2)

    // A rename reaches the label (same colour, new name: the caret must be redrawn).
    await bob.locator('#me-name').fill('Robert')
    await bob.locator('#me-name').press('Enter')
    await label(carol, 'Robert').waitFor({ timeout: UI_TIMEOUT })
    await label(alice, 'Robert').waitFor({ timeout: UI_TIMEOUT })
    expect(await label(carol, 'Bob').count()).toBe(0)
    await shoot(carol, 'editor-colours-carol.png')
  }, 60_000)

  test('rich text (Tiptap): bold travels with its marks, carets are named, undo is your own, "Saved"', async () => {
    const doc = `e2e-${run}`
    const alice = await openAs('Alice', `/richtext#${doc}`)
    const bob = await openAs('Bob', `/richtext#${doc}`)
    await waitForStatus(alice, 'synced')
    await waitForStatus(bob, 'synced')

    await alice.locator('.ProseMirror').click()
    await alice.keyboard.type('Plain, then ')
    await alice.keyboard.press('Control+b')
    await alice.keyboard.type('bold words')
    await alice.keyboard.press('Control+b')
    await alice.keyboard.type(', then plain again.')
    // Bob gets the same marks: the bold run and only it.
    await bob.locator('.ProseMirror strong', { hasText: 'bold words' }).waitFor({ timeout: UI_TIMEOUT })
    await expect.poll(() => proseText(bob.locator('.ProseMirror p').first()), { timeout: UI_TIMEOUT }).toBe('Plain, then bold words, then plain again.')
    expect(await Promise.all((await bob.locator('.ProseMirror strong').all()).map(proseText))).toEqual(['bold words'])
    // Alice's caret, with her name, in Bob's editor.
    await bob.locator('.collaboration-carets__label', { hasText: 'Alice' }).waitFor({ timeout: UI_TIMEOUT })

    // Bob writes a heading with the toolbar; Alice sees it and Bob's named caret.
    await bob.locator('.ProseMirror').click()
    await bob.keyboard.press('Control+End')
    await bob.keyboard.press('Enter')
    await bob.locator('button[data-command="h2"]').click()
    await bob.keyboard.type('Bob was here')
    await alice.locator('.ProseMirror h2', { hasText: 'Bob was here' }).waitFor({ timeout: UI_TIMEOUT })
    await alice.locator('.collaboration-carets__label', { hasText: 'Bob' }).waitFor({ timeout: UI_TIMEOUT })

    for (const page of [alice, bob]) await page.locator('#status[data-saved="saved"]', { hasText: 'Saved' }).waitFor({ timeout: UI_TIMEOUT })
    // A rename shows on the caret (Tiptap hides a caret while its editor has no focus).
    await alice.locator('#me-name').fill('Alicia')
    await alice.locator('#me-name').press('Enter')
    await alice.locator('.ProseMirror').click()
    await bob.locator('.collaboration-carets__label', { hasText: 'Alicia' }).waitFor({ timeout: UI_TIMEOUT })
    await shoot(alice, 'richtext-alice.png')
    await shoot(bob, 'richtext-bob.png')

    // Collaboration's undo (StarterKit's own is off): Alice undoes all of hers, Bob's heading stays.
    await alice.locator('.ProseMirror').click()
    const undo = alice.locator('button[data-command="undo"]')
    for (let i = 0; i < 20 && !(await undo.isDisabled()); i++) await undo.click()
    await expectDisabled(alice, 'button[data-command="undo"]')
    await bob.waitForFunction(() => !(document.querySelector('.ProseMirror')?.textContent ?? '').includes('bold words'), undefined, { timeout: UI_TIMEOUT })
    expect(await proseText(bob.locator('.ProseMirror h2'))).toContain('Bob was here')
    for (const page of [alice, bob]) await page.locator('#status[data-saved="saved"]').waitFor({ timeout: UI_TIMEOUT })
  }, 60_000)

  test('at 390 px wide: chat’s sidebar is behind a toggle; whiteboard and editor panels do not overlap', async () => {
    const phone = { width: 390, height: 844 }
    const channel = `phone-${run}`
    const chat = await openAs('Pat', `/chat#${channel}`, phone)
    await waitForStatus(chat, 'synced')
    expect(await chat.locator('#sidebar').isVisible()).toBe(false)
    await expectLaidOut(chat, ['#sidebar-toggle', '#channel-title', '#status', '#message', '#composer button'], phone)
    await chat.locator('#sidebar-toggle').click()
    await expectLaidOut(chat, ['#channels', '#people', '#me-name'], phone)
    await chat.locator('#people li[data-name="Pat"]').waitFor({ timeout: UI_TIMEOUT })
    expect(await chat.locator('#sidebar-toggle').getAttribute('aria-expanded')).toBe('true')
    await shoot(chat, 'chat-phone-sidebar.png')
    // Picking a channel closes the sidebar and opens the channel.
    await chat.locator('#channels a[href="#random"]').click()
    await chat.waitForFunction(() => document.getElementById('channel-title')?.textContent === '#random', undefined, { timeout: UI_TIMEOUT })
    await chat.locator('#sidebar').waitFor({ state: 'hidden', timeout: UI_TIMEOUT })
    await shoot(chat, 'chat-phone.png')

    const board = await openAs('Pat', `/whiteboard#phone-${run}`, phone)
    await waitForStatus(board, 'synced')
    await expectLaidOut(board, ['.corner-left', '.corner-right', '.toolbar', '#empty'], phone)
    await expectLaidOut(board, ['#status', '#facepile'], phone)
    await shoot(board, 'whiteboard-phone.png')

    for (const pathname of ['/editor', '/richtext']) {
      const page = await openAs('Pat', `${pathname}#phone-${run}`, phone)
      await waitForStatus(page, 'synced')
      await expectLaidOut(page, ['.topbar .brand', '#facepile', '#status'], phone)
      if (pathname === '/richtext') await expectLaidOut(page, ['button[data-command="bold"]', 'button[data-command="redo"]', '.ProseMirror'], phone)
      await shoot(page, `${pathname.slice(1)}-phone.png`)
    }
  }, 60_000)

  // Last: it restarts the server.
  test('chat: history and a message written while the server was down survive a restart', async () => {
    const channel = `restart-${run}`
    const alice = await openAs('Alice', `/chat#${channel}`)
    await waitForStatus(alice, 'synced')
    const welcome = `Welcome to #${channel}, Alice!`
    await alice.locator('.message.bot', { hasText: welcome }).waitFor({ timeout: UI_TIMEOUT })
    const board = await openAs('Alice', `/whiteboard#${channel}`)
    await waitForStatus(board, 'synced')
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
    // The whiteboard's pill says its edits are not stored yet.
    await board.locator('button[data-tool="rect"]').click()
    await board.mouse.move(300, 300)
    await board.mouse.down()
    await board.mouse.move(420, 400, { steps: 4 })
    await board.mouse.up()
    await board.locator('#status[data-saved="offline"]', { hasText: 'unsaved' }).waitFor({ timeout: UI_TIMEOUT })
    await shoot(board, 'whiteboard-offline.png')

    demo = await startDemoProcess(dataDir)
    demoUp = true
    await waitForStatus(alice, 'synced')
    await alice.waitForFunction(() => document.querySelectorAll('.message.pending').length === 0, undefined, { timeout: UI_TIMEOUT })
    await board.locator('#status[data-saved="saved"]').waitFor({ timeout: UI_TIMEOUT })

    // The restarted bot got Alice's user.entered again, and remembered her from the room's document.
    const statsUrl = demo.botStatsUrl
    expect(statsUrl).not.toBeNull()
    await expect
      .poll(async () => ((await (await fetch(statsUrl as string)).json()) as { alreadyWelcomed: number }).alreadyWelcomed, { timeout: UI_TIMEOUT })
      .toBeGreaterThanOrEqual(1)

    const carol = await openAs('Carol', `/chat#${channel}`)
    await waitForStatus(carol, 'synced')
    await carol.locator('.message', { hasText: 'Before the restart' }).waitFor({ timeout: UI_TIMEOUT })
    await carol.locator('.message', { hasText: 'Written while the server was down' }).waitFor({ timeout: UI_TIMEOUT })
    // The channel survived in the directory room too.
    await carol.locator(`#channels a[href="#${channel}"]`).waitFor({ timeout: UI_TIMEOUT })
    // Carol is new here and is welcomed; Alice was welcomed once, before the restart, and not again.
    await carol.locator('.message.bot', { hasText: `Welcome to #${channel}, Carol!` }).waitFor({ timeout: UI_TIMEOUT })
    expect(await carol.locator('.message.bot', { hasText: welcome }).count()).toBe(1)
    expect(pageErrors).toEqual([])
  }, 90_000)
})

async function expectDisabled(page: Page, selector: string): Promise<void> {
  await page.waitForFunction((s) => (document.querySelector(s) as HTMLButtonElement | null)?.disabled === true, selector, { timeout: UI_TIMEOUT })
}

/** Ids whose FNV-1a hash (as in examples/shared/identity.ts) lands on one palette slot: they prefer one colour. */
function sameSlotIds(count: number, paletteSize = 9): string[] {
  const hash = (text: string): number => {
    let h = 0x811c9dc5
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
    return h >>> 0
  }
  const ids: string[] = []
  const stamp = Date.now().toString(16)
  for (let i = 0; ids.length < count && i < 10_000; i++) {
    const id = `u_e2e${stamp}${i}`
    if (hash(id) % paletteSize === 0) ids.push(id)
  }
  return ids
}

interface Box {
  x: number
  y: number
  width: number
  height: number
}

/** Every element is visible, inside the viewport, and no two of them overlap. */
async function expectLaidOut(page: Page, selectors: string[], viewport: { width: number; height: number }): Promise<void> {
  const boxes: [string, Box][] = []
  for (const selector of selectors) {
    const locator = page.locator(selector).first()
    await locator.waitFor({ state: 'visible', timeout: UI_TIMEOUT })
    // Wait out slide-in transitions: the box must read the same twice, a poll interval apart.
    let box: Box | null = null
    await expect
      .poll(async () => {
        const now = await locator.boundingBox()
        const same = JSON.stringify(now) === JSON.stringify(box)
        box = now
        return same
      }, { timeout: UI_TIMEOUT })
      .toBe(true)
    expect(box, selector).not.toBeNull()
    const b = box as unknown as Box
    expect(b.width, `${selector} has a size`).toBeGreaterThan(0)
    expect(b.x, `${selector} inside the viewport (left)`).toBeGreaterThanOrEqual(0)
    expect(b.y, `${selector} inside the viewport (top)`).toBeGreaterThanOrEqual(0)
    expect(b.x + b.width, `${selector} inside the viewport (right)`).toBeLessThanOrEqual(viewport.width + 0.5)
    expect(b.y + b.height, `${selector} inside the viewport (bottom)`).toBeLessThanOrEqual(viewport.height + 0.5)
    boxes.push([selector, b])
  }
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const [sa, a] = boxes[i] as [string, Box]
      const [sb, b] = boxes[j] as [string, Box]
      const overlap = a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height
      expect(overlap, `${sa} and ${sb} overlap: ${JSON.stringify(a)} / ${JSON.stringify(b)}`).toBe(false)
    }
  }
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
