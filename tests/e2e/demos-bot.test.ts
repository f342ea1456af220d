/**
 * The webhook bot run alone (`node examples/bot/bot.js --tandem … --admin-key … --port 0`) against a
 * plain production server (`tandem serve`, no demo mode): it registers itself through POST /v1/webhooks,
 * verifies signatures, welcomes a user, answers `/roll 2d6` through the REST API, and removes its
 * endpoint when stopped. Also checks that `tandem serve` itself serves no demo pages and no demo tokens.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import WebSocket from 'ws'
import type * as Y from 'yjs'
import { TandemClient } from '../../client-sdk/src/index.js'
import { spawnServer, tempDir, token, waitFor, type ChildServer } from '../helpers/server.js'
import { ROOT } from './demos/harness.js'

const ADMIN_KEY = 'bot-test-admin-key-0123456789abcdef'

interface ChatMessage {
  id: string
  userId: string
  name: string
  color: string
  text: string
  at: number
  bot?: boolean
  replyTo?: string
}

describe('webhook bot, standalone against tandem serve', () => {
  let dir: { dir: string; remove: () => Promise<void> }
  let server: ChildServer
  let base: string
  let bot: ChildProcess
  let botOut = ''
  let botPort = 0
  const admin = { authorization: `Bearer ${ADMIN_KEY}` }

  beforeAll(async () => {
    dir = await tempDir()
    server = await spawnServer(dir.dir, {
      TANDEM_ADMIN_KEY: ADMIN_KEY,
      TANDEM_WEBHOOK_ALLOW_PRIVATE: 'true',
      TANDEM_WEBHOOK_DEBOUNCE_MS: '100',
      TANDEM_WEBHOOK_MAX_WAIT_MS: '500',
    })
    base = `http://127.0.0.1:${server.port}`
    bot = spawn(process.execPath, [path.join(ROOT, 'examples/bot/bot.js'), '--tandem', base, '--admin-key', ADMIN_KEY, '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    bot.stdout?.on('data', (chunk: Buffer) => (botOut += chunk.toString()))
    bot.stderr?.on('data', (chunk: Buffer) => (botOut += chunk.toString()))
    await waitFor(() => {
      const match = /listening for webhooks .*"port":(\d+)/.exec(botOut)
      if (match?.[1]) botPort = Number(match[1])
      if (bot.exitCode !== null) throw new Error(`the bot exited early:\n${botOut}`)
      return botPort > 0
    }, 'the bot to listen', 15_000)
  })

  afterAll(async () => {
    if (bot && bot.exitCode === null) bot.kill('SIGKILL')
    if (server) {
      server.child.kill('SIGTERM')
      await server.exited
    }
    await dir?.remove()
  })

  test('tandem serve has no demo pages and no demo token route', async () => {
    expect((await fetch(`${base}/`)).status).toBe(404)
    expect((await fetch(`${base}/chat`)).status).toBe(404)
    expect((await fetch(`${base}/demo/token?room=demo-chat`)).status).toBe(404)
    // Minting needs the admin key.
    const res = await fetch(`${base}/v1/tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sub: 'x', rooms: { '*': 'write' } }) })
    expect(res.status).toBe(401)
  })

  test('registers itself, rejects forged deliveries, welcomes and answers /roll through the REST API', async () => {
    const list = (await (await fetch(`${base}/v1/webhooks`, { headers: admin })).json()) as { webhooks: { url: string }[] }
    expect(list.webhooks.map((w) => w.url)).toEqual([`http://127.0.0.1:${botPort}/webhook`])

    const forged = await fetch(`http://127.0.0.1:${botPort}/webhook`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': 'msg_forged',
        'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
        'webhook-signature': 'v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
      },
      body: JSON.stringify({ type: 'room.changed', timestamp: new Date().toISOString(), data: { room: 'demo-chat:x' } }),
    })
    expect(forged.status).toBe(401)

    const room = 'demo-chat:standalone'
    const jwt = await token({ sub: 'dana', name: 'Dana', rooms: { [room]: 'write' } })
    const client = new TandemClient({ url: `ws://127.0.0.1:${server.port}/ws`, getToken: () => jwt, WebSocket })
    try {
      const provider = client.room(room)
      await provider.whenSynced()
      const messages = provider.doc.getArray<ChatMessage>('messages')
      const has = (pred: (m: ChatMessage) => boolean): boolean => messages.toArray().some(pred)

      await waitFor(() => has((m) => m.bot === true && m.text.includes('Welcome to #standalone, Dana!')), 'the welcome message', 15_000)

      const roll: ChatMessage = { id: 'm_roll_1', userId: 'dana', name: 'Dana', color: '#0090ff', text: '/roll 2d6', at: Date.now() }
      messages.push([roll])
      await provider.whenSaved()
      await waitFor(() => has((m) => m.replyTo === roll.id), 'the bot to answer /roll 2d6', 15_000)
      const answer = messages.toArray().find((m) => m.replyTo === roll.id) as ChatMessage
      expect(answer.bot).toBe(true)
      expect(answer.text).toMatch(/^🎲 Dana rolled 2d6: ([1-6]) \+ ([1-6]) = (\d+)$/)
      const [, a, b, sum] = /: (\d) \+ (\d) = (\d+)$/.exec(answer.text) ?? []
      expect(Number(a) + Number(b)).toBe(Number(sum))

      // Ordinary messages get no answer; every /roll gets exactly one even as more changes arrive.
      messages.push([{ ...roll, id: 'm_plain', text: 'just chatting', at: Date.now() }])
      messages.push([{ ...roll, id: 'm_mention', text: 'hey @bot', at: Date.now() }])
      await waitFor(() => has((m) => m.replyTo === 'm_mention'), 'the bot to answer the mention', 15_000)
      expect(countReplies(messages, roll.id)).toBe(1)
      expect(countReplies(messages, 'm_plain')).toBe(0)
      provider.destroy()
    } finally {
      client.destroy()
    }
  })

  test('stopping the bot removes the endpoint it registered', async () => {
    const exited = new Promise<number | null>((resolve) => bot.once('exit', (code) => resolve(code)))
    bot.kill('SIGTERM')
    expect(await exited).toBe(0)
    const list = (await (await fetch(`${base}/v1/webhooks`, { headers: admin })).json()) as { webhooks: unknown[] }
    expect(list.webhooks).toEqual([])
  })
})

function countReplies(messages: Y.Array<ChatMessage>, id: string): number {
  return messages.toArray().filter((m) => m.replyTo === id).length
}
