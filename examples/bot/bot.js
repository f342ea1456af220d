#!/usr/bin/env node
// @ts-check
/**
 * Tandem webhook bot: receives Tandem's webhooks, verifies their Standard Webhooks signature, and
 * answers in chat rooms by writing to the room's Yjs document through the REST API.
 *
 * - `user.entered` in a chat room: welcomes the person, once per person and room. Whom it welcomed is
 *   kept in the room's document (the `welcomed` Y.Map, user id -> when), so a restarted bot
 *   remembers.
 * - `room.changed` in a chat room: reads the document, and answers new messages that say `/roll`
 *   (`/roll 20`, `/roll 2d6`) or mention `@bot`. Answers carry `replyTo`, so a message is answered
 *   once even if a delivery is retried or the bot restarts.
 *
 * `npm start` runs it in-process next to the demos. Alone, against any Tandem server:
 *
 *   node examples/bot/bot.js --tandem http://localhost:4321 --admin-key "$(npx tandem admin-key)" --port 8787
 *
 * With `--secret whsec_…` it uses the secret of an endpoint you configured (TANDEM_WEBHOOK_URL +
 * TANDEM_WEBHOOK_SECRET on the server); without it, it registers itself through `POST /v1/webhooks`
 * (at `--public-url`, default http://<host>:<port>/webhook) and removes that endpoint when stopped.
 * A server only delivers to loopback or private addresses with TANDEM_WEBHOOK_ALLOW_PRIVATE=true.
 */
import http from 'node:http'
import { randomInt } from 'node:crypto'
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'
import { Webhook } from 'standardwebhooks'
import * as Y from 'yjs'

/**
 * One chat message, as the chat demo stores it in the room's `messages` Y.Array.
 * @typedef {{ id: string, userId: string, name: string, color: string, text: string, at: number, bot?: boolean, replyTo?: string }} ChatMessage
 */

/**
 * The body of every Tandem webhook.
 * @typedef {{ type: string, timestamp: string, data: Record<string, unknown> }} WebhookEvent
 */

/**
 * pino-compatible: `log.info({ fields }, 'message')`.
 * @typedef {{ info(obj: object, msg: string): void, warn(obj: object, msg: string): void, error(obj: object, msg: string): void }} BotLogger
 */

/**
 * @typedef {object} BotOptions
 * @property {string | (() => string)} tandemUrl Base URL of the Tandem server's REST API, e.g. http://localhost:4321
 * @property {string} adminKey Tandem's REST admin key
 * @property {string | (() => string | null)} secret The endpoint's `whsec_…` signing secret (a function when it is only known
 *   after the bot listens, as when it registers itself; while it returns null, deliveries get 503 and are retried)
 * @property {string} [roomPrefix] Prefix of the rooms the bot talks in (default `demo-chat:`)
 * @property {BotLogger} [log]
 */

export const BOT_USER = Object.freeze({ userId: 'bot', name: 'Tandem Bot', color: '#8e4ec6' })
const MAX_BODY_BYTES = 256 * 1024
/** Messages older than this are never answered (say, after the bot was down for a day). */
const MAX_AGE_MS = 10 * 60_000
/** How many welcomed `${room}|${userId}` keys to remember in memory (the room's document has them all). */
const WELCOMED_CACHE_SIZE = 5000

/** @type {BotLogger} */
const consoleLog = {
  info: (obj, msg) => console.log(`[bot] ${msg}`, Object.keys(obj).length > 0 ? JSON.stringify(obj) : ''),
  warn: (obj, msg) => console.warn(`[bot] ${msg}`, JSON.stringify(obj)),
  error: (obj, msg) => console.error(`[bot] ${msg}`, obj),
}

/**
 * The bot without its HTTP server: `handle` is a Node request listener for the webhook endpoint.
 * @param {BotOptions} options
 */
