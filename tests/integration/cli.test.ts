/**
 * The CLI explains itself: `--help` for the CLI and each command and `--version` exit 0, wrong options
 * exit 2 with the usage; every startup failure is one line on stderr naming the flag or variable the user
 * set, with no stack trace (the stack only at TANDEM_LOG_LEVEL=debug); `tandem token` and `tandem
 * admin-key` find the data directory the server uses from any subfolder of the project, and refuse to
 * create secrets where no project is found.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { afterEach, describe, expect, test } from 'vitest'
import { CLI, TEST_SECRET, spawnServer, tempDir, token, type ChildServer } from '../helpers/server.js'
import { closeOpenConns, single } from '../helpers/raw-client.js'
import { POSTGRES_URL, describePostgres, pgQuery, quoteSchema, useTestSchema } from '../helpers/postgres.js'

const children: ChildServer[] = []
const cleanups: (() => Promise<void>)[] = []

afterEach(async () => {
  closeOpenConns()
  for (const c of children.splice(0)) {
    c.child.kill('SIGKILL')
    await c.exited
  }
  for (const clean of cleanups.splice(0)) await clean()
})

const SERVER_PKG = JSON.parse(readFileSync(path.resolve(path.dirname(CLI), '../package.json'), 'utf8')) as { version: string }
/** A stack frame line, as Node prints them. */
const STACK_LINE = /\n\s+at /

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * Runs the CLI to completion with a clean environment (no TANDEM_* from the machine running the tests)
 * plus `env`; a hung CLI fails the test through the deadline instead of hanging it.
 */
function run(args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): Promise<Run> {
  const base: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TANDEM_') && v !== undefined) base[k] = v
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd, env: { ...base, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    const deadline = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`tandem ${args.join(' ')} did not exit within 20 s:\n${stdout}\n${stderr}`))
    }, 20_000)
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    child.on('exit', (code) => {
      clearTimeout(deadline)
      resolve({ code, stdout, stderr })
    })
  })
}

/** The failure's single stderr line (asserting there is exactly one and no stack anywhere). */
function oneLine(result: Run): string {
  expect(result.code).toBe(1)
  expect(result.stderr + result.stdout).not.toMatch(STACK_LINE)
  const lines = result.stderr.trimEnd().split('\n')
  expect(lines, result.stderr).toHaveLength(1)
  return lines[0] ?? ''
}

async function temp(): Promise<string> {
  const { dir, remove } = await tempDir()
  cleanups.push(remove)
  return dir
}

/** A TCP listener on 127.0.0.1 holding a port, closed after the test. */
async function holdPort(): Promise<number> {
  const srv = net.createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  cleanups.push(() => new Promise((resolve) => srv.close(() => resolve())))
  return (srv.address() as net.AddressInfo).port
}

