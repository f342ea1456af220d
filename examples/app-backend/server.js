#!/usr/bin/env node
// @ts-check
/**
 * Your app's backend, in miniature: it logs users in (a fixed demo list), keeps a session cookie, and
 * mints a short Tandem token for one room at a time, only for rooms that user may open. The browser
 * page uses the SDK with `getToken` fetching from here; it never sees the signing secret.
 *
 *   TANDEM_JWT_SECRET=… node examples/app-backend/server.js      (next to `npx tandem serve`)
 *
 * Settings (this example's own, not Tandem's): APP_PORT (3000), TANDEM_WS_URL (ws://127.0.0.1:4321/ws),
 * and TANDEM_JWT_SECRET, the same secret the Tandem server verifies tokens with.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import http from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { SignJWT } from 'jose'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const PORT = Number(process.env.APP_PORT ?? 3000)
const TANDEM_WS_URL = process.env.TANDEM_WS_URL ?? 'ws://127.0.0.1:4321/ws'
const SECRET = process.env.TANDEM_JWT_SECRET ?? ''
if (SECRET.length < 32) {
  console.error('app-backend: set TANDEM_JWT_SECRET to the secret the Tandem server uses (at least 32 bytes)')
  process.exit(1)
}
const KEY = new TextEncoder().encode(SECRET)
/** Tokens are short-lived: the SDK asks again on every reconnect and when one expires. */
const TOKEN_TTL_SEC = 600

/**
 * @typedef {{ password: string, name: string, rooms: Record<string, 'read' | 'write'> }} User
 * Who may open what: your app's own rules. Keys are room names, or prefixes ending in `*`.
 * @type {Record<string, User>}
 */
const USERS = {
  alice: { password: 'alice', name: 'Alice', rooms: { 'team-notes': 'write', 'alice-*': 'write' } },
  bob: { password: 'bob', name: 'Bob', rooms: { 'team-notes': 'write', 'bob-*': 'write' } },
  carol: { password: 'carol', name: 'Carol (read-only)', rooms: { 'team-notes': 'read' } },
}

/** Session id -> user id. In memory: a restart logs everyone out. */
const sessions = new Map()

/** The access `user` has to `room`: an exact entry wins over a prefix; null if none. */
function accessTo(/** @type {User} */ user, /** @type {string} */ room) {
  if (user.rooms[room] !== undefined) return user.rooms[room]
  for (const [key, access] of Object.entries(user.rooms)) {
    if (key.endsWith('*') && room.startsWith(key.slice(0, -1))) return access
  }
  return null
}

/** A Tandem token for exactly one room: sub, name and rooms are the claims Tandem reads. */
function mintRoomToken(/** @type {string} */ userId, /** @type {User} */ user, /** @type {string} */ room, /** @type {'read' | 'write'} */ access) {
  return new SignJWT({ name: user.name, rooms: { [room]: access } })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime(`${TOKEN_TTL_SEC}s`)
    .sign(KEY)
}

/** The page script, bundled once at start (the SDK and Yjs from node_modules). */
const pageScript = await build({
  entryPoints: [path.join(HERE, 'web', 'page.js')],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  write: false,
  logLevel: 'warning',
}).then((result) => result.outputFiles[0]?.text ?? '')

const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    console.error('app-backend:', err)
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' })
    res.end('internal error')
  })
})