export function createBot(options) {
  const secretOf = typeof options.secret === 'function' ? options.secret : () => /** @type {string} */ (options.secret)
  /** @type {{ secret: string, webhook: Webhook } | null} */
  let verifier = null
  /** The verifier for the current secret, or null while there is none yet. */
  const currentVerifier = () => {
    const secret = secretOf()
    if (secret === null) return null
    if (verifier?.secret !== secret) verifier = { secret, webhook: new Webhook(secret) }
    return verifier.webhook
  }
  const baseUrl = typeof options.tandemUrl === 'function' ? options.tandemUrl : () => /** @type {string} */ (options.tandemUrl)
  const roomPrefix = options.roomPrefix ?? 'demo-chat:'
  const log = options.log ?? consoleLog
  /** Webhook ids already processed (Standard Webhooks: the id is stable across retries). */
  const seen = new Set()
  /** `${room}|${userId}` of people known to be welcomed: spares a document read per user.entered. */
  const welcomed = new Set()
  /** Work per room runs one at a time, so two deliveries never answer the same message twice. */
  const queues = new Map()
  const stats = { received: 0, rejected: 0, answered: 0, welcomed: 0, alreadyWelcomed: 0 }

  /**
   * Reads a room, lets `edit` change a scratch copy, and posts only what changed.
   * @param {string} room
   * @param {(messages: Y.Array<ChatMessage>, doc: Y.Doc) => void} edit
   */
  async function editRoom(room, edit) {
    const url = `${baseUrl()}/v1/rooms/${encodeURIComponent(room)}/doc`
    const headers = { authorization: `Bearer ${options.adminKey}` }
    const res = await fetch(url, { headers })
    if (res.status === 404) return // deleted meanwhile
    if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status} ${await res.text()}`)
    const scratch = new Y.Doc()
    Y.applyUpdate(scratch, new Uint8Array(await res.arrayBuffer()))
    const before = Y.encodeStateVector(scratch)
    edit(scratch.getArray('messages'), scratch)
    const update = Y.encodeStateAsUpdate(scratch, before)
    scratch.destroy()
    if (update.byteLength <= 2) return // nothing changed (an empty update is 2 bytes)
    const body = /** @type {Uint8Array<ArrayBuffer>} */ (update)
    const post = await fetch(url, { method: 'POST', headers: { ...headers, 'content-type': 'application/octet-stream' }, body })
    if (!post.ok) throw new Error(`POST ${url}: HTTP ${post.status} ${await post.text()}`)
  }

  /** @param {string} room @param {() => Promise<void>} task */
  function serialized(room, task) {
    const next = (queues.get(room) ?? Promise.resolve()).then(task)
    const tail = next.catch(() => {})
    queues.set(room, tail)
    void tail.then(() => {
      if (queues.get(room) === tail) queues.delete(room)
    })
    return next
  }

  /** @param {string} text @param {string} [replyTo] @returns {ChatMessage} */
  function botMessage(text, replyTo) {
    const at = Date.now()
    return { id: `b_${at.toString(36)}_${randomInt(1e9).toString(36)}`, ...BOT_USER, text, at, bot: true, ...(replyTo !== undefined && { replyTo }) }
  }

  /** @param {string} room */
  function answerCommands(room) {
    return serialized(room, () =>
      editRoom(room, (messages) => {
        const all = messages.toArray()
        const answered = new Set(all.flatMap((m) => (m.replyTo ? [m.replyTo] : [])))
        const replies = []
        for (const message of all.slice(-50)) {
          if (message.bot || answered.has(message.id) || Date.now() - message.at > MAX_AGE_MS) continue
          const text = reply(message)
          if (text !== null) replies.push(botMessage(text, message.id))
        }
        if (replies.length > 0) {
          messages.push(replies)
          stats.answered += replies.length
          log.info({ room, replies: replies.length }, 'answered chat commands')
        }
      }),
    )
  }

  /** @param {string} key */
  function remember(key) {
    welcomed.add(key)
    if (welcomed.size > WELCOMED_CACHE_SIZE) welcomed.delete(welcomed.values().next().value)
  }

  /** @param {string} room @param {string} userId @param {string} name */
  function welcome(room, userId, name) {
    const key = `${room}|${userId}`
    if (welcomed.has(key)) {
      stats.alreadyWelcomed += 1
      return Promise.resolve()
    }
    const channel = room.slice(roomPrefix.length)
    return serialized(room, () =>
      editRoom(room, (messages, doc) => {
        // Read and written in one edit, serialized per room: two deliveries cannot both welcome.
        const done = /** @type {Y.Map<number>} */ (doc.getMap('welcomed'))
        if (done.has(userId)) {
          stats.alreadyWelcomed += 1
          return
        }
        done.set(userId, Date.now())
        messages.push([botMessage(`👋 Welcome to #${channel}, ${name}! Type /roll to roll a die, or mention @bot.`)])
        stats.welcomed += 1
      }),
    ).then(() => remember(key))
  }

  /** @param {WebhookEvent} event */
  async function onEvent(event) {
    const room = typeof event.data.room === 'string' ? event.data.room : ''
    if (!room.startsWith(roomPrefix)) return
    if (event.type === 'room.changed') await answerCommands(room)
    else if (event.type === 'user.entered') {
      const userId = String(event.data.userId ?? '')
      const name = typeof event.data.name === 'string' && event.data.name !== '' ? event.data.name : 'there'
      await welcome(room, userId, name)
    }
  }

  /** @type {http.RequestListener} */
  function handle(req, res) {
    if (req.method === 'GET' && (req.url === '/' || req.url === '/healthz')) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, ...stats }))
      return
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'GET, POST' }).end()
      return
    }
    const chunks = /** @type {Buffer[]} */ ([])
    let size = 0
    req.on('data', (/** @type {Buffer} */ chunk) => {
      size += chunk.byteLength
      if (size > MAX_BODY_BYTES) {
        res.writeHead(413, { connection: 'close' }).end()
        req.destroy()
      } else chunks.push(chunk)
    })
    req.on('end', () => {
      if (res.headersSent) return
      const body = Buffer.concat(chunks).toString('utf8')
      /** @type {Record<string, string>} */
      const headers = {
        'webhook-id': String(req.headers['webhook-id'] ?? ''),
        'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
        'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
      }
      const webhook = currentVerifier()
      if (webhook === null) {
        res.writeHead(503, { 'retry-after': '1' }).end()
        return
      }
      /** @type {WebhookEvent} */
      let event
      try {
        // Checks the HMAC over id.timestamp.body and that the timestamp is within 5 minutes.
        event = /** @type {WebhookEvent} */ (webhook.verify(body, headers))
      } catch (err) {
        stats.rejected += 1
        log.warn({ err: err instanceof Error ? err.message : String(err) }, 'rejected a webhook with a bad signature')
        res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid signature' }))
        return
      }
      stats.received += 1
      const id = headers['webhook-id']
      if (seen.has(id)) {
        res.writeHead(204).end()
        return
      }
      onEvent(event).then(
        () => {
          seen.add(id)
          if (seen.size > 5000) seen.delete(seen.values().next().value)
          res.writeHead(204).end()
        },
        (err) => {
          // A non-2xx answer makes Tandem retry the delivery later, with backoff.
          log.error({ err, type: event.type }, 'could not handle a webhook; Tandem will retry it')
          res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'temporarily unavailable' }))
        },
      )
    })
  }

  return { handle, stats }
}

