/**
 * docs/deployment.md as written: the nginx site (with TLS) and the Caddyfile in front of a real server,
 * clients syncing through them; the systemd unit's values against the server's settings; the SQLite
 * backup taken while the server runs and written to, then restored; the PostgreSQL dump and restore.
 *
 * Substitutions (the only changes to the documents' text): the upstream `127.0.0.1:4321` becomes the test
 * server's port; nginx's `listen 80` / `listen 443` become free ports on 127.0.0.1 (found by binding port
 * 0), its certificate paths a self-signed certificate for 127.0.0.1; Caddy's site name becomes
 * `http://127.0.0.1:<port>` (automatic HTTPS needs a public name, so Caddy's TLS is not exercised) and its
 * admin endpoint is turned off; `/var/lib/tandem` and `/backup` become temp directories, `systemctl`
 * lines become stopping and starting the child server, and `install -o tandem -g tandem` drops the owner.
 *
 * nginx, caddy, sqlite3 and pg_dump are looked up on PATH; a missing one skips its suite with a message
 * (a failure under CI).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import https from 'node:https'
import net from 'node:net'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import WebSocket from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { loadConfig } from '@tandem/server'
import { defaultMaxConnections } from '#server/descriptors'
import { POSTGRES_URL, describePostgres, pgQuery, schemaNames } from '../helpers/postgres.js'
import { spawnServer, startServer, tempDir, token, waitFor, type ChildServer, type RunningServer } from '../helpers/server.js'
import { ROOT, snippet } from './markdown.js'

const inCI = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false' && process.env.CI !== '0'
function tool(name: string): boolean {
  const found = spawnSync('sh', ['-c', `command -v ${name}`]).status === 0
  if (!found && !inCI) console.warn(`[deployment.test] ${name} is missing: its suite is SKIPPED (apt-get install -y ${name}). Under CI=true this is a failure.`)
  return found || inCI
}
const ADMIN_KEY = 'docs-deployment-admin-key-0123456789abcdef'

async function freePort(): Promise<number> {
  const srv = net.createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const { port } = srv.address() as net.AddressInfo
  await new Promise<void>((resolve) => srv.close(() => resolve()))
  return port
}

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy()
      resolve(true)
    })
    s.on('error', () => resolve(false))
  })
}

function sh(script: string, env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('bash', ['-c', `set -eo pipefail\n${script}`], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30_000 })
  if (r.status !== 0) throw new Error(`exited ${r.status}:\n${script}\n${r.stdout}\n${r.stderr}`)
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** A daemon the test started, stopped by its pid. */
function daemon(cmd: string, args: string[], env: Record<string, string> = {}): { child: ChildProcess; output: () => string; stop: () => Promise<void> } {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()))
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()))
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
  return {
    child,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
    },
  }
}

/** Two y-websocket clients through `url` (wss or ws), one edits, the other sees it. */
async function syncThrough(url: string, room: string, ca?: Buffer): Promise<void> {
  const jwt = await token({ rooms: { [room]: 'write' } })
  class Socket extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols, ca ? { ca } : {})
    }
  }
  const a = new WebsocketProvider(url, room, new Y.Doc(), { params: { token: jwt }, WebSocketPolyfill: Socket as unknown as typeof globalThis.WebSocket, disableBc: true })
  const b = new WebsocketProvider(url, room, new Y.Doc(), { params: { token: jwt }, WebSocketPolyfill: Socket as unknown as typeof globalThis.WebSocket, disableBc: true })
  try {
    await waitFor(() => a.synced && b.synced, 'both clients to sync through the proxy')
    a.doc.getText('t').insert(0, 'through the proxy')
    await waitFor(() => b.doc.getText('t').toString() === 'through the proxy', 'the edit to reach the other client')
  } finally {
    for (const p of [a, b]) {
      p.destroy()
      p.doc.destroy()
    }
  }
}

function httpsGet(url: string, ca: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca }, (res) => {
        let body = ''
        res.on('data', (c: Buffer) => (body += c.toString()))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      })
      .on('error', reject)
  })
}

