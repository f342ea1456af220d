/**
 * A restart can listen again at once: after a SIGTERM drain that closed 20 clients (leaving one
 * TIME_WAIT per connection on the server's port), a new server binds the same port on the first try.
 */
import { spawn } from 'node:child_process'
import { afterEach, expect, test } from 'vitest'
import { CLI, spawnServer, tempDir, TEST_SECRET, token, waitFor, type ChildServer } from '../helpers/server.js'
import { closeOpenConns, single, type Conn } from '../helpers/raw-client.js'

const cleanups: Array<() => void | Promise<void>> = []
afterEach(async () => {
  closeOpenConns()
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** Runs `tandem serve` on a given port; resolves with whether it listened or exited (and its output). */
function serveOn(dataDir: string, port: number): Promise<{ listened: boolean; output: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [CLI, 'serve', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir], {
    env: { ...process.env, TANDEM_JWT_SECRET: TEST_SECRET, TANDEM_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()))
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
  let done = false
  void exited.then(() => (done = true))
  const stop = async (): Promise<void> => {
    if (!done) child.kill('SIGKILL')
    await exited
  }
  cleanups.push(stop)
  return new Promise((resolve, reject) => {
    waitFor(() => done || out.includes('"msg":"listening"'), 'the second server to listen or exit', 20_000).then(
      () => resolve({ listened: out.includes('"msg":"listening"'), output: out, stop }),
      reject,
    )
  })
}

test('after a SIGTERM drain with 20 clients, a new server listens on the same port on the first try', async () => {
  const { dir, remove } = await tempDir()
  cleanups.push(remove)
  const first: ChildServer = await spawnServer(dir)
  let firstExited = false
  void first.exited.then(() => (firstExited = true))
  cleanups.push(async () => {
    if (!firstExited) first.child.kill('SIGKILL')
    await first.exited
  })
  const jwt = await token()
  const url = `ws://127.0.0.1:${first.port}`
  const clients: Conn[] = []
  for (let i = 0; i < 20; i++) clients.push(await single(url, `drain-${i % 4}`, { token: jwt }))

  first.child.kill('SIGTERM')
  expect(await first.exited).toBe(0)
  await waitFor(() => clients.every((c) => c.closeInfo !== null), 'every client to see the drain')
  expect(clients.map((c) => c.closeInfo?.code)).toEqual(new Array(20).fill(1012))

  const second = await serveOn(dir, first.port)
  expect(second.listened, second.output).toBe(true)
  expect(second.output).toContain(`"port":${first.port}`)
  await second.stop()
})