async function handle(/** @type {http.IncomingMessage} */ req, /** @type {http.ServerResponse} */ res) {
  const url = new URL(req.url ?? '/', 'http://localhost')
  const userId = sessionUser(req)
  const user = userId === null ? undefined : USERS[userId]

  if (req.method === 'POST' && url.pathname === '/login') {
    const form = new URLSearchParams(await readBody(req))
    const id = form.get('user') ?? ''
    const candidate = USERS[id]
    if (candidate === undefined || !sameText(form.get('password') ?? '', candidate.password)) {
      return send(res, 401, 'text/html', loginPage('Wrong user or password.'))
    }
    const sid = randomBytes(32).toString('base64url')
    sessions.set(sid, id)
    res.writeHead(303, { location: '/', 'set-cookie': `sid=${sid}; HttpOnly; SameSite=Lax; Path=/` })
    return res.end()
  }
  if (req.method === 'POST' && url.pathname === '/logout') {
    const sid = cookie(req, 'sid')
    if (sid !== null) sessions.delete(sid)
    res.writeHead(303, { location: '/', 'set-cookie': 'sid=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0' })
    return res.end()
  }
  if (req.method === 'GET' && url.pathname === '/api/tandem-token') {
    // The SDK's getToken calls this on every (re)connect: the session decides, never the page.
    if (user === undefined || userId === null) return send(res, 401, 'application/json', JSON.stringify({ error: 'not logged in' }))
    const room = url.searchParams.get('room') ?? ''
    const access = accessTo(user, room)
    if (access === null) return send(res, 403, 'application/json', JSON.stringify({ error: `you may not open ${room}` }))
    const token = await mintRoomToken(userId, user, room, access)
    return send(res, 200, 'application/json', JSON.stringify({ token }), { 'cache-control': 'no-store' })
  }
  if (req.method === 'GET' && url.pathname === '/app.js') return send(res, 200, 'text/javascript', pageScript)
  if (req.method === 'GET' && url.pathname === '/') {
    if (user === undefined || userId === null) return send(res, 200, 'text/html', loginPage(''))
    return send(res, 200, 'text/html', appPage(userId, user))
  }
  return send(res, 404, 'text/plain', 'not found')
}

function send(/** @type {http.ServerResponse} */ res, /** @type {number} */ status, /** @type {string} */ type, /** @type {string} */ body, extra = {}) {
  res.writeHead(status, { 'content-type': `${type}; charset=utf-8`, ...extra })
  res.end(body)
}

/** Reads a small request body (a login form); refuses anything over 16 KiB. */
function readBody(/** @type {http.IncomingMessage} */ req) {
  return new Promise((resolve, reject) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (chunk) => {
      body += chunk
      if (body.length > 16 * 1024) reject(new Error('body too large'))
    })
    req.on('end', () => resolve(body))
    req.on('error', reject)
  })
}

function cookie(/** @type {http.IncomingMessage} */ req, /** @type {string} */ name) {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=')
    if (k === name) return v.join('=')
  }
  return null
}

/** @returns {string | null} */
function sessionUser(/** @type {http.IncomingMessage} */ req) {
  const sid = cookie(req, 'sid')
  return sid === null ? null : (sessions.get(sid) ?? null)
}

function sameText(/** @type {string} */ a, /** @type {string} */ b) {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

function escapeHtml(/** @type {string} */ s) {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

function loginPage(/** @type {string} */ message) {
  return `<!doctype html><meta charset="utf-8"><title>Log in</title>
<h1>Log in</h1>
<p>Demo users: ${Object.keys(USERS).map((u) => `<code>${u}</code>`).join(', ')} (the password is the user name).</p>
${message === '' ? '' : `<p style="color:#b00">${escapeHtml(message)}</p>`}
<form method="post" action="/login">
  <label>User <input name="user" autocomplete="username" required></label>
  <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
  <button>Log in</button>
</form>`
}

function appPage(/** @type {string} */ userId, /** @type {User} */ user) {
  // Prefix entries become one example room each, e.g. alice-* -> alice-notes.
  const rooms = Object.keys(user.rooms).map((key) => (key.endsWith('*') ? `${key.slice(0, -1)}notes` : key))
  const config = { url: TANDEM_WS_URL, rooms, name: user.name, userId }
  return `<!doctype html><meta charset="utf-8"><title>Notes · ${escapeHtml(user.name)}</title>
<style>body{font:16px system-ui;max-width:48rem;margin:2rem auto;padding:0 1rem}textarea{width:100%;height:18rem;font:15px ui-monospace,monospace}</style>
<form method="post" action="/logout" style="float:right"><button>Log out</button></form>
<h1>Hello, ${escapeHtml(user.name)}</h1>
<p>Room <select id="room">${rooms.map((r) => `<option>${escapeHtml(r)}</option>`).join('')}</select>
<span id="status">connecting…</span> · <span id="saved"></span> · <span id="people"></span></p>
<textarea id="text" spellcheck="false"></textarea>
<script id="config" type="application/json">${JSON.stringify(config).replace(/</g, '\\u003c')}</script>
<script type="module" src="/app.js"></script>`
}

server.listen(PORT, '127.0.0.1', () => {
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : PORT
  console.log(`app-backend: http://127.0.0.1:${port}/ (Tandem at ${TANDEM_WS_URL})`)
})