describe.skipIf(!tool('nginx') || !tool('openssl'))('nginx site from docs/deployment.md', () => {
  let srv: RunningServer
  let dir: { dir: string; remove: () => Promise<void> }
  let ca: Buffer
  const daemons: { stop: () => Promise<void> }[] = []

  beforeAll(async () => {
    srv = await startServer({ TANDEM_STORE: 'memory', TANDEM_ADMIN_KEY: ADMIN_KEY, TANDEM_TRUSTED_PROXIES: '127.0.0.1', TANDEM_KEEPALIVE_MS: '200' })
    dir = await tempDir()
    sh(`openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout ${dir.dir}/key.pem -out ${dir.dir}/cert.pem 2>/dev/null`)
    ca = await readFile(path.join(dir.dir, 'cert.pem'))
  })

  afterAll(async () => {
    for (const d of daemons) await d.stop()
    await srv?.stop()
    await dir?.remove()
  })

  /** Runs nginx with the documented site, `edit` applied to it first (a test-only change, if any). */
  async function nginx(name: string, edit: (site: string) => string = (s) => s): Promise<{ http: number; https: number }> {
    const ports = { http: await freePort(), https: await freePort() }
    const prefix = path.join(dir.dir, name)
    sh(`mkdir -p ${prefix}/logs`)
    const site = edit(snippet('nginx-site').code)
      .replace('listen 80;', `listen 127.0.0.1:${ports.http};`)
      .replace('listen 443 ssl http2;', `listen 127.0.0.1:${ports.https} ssl http2;`)
      .replace('/etc/letsencrypt/live/collab.example.com/fullchain.pem', path.join(dir.dir, 'cert.pem'))
      .replace('/etc/letsencrypt/live/collab.example.com/privkey.pem', path.join(dir.dir, 'key.pem'))
      .replaceAll('127.0.0.1:4321', `127.0.0.1:${srv.port}`)
    await writeFile(path.join(prefix, 'site.conf'), site)
    // The main configuration Debian's /etc/nginx/nginx.conf would be, with every path in the prefix.
    const main = `daemon off; worker_processes 1; pid ${prefix}/nginx.pid; error_log ${prefix}/logs/error.log warn;
events { worker_connections 256; }
http { access_log off; client_body_temp_path ${prefix}/body; proxy_temp_path ${prefix}/proxy; fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi; scgi_temp_path ${prefix}/scgi; include ${prefix}/site.conf; }
`
    await writeFile(path.join(prefix, 'nginx.conf'), main)
    const d = daemon('nginx', ['-p', prefix, '-c', path.join(prefix, 'nginx.conf'), '-e', path.join(prefix, 'logs/error.log')])
    daemons.push(d)
    await waitFor(async () => {
      if (d.child.exitCode !== null) throw new Error(`nginx exited: ${d.output()} ${await readFile(path.join(prefix, 'logs/error.log'), 'utf8').catch(() => '')}`)
      return (await accepts(ports.https)) && (await accepts(ports.http))
    }, 'nginx to listen')
    return ports
  }

  test('wss and https through nginx: clients sync, REST answers, http redirects', async () => {
    const ports = await nginx('site')
    await syncThrough(`wss://127.0.0.1:${ports.https}/ws`, 'via-nginx', ca)
    const health = await httpsGet(`https://127.0.0.1:${ports.https}/healthz`, ca)
    expect(health).toEqual({ status: 200, body: '{"status":"ok"}' })
    expect((await httpsGet(`https://127.0.0.1:${ports.https}/metrics`, ca)).status).toBe(200) // allowed from 127.0.0.1
    const redirect = await fetch(`http://127.0.0.1:${ports.http}/ws`, { redirect: 'manual' })
    expect(redirect.status).toBe(301)
    expect(redirect.headers.get('location')).toMatch(/^https:\/\//)
  })

  test('keepalives hold a quiet socket open past proxy_read_timeout', async () => {
    // The documented rule with small numbers: a 1 s proxy_read_timeout, keepalives every 200 ms.
    const ports = await nginx('short-timeout', (site) => site.replace(/proxy_(read|send)_timeout 120s;/g, 'proxy_$1_timeout 1s;'))
    const jwt = await token({ rooms: { quiet: 'write' } })
    const ws = new WebSocket(`wss://127.0.0.1:${ports.https}/ws/quiet?token=${jwt}`, { ca })
    let messages = 0
    let closed: number | null = null
    ws.on('message', () => messages++)
    ws.on('close', (code) => (closed = code))
    // 20 messages at 200 ms apart span well over the proxy's 1 s: nginx would have closed a silent socket.
    await waitFor(() => messages >= 20 || closed !== null, 'twenty keepalives through nginx')
    expect(closed).toBeNull()
    expect(ws.readyState).toBe(WebSocket.OPEN)
    ws.close()
  })
})

describe.skipIf(!tool('caddy'))('Caddyfile from docs/deployment.md', () => {
  test('WebSockets and REST through Caddy; /metrics refused', async () => {
    const srv = await startServer({ TANDEM_STORE: 'memory', TANDEM_TRUSTED_PROXIES: '127.0.0.1' })
    const dir = await tempDir()
    let caddy: ReturnType<typeof daemon> | undefined
    try {
      const port = await freePort()
      const file = `{\n\tadmin off\n}\n${snippet('caddyfile').code.replace('collab.example.com', `http://127.0.0.1:${port}`).replaceAll('127.0.0.1:4321', `127.0.0.1:${srv.port}`)}`
      await writeFile(path.join(dir.dir, 'Caddyfile'), file)
      caddy = daemon('caddy', ['run', '--config', path.join(dir.dir, 'Caddyfile'), '--adapter', 'caddyfile'], { HOME: dir.dir, XDG_DATA_HOME: dir.dir, XDG_CONFIG_HOME: dir.dir })
      const c = caddy
      await waitFor(async () => {
        if (c.child.exitCode !== null) throw new Error(`caddy exited: ${c.output()}`)
        return accepts(port)
      }, 'caddy to listen')
      await syncThrough(`ws://127.0.0.1:${port}/ws`, 'via-caddy')
      expect(await (await fetch(`http://127.0.0.1:${port}/healthz`)).text()).toBe('{"status":"ok"}')
      expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(403)
    } finally {
      await caddy?.stop()
      await srv.stop()
      await dir.remove()
    }
  })
})

describe('systemd unit from docs/deployment.md (checked, not run: no systemd here)', () => {
  const unit = snippet('systemd-unit').code
  const value = (key: string): string => new RegExp(`^${key}=(.*)$`, 'm').exec(unit)?.[1] ?? ''

  test('the environment file is a valid configuration; TimeoutStopSec outlasts the drain; LimitNOFILE gives the documented cap', () => {
    const env = Object.fromEntries(
      snippet('systemd-env')
        .code.split('\n')
        .filter((l) => l.includes('='))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    )
    const config = loadConfig({ ...env, TANDEM_JWT_SECRET: 'x'.repeat(32) })
    expect(config.port).toBe(4321)
    expect(Number(value('TimeoutStopSec')) * 1000).toBeGreaterThan(config.shutdownTimeoutMs)
    expect(value('KillSignal')).toBe('SIGTERM')
    expect(value('Restart')).toBe('on-failure')
    expect(defaultMaxConnections(Number(value('LimitNOFILE')))).toBe(64512)
    expect(readFileText('docs/deployment.md')).toContain('64512 sockets with `LimitNOFILE=65536`')
  })
})

function readFileText(rel: string): string {
  return readFileSync(path.join(ROOT, rel), 'utf8')
}

/** Yjs updates posted over REST, each acknowledged (204) before the next. */
async function writeEdits(base: string, room: string, doc: Y.Doc, count: number, label: string): Promise<void> {
  for (let i = 0; i < count; i++) {
    const before = Y.encodeStateVector(doc)
    doc.getArray<string>('log').push([`${label}-${i}`])
    const res = await fetch(`${base}/v1/rooms/${room}/doc`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/octet-stream' },
      body: Buffer.from(Y.encodeStateAsUpdate(doc, before)),
    })
    if (res.status !== 204) throw new Error(`POST doc answered ${res.status}`)
  }
}

