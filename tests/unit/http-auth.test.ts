/**
 * REST authentication (admin key or admin JWT) and the admin key file: generated once with mode 0600,
 * shared by concurrent first runs, refused when readable by others.
 */
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, test } from 'vitest'
import { SignJWT } from 'jose'
import { AppError } from '../../server/src/errors.js'
import { createAdminAuthenticator } from '../../server/src/http/auth.js'
import { ADMIN_KEY_FILE_NAME, resolveAdminKey } from '../../server/src/http/admin-key.js'
import { createTokenVerifier } from '../../server/src/auth/verify.js'
import { mintToken } from '../../server/src/auth/mint.js'

const SECRET = new TextEncoder().encode('unit-test-secret-that-is-at-least-32-bytes')
const KEY = 'admin-key-for-unit-tests-0123456789'
const verifier = createTokenVerifier(
  { kind: 'secret', key: SECRET, generated: false },
  { secret: null, publicKey: null, jwksUrl: null, issuer: null, audience: null, allowAnonymous: true, clockToleranceSec: 0, maxLifetimeSec: 86_400 },
)
const auth = createAdminAuthenticator(KEY, verifier)

async function code(authorization: string): Promise<string> {
  try {
    await auth.authenticate(authorization)
  } catch (err) {
    return err instanceof AppError ? err.code : 'not an AppError'
  }
  return 'accepted'
}

describe('admin authenticator', () => {
  test('the admin key, case-insensitive scheme', async () => {
    expect(await auth.authenticate(`Bearer ${KEY}`)).toEqual({ kind: 'admin-key' })
    expect(await auth.authenticate(`bearer ${KEY}`)).toEqual({ kind: 'admin-key' })
  })

  test('missing or non-Bearer credentials are token_missing; wrong keys token_invalid', async () => {
    expect(await code('')).toBe('token_missing')
    expect(await code(`Basic ${Buffer.from(`x:${KEY}`).toString('base64')}`)).toBe('token_missing')
    expect(await code('Bearer ')).toBe('token_missing')
    expect(await code(`Bearer ${KEY.slice(0, -1)}x`)).toBe('token_invalid')
    expect(await code(`Bearer ${KEY}${KEY}`)).toBe('token_invalid')
    expect(await code('Bearer a.b.c')).toBe('token_invalid')
  })

  test('admin JWTs pass; other valid JWTs are forbidden; anonymous mode grants nothing here', async () => {
    const admin = await mintToken(SECRET, { sub: 'ops', rooms: {}, admin: true }, { ttlSec: 60 })
    const caller = await auth.authenticate(`Bearer ${admin}`)
    expect(caller.kind).toBe('token')
    const user = await mintToken(SECRET, { sub: 'u', rooms: { '*': 'write' } }, { ttlSec: 60 })
    expect(await code(`Bearer ${user}`)).toBe('forbidden')
  })

  test('expired admin JWTs are token_expired', async () => {
    const now = Math.floor(Date.now() / 1000)
    const expired = await new SignJWT({ admin: true }).setProtectedHeader({ alg: 'HS256' }).setSubject('ops').setExpirationTime(now - 10).sign(SECRET)
    expect(await code(`Bearer ${expired}`)).toBe('token_expired')
  })
})

describe('admin key file', () => {
  const dirs: string[] = []
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
  })
  async function dir(): Promise<string> {
    const d = await mkdtemp(path.join(os.tmpdir(), 'tandem-admin-key-'))
    dirs.push(d)
    return d
  }

  test('a configured key wins and touches nothing', async () => {
    const d = await dir()
    expect(await resolveAdminKey('configured-key-0123456789abcdef', d)).toEqual({ key: 'configured-key-0123456789abcdef', source: 'config', path: null })
    await expect(stat(path.join(d, ADMIN_KEY_FILE_NAME))).rejects.toThrow()
  })

  test('generated once (0600, 32 random bytes), then read back', async () => {
    const d = path.join(await dir(), 'nested')
    const first = await resolveAdminKey(null, d)
    expect(first.source).toBe('generated')
    expect(first.key).toMatch(/^[A-Za-z0-9_-]{43}$/)
    const file = path.join(d, ADMIN_KEY_FILE_NAME)
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    expect((await readFile(file, 'utf8')).trim()).toBe(first.key)
    const second = await resolveAdminKey(null, d)
    expect(second).toEqual({ key: first.key, source: 'file', path: file })
  })

  test('concurrent first runs agree on one key', async () => {
    const d = await dir()
    const keys = await Promise.all(Array.from({ length: 8 }, () => resolveAdminKey(null, d)))
    expect(new Set(keys.map((k) => k.key)).size).toBe(1)
    expect(keys.filter((k) => k.source === 'generated')).toHaveLength(1)
  })

  test('a key file readable by others, empty or malformed is refused with a clear message', async () => {
    const d = await dir()
    const file = path.join(d, ADMIN_KEY_FILE_NAME)
    await resolveAdminKey(null, d)
    await chmod(file, 0o644)
    await expect(resolveAdminKey(null, d)).rejects.toThrow(/chmod 600/)
    await writeFile(file, '', { mode: 0o600 })
    await chmod(file, 0o600)
    await expect(resolveAdminKey(null, d)).rejects.toThrow(/empty/)
    await writeFile(file, 'short\n')
    await expect(resolveAdminKey(null, d)).rejects.toThrow(/not a generated admin key/)
  })
})
