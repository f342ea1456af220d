// @ts-check
/**
 * Demo mode: the Tandem server plus the demo pages, a demo-only token route and the webhook bot, in one
 * process. `examples/start.js` (`npm start`) is its command line; tests call `startDemos()` directly.
 *
 * What demo mode adds to a plain `tandem serve`:
 *  - `GET /`, `/chat`, `/editor`, `/richtext`, `/whiteboard`: the pages; `GET /demo/assets/:file`: their bundles.
 *  - `GET /demo/token?room=demo-…&name=…&user=…`: a 10-minute token for one `demo-` room, signed with
 *    the server's key. It stands in for your app's backend; a production server has no such route.
 *  - `/demo/versions…`: version history of `demo-` rooms (list, save, preview, restore) for the editor's
 *    History panel, relayed to the REST API with the admin key, as your backend would call it.
 *  - The webhook bot on 127.0.0.1 (random port), configured as the server's TANDEM_WEBHOOK_URL with a
 *    `whsec_` secret kept in `<data-dir>/demo-webhook-secret`.
 */
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import * as z from 'zod'
import { createServer, createLogger, loadConfig, mintToken } from '@tandem/server'
import { resolveVerificationKey } from '#server/auth/keys'
import { lockDataDir } from '#server/data-dir-lock'
import { resolveAdminKey } from '#server/http/admin-key'
import { defineRoute, jsonReply } from '#server/http/router'
import { roomName } from '#server/http/schemas'
import { AppError } from '#server/errors'
import { ASSETS_DIR, buildDemos } from './build.js'
import { startBot } from './bot/bot.js'

const HERE = path.dirname(fileURLToPath(import.meta.url))

/** Demo tokens only ever grant rooms whose names start with this. */
export const DEMO_ROOM_PREFIX = 'demo-'
/** Lifetime of a demo token; the SDK fetches a new one on reconnect and when it expires. */
export const DEMO_TOKEN_TTL_SEC = 10 * 60
const WEBHOOK_SECRET_FILE = 'demo-webhook-secret'

const PAGES = [
  { path: '/', file: 'index.html', operationId: 'demoIndex', summary: 'Demo index page' },
  { path: '/chat', file: 'chat/index.html', operationId: 'demoChat', summary: 'Chat demo page' },
  { path: '/editor', file: 'editor/index.html', operationId: 'demoEditor', summary: 'Collaborative editor demo page' },
  { path: '/richtext', file: 'richtext/index.html', operationId: 'demoRichtext', summary: 'Rich-text (Tiptap) demo page' },
  { path: '/whiteboard', file: 'whiteboard/index.html', operationId: 'demoWhiteboard', summary: 'Whiteboard demo page' },
]

/** @type {Record<string, string>} */
const CONTENT_TYPES = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.html': 'text/html; charset=utf-8',
}

/**
 * The demo routes: pages, bundles, the demo token route and the version-history relay.
 * @param {{ signingKey: () => Promise<Uint8Array | null>, issuer: string | null, audience: string | null, assetsDir?: string, api?: () => { url: string, adminKey: string } }} opts
 *   `signingKey` resolves to the server's HS256 secret, or null when tokens are verified with a public key or JWKS.
 *   `api` says where the REST API is and its admin key (for the version-history routes).
 * @returns {import('#server/http/router').Route[]}
 */