async function logOf(base: string, room: string): Promise<string[]> {
  const res = await fetch(`${base}/v1/rooms/${room}/doc`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
  const doc = new Y.Doc()
  Y.applyUpdate(doc, new Uint8Array(await res.arrayBuffer()))
  return doc.getArray<string>('log').toArray()
}

describe.skipIf(!tool('sqlite3'))('SQLite backup and restore from docs/deployment.md', () => {
  test('.backup and VACUUM INTO of the live WAL database, while edits are being written, restore everything acknowledged before', async () => {
    const data = await tempDir()
    const backup = await tempDir()
    const restored = await tempDir()
    let child: ChildServer | undefined
    let second: ChildServer | undefined
    try {
      child = await spawnServer(data.dir, { TANDEM_ADMIN_KEY: ADMIN_KEY })
      const base = `http://127.0.0.1:${child.port}`
      expect((await fetch(`${base}/v1/rooms`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }, body: '{"name":"backed-up"}' })).status).toBe(201)
      const doc = new Y.Doc()
      await writeEdits(base, 'backed-up', doc, 50, 'before')
      // The server keeps writing while the backup runs.
      const writing = writeEdits(base, 'backed-up', doc, 50, 'during')
      await writeFile(path.join(data.dir, 'jwt-secret'), 'x'.repeat(48)) // what the generated secret would be (the test server's comes from the environment)
      await writeFile(path.join(data.dir, 'admin-key'), ADMIN_KEY)
      sh(snippet('sqlite-backup').code.replaceAll('/var/lib/tandem', data.dir).replaceAll('/backup', backup.dir))
      await writing
      for (const file of ['tandem.db', 'tandem-compact.db']) {
        expect(sh(`sqlite3 ${path.join(backup.dir, file)} 'PRAGMA integrity_check'`).stdout.trim()).toBe('ok')
      }

      // Restore as documented, into another data directory (systemctl: stop and start the child).
      const server = child
      const restore = snippet('sqlite-restore')
        .code.replace('systemctl stop tandem', '')
        .replace('systemctl start tandem', '')
        .replaceAll('install -o tandem -g tandem', 'install')
        .replaceAll('/var/lib/tandem', restored.dir)
        .replaceAll('/backup', backup.dir)
      server.child.kill('SIGTERM')
      expect(await server.exited).toBe(0)
      sh(restore)
      second = await spawnServer(restored.dir, { TANDEM_ADMIN_KEY: ADMIN_KEY })
      const log = await logOf(`http://127.0.0.1:${second.port}`, 'backed-up')
      // Everything acknowledged before the backup began is there, in order; some of what came during may be.
      expect(log.slice(0, 50)).toEqual(Array.from({ length: 50 }, (_, i) => `before-${i}`))
      expect(log.slice(50)).toEqual(Array.from({ length: log.length - 50 }, (_, i) => `during-${i}`))
    } finally {
      for (const c of [child, second]) {
        if (c && c.child.exitCode === null) {
          c.child.kill('SIGTERM')
          await c.exited
        }
      }
      await Promise.all([data.remove(), backup.remove(), restored.remove()])
    }
  })
})

