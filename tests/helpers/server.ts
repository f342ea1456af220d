/**
 * Real servers for tests: in-process on port 0 (fast), or as a child process running the built CLI
 * (restart, SIGKILL and SIGTERM cases). Tokens are minted with the same code the CLI uses.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import { createServer, loadConfig, mintToken, type Config, type ServerDeps, type TandemServer } from '@tandem/server'

export const TEST_SECRET = 'test-secret-that-is-at-least-32-bytes-long!'
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const CLI = path.join(ROOT, 'server/bin/tandem.js')

export interface RunningServer {
  server: TandemServer
  port: number
  url: string
  config: Config
  dataDir: string
  /** Close the server and remove its data directory. */
  stop(): Promise<void>
}

/** Starts a server in this process on 127.0.0.1:0 with an HS256 test secret. */
export async function startServer(env: Record<string, string> = {}, deps: ServerDeps = {}): Promise<RunningServer> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'tandem-test-'))
  const config = loadConfig({
    TANDEM_HOST: '127.0.0.1',
    TANDEM_PORT: '0',
    TANDEM_DATA_DIR: dataDir,
    TANDEM_JWT_SECRET: TEST_SECRET,
    TANDEM_LOG_LEVEL: 'silent',
    ...env,
  })
  const server = await createServer(config, { logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), ...deps })
  const { port } = await server.listen()
  let stopped = false
  return {
    server,
    port,
    url: `ws://127.0.0.1:${port}`,
    config,
    dataDir,
    async stop() {
      if (stopped) return
      stopped = true
      await server.close()
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}

export interface TokenOptions {
  rooms?: Record<string, 'read' | 'write'>
  sub?: string
  name?: string
  ttlSec?: number
}

/** A client JWT signed with the test secret. */
export function token(opts: TokenOptions = {}): Promise<string> {
  return mintToken(
    new TextEncoder().encode(TEST_SECRET),
    { sub: opts.sub ?? 'user-1', ...(opts.name !== undefined && { name: opts.name }), rooms: opts.rooms ?? { '*': 'write' } },
    { ttlSec: opts.ttlSec ?? 3600 },
  )
}

// Captured at load, before any test can install fake timers: waitFor keeps polling in real time under
// vi.useFakeTimers() and never moves the fake clock itself.
const realSetTimeout = globalThis.setTimeout
const realNow = Date.now

/**
 * Polls `condition` until it holds or the deadline passes (then throws with `what`). Works the same while
 * a test fakes timers: it never advances fake time, so whatever it sees happened without the clock moving.
 */
export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = realNow() + timeoutMs
  for (;;) {
    if (await condition()) return
    if (realNow() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => realSetTimeout(resolve, 10))
  }
}

export interface ChildServer {
  child: ChildProcess
  port: number
  /** Everything the child printed so far (JSON log lines). */
  output(): string
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>
}

/** Runs `tandem serve` as a child process on port 0 in `dataDir`; resolves once it logs its port. */
export async function spawnServer(dataDir: string, env: Record<string, string> = {}, nodeArgs: readonly string[] = []): Promise<ChildServer> {
  const child = spawn(process.execPath, [...nodeArgs, CLI, 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir], {
    env: { ...process.env, TANDEM_JWT_SECRET: TEST_SECRET, TANDEM_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => (out += chunk.toString()))
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')))
  let port = 0
  let exitCode: number | string | null = null
  void exited.then((code) => (exitCode = code))
  await waitFor(() => {
    if (exitCode !== null) throw new Error(`server exited (${exitCode}) before listening:\n${out}`)
    const match = /"port":(\d+),"msg":"listening"/.exec(out)
    if (match?.[1]) port = Number(match[1])
    return port > 0
  }, 'the child server to listen', 20_000)
  return { child, port, output: () => out, exited }
}

export async function tempDir(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tandem-test-'))
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) }
}
