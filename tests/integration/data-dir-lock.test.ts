/**
 * One server per data directory: a second `tandem serve` on a directory a running server uses exits
 * with one line naming the directory and the holder's pid, and changes nothing (the running server's
 * configured webhook endpoint and its secrets stay); a server killed with SIGKILL leaves no stale lock;
 * a data directory that cannot be used is one line naming the setting the user gave, never a stack trace.
 */
import { spawn } from 'node:child_process'
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, test } from 'vitest'
import { CLI, ROOT, TEST_SECRET, spawnServer, tempDir, type ChildServer } from '../helpers/server.js'

const children: ChildServer[] = []
const cleanups: (() => Promise<void>)[] = []

afterEach(async () => {
  for (const c of children.splice(0)) {
    c.child.kill('SIGKILL')
    await c.exited
  }
  for (const clean of cleanups.splice(0)) await clean()
})

/** Runs the CLI (or another script) to completion; resolves with its exit code and everything it printed. */
function run(args: string[], env: Record<string, string> = {}, script = CLI): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], { env: { ...process.env, TANDEM_JWT_SECRET: TEST_SECRET, TANDEM_LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (c: Buffer) => (out += c.toString()))
    child.stderr.on('data', (c: Buffer) => (out += c.toString()))
    child.on('exit', (code) => resolve({ code, out }))
  })
}

const WEBHOOK_ENV = { TANDEM_WEBHOOK_URL: 'http://127.0.0.1:9/hook', TANDEM_WEBHOOK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', TANDEM_WEBHOOK_ALLOW_PRIVATE: 'true' }

describe('one server per data directory', () => {
  test('a second server on the same directory exits with one line naming it and the holder, and changes nothing', async () => {
    const { dir, remove } = await tempDir()
    cleanups.push(remove)
    const first = await spawnServer(dir, { ...WEBHOOK_ENV, TANDEM_JWT_SECRET: '' })
    children.push(first)
    const before = Object.fromEntries(readdirSync(dir).filter((f) => !f.startsWith('tandem.sqlite')).map((f) => [f, readFileSync(path.join(dir, f))]))

    // No webhook URL and no JWT secret: were it to start, it would remove the endpoint and could rewrite secrets.
    const second = await run(['serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dir], { TANDEM_JWT_SECRET: '' })
    expect(second.code).toBe(1)
    const lines = second.out.trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toBe(`tandem: --data-dir: ${dir} is in use by another Tandem server (pid ${first.child.pid}); stop it, or give this one its own data directory`)
    expect(second.out).not.toMatch(/\n\s+at /)

    const after = Object.fromEntries(readdirSync(dir).filter((f) => !f.startsWith('tandem.sqlite')).map((f) => [f, readFileSync(path.join(dir, f))]))
    expect(after).toEqual(before)
    // The running server still has its configured endpoint.
    const adminKey = readFileSync(path.join(dir, 'admin-key'), 'utf8').trim()
    const res = await fetch(`http://127.0.0.1:${first.port}/v1/webhooks`, { headers: { authorization: `Bearer ${adminKey}` } })
    expect(((await res.json()) as { webhooks: { id: string }[] }).webhooks.map((e) => e.id)).toContain('ep_config')
  })

  test('a second `npm start` (demo mode) on a directory in use stops before writing its admin key or bot secret', async () => {
    const { dir, remove } = await tempDir()
    cleanups.push(remove)
    const first = await spawnServer(dir, { TANDEM_ADMIN_KEY: 'tdm_admin_a-configured-key-not-kept-on-disk' })
    children.push(first)
    const before = readdirSync(dir).sort()
    expect(before).not.toContain('admin-key')

    const demo = await run(['--host', '127.0.0.1', '--port', '0', '--data-dir', dir], { TANDEM_ADMIN_KEY: '' }, path.join(ROOT, 'examples/start.js'))
    expect(demo.code).toBe(1)
    expect(demo.out.trim()).toBe(`examples/start.js: failed to start: --data-dir: ${dir} is in use by another Tandem server (pid ${first.child.pid}); stop it, or give this one its own data directory`)
    // Neither the generated admin key nor the bot's webhook secret was written.
    expect(readdirSync(dir).sort()).toEqual(before)
  })

  test('a server killed with SIGKILL leaves no stale lock: the next one starts at once', async () => {
    const { dir, remove } = await tempDir()
    cleanups.push(remove)
    const first = await spawnServer(dir)
    first.child.kill('SIGKILL')
    await first.exited
    const next = await spawnServer(dir)
    children.push(next)
    expect(next.port).toBeGreaterThan(0)
  })

  test('a data directory that is a file is one line naming the setting the user gave', async () => {
    const { dir, remove } = await tempDir()
    cleanups.push(remove)
    const file = path.join(dir, 'not-a-dir')
    writeFileSync(file, 'x')
    const viaFlag = await run(['serve', '--port', '0', '--data-dir', file])
    expect(viaFlag.code).toBe(1)
    expect(viaFlag.out.trim()).toBe(`tandem: --data-dir: cannot use ${file} as the data directory: it is a file, not a directory`)
    const viaEnv = await run(['serve', '--port', '0'], { TANDEM_DATA_DIR: path.join(file, 'sub') })
    expect(viaEnv.code).toBe(1)
    expect(viaEnv.out.trim()).toMatch(/^tandem: TANDEM_DATA_DIR: cannot use .* as the data directory: it is a file, not a directory$/)
  })
})
