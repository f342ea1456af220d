/**
 * The documents' code works as written: every fenced block in README.md, client-sdk/README.md,
 * examples/README.md, docs/deployment.md and docs/cluster.md carries a `<!-- snippet: name -->` marker,
 * and each name is either run here (or in tests/docs/deployment.test.ts or
 * tests/cluster/load-balancers.test.ts) or listed in NOT_RUN with the reason. Blocks fenced as `text` (a
 * directory layout) are not code.
 *
 * How a snippet runs: a fresh real server on 127.0.0.1, port 0, for each snippet; browser snippets are
 * bundled with esbuild (`platform: 'browser'`, so a Node built-in on the path fails the build) and run
 * as the module of a page in Chromium; Node snippets run as an ES module on `node` (cwd: the repository
 * root, so `@tandem/client`, `yjs`, … resolve to this checkout's packages; TypeScript is stripped by
 * esbuild first); shell snippets run in bash.
 *
 * Substitution rule (the only changes made to a snippet's text):
 * - `ws://localhost:4321` and `wss://collab.example.com` become `ws://127.0.0.1:<port>`;
 *   `http://localhost:4321` and `https://collab.example.com` become `http://127.0.0.1:<port>`.
 * - Names a snippet uses without defining them are defined by a prelude placed before it, as the app
 *   around the snippet would: `token` (a write token for the snippet's room), `fetchToken(room)`,
 *   `getToken(room)` and `fetchAdminJwt()` (an admin JWT), and in webhook-verify `rawBody` and `headers`
 *   (a real delivery captured from the server). Pages are served with `/api/tandem-token?room=` (the
 *   token as text) and `/api/collab-token?room=` (`{"token": …}`), the backend routes the snippets fetch.
 * - Environment: `TANDEM_TOKEN`, `TANDEM_ADMIN_KEY` / `ADMIN_KEY`, `TANDEM_WEBHOOK_SECRET` and, for the
 *   embedding snippet, `TANDEM_HOST=127.0.0.1 TANDEM_PORT=0 TANDEM_DATA_DIR=<temp>`. In shell snippets
 *   `npx tandem` is this checkout's CLI (node_modules/.bin/tandem) and curl's status codes are recorded.
 * - A check placed after the snippet (same module, so it sees the snippet's bindings) proves it did what
 *   the document says: synced, stored, answered 2xx.
 *
 * Without /usr/bin/chromium the browser snippets are skipped with a message, except under CI.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { build, transform } from 'esbuild'
import { chromium, type Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { mintToken } from '@tandem/server'
import { TEST_SECRET, startServer, token as mint, waitFor, type RunningServer } from '../helpers/server.js'
import { ROOT, allSnippets, snippet, type Snippet } from './markdown.js'

/** Snippets no test runs, and why. */
const NOT_RUN: Record<string, string> = {
  'quick-start': 'installs packages and starts demo mode on the fixed port 4321 (the demos have their own e2e tests)',
  'run-tests': 'runs the whole suite',
  'install-tarballs': 'clones and installs; tests/integration/packages.test.ts packs and installs the same tarballs',
  'sdk-install': 'the package is not on the npm registry yet',
  'sdk-install-tarball': 'installs from npm; tests/integration/packages.test.ts covers the tarball',
  'sdk-api-reference': 'a signature listing, not a program',
  'postgres-serve': 'a long-running server on the fixed port 4321 against a placeholder host',
  'cluster-serve': 'a long-running server against placeholder hosts (tests/cluster runs instances)',
}

/** Snippets run by tests/docs/deployment.test.ts. */
export const RUN_IN_DEPLOYMENT_TEST = ['nginx-site', 'caddyfile', 'sqlite-backup', 'sqlite-restore', 'pg-dump', 'pg-backup']

/** Snippets run by tests/cluster/load-balancers.test.ts (docs/cluster.md). */
export const RUN_IN_CLUSTER_TEST = ['haproxy-cluster', 'nginx-cluster']

/** Listed as present, checked (the unit's values) but not run: there is no systemd here. */
const CHECKED_ONLY = ['systemd-unit', 'systemd-env']

const RUN_HERE = [
  'cli-token',
  'y-websocket-browser',
  'hocuspocus-browser',
  'sdk-browser',
  'connect-node',
  'embed-server',
  'token-claims',
  'admin-key',
  'room-json',
  'rest-curl',
  'webhook-event',
  'webhook-register',
  'webhook-verify',
  'sdk-codemirror',
  'sdk-react',
  'sdk-rest',
  'sdk-client-api',
  'examples-get-token',
]

