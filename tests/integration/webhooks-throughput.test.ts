/**
 * Delivery throughput against a local receiver that answers 204 at once, for each store. Prints
 * deliveries/s; asserts only a floor far below what a laptop does, so it never flakes on a slow CI box.
 *
 *   npx tsc -b && npx vitest run tests/integration/webhooks-throughput.test.ts
 *
 * WEBHOOK_BENCH_N (default 3000) and WEBHOOK_BENCH_CONCURRENCY (default 8) change the run.
 */
import { spawn } from 'node:child_process'
import path from 'node:path'
import { describe, expect, onTestFinished, test } from 'vitest'
import { pino } from 'pino'
import { createMemoryStore } from '@tandem/server/persistence/memory'
import { createSqliteStore } from '@tandem/server/persistence/sqlite'
import type { Store } from '@tandem/server/persistence/store'
import { createRoomEvents } from '@tandem/server/rooms/events'
import { createWebhooks } from '@tandem/server/webhooks/service'
import { tempDir, waitFor } from '../helpers/server.js'

const N = Number(process.env.WEBHOOK_BENCH_N ?? 3_000)
const CONCURRENCY = Number(process.env.WEBHOOK_BENCH_CONCURRENCY ?? 8)
const silent = pino({ level: 'silent' })

/** Answers 204 to every POST; GET /count tells how many it got. Prints its port. */
const RECEIVER = `
const http = require('node:http')
let n = 0
const server = http.createServer({ keepAlive: true }, (req, res) => {
  if (req.method === 'GET') return res.end(String(n))
  req.resume()
  req.on('end', () => { n++; res.writeHead(204).end() })
})
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'))
`

const stores: { name: string; create: () => Promise<Store> }[] = [
  { name: 'memory', create: async () => createMemoryStore() },
  {
    name: 'sqlite',
    create: async () => {
      const tmp = await tempDir()
      onTestFinished(() => tmp.remove())
      return createSqliteStore({ path: path.join(tmp.dir, 'tandem.db') }, silent)
    },
  },
]

describe.each(stores)('webhook throughput ($name store)', ({ name, create }) => {
  test(`${N} deliveries to a local receiver`, { timeout: 120_000 }, async () => {
    // The receiver runs in its own process, as a real one would: the measurement is the sender's.
    const rx = spawn(process.execPath, ['-e', RECEIVER], { stdio: ['ignore', 'pipe', 'inherit'] })
    onTestFinished(() => {
      rx.kill('SIGKILL')
    })
    const port = await new Promise<number>((resolve, reject) => {
      rx.stdout.once('data', (c: Buffer) => resolve(Number(c.toString().trim())))
      rx.once('exit', () => reject(new Error('receiver exited')))
    })
    const url = `http://127.0.0.1:${port}/hook`
    const received = async (): Promise<number> => Number(await (await fetch(`http://127.0.0.1:${port}/count`)).text())

    const store = await create()
    let delivered = 0
    const events = createRoomEvents(() => {})
    const webhooks = await createWebhooks(
      { url: null, secret: null, allowPrivate: true, timeoutMs: 5_000, debounceMs: 0, maxWaitMs: 0, maxAttempts: 3, retryBaseMs: 20, retryMaxMs: 200 },
      { store, events, log: silent, metrics: { webhookAttempt: (o) => void (o === 'delivered' && delivered++), webhookQueueDepth() {} }, describeRoom: async () => null, concurrency: CONCURRENCY },
    )
    onTestFinished(async () => {
      await webhooks.close()
      await store.close()
    })
    await webhooks.createEndpoint({ url })

    const t0 = performance.now()
    for (let i = 0; i < N; i++) events.emit({ type: 'user.entered', roomId: `room-${i % 100}`, userId: `u${i}`, name: null, activeUsers: 1, at: Date.now() })
    const emitMs = performance.now() - t0
    await waitFor(() => delivered === N, `${N} deliveries`, 110_000)
    const seconds = (performance.now() - t0) / 1000
    const rate = N / seconds
    console.log(`[webhooks ${name}] ${N} deliveries, concurrency ${CONCURRENCY}: ${seconds.toFixed(2)} s, ${Math.round(rate)} deliveries/s (emitting took ${emitMs.toFixed(1)} ms)`)
    expect(await received()).toBe(N) // exactly once each
    expect(rate).toBeGreaterThan(100)
  })
})