/**
 * What the bot says to a message, or null when it has nothing to say.
 * @param {Pick<ChatMessage, 'name' | 'text'>} message
 * @returns {string | null}
 */
export function reply(message) {
  const text = message.text.trim()
  const roll = /^\/roll(?:\s+(?:(\d{1,2})?d(\d{1,4})|(\d{1,4})))?\s*$/i.exec(text)
  if (roll) {
    const count = Math.min(Math.max(Number(roll[1] ?? 1), 1), 20)
    const sides = Math.min(Math.max(Number(roll[2] ?? roll[3] ?? 6), 2), 1000)
    const dice = Array.from({ length: count }, () => randomInt(1, sides + 1))
    const total = dice.reduce((a, b) => a + b, 0)
    const what = count === 1 ? `a d${sides}` : `${count}d${sides}`
    return count === 1 ? `🎲 ${message.name} rolled ${what}: ${total}` : `🎲 ${message.name} rolled ${what}: ${dice.join(' + ')} = ${total}`
  }
  if (text.startsWith('/roll')) return `Usage: /roll, /roll 20 or /roll 2d6`
  if (/(^|\W)@bot\b/i.test(text)) {
    return `Hi ${message.name}! I'm a webhook bot: Tandem tells me when this room changes, and I answer through its REST API. Try /roll, /roll 20 or /roll 2d6.`
  }
  return null
}

