/**
 * Generated secrets on PostgreSQL: with no key configured, the JWT secret and the admin key live in the
 * schema, so two servers on one schema and the CLI (`tandem token`, `tandem admin-key`, as child
 * processes) agree on them; an explicit TANDEM_JWT_SECRET still wins; SQLite keeps them in the data
 * directory. Skips with a message when Postgres is unreachable outside CI; fails under CI=true.
 */
import { execFile } from 'node:child_process'
import { stat } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, afterEach, describe, expect, test } from 'vitest'
import WebSocket from 'ws'
import { POSTGRES_URL, pgQuery, postgresSkip, schemaNames } from '../helpers/postgres.js'
import { CLI, TEST_SECRET, startServer, token, type RunningServer } from '../helpers/server.js'

const run = promisify(execFile)
const schemas = schemaNames()
const cleanups: (() => void | Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})
afterAll(() => schemas.dropAll())

/** A server on `schema` with no JWT secret and no admin key configured (unless `env` sets them). */
async function pgServer(schema: string, env: Record<string, string> = {}): Promise<RunningServer> {
  const srv = await startServer({ TANDEM_DATABASE_URL: POSTGRES_URL, TANDEM_DATABASE_SCHEMA: schema, TANDEM_JWT_SECRET: '', ...env })
  cleanups.push(() => srv.stop())
  return srv
}

/** Runs the CLI against `schema`, with no key in its environment unless `env` sets one. */
async function cli(schema: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const { TANDEM_JWT_SECRET: _secret, TANDEM_ADMIN_KEY: _key, ...rest } = process.env
  const { stdout } = await run(process.execPath, [CLI, ...args], {
    env: { ...rest, TANDEM_DATABASE_URL: POSTGRES_URL, TANDEM_DATABASE_SCHEMA: schema, TANDEM_LOG_LEVEL: 'silent', ...env },
    timeout: 20_000,
  })
  return stdout.trim()
}

/** Whether the server lets a WebSocket in with this token (true: open; false: refused at the upgrade). */
function accepts(srv: RunningServer, jwt: string, room: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${srv.url}/ws/${room}?token=${encodeURIComponent(jwt)}`)
    ws.once('open', () => {
      ws.close()
      resolve(true)
    })
    ws.once('unexpected-response', (_req, res) => {
      ws.terminate()
      if (res.statusCode === 401) resolve(false)
      else reject(new Error(`upgrade answered ${res.statusCode}`))
    })
    ws.once('error', (err) => reject(err))
  })
}

async function restStatus(srv: RunningServer, adminKey: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${srv.port}/v1/rooms`, { headers: { authorization: `Bearer ${adminKey}` } })
  await res.body?.cancel()
  return res.status
}

async function fileExists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  )
}

describe.skipIf(postgresSkip !== undefined)('generated secrets on PostgreSQL', () => {
  test('two servers on one schema, and the CLI, share the generated JWT secret and admin key', async () => {
    const schema = schemas.fresh()
    // Started together: both race to create the secrets; one value each must win for both.
    const [one, two] = await Promise.all([pgServer(schema), pgServer(schema)])

    const adminKey = await cli(schema, ['admin-key'])
    expect(adminKey).toMatch(/^[A-Za-z0-9_-]{43,}$/)
    expect(await restStatus(one, adminKey)).toBe(200)
    expect(await restStatus(two, adminKey)).toBe(200)

    // A token minted over REST by one server is accepted by the other.
    const minted = await fetch(`http://127.0.0.1:${one.port}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sub: 'alice', rooms: { 'shared-*': 'write' } }),
    })
    expect(minted.status).toBe(201)
    const fromOne = ((await minted.json()) as { token: string }).token
    expect(await accepts(two, fromOne, 'shared-a')).toBe(true)
    expect(await accepts(one, fromOne, 'shared-a')).toBe(true)

    // `tandem token` with the same URL mints with the same secret.
    const fromCli = await cli(schema, ['token', '--room', 'shared-b'])
    expect(await accepts(one, fromCli, 'shared-b')).toBe(true)
    expect(await accepts(two, fromCli, 'shared-b')).toBe(true)
    // A token signed with some other secret is still refused (the servers do check).
    expect(await accepts(one, await token({ rooms: { 'shared-b': 'write' } }), 'shared-b')).toBe(false)

    // Nothing was written to the data directories; the database holds exactly one row per secret.
    expect(await fileExists(path.join(one.dataDir, 'jwt-secret'))).toBe(false)
    expect(await fileExists(path.join(two.dataDir, 'admin-key'))).toBe(false)
    const { rows } = await pgQuery<{ name: string }>(`SELECT name FROM "${schema}".tandem_secrets ORDER BY name`)
    expect(rows.map((r) => r.name)).toEqual(['admin-key', 'jwt-secret'])

    // A restarted server keeps them.
    await one.stop()
    const three = await pgServer(schema)
    expect(await accepts(three, fromCli, 'shared-b')).toBe(true)
    expect(await restStatus(three, adminKey)).toBe(200)
  })

  test('the CLI before any server creates the secrets the servers then use', async () => {
    const schema = schemas.fresh()
    const fromCli = await cli(schema, ['token', '--room', 'early'])
    const srv = await pgServer(schema)
    expect(await accepts(srv, fromCli, 'early')).toBe(true)
  })

  test('an explicitly configured TANDEM_JWT_SECRET and TANDEM_ADMIN_KEY still win', async () => {
    const schema = schemas.fresh()
    const generated = await pgServer(schema)
    const generatedToken = await cli(schema, ['token', '--room', 'r'])
    expect(await accepts(generated, generatedToken, 'r')).toBe(true)

    const adminKey = 'configured-admin-key-0123456789abcdef'
    const explicit = await pgServer(schema, { TANDEM_JWT_SECRET: TEST_SECRET, TANDEM_ADMIN_KEY: adminKey })
    expect(await accepts(explicit, await token({ rooms: { r: 'write' } }), 'r')).toBe(true)
    expect(await accepts(explicit, generatedToken, 'r')).toBe(false)
    expect(await restStatus(explicit, adminKey)).toBe(200)
    expect(await restStatus(explicit, await cli(schema, ['admin-key']))).toBe(401)

    // The CLI with the secret in its environment mints with it, not with the stored one.
    const explicitCli = await cli(schema, ['token', '--room', 'r'], { TANDEM_JWT_SECRET: TEST_SECRET })
    expect(await accepts(explicit, explicitCli, 'r')).toBe(true)
    expect(await accepts(generated, explicitCli, 'r')).toBe(false)
    expect(await cli(schema, ['admin-key'], { TANDEM_ADMIN_KEY: adminKey })).toBe(adminKey)
  })
})

describe('generated secrets on SQLite', () => {
  test('stay in the data directory', async () => {
    const srv = await startServer({ TANDEM_JWT_SECRET: '' })
    cleanups.push(() => srv.stop())
    expect(await fileExists(path.join(srv.dataDir, 'jwt-secret'))).toBe(true)
    expect(await fileExists(path.join(srv.dataDir, 'admin-key'))).toBe(true)
    const { TANDEM_DATABASE_URL: _url, TANDEM_JWT_SECRET: _secret, ...env } = process.env
    const { stdout } = await run(process.execPath, [CLI, 'token', '--room', 'lite', '--data-dir', srv.dataDir], { env, timeout: 20_000 })
    expect(await accepts(srv, stdout.trim(), 'lite')).toBe(true)
  })
})