const CHROMIUM = '/usr/bin/chromium'
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
const inCI = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false' && process.env.CI !== '0'
const hasChromium = existsSync(CHROMIUM)
if (!hasChromium && !inCI) console.warn(`[snippets.test] browser snippets SKIPPED: ${CHROMIUM} is missing (apt-get install -y chromium). Under CI=true this is a failure.`)

const ADMIN_KEY = 'docs-snippets-admin-key-0123456789abcdef'

function substitute(code: string, port: number): string {
  return code
    .replaceAll('ws://localhost:4321', `ws://127.0.0.1:${port}`)
    .replaceAll('wss://collab.example.com', `ws://127.0.0.1:${port}`)
    .replaceAll('http://localhost:4321', `http://127.0.0.1:${port}`)
    .replaceAll('https://collab.example.com', `http://127.0.0.1:${port}`)
}

let servers: RunningServer[] = []
async function server(env: Record<string, string> = {}): Promise<RunningServer> {
  const srv = await startServer({ TANDEM_STORE: 'memory', TANDEM_ADMIN_KEY: ADMIN_KEY, ...env })
  servers.push(srv)
  return srv
}
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()))
  servers = []
})

const textOf = (srv: RunningServer, room: string, field: string): string => srv.server.registry.get(room)?.doc.getText(field).toString() ?? ''

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs a program to its end (killed after `timeoutMs`, which then fails the test with its output). */
function run(cmd: string, args: string[], opts: { input?: string; env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${cmd} did not finish within ${opts.timeoutMs ?? 20_000} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`))
    }, opts.timeoutMs ?? 20_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
    child.stdin.end(opts.input ?? '')
  })
}

/** A snippet as an ES module on Node: prelude + snippet + check, TypeScript stripped. */
async function runNode(s: Snippet, port: number, parts: { prelude?: string; check?: string; env?: Record<string, string> } = {}): Promise<Run> {
  let source = `${parts.prelude ?? ''}\n${substitute(s.code, port)}\n${parts.check ?? ''}\n`
  if (s.lang === 'ts') source = (await transform(source, { loader: 'ts', format: 'esm', target: 'node20' })).code
  const result = await run(process.execPath, ['--input-type=module'], { input: source, env: parts.env ?? {} })
  if (result.code !== 0) throw new Error(`snippet ${s.name} exited ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`)
  return result
}

/** A shell snippet in bash, `npx tandem` meaning this checkout's CLI, curl's status codes recorded. */
async function runShell(s: Snippet, port: number, opts: { env?: Record<string, string>; cwd?: string; check?: string; replace?: [string, string][] } = {}): Promise<Run & { statuses: string[] }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tandem-snippet-'))
  try {
    const statusLog = path.join(dir, 'curl-status.log')
    let code = substitute(s.code, port)
    for (const [from, to] of opts.replace ?? []) code = code.replaceAll(from, to)
    const script = [
      'set -eo pipefail',
      `export PATH=${JSON.stringify(path.join(ROOT, 'node_modules/.bin'))}:$PATH`,
      `curl() { command curl -sS -w '%{stderr}%{http_code}\\n' "$@" 2>>${JSON.stringify(statusLog)}; }`,
      code,
      opts.check ?? '',
    ].join('\n')
    const result = await run('bash', ['-c', script], { cwd: opts.cwd ?? dir, env: opts.env ?? {} })
    if (result.code !== 0) throw new Error(`snippet ${s.name} exited ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`)
    const statuses = (await readFile(statusLog, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '')
    return { ...result, statuses }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

async function opens(url: string): Promise<boolean> {
  const ws = new WebSocket(url)
  return new Promise((resolve) => {
    ws.on('open', () => {
      ws.close()
      resolve(true)
    })
    ws.on('unexpected-response', () => resolve(false))
    ws.on('error', () => resolve(false))
  })
}

describe('every fenced block is a named snippet, and every name is accounted for', () => {
  test('markers', () => {
    const all = allSnippets()
    const unnamed = all.filter((s) => s.name === null && s.lang !== 'text').map((s) => `${s.doc}:${s.line} (${s.lang || 'no language'})`)
    expect(unnamed).toEqual([])
    const names = all.flatMap((s) => (s.name === null ? [] : [s.name]))
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]) // unique
    const known = new Set([...Object.keys(NOT_RUN), ...RUN_IN_DEPLOYMENT_TEST, ...RUN_IN_CLUSTER_TEST, ...CHECKED_ONLY, ...RUN_HERE])
    expect(names.filter((n) => !known.has(n))).toEqual([])
    expect([...known].filter((n) => !names.includes(n))).toEqual([])
  })
})

describe('Node and shell snippets', () => {
  test('cli-token: both commands print tokens the server accepts', async () => {
    const srv = await server()
    const out = await runShell(snippet('cli-token'), srv.port, { cwd: ROOT, env: { TANDEM_JWT_SECRET: TEST_SECRET } })
    const tokens = out.stdout.trim().split('\n')
    expect(tokens).toHaveLength(2)
    expect(await opens(`${srv.url}/ws/my-doc?token=${tokens[0]}`)).toBe(true)
    expect(await opens(`${srv.url}/ws/team-notes?token=${tokens[1]}`)).toBe(true)
    expect(await opens(`${srv.url}/ws/other?token=${tokens[1]}`)).toBe(false)
  })

  test('connect-node: y-websocket, Hocuspocus and the SDK on Node 20 all hold the edit, and the script exits', async () => {
    const srv = await server()
    const jwt = await mint({ rooms: { 'my-doc': 'write' } })
    const out = await runNode(snippet('connect-node'), srv.port, { env: { TANDEM_TOKEN: jwt } })
    expect(out.stdout).toContain('every client holds: Hello from Node.')
    expect(textOf(srv, 'my-doc', 'notes')).toBe('Hello from Node. ')
  })

  test('embed-server: createServer + loadConfig(process.env) serve, mintToken signs what it verifies', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'tandem-embed-'))
    try {
      const check = `
        const { default: WebSocket } = await import('ws')
        const ws = new WebSocket('ws://127.0.0.1:' + port + '/ws/my-doc?token=' + token)
        await new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('unexpected-response', (_q, r) => reject(new Error('refused ' + r.statusCode))) })
        ws.close()
        console.log('SNIPPET-OK ' + port)
        await server.close()`
      const out = await runNode(snippet('embed-server'), 0, {
        check,
        env: { TANDEM_HOST: '127.0.0.1', TANDEM_PORT: '0', TANDEM_DATA_DIR: dir, TANDEM_JWT_SECRET: TEST_SECRET, TANDEM_LOG_LEVEL: 'silent' },
      })
      expect(out.stdout).toMatch(/SNIPPET-OK [1-9]\d*/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  test('token-claims: the claims mint a token the server accepts for the rooms it names', async () => {
    const claims = JSON.parse(snippet('token-claims').code) as { sub: string; name: string; rooms: Record<string, 'read' | 'write'>; exp: number }
    expect(Object.keys(claims).sort()).toEqual(['exp', 'name', 'rooms', 'sub'])
    const srv = await server()
    const jwt = await mintToken(new TextEncoder().encode(TEST_SECRET), { sub: claims.sub, name: claims.name, rooms: claims.rooms }, { ttlSec: 600 })
    expect(await opens(`${srv.url}/ws/my-doc?token=${jwt}`)).toBe(true)
    expect(await opens(`${srv.url}/ws/team-7?token=${jwt}`)).toBe(true)
  })

  test('admin-key: prints the key the running server accepts', async () => {
    const srv = await startServer() // SQLite in a temp data dir, admin key generated there
    servers.push(srv)
    const check = `command curl -sf -o /dev/null -H "authorization: Bearer $ADMIN_KEY" http://127.0.0.1:${srv.port}/v1/rooms && echo ADMIN-OK`
    const out = await runShell(snippet('admin-key'), srv.port, { cwd: ROOT, env: { TANDEM_DATA_DIR: srv.dataDir }, check })
    expect(out.stdout).toContain('ADMIN-OK')
  })

  test('room-json: the shape GET /v1/rooms/:room answers', async () => {
    const documented = JSON.parse(snippet('room-json').code) as Record<string, unknown>
    const srv = await server()
    const auth = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }
    const base = `http://127.0.0.1:${srv.port}`
    expect((await fetch(`${base}/v1/rooms`, { method: 'POST', headers: auth, body: JSON.stringify({ name: documented['name'], metadata: documented['metadata'] }) })).status).toBe(201)
    const real = (await (await fetch(`${base}/v1/rooms/${String(documented['name'])}`, { headers: auth })).json()) as Record<string, unknown>
    expect(Object.keys(real).sort()).toEqual(Object.keys(documented).sort())
    expect(Object.keys(real['stats'] as object).sort()).toEqual(Object.keys(documented['stats'] as object).sort())
  })

  test('rest-curl: every command answers 2xx', async () => {
    const srv = await server()
    const out = await runShell(snippet('rest-curl'), srv.port, { env: { ADMIN_KEY } })
    const curls = snippet('rest-curl').code.match(/\bcurl\b/g)?.length ?? 0
    expect(out.statuses).toHaveLength(curls)
    expect(out.statuses.filter((s) => !/^2\d\d$/.test(s))).toEqual([])
    expect(out.stdout).toContain('"label":"Before the review"')
  })

  test('webhook-event: the shape of a real user.entered delivery', async () => {
    const documented = JSON.parse(snippet('webhook-event').code) as { type: string; data: Record<string, unknown> }
    const delivery = await captureDelivery('user.entered')
    const real = JSON.parse(delivery.body) as { type: string; data: Record<string, unknown> }
    expect(real.type).toBe(documented.type)
    expect(Object.keys(real).sort()).toEqual(Object.keys(documented).sort())
    expect(Object.keys(real.data).sort()).toEqual(Object.keys(documented.data).sort())
  })

  test('webhook-register: registering an endpoint answers 201 with its secret', async () => {
    const receiver = await receiverServer()
    try {
      const srv = await server({ TANDEM_WEBHOOK_ALLOW_PRIVATE: 'true' })
      // The documented receiver is a public host; this one is on 127.0.0.1 (hence ALLOW_PRIVATE).
      const out = await runShell(snippet('webhook-register'), srv.port, { env: { ADMIN_KEY }, replace: [['https://example.com/hooks/tandem', `${receiver.url}/hooks/tandem`]] })
      expect(out.statuses).toEqual(['201'])
      expect(out.stdout).toMatch(/"secret":"whsec_/)
    } finally {
      receiver.close()
    }
  })

  test('webhook-verify: verifies a real delivery with the secret', async () => {
    const delivery = await captureDelivery('room.created')
    const prelude = `const rawBody = process.env.SNIPPET_RAW_BODY; const headers = JSON.parse(process.env.SNIPPET_HEADERS)`
    const out = await runNode(snippet('webhook-verify'), 0, {
      prelude,
      check: `console.log('SNIPPET-EVENT ' + event.type)`,
      env: { SNIPPET_RAW_BODY: delivery.body, SNIPPET_HEADERS: JSON.stringify(delivery.headers), TANDEM_WEBHOOK_SECRET: WEBHOOK_SECRET },
    })
    expect(out.stdout).toContain('SNIPPET-EVENT room.created')
    // A forged body is refused by the same line.
    await expect(
      runNode(snippet('webhook-verify'), 0, { prelude, env: { SNIPPET_RAW_BODY: delivery.body.replace('room.created', 'room.deleted'), SNIPPET_HEADERS: JSON.stringify(delivery.headers), TANDEM_WEBHOOK_SECRET: WEBHOOK_SECRET } }),
    ).rejects.toThrow(/exited 1/)
  })

  test('sdk-rest: the TandemApi walk-through on Node', async () => {
    const srv = await server()
    const out = await runNode(snippet('sdk-rest'), srv.port, { env: { TANDEM_ADMIN_KEY: ADMIN_KEY } })
    expect(out.stdout).toContain('notes-42')
    const doc = new Y.Doc()
    Y.applyUpdate(doc, new Uint8Array(await (await fetch(`http://127.0.0.1:${srv.port}/v1/rooms/notes-42/doc`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).arrayBuffer()))
    expect(doc.getText('codemirror').toString()).toBe('Agenda\n')
  })
})

