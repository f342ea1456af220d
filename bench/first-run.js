// A newcomer's first run, timed: from `git clone` to two browser tabs editing one document, following
// only the README's quick start. A measurement script, not a test.
//
//   node bench/first-run.js [--repo <url or path>] [--cold-cache]
//
// 1. clone:   git clone <repo> into a temporary directory (default: this checkout).
// 2. install: `npm install` there, as the README says. With --cold-cache npm starts from an empty cache
//             (every package downloaded from the registry, as on a fresh machine); by default it uses this
//             machine's npm cache.
// 3. start:   `npm start` (demo mode) until it logs "demos ready" (on a free port instead of 4321, and in
//             the clone's own ./data).
// 4. tabs:    Debian's Chromium (headless, playwright-core) opens the editor demo in two windows; one types,
//             and the clock stops when the other window shows the text.
//
// Prints each phase's wall time and the total as one JSON object. Traffic goes to 127.0.0.1 and the npm
// registry only. Needs git and /usr/bin/chromium.
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { chromium } from 'playwright-core'

const { values: args } = parseArgs({
  options: {
    repo: { type: 'string', default: resolve(import.meta.dirname, '..') },
    'cold-cache': { type: 'boolean', default: false },
  },
})
const PHASE_TIMEOUT_MS = 20 * 60_000
const CHROMIUM = '/usr/bin/chromium'

/** Runs a command to completion (bounded by PHASE_TIMEOUT_MS); rejects with its output when it fails. */
function run(command, commandArgs, options) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, commandArgs, { ...options, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (chunk) => (out += chunk))
    child.stderr.on('data', (chunk) => (out += chunk))
    const timer = setTimeout(() => child.kill('SIGKILL'), PHASE_TIMEOUT_MS)
    child.on('exit', (code) => {
      clearTimeout(timer)
      if (code === 0) resolvePromise(out)
      else reject(new Error(`${command} ${commandArgs.join(' ')} exited with ${code}:\n${out.slice(-4000)}`))
    })
  })
}

/** Starts `npm start` in `cwd`; resolves with the child and its port once it logs "demos ready". */
function startDemos(cwd, env) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('npm', ['start', '--', '--port', '0'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    let out = ''
    const timer = setTimeout(() => reject(new Error(`npm start was not ready in time:\n${out.slice(-4000)}`)), PHASE_TIMEOUT_MS)
    child.stdout.on('data', (chunk) => {
      out += chunk
      const ready = /"port":(\d+)[^\n]*"msg":"demos ready"/.exec(out)
      if (ready) {
        clearTimeout(timer)
        resolvePromise({ child, port: Number(ready[1]) })
      }
    })
    child.stderr.on('data', (chunk) => (out += chunk))
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`npm start exited with ${code}:\n${out.slice(-4000)}`))
    })
  })
}

const work = await mkdtemp(join(tmpdir(), 'tandem-first-run-'))
const clone = join(work, 'tandem')
const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_'))) }
if (args['cold-cache']) env.npm_config_cache = join(work, 'npm-cache')
const phases = {}
const started = performance.now()
let mark = started
const phase = (name) => {
  const now = performance.now()
  phases[name] = Math.round(now - mark)
  mark = now
}

let demos = null
let browser = null
try {
  await run('git', ['clone', '--quiet', args.repo, clone], { env })
  phase('cloneMs')
  await run('npm', ['install', '--no-audit', '--no-fund'], { cwd: clone, env })
  phase('installMs')
  demos = await startDemos(clone, { ...env, TANDEM_LOG_LEVEL: 'info' })
  phase('startMs')

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] })
  const url = `http://127.0.0.1:${demos.port}/editor#first-run`
  const [alice, bob] = await Promise.all(
    ['Alice', 'Bob'].map(async (name) => {
      const page = await (await browser.newContext()).newPage()
      await page.goto(`${url.replace('#', `?name=${name}#`)}`)
      await page.locator('#status[data-status="synced"]').waitFor({ state: 'attached', timeout: 60_000 })
      return page
    }),
  )
  await alice.locator('.cm-content').click()
  await alice.keyboard.type('hello from the first tab')
  await bob.locator('.cm-content', { hasText: 'hello from the first tab' }).waitFor({ timeout: 60_000 })
  phase('twoTabsMs')

  const total = Math.round(performance.now() - started)
  console.log(JSON.stringify({ repo: args.repo, coldCache: args['cold-cache'], ...phases, totalMs: total, node: process.version }))
} finally {
  await browser?.close()
  if (demos) {
    const exited = new Promise((r) => demos.child.once('exit', r))
    process.kill(-demos.child.pid, 'SIGTERM')
    await exited
  }
  await rm(work, { recursive: true, force: true })
}