describePostgres('PostgreSQL dump and restore (README pg-dump, docs/deployment.md pg-backup)', () => {
  const schemas = schemaNames()
  afterAll(() => schemas.dropAll())

  test.skipIf(!tool('pg_dump'))('pg_dump of the live schema, restored into an empty one, holds every acknowledged edit', async () => {
    const schema = schemas.fresh()
    const dir = await tempDir()
    let child: ChildServer | undefined
    try {
      const env = { TANDEM_DATABASE_URL: POSTGRES_URL, TANDEM_DATABASE_SCHEMA: schema, TANDEM_ADMIN_KEY: ADMIN_KEY }
      child = await spawnServer(dir.dir, env)
      const base = `http://127.0.0.1:${child.port}`
      await fetch(`${base}/v1/rooms`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }, body: '{"name":"pg-backed-up"}' })
      await writeEdits(base, 'pg-backed-up', new Y.Doc(), 20, 'edit')
      const readme = snippet('pg-dump').code.replace('--schema=tandem', `--schema=${schema}`)
      const [dump, , restore] = snippet('pg-backup').code.replace('--schema=tandem', `--schema=${schema}`).split('\n')
      const shellEnv = { TANDEM_DATABASE_URL: POSTGRES_URL }
      // The README's line and the deployment page's line are the same command.
      expect(readme.trim()).toBe(dump)
      sh(`cd ${dir.dir} && ${dump}`, shellEnv)
      const server = child
      server.child.kill('SIGTERM')
      expect(await server.exited).toBe(0)
      await pgQuery(`DROP SCHEMA ${schema} CASCADE`)
      sh(`cd ${dir.dir} && ${restore}`, shellEnv)
      child = await spawnServer(dir.dir, env)
      expect(await logOf(`http://127.0.0.1:${child.port}`, 'pg-backed-up')).toEqual(Array.from({ length: 20 }, (_, i) => `edit-${i}`))
    } finally {
      if (child && child.child.exitCode === null) {
        child.child.kill('SIGTERM')
        await child.exited
      }
      await dir.remove()
    }
  })
})