const WEBHOOK_SECRET = 'whsec_' + Buffer.from('docs-snippets-webhook-key-32-bytes!').toString('base64')

interface Receiver {
  url: string
  deliveries: { body: string; headers: Record<string, string> }[]
  close(): void
}

async function receiverServer(): Promise<Receiver> {
  const deliveries: Receiver['deliveries'] = []
  const web = http.createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      const headers: Record<string, string> = {}
      for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) headers[name] = String(req.headers[name] ?? '')
      deliveries.push({ body, headers })
      res.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(web.address() as AddressInfo).port}`, deliveries, close: () => web.close() }
}

/** A real signed delivery of `type` from a server configured with TANDEM_WEBHOOK_URL / _SECRET. */
async function captureDelivery(type: string): Promise<{ body: string; headers: Record<string, string> }> {
  const receiver = await receiverServer()
  try {
    const srv = await server({ TANDEM_WEBHOOK_URL: `${receiver.url}/hooks`, TANDEM_WEBHOOK_SECRET: WEBHOOK_SECRET })
    const jwt = await mint({ rooms: { 'team-42:notes': 'write' }, sub: 'u-1', name: 'Ada' })
    const ws = new WebSocket(`${srv.url}/ws/team-42:notes?token=${jwt}`)
    await waitFor(() => receiver.deliveries.some((d) => (JSON.parse(d.body) as { type: string }).type === type), `a ${type} delivery`)
    ws.close()
    const found = receiver.deliveries.find((d) => (JSON.parse(d.body) as { type: string }).type === type)
    if (!found) throw new Error('unreachable')
    return found
  } finally {
    receiver.close()
  }
}

describe.skipIf(!hasChromium && !inCI)('browser snippets in Chromium', () => {
  let browser: Browser
  let web: http.Server
  let pageUrl: string
  let bundleJs = ''
  let tokenRooms: Record<string, 'read' | 'write'> = {}

  beforeAll(async () => {
    if (!hasChromium) throw new Error(`CI is set but ${CHROMIUM} is missing: install it with apt-get install -y chromium`)
    web = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x')
      if (url.pathname === '/') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        res.end('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>snippet</title><link rel="icon" href="data:,"></head><body><div id="editor"></div><div id="root"></div><script type="module" src="/snippet.js"></script></body></html>')
      } else if (url.pathname === '/snippet.js') {
        res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(bundleJs)
      } else if (url.pathname === '/api/tandem-token' || url.pathname === '/api/collab-token') {
        // The app backend the snippets call: a token for the room asked for (after its own login).
        const room = url.searchParams.get('room') ?? ''
        void mint({ sub: 'docs-reader', name: 'Reader', rooms: { [room]: tokenRooms[room] ?? 'write' } }).then((t) => {
          if (url.pathname === '/api/tandem-token') res.writeHead(200, { 'content-type': 'text/plain' }).end(t)
          else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: t }))
        })
      } else res.writeHead(404).end()
    })
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve))
    pageUrl = `http://127.0.0.1:${(web.address() as AddressInfo).port}/`
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
  })

  afterAll(async () => {
    await browser?.close()
    await new Promise<void>((resolve) => (web ? web.close(() => resolve()) : resolve()))
  })

  /** Bundles prelude + snippet + check as the page's module; resolves with what the check reports. */
  async function inPage(s: Snippet, port: number, parts: { prelude?: string; check: string }): Promise<unknown> {
    tokenRooms = {}
    const contents = `${parts.prelude ?? ''}\n${substitute(s.code, port)}\n;${parts.check}\n`
    const loader = s.lang === 'tsx' ? 'tsx' : s.lang === 'ts' ? 'ts' : 'js'
    const out = await build({
      stdin: { contents, loader, resolveDir: ROOT, sourcefile: `${s.name ?? 'snippet'}.${loader}` },
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      jsx: 'automatic',
      define: { 'process.env.NODE_ENV': '"production"' },
      write: false,
      logLevel: 'silent',
    })
    bundleJs = out.outputFiles[0]?.text ?? ''
    const context = await browser.newContext()
    const page = await context.newPage()
    const errors: string[] = []
    page.on('pageerror', (err) => errors.push(err.message))
    page.on('console', (msg) => {
      if (msg.type() === 'error') errors.push(`console.error: ${msg.text()}`)
    })
    try {
      await page.goto(pageUrl)
      await waitFor(async () => errors.length > 0 || (await page.evaluate(() => (window as { snippetResult?: unknown }).snippetResult !== undefined)), `snippet ${s.name} to finish`, 15_000)
      expect(errors).toEqual([])
      return await page.evaluate(() => (window as { snippetResult?: unknown }).snippetResult)
    } finally {
      await context.close()
    }
  }

  const provideToken = `const token = await (await fetch('/api/tandem-token?room=my-doc')).text()`
  const provideFetchToken = `const fetchToken = async (room) => (await fetch('/api/tandem-token?room=' + encodeURIComponent(room))).text()`

  test('y-websocket-browser: syncs and stores an edit', async () => {
    const srv = await server()
    const check = `await new Promise((resolve) => provider.synced ? resolve() : provider.once('sync', resolve))
      doc.getText('notes').insert(0, 'from y-websocket')
      window.snippetResult = provider.wsconnected`
    expect(await inPage(snippet('y-websocket-browser'), srv.port, { prelude: provideToken, check })).toBe(true)
    await waitFor(() => textOf(srv, 'my-doc', 'notes') === 'from y-websocket', 'the server to hold the edit')
  })

  test('hocuspocus-browser: attaches, syncs, and its edit is stored', async () => {
    const srv = await server()
    const check = `await new Promise((resolve) => provider.isSynced ? resolve() : provider.on('synced', resolve))
      doc.getText('notes').insert(0, 'from hocuspocus')
      await new Promise((resolve) => { const t = setInterval(() => { if (!provider.hasUnsyncedChanges) { clearInterval(t); resolve() } }, 20) })
      window.snippetResult = 'saved'`
    expect(await inPage(snippet('hocuspocus-browser'), srv.port, { prelude: provideToken, check })).toBe('saved')
    expect(textOf(srv, 'my-doc', 'notes')).toBe('from hocuspocus')
  })

  test('sdk-browser: whenSynced resolves, an edit is saved', async () => {
    const srv = await server()
    const check = `room.doc.getText('notes').insert(0, 'from the SDK'); await room.whenSaved(); window.snippetResult = room.status`
    expect(await inPage(snippet('sdk-browser'), srv.port, { prelude: provideFetchToken, check })).toBe('synced')
    expect(textOf(srv, 'my-doc', 'notes')).toBe('from the SDK')
  })

  test('sdk-codemirror: the editor mounts, syncs and shows the room', async () => {
    const srv = await server()
    const check = `await provider.whenSynced()
      if (!document.querySelector('#editor .cm-content')) throw new Error('no CodeMirror editor in #editor')
      ytext.insert(0, 'typed elsewhere')
      await provider.whenSaved()
      await new Promise((resolve) => { const t = setInterval(() => { if (document.querySelector('#editor .cm-content')?.textContent === 'typed elsewhere' && document.title === 'synced') { clearInterval(t); resolve() } }, 20) })
      window.snippetResult = document.title`
    expect(await inPage(snippet('sdk-codemirror'), srv.port, { check })).toBe('synced')
    expect(textOf(srv, 'notes-42', 'codemirror')).toBe('typed elsewhere')
  })

  test('sdk-react: the hooks render status, saved and others', async () => {
    const srv = await server()
    const check = `await new Promise((resolve) => { const t = setInterval(() => { const p = document.querySelector('#root p'); if (p && /^synced · All changes saved · with nobody/.test(p.textContent) && document.querySelector('#root .cm-content')) { clearInterval(t); resolve() } }, 20) })
      window.snippetResult = document.querySelector('#root p').textContent`
    expect(await inPage(snippet('sdk-react'), srv.port, { check })).toBe('synced · All changes saved · with nobody')
  })

  test('sdk-client-api: client.api with an admin JWT broadcasts from a page (CORS for its origin)', async () => {
    const srv = await server({ TANDEM_CORS_ORIGINS: new URL(pageUrl).origin })
    await fetch(`http://127.0.0.1:${srv.port}/v1/rooms`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }, body: '{"name":"notes-42"}' })
    const adminJwt = await mintToken(new TextEncoder().encode(TEST_SECRET), { sub: 'ops', rooms: {}, admin: true }, { ttlSec: 600 })
    const prelude = `import { TandemClient } from '@tandem/client'
      const getToken = async (room) => (await fetch('/api/tandem-token?room=' + encodeURIComponent(room))).text()
      const fetchAdminJwt = async () => ${JSON.stringify(adminJwt)}`
    expect(await inPage(snippet('sdk-client-api'), srv.port, { prelude, check: `window.snippetResult = 'sent'; client.destroy()` })).toBe('sent')
  })

  test('examples-get-token: getToken against the app backend', async () => {
    const srv = await server()
    const check = `const room = client.room('demo-notes'); await room.whenSynced(); window.snippetResult = room.status; client.destroy()`
    expect(await inPage(snippet('examples-get-token'), srv.port, { check })).toBe('synced')
  })
})