/**
 * Starts the bot's HTTP server.
 * @param {BotOptions & { port?: number, host?: string }} options
 * @returns {Promise<{ port: number, url: string, stats: ReturnType<typeof createBot>['stats'], close(): Promise<void> }>}
 */
export async function startBot(options) {
  const bot = createBot(options)
  const server = http.createServer(bot.handle)
  const host = options.host ?? '127.0.0.1'
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, host, () => resolve(undefined))
  })
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return {
    port,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/webhook`,
    stats: bot.stats,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

// ---- standalone ---------------------------------------------------------------------------------------

const USAGE = `Usage: node examples/bot/bot.js --tandem <url> --admin-key <key> [--port 8787] [--host 127.0.0.1]
                              [--secret whsec_…] [--public-url <url>] [--rooms demo-chat:]

  --tandem      the Tandem server's base URL, e.g. http://localhost:4321 (env TANDEM_URL)
  --admin-key   its REST admin key: \`npx tandem admin-key\` on the server (env TANDEM_ADMIN_KEY)
  --port        port to listen on, 0 for any free one (default 8787); --host: interface (default 127.0.0.1)
  --secret      the whsec_ secret of an endpoint already pointing here (env TANDEM_WEBHOOK_SECRET);
                without it the bot registers itself with POST /v1/webhooks and removes that on exit
  --public-url  where Tandem can reach this bot (default http://<host>:<port>/webhook)
  --rooms       prefix of the chat rooms to talk in (default demo-chat:)`

async function main() {
  const { values } = parseArgs({
    options: {
      tandem: { type: 'string' },
      'admin-key': { type: 'string' },
      port: { type: 'string', default: '8787' },
      host: { type: 'string', default: '127.0.0.1' },
      secret: { type: 'string' },
      'public-url': { type: 'string' },
      rooms: { type: 'string', default: 'demo-chat:' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  })
  const tandem = (values.tandem ?? process.env.TANDEM_URL ?? '').replace(/\/+$/, '')
  const adminKey = values['admin-key'] ?? process.env.TANDEM_ADMIN_KEY ?? ''
  if (values.help || tandem === '' || adminKey === '') {
    console.error(USAGE)
    process.exit(values.help ? 0 : 2)
  }
  const host = values.host ?? '127.0.0.1'
  /** @type {string | null} */
  let secret = values.secret ?? process.env.TANDEM_WEBHOOK_SECRET ?? null
  const bot = await startBot({ tandemUrl: tandem, adminKey, secret: () => secret, roomPrefix: values.rooms, port: Number(values.port), host })
  /** @type {string | null} */
  let registered = null
  if (secret === null) {
    const publicUrl = values['public-url'] ?? bot.url
    const res = await fetch(`${tandem}/v1/webhooks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: publicUrl, events: ['user.entered', 'room.changed'] }),
    })
    const body = /** @type {{ id?: string, secret?: string, error?: { message: string } }} */ (await res.json())
    if (!res.ok || body.secret === undefined || body.id === undefined) {
      console.error(`[bot] could not register ${publicUrl} with ${tandem}: HTTP ${res.status} ${body.error?.message ?? ''}`)
      await bot.close()
      process.exit(1)
    }
    secret = body.secret
    registered = body.id
    consoleLog.info({ endpoint: registered, url: publicUrl }, 'registered a webhook endpoint')
  }
  consoleLog.info({ url: bot.url, port: bot.port, tandem }, 'listening for webhooks')

  const stop = async () => {
    if (registered !== null) {
      await fetch(`${tandem}/v1/webhooks/${registered}`, { method: 'DELETE', headers: { authorization: `Bearer ${adminKey}` } }).catch(() => {})
    }
    await bot.close()
    process.exit(0)
  }
  process.once('SIGINT', () => void stop())
  process.once('SIGTERM', () => void stop())
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error('[bot] failed:', err)
    process.exit(1)
  })
}