export function demoRoutes(opts) {
  const assetsDir = opts.assetsDir ?? ASSETS_DIR
  const demoRoom = roomName.refine((room) => room.startsWith(DEMO_ROOM_PREFIX), `only ${DEMO_ROOM_PREFIX}… rooms`)
  const versionId = z.string().regex(/^ver_[0-9a-z]{1,64}$/)
  const displayName = z.string().trim().min(1).max(40).optional()
  const relayed = { description: 'What the REST API answered (JSON).', json: z.unknown() }

  /**
   * Calls the REST API as an app backend would, with the admin key, and answers with what it answered.
   * @param {string} method @param {string} pathname @param {unknown} [body]
   */
  const relay = async (method, pathname, body) => {
    if (!opts.api) throw new AppError('unavailable', 'version history is not wired in this demo server')
    const { url, adminKey } = opts.api()
    const res = await fetch(`${url}${pathname}`, {
      method,
      headers: { authorization: `Bearer ${adminKey}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    })
    const text = await res.text()
    return { status: res.status, contentType: 'application/json', body: text === '' ? '{}' : text }
  }
  const roomPath = (/** @type {string} */ room) => `/v1/rooms/${encodeURIComponent(room)}/versions`
  const html = { description: 'An HTML page.', content: { type: 'text/html' } }

  /** @param {string} file @param {string} contentType */
  const serveFile = async (file, contentType) => {
    let body
    try {
      body = await readFile(file)
    } catch {
      throw new AppError('not_found', `${path.basename(file)} is missing: build the demos with \`node examples/build.js\``)
    }
    return { status: 200, contentType, body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength) }
  }

  return [
    ...PAGES.map((page) =>
      defineRoute({
        method: 'GET',
        path: page.path,
        operationId: page.operationId,
        summary: page.summary,
        description: 'Served in demo mode (`npm start`) only.',
        tag: 'demo',
        auth: 'public',
        responses: { 200: html },
        handle: () => serveFile(path.join(HERE, page.file), CONTENT_TYPES['.html'] ?? 'text/html'),
      }),
    ),
    defineRoute({
      method: 'GET',
      path: '/demo/assets/:file',
      operationId: 'demoAsset',
      summary: 'A bundled script or stylesheet of the demo pages',
      description: 'Served in demo mode (`npm start`) only.',
      tag: 'demo',
      auth: 'public',
      params: z.object({ file: z.string().regex(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/) }),
      responses: { 200: { description: 'The file.', content: { type: 'text/javascript' } } },
      errors: ['not_found'],
      handle: ({ params }) => {
        const type = CONTENT_TYPES[path.extname(params.file)]
        if (type === undefined) throw new AppError('not_found', `no demo asset ${params.file}`)
        return serveFile(path.join(assetsDir, params.file), type)
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/demo/token',
      operationId: 'demoToken',
      summary: `Mint a ${DEMO_TOKEN_TTL_SEC / 60}-minute write token for one ${DEMO_ROOM_PREFIX}… room (demo mode only)`,
      description:
        "Plays the part of your app's backend for the demo pages: anyone who can reach the server gets write access to rooms named demo-…, and to nothing else. `tandem serve` has no such route.",
      tag: 'demo',
      auth: 'public',
      query: z.object({
        room: roomName,
        name: z.string().trim().min(1).max(40).optional(),
        user: z
          .string()
          .regex(/^[A-Za-z0-9_-]{1,64}$/)
          .optional(),
      }),
      responses: { 200: { description: 'The token.', json: z.object({ token: z.string(), expiresAt: z.string() }) } },
      errors: ['forbidden', 'minting_disabled'],
      handle: async ({ query }) => {
        if (!query.room.startsWith(DEMO_ROOM_PREFIX)) {
          throw new AppError('forbidden', `demo tokens are only minted for rooms named ${DEMO_ROOM_PREFIX}…`)
        }
        const signingKey = await opts.signingKey()
        if (signingKey === null) {
          throw new AppError('minting_disabled', 'this server verifies tokens signed elsewhere (public key or JWKS): demo tokens cannot be minted')
        }
        const sub = query.user ?? `guest-${randomBytes(6).toString('hex')}`
        const token = await mintToken(
          signingKey,
          { sub, ...(query.name !== undefined && { name: query.name }), rooms: { [query.room]: 'write' } },
          { ttlSec: DEMO_TOKEN_TTL_SEC, issuer: opts.issuer, audience: opts.audience },
        )
        return jsonReply(200, { token, expiresAt: new Date(Date.now() + DEMO_TOKEN_TTL_SEC * 1000).toISOString() })
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/demo/versions',
      operationId: 'demoListVersions',
      summary: "A demo room's versions, newest first (demo mode only)",
      description: 'Relays GET /v1/rooms/{room}/versions with the admin key: the part your backend plays.',
      tag: 'demo',
      auth: 'public',
      query: z.object({ room: demoRoom }),
      responses: { 200: relayed },
      handle: ({ query }) => relay('GET', `${roomPath(query.room)}?limit=50`),
    }),
    defineRoute({
      method: 'POST',
      path: '/demo/versions',
      operationId: 'demoSaveVersion',
      summary: 'Save a named version of a demo room (demo mode only)',
      description: 'Relays POST /v1/rooms/{room}/versions with the admin key, recording `name` as the author.',
      tag: 'demo',
      auth: 'public',
      query: z.object({ room: demoRoom, name: displayName }),
      body: { kind: 'json', schema: z.strictObject({ label: z.string().trim().min(1).max(200) }) },
      responses: { 201: relayed },
      handle: ({ query, body }) => relay('POST', roomPath(query.room), { label: body.label, ...(query.name !== undefined && { author: query.name }) }),
    }),
    defineRoute({
      method: 'GET',
      path: '/demo/version-doc',
      operationId: 'demoVersionDoc',
      summary: "A demo room's version as JSON, for a read-only preview (demo mode only)",
      tag: 'demo',
      auth: 'public',
      query: z.object({ room: demoRoom, id: versionId }),
      responses: { 200: relayed },
      handle: ({ query }) => relay('GET', `${roomPath(query.room)}/${query.id}/doc?format=json`),
    }),
    defineRoute({
      method: 'POST',
      path: '/demo/restore',
      operationId: 'demoRestoreVersion',
      summary: 'Restore a version of a demo room (demo mode only)',
      description: 'Relays POST /v1/rooms/{room}/versions/{id}/restore with the admin key; every open editor changes live.',
      tag: 'demo',
      auth: 'public',
      query: z.object({ room: demoRoom, id: versionId, name: displayName }),
      responses: { 200: relayed },
      handle: ({ query }) => relay('POST', `${roomPath(query.room)}/${query.id}/restore`, query.name !== undefined ? { author: query.name } : {}),
    }),
  ]
}

/** The demo bot's webhook secret: TANDEM_WEBHOOK_SECRET, else one kept in the data directory. */
async function webhookSecret(/** @type {string | undefined} */ configured, /** @type {string} */ dataDir) {
  if (configured !== undefined && configured.trim() !== '') return configured.trim()
  const file = path.join(dataDir, WEBHOOK_SECRET_FILE)
  try {
    const existing = (await readFile(file, 'utf8')).trim()
    if (existing.startsWith('whsec_')) return existing
  } catch {
    // first run
  }
  const secret = `whsec_${randomBytes(32).toString('base64')}`
  await writeFile(file, `${secret}\n`, { mode: 0o600 })
  return secret
}

/**
 * @typedef {object} DemoOptions
 * @property {Readonly<Record<string, string | undefined>>} [env] Environment with the TANDEM_* variables (default: process.env)
 * @property {import('@tandem/server').ConfigOverrides} [overrides] CLI flags: host, port, dataDir.
 * @property {import('pino').Logger} [logger]
 * @property {boolean} [bot] Start the webhook bot (default true)
 * @property {boolean} [build] Rebuild the page bundles first (default true)
 */

/**
 * Starts the server with the demos (and the bot). Resolves once it listens.
 * @param {DemoOptions} [options]
 */
export async function startDemos(options = {}) {
  const env = options.env ?? process.env
  // Demo mode listens on loopback unless told otherwise: its token route hands out demo tokens to anyone who can reach it.
  const overrides = { ...options.overrides }
  if (overrides.host === undefined && (env.TANDEM_HOST ?? '').trim() === '') overrides.host = '127.0.0.1'
  const base = loadConfig(env, overrides)
  // Before the admin key and the bot's secret are written there: a second `npm start` on a data
  // directory in use stops here and changes nothing. The server takes the lock over.
  const lock = lockDataDir(base.dataDir, base.dataDirSetting)
  try {
    return await startLocked(options, env, overrides, base, lock)
  } catch (err) {
    lock.release() // idempotent: a server that was built has released it already
    throw err
  }
}

/**
 * @param {DemoOptions} options @param {Readonly<Record<string, string | undefined>>} env
 * @param {import('@tandem/server').ConfigOverrides} overrides @param {ReturnType<typeof loadConfig>} base
 * @param {import('#server/data-dir-lock').DataDirLock} lock
 */
async function startLocked(options, env, overrides, base, lock) {
  if (options.build !== false) await buildDemos()
  const log = options.logger ?? createLogger(base.logLevel)
  const adminKey = await resolveAdminKey(base.http.adminKey, base.dataDir)
  if (adminKey.source === 'generated') {
    log.info({ adminKeyFile: adminKey.path }, 'no TANDEM_ADMIN_KEY configured: generated a REST admin key; print it with `npx tandem admin-key`')
  }

  let tandemUrl = ''
  /** @type {Awaited<ReturnType<typeof startBot>> | null} */
  let bot = null
  /** @type {Record<string, string | undefined>} */
  const demoEnv = { ...env }
  if (options.bot !== false) {
    const secret = await webhookSecret(env.TANDEM_WEBHOOK_SECRET, base.dataDir)
    bot = await startBot({ tandemUrl: () => tandemUrl, adminKey: adminKey.key, secret, log: log.child({ component: 'bot' }) })
    Object.assign(demoEnv, {
      TANDEM_WEBHOOK_URL: bot.url,
      TANDEM_WEBHOOK_SECRET: secret,
      TANDEM_WEBHOOK_ALLOW_PRIVATE: 'true',
      // A chat bot should answer within a second, not after the production debounce.
      TANDEM_WEBHOOK_DEBOUNCE_MS: env.TANDEM_WEBHOOK_DEBOUNCE_MS ?? '150',
      TANDEM_WEBHOOK_MAX_WAIT_MS: env.TANDEM_WEBHOOK_MAX_WAIT_MS ?? '1000',
      TANDEM_WEBHOOK_RETRY_BASE_MS: env.TANDEM_WEBHOOK_RETRY_BASE_MS ?? '1000',
    })
  }
  const config = loadConfig(demoEnv, overrides)
  // Resolved on first use, after createServer has generated (and announced) the secret on a first run.
  /** @type {Promise<Uint8Array | null> | null} */
  let signingKey = null
  const routes = demoRoutes({
    signingKey: () => (signingKey ??= resolveVerificationKey(config.auth, config.dataDir).then((key) => (key.kind === 'secret' ? key.key : null))),
    issuer: config.auth.issuer,
    audience: config.auth.audience,
    api: () => ({ url: tandemUrl, adminKey: adminKey.key }),
  })

  let server
  try {
    server = await createServer(config, { logger: log, routes: (router) => router.add(...routes), dataDirLock: lock })
  } catch (err) {
    await bot?.close()
    throw err
  }
  let port
  try {
    ;({ port } = await server.listen())
  } catch (err) {
    await server.close()
    await bot?.close()
    throw err
  }
  const localHost = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host
  tandemUrl = `http://${localHost.includes(':') ? `[${localHost}]` : localHost}:${port}`
  const url = `http://${config.host === '127.0.0.1' || config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : localHost}:${port}/`
  log.info({ url, port, bot: bot?.url ?? null }, 'demos ready')

  let closing = /** @type {Promise<void> | null} */ (null)
  return {
    server,
    port,
    /** The index page, e.g. http://localhost:4321/ */
    url,
    config,
    adminKey: adminKey.key,
    bot,
    /** Drains the server (as SIGTERM does), then stops the bot. */
    close() {
      closing ??= (async () => {
        await server.close()
        await bot?.close()
      })()
      return closing
    },
  }
}