describe('help and version', () => {
  test('tandem --help, -h and help list the commands and exit 0', async () => {
    for (const args of [['--help'], ['-h'], ['help']]) {
      const r = await run(args)
      expect(r.code).toBe(0)
      for (const command of ['serve', 'migrate', 'token', 'admin-key']) expect(r.stdout).toContain(`  ${command} `)
      expect(r.stdout).toContain('--version')
      expect(r.stderr).toBe('')
    }
  })

  test.each([
    ['serve', ['--host', '--port', '--data-dir', '--database-url', '--redis-url', 'TANDEM_LOG_LEVEL=debug']],
    ['migrate', ['--database-url']],
    ['token', ['--room', '--read-only', '--ttl', '--sub', '--name', '--data-dir', '--database-url']],
    ['admin-key', ['--data-dir', '--database-url']],
  ])('tandem %s --help shows its options and exits 0', async (command, options) => {
    for (const flag of ['--help', '-h']) {
      const r = await run([command, flag])
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(new RegExp(`^Usage: tandem ${command}`))
      for (const option of options) expect(r.stdout).toContain(option)
      expect(r.stderr).toBe('')
    }
    // `tandem help <command>` shows the same text.
    expect((await run(['help', command])).stdout).toBe((await run([command, '--help'])).stdout)
  })

  test('tandem --version prints the server package version and exits 0', async () => {
    for (const args of [['--version'], ['-v']]) {
      const r = await run(args)
      expect(r.code).toBe(0)
      expect(r.stdout).toBe(`${SERVER_PKG.version}\n`)
    }
  })

  test('an unknown option exits 2 with the command usage; no command or an unknown one exits 2 with the usage', async () => {
    const bad = await run(['serve', '--bogus'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/^tandem: Unknown option '--bogus'/)
    expect(bad.stderr).toContain('Usage: tandem serve')
    const tokenBad = await run(['token', '--room'])
    expect(tokenBad.code).toBe(2)
    expect(tokenBad.stderr).toContain('Usage: tandem token')
    for (const args of [[], ['frobnicate'], ['--frobnicate']]) {
      const r = await run(args)
      expect(r.code).toBe(2)
      expect(r.stderr).toContain('Usage: tandem <command>')
    }
  })
})

describe('node flags', () => {
  test('V8 flags given to node itself (--max-old-space-size) reach the server, and its worker threads still start', async () => {
    const server = await spawnServer(await temp(), {}, ['--max-old-space-size=512', '--max-semi-space-size=16'])
    children.push(server)
    // The SQLite store runs in a worker thread: a write that commits proves it started.
    const conn = await single(`http://127.0.0.1:${server.port}`, 'node-flags', { token: await token() })
    await conn.write('node-flags', (d) => d.getText('t').insert(0, 'saved'))
    expect(server.output()).not.toMatch(/invalid execArgv/)
  })
})

describe('startup failures are one line naming the setting the user gave', () => {
  const env = { TANDEM_JWT_SECRET: TEST_SECRET }

  test('--port 99999 names --port; TANDEM_PORT=99999 names TANDEM_PORT', async () => {
    const dataDir = await temp()
    expect(oneLine(await run(['serve', '--port', '99999', '--data-dir', dataDir], { env }))).toBe('tandem: --port: must be between 0 and 65535, got 99999')
    expect(oneLine(await run(['serve', '--data-dir', dataDir], { env: { ...env, TANDEM_PORT: '99999' } }))).toBe(
      'tandem: TANDEM_PORT: must be between 0 and 65535, got 99999',
    )
  })

  test('a port in use names --port or TANDEM_PORT; TANDEM_LOG_LEVEL=debug adds the stack', async () => {
    const port = await holdPort()
    const dataDir = await temp()
    const viaFlag = await run(['serve', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir], { env })
    expect(oneLine(viaFlag)).toBe(`tandem: --port: could not listen on 127.0.0.1:${port} (in use or not permitted); stop what holds it or choose another port`)
    const viaEnv = await run(['serve', '--data-dir', dataDir], { env: { ...env, TANDEM_HOST: '127.0.0.1', TANDEM_PORT: String(port) } })
    expect(oneLine(viaEnv)).toMatch(/^tandem: TANDEM_PORT: could not listen on 127\.0\.0\.1:\d+ /)
    const debug = await run(['serve', '--data-dir', dataDir], { env: { ...env, TANDEM_HOST: '127.0.0.1', TANDEM_PORT: String(port), TANDEM_LOG_LEVEL: 'debug' } })
    expect(debug.code).toBe(1)
    expect(debug.stderr).toMatch(/^tandem: TANDEM_PORT: could not listen/)
    expect(debug.stderr).toMatch(STACK_LINE)
  })

  test('a missing or unreadable TANDEM_JWT_PUBLIC_KEY file names TANDEM_JWT_PUBLIC_KEY', async () => {
    const dir = await temp()
    const missing = path.join(dir, 'nope.pem')
    expect(oneLine(await run(['serve', '--port', '0', '--data-dir', path.join(dir, 'data')], { env: { TANDEM_JWT_PUBLIC_KEY: missing } }))).toBe(
      `tandem: TANDEM_JWT_PUBLIC_KEY: cannot read PEM file ${missing}: no such file (ENOENT)`,
    )
    // A directory where the file should be (unreadable as a file whatever the user's privileges).
    expect(oneLine(await run(['serve', '--port', '0', '--data-dir', path.join(dir, 'data')], { env: { TANDEM_JWT_PUBLIC_KEY: dir } }))).toBe(
      `tandem: TANDEM_JWT_PUBLIC_KEY: cannot read PEM file ${dir}: it is a directory (EISDIR)`,
    )
    const garbage = path.join(dir, 'garbage.pem')
    writeFileSync(garbage, '-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n')
    expect(oneLine(await run(['serve', '--port', '0', '--data-dir', path.join(dir, 'data')], { env: { TANDEM_JWT_PUBLIC_KEY: garbage } }))).toBe(
      'tandem: TANDEM_JWT_PUBLIC_KEY: is not a valid PEM public key or certificate',
    )
  })

  test('a data directory that is a file names --data-dir, for serve, token and admin-key', async () => {
    const dir = await temp()
    const file = path.join(dir, 'a-file')
    writeFileSync(file, 'x')
    expect(oneLine(await run(['serve', '--port', '0', '--data-dir', file], { env }))).toBe(
      `tandem: --data-dir: cannot use ${file} as the data directory: it is a file, not a directory`,
    )
    expect(oneLine(await run(['admin-key', '--data-dir', file]))).toBe(`tandem: --data-dir: cannot keep the admin key in ${file}: it is a file, not a directory`)
    expect(oneLine(await run(['token', '--room', 'r', '--data-dir', file]))).toBe(`tandem: --data-dir: cannot keep the secret in ${file}: it is a file, not a directory`)
    expect(oneLine(await run(['admin-key'], { env: { TANDEM_DATA_DIR: file } }))).toMatch(/^tandem: TANDEM_DATA_DIR: cannot keep the admin key in /)
  })

  test('a Redis URL without a PostgreSQL store names --redis-url or TANDEM_REDIS_URL', async () => {
    const dataDir = await temp()
    const redisUrl = `redis://127.0.0.1:${await closedPort()}`
    expect(oneLine(await run(['serve', '--port', '0', '--data-dir', dataDir, '--redis-url', redisUrl], { env }))).toBe(
      'tandem: --redis-url: a cluster needs a shared PostgreSQL store: set TANDEM_DATABASE_URL as well',
    )
    expect(oneLine(await run(['serve', '--port', '0', '--data-dir', dataDir], { env: { ...env, TANDEM_REDIS_URL: redisUrl } }))).toBe(
      'tandem: TANDEM_REDIS_URL: a cluster needs a shared PostgreSQL store: set TANDEM_DATABASE_URL as well',
    )
  })
})

describePostgres('unreachable services on a PostgreSQL store', () => {
  const schema = useTestSchema()
  const env = { TANDEM_JWT_SECRET: TEST_SECRET, TANDEM_ADMIN_KEY: 'admin-key-for-the-cli-test-0123456789' }

  test('an unreachable Redis names --redis-url or TANDEM_REDIS_URL', async () => {
    const dataDir = await temp()
    const redisUrl = `redis://127.0.0.1:${await closedPort()}`
    const pgEnv = { ...env, TANDEM_DATABASE_URL: POSTGRES_URL, TANDEM_DATABASE_SCHEMA: schema.name }
    expect(oneLine(await run(['serve', '--port', '0', '--data-dir', dataDir, '--redis-url', redisUrl], { env: pgEnv }))).toBe(
      `tandem: --redis-url: cannot connect to Redis at ${redisUrl}: Connection is closed.`,
    )
    expect(oneLine(await run(['serve', '--port', '0', '--data-dir', dataDir], { env: { ...pgEnv, TANDEM_REDIS_URL: redisUrl } }))).toMatch(
      /^tandem: TANDEM_REDIS_URL: cannot connect to Redis at redis:\/\/127\.0\.0\.1:\d+/,
    )
  })

  test('an unreachable database names --database-url or TANDEM_DATABASE_URL', async () => {
    const dataDir = await temp()
    const url = `postgres://postgres@127.0.0.1:${await closedPort()}/test`
    expect(oneLine(await run(['serve', '--port', '0', '--data-dir', dataDir, '--database-url', url], { env: { ...env, TANDEM_DATABASE_SCHEMA: schema.name } }))).toMatch(
      /^tandem: --database-url: cannot connect to postgres:\/\/postgres@127\.0\.0\.1:\d+\/test/,
    )
    expect(oneLine(await run(['serve', '--port', '0', '--data-dir', dataDir], { env: { ...env, TANDEM_DATABASE_URL: url, TANDEM_DATABASE_SCHEMA: schema.name } }))).toMatch(
      /^tandem: TANDEM_DATABASE_URL: cannot connect to /,
    )
  })
})

describePostgres('tandem migrate and the schema version', () => {
  const schema = useTestSchema()
  // Trust auth ignores the password; it is there to prove no output ever shows it.
  const PASSWORD = 'hunter2-not-for-logs'
  const url = (() => {
    const u = new URL(POSTGRES_URL)
    u.password = PASSWORD
    return u.toString()
  })()
  const env = { TANDEM_JWT_SECRET: TEST_SECRET, TANDEM_ADMIN_KEY: 'admin-key-for-the-cli-test-0123456789', TANDEM_DATABASE_SCHEMA: schema.name }

  test('migrate applies every migration once, then finds the schema up to date; no output shows the password', async () => {
    const first = await run(['migrate', '--database-url', url], { env })
    expect(first.code, first.stderr).toBe(0)
    expect(first.stdout).toMatch(new RegExp(`^tandem migrate: schema "${schema.name}" at \\S+ migrated from version 0 to (\\d+)\\n$`))
    const to = Number(/to (\d+)\n$/.exec(first.stdout)?.[1])
    const second = await run(['migrate'], { env: { ...env, TANDEM_DATABASE_URL: url } })
    expect(second.code, second.stderr).toBe(0)
    expect(second.stdout).toBe(first.stdout.replace(/migrated from version 0 to \d+/, `is up to date (version ${to})`))
    const { rows: [row] } = await pgQuery<{ version: number }>(`SELECT version FROM ${quoteSchema(schema.name)}.tandem_schema_version WHERE id = 1`)
    expect(row?.version).toBe(to)
    expect(first.stdout + first.stderr + second.stdout + second.stderr).not.toContain(PASSWORD)

    // A server on the migrated schema, logging at debug: its whole output names no password either.
    const server = await spawnServer(await temp(), { ...env, TANDEM_DATABASE_URL: url, TANDEM_LOG_LEVEL: 'debug' })
    children.push(server)
    await fetch(`http://127.0.0.1:${server.port}/readyz`)
    expect(server.output()).toContain(schema.name)
    expect(server.output()).not.toContain(PASSWORD)
  })

  test('a schema written by a newer Tandem: serve and migrate refuse with one line naming the schema setting', async () => {
    expect((await run(['migrate', '--database-url', url], { env })).code).toBe(0)
    const { rows: [row] } = await pgQuery<{ version: number }>(`UPDATE ${quoteSchema(schema.name)}.tandem_schema_version SET version = version + 1 WHERE id = 1 RETURNING version`)
    const newer = row?.version ?? 0
    const refusal = `schema "${schema.name}" is at version ${newer}, newer than this Tandem knows (${newer - 1}); run a newer Tandem or another schema`
    expect(oneLine(await run(['serve', '--port', '0', '--data-dir', await temp(), '--database-url', url], { env }))).toBe(`tandem: TANDEM_DATABASE_SCHEMA: ${refusal}`)
    expect(oneLine(await run(['migrate', '--database-url', url], { env }))).toBe(`tandem: TANDEM_DATABASE_SCHEMA: ${refusal}`)
    // Refused, not downgraded.
    const { rows: [after] } = await pgQuery<{ version: number }>(`SELECT version FROM ${quoteSchema(schema.name)}.tandem_schema_version WHERE id = 1`)
    expect(after?.version).toBe(newer)
  })
})

/** A port on 127.0.0.1 that refuses connections (bound, then closed; nothing else is expected to take it). */
async function closedPort(): Promise<number> {
  const srv = net.createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const { port } = srv.address() as net.AddressInfo
  await new Promise<void>((resolve) => srv.close(() => resolve()))
  return port
}

describe('token and admin-key find the data directory the server uses', () => {
  /** A project folder with a package.json depending on @tandem/server, and a nested subfolder. */
  async function project(pkg: object): Promise<{ root: string; sub: string }> {
    const root = await temp()
    writeFileSync(path.join(root, 'package.json'), JSON.stringify(pkg))
    const sub = path.join(root, 'src', 'deep')
    mkdirSync(sub, { recursive: true })
    return { root, sub }
  }

  test('from a subfolder, with the server running on the project data/: the token and admin key are the server’s', async () => {
    const { root, sub } = await project({ name: 'my-app', dependencies: { '@tandem/server': '^0.1.0' } })
    // No configured key: the server generates both secrets into <root>/data.
    const server = await spawnServer(path.join(root, 'data'), { TANDEM_JWT_SECRET: '', TANDEM_ADMIN_KEY: '' })
    children.push(server)

    const adminKey = await run(['admin-key'], { cwd: sub })
    expect(adminKey.code).toBe(0)
    expect(adminKey.stderr).toBe(`tandem admin-key: using the data directory ${path.join(root, 'data')}\n`)
    const rooms = await fetch(`http://127.0.0.1:${server.port}/v1/rooms`, { headers: { authorization: `Bearer ${adminKey.stdout.trim()}` } })
    expect(rooms.status).toBe(200)

    const token = await run(['token', '--room', 'cli-sub'], { cwd: sub })
    expect(token.code).toBe(0)
    const conn = await single(`ws://127.0.0.1:${server.port}`, 'cli-sub', { token: token.stdout.trim() })
    expect(conn.closeInfo).toBeNull()
    expect(existsSync(path.join(sub, 'data'))).toBe(false)
  })

  test('in a workspace repository before any server ran: secrets go to the root data/, which the server then uses', async () => {
    const { root, sub } = await project({ name: 'tandem', private: true, workspaces: ['server'] })
    const adminKey = await run(['admin-key'], { cwd: sub })
    expect(adminKey.code).toBe(0)
    expect(adminKey.stderr).toContain(`generated a new admin key in ${path.join(root, 'data', 'admin-key')}`)
    expect(existsSync(path.join(sub, 'data'))).toBe(false)

    const server = await spawnServer(path.join(root, 'data'), { TANDEM_JWT_SECRET: '', TANDEM_ADMIN_KEY: '' })
    children.push(server)
    const rooms = await fetch(`http://127.0.0.1:${server.port}/v1/rooms`, { headers: { authorization: `Bearer ${adminKey.stdout.trim()}` } })
    expect(rooms.status).toBe(200)
  })

  test('outside any project, without --data-dir: refuses in one line and creates nothing', async () => {
    const dir = await temp()
    for (const args of [['admin-key'], ['token', '--room', 'r']]) {
      const line = oneLine(await run(args, { cwd: dir }))
      expect(line).toMatch(/^tandem: --data-dir: not given, and no Tandem data directory was found in /)
      expect(existsSync(path.join(dir, 'data'))).toBe(false)
    }
    // With the key configured the data directory is not needed, so nothing is refused.
    const token = await run(['token', '--room', 'r'], { cwd: dir, env: { TANDEM_JWT_SECRET: TEST_SECRET } })
    expect(token.code).toBe(0)
    // An explicit --data-dir is used as given.
    const given = await run(['admin-key', '--data-dir', path.join(dir, 'mine')], { cwd: dir })
    expect(given.code).toBe(0)
    expect(existsSync(path.join(dir, 'mine', 'admin-key'))).toBe(true)
  })
})
