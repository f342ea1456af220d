/**
 * Token times: the clock tolerance applies to exp, nbf and iat alike, and a maximum lifetime (on by
 * default) refuses tokens whose exp lies too far after their iat (or after now, without iat). Minting
 * (REST and CLI share mintToken) never produces a token the verifier would refuse.
 */
import { SignJWT, type JWTPayload } from 'jose'
import { describe, expect, test } from 'vitest'
import type { AuthOptions } from '../../server/src/auth/keys.js'
import { defaultTtlFor, maxTtlFor, MAX_TTL_SEC, mintToken, ttlProblem } from '../../server/src/auth/mint.js'
import { checkTokenTimes, createTokenVerifier, type TokenVerifier } from '../../server/src/auth/verify.js'
import { loadConfig, ConfigError } from '../../server/src/config.js'
import { AppError } from '../../server/src/errors.js'

const SECRET = new TextEncoder().encode('test-secret-0123456789-abcdefghijklmnop')
const nowSec = (): number => Math.floor(Date.now() / 1000)
const DAY = 86_400
const YEAR_9999 = Math.floor(Date.UTC(9999, 11, 31) / 1000)

function verifier(overrides: Partial<AuthOptions> = {}): TokenVerifier {
  const opts: AuthOptions = {
    secret: null,
    publicKey: null,
    jwksUrl: null,
    issuer: null,
    audience: null,
    allowAnonymous: false,
    // The defaults loadConfig fills in.
    clockToleranceSec: 5,
    maxLifetimeSec: DAY,
    ...overrides,
  }
  return createTokenVerifier({ kind: 'secret', key: SECRET, generated: false }, opts)
}

/** Signs exactly the claims given: no iat unless `iat` is in them. */
function signed(claims: JWTPayload): Promise<string> {
  return new SignJWT({ sub: 'user-1', rooms: { '*': 'write' }, ...claims }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(SECRET)
}

async function refusal(v: TokenVerifier, claims: JWTPayload): Promise<AppError> {
  const err: unknown = await v.verify(await signed(claims)).then(
    () => null,
    (e: unknown) => e,
  )
  expect(err, `expected a refusal of ${JSON.stringify(claims)}`).toBeInstanceOf(AppError)
  return err as AppError
}

describe('clock tolerance (TANDEM_JWT_CLOCK_TOLERANCE_SEC, default 5 s)', () => {
  test('a token that expired 3 s ago is accepted, and its connection deadline is exp + tolerance', async () => {
    const exp = nowSec() - 3
    const principal = await verifier().verify(await signed({ iat: exp - 600, exp }))
    expect(principal.expiresAtMs).toBe((exp + 5) * 1000)
  })

  test('a token that expired more than the tolerance ago is token_expired', async () => {
    expect((await refusal(verifier(), { exp: nowSec() - 10 })).code).toBe('token_expired')
    expect((await refusal(verifier({ clockToleranceSec: 0 }), { exp: nowSec() - 1 })).code).toBe('token_expired')
  })

  test('nbf: 3 s ahead is accepted, 60 s ahead is token_invalid', async () => {
    await expect(verifier().verify(await signed({ nbf: nowSec() + 3, exp: nowSec() + 600 }))).resolves.toMatchObject({ userId: 'user-1' })
    const err = await refusal(verifier(), { nbf: nowSec() + 60, exp: nowSec() + 600 })
    expect([err.code, err.message]).toEqual(['token_invalid', 'token is not yet valid'])
  })

  test('iat: 3 s ahead is accepted, 60 s ahead is token_invalid (issued in the future)', async () => {
    await expect(verifier().verify(await signed({ iat: nowSec() + 3, exp: nowSec() + 600 }))).resolves.toMatchObject({ userId: 'user-1' })
    const err = await refusal(verifier(), { iat: nowSec() + 60, exp: nowSec() + 600 })
    expect(err.code).toBe('token_invalid')
    expect(err.message).toMatch(/issued in the future/)
  })
})

describe('maximum token lifetime (TANDEM_JWT_MAX_LIFETIME_SEC, default 24 h)', () => {
  test('a token issued 30 days ago is token_invalid with a message naming the limit, although its exp is still ahead', async () => {
    const err = await refusal(verifier(), { iat: nowSec() - 30 * DAY, exp: nowSec() + 3_600 })
    expect(err.code).toBe('token_invalid')
    expect(err.message).toMatch(/lifetime .* more than the maximum of 86400 s \(TANDEM_JWT_MAX_LIFETIME_SEC\)/)
  })

  test('a token valid until the year 9999 is token_invalid, with or without iat', async () => {
    expect((await refusal(verifier(), { iat: nowSec(), exp: YEAR_9999 })).code).toBe('token_invalid')
    const bare = await refusal(verifier(), { exp: YEAR_9999 })
    expect(bare.code).toBe('token_invalid')
    expect(bare.message).toMatch(/without "iat".*TANDEM_JWT_MAX_LIFETIME_SEC/)
  })

  test('exactly the maximum is accepted, one second more is refused', async () => {
    const iat = nowSec() - 10
    await expect(verifier().verify(await signed({ iat, exp: iat + DAY }))).resolves.toMatchObject({ userId: 'user-1' })
    expect((await refusal(verifier(), { iat, exp: iat + DAY + 1 })).code).toBe('token_invalid')
    // Without iat the lifetime is measured from now, with the clock tolerance.
    await expect(verifier().verify(await signed({ exp: nowSec() + DAY }))).resolves.toMatchObject({ userId: 'user-1' })
    expect((await refusal(verifier(), { exp: nowSec() + DAY + 60 })).code).toBe('token_invalid')
  })

  test('0 turns the limit off; the tolerance still applies to iat', async () => {
    const off = verifier({ maxLifetimeSec: 0 })
    await expect(off.verify(await signed({ iat: nowSec() - 30 * DAY, exp: YEAR_9999 }))).resolves.toMatchObject({ userId: 'user-1' })
    await expect(off.verify(await signed({ exp: YEAR_9999 }))).resolves.toMatchObject({ userId: 'user-1' })
    expect((await refusal(off, { iat: nowSec() + 60, exp: YEAR_9999 })).code).toBe('token_invalid')
  })

  test('checkTokenTimes on its own, at a fixed clock', () => {
    const timing = { clockToleranceSec: 5, maxLifetimeSec: 3_600 }
    const now = 1_800_000_000
    expect(() => checkTokenTimes({ iat: now, exp: now + 3_600 }, timing, now * 1000)).not.toThrow()
    expect(() => checkTokenTimes({ iat: now + 5, exp: now + 3_605 }, timing, now * 1000)).not.toThrow()
    expect(() => checkTokenTimes({ iat: now + 6, exp: now + 3_606 }, timing, now * 1000)).toThrow(/future/)
    expect(() => checkTokenTimes({ iat: now, exp: now + 3_601 }, timing, now * 1000)).toThrow(/lifetime/)
    expect(() => checkTokenTimes({ exp: now + 3_605 }, timing, now * 1000)).not.toThrow()
    expect(() => checkTokenTimes({ exp: now + 3_606 }, timing, now * 1000)).toThrow(/without "iat"/)
  })
})

describe('minting never produces a token the server refuses', () => {
  test('ttl above the maximum lifetime is refused with a message naming the setting', async () => {
    expect(ttlProblem(DAY, DAY)).toBeNull()
    expect(ttlProblem(DAY + 1, DAY)).toMatch(/maximum token lifetime of 86400 s \(TANDEM_JWT_MAX_LIFETIME_SEC\)/)
    expect(ttlProblem(MAX_TTL_SEC, 0)).toBeNull()
    expect(ttlProblem(MAX_TTL_SEC + 1, 0)).toMatch(/365 days/)
    await expect(mintToken(SECRET, { sub: 'u', rooms: {} }, { ttlSec: 7 * DAY, maxLifetimeSec: DAY })).rejects.toMatchObject({
      code: 'bad_request',
      message: expect.stringContaining('TANDEM_JWT_MAX_LIFETIME_SEC') as unknown as string,
    })
  })

  test('the longest ttl allowed mints a token the verifier accepts', async () => {
    for (const maxLifetimeSec of [60, DAY, 0]) {
      const jwt = await mintToken(SECRET, { sub: 'u', rooms: {} }, { ttlSec: maxTtlFor(maxLifetimeSec), maxLifetimeSec })
      await expect(verifier({ maxLifetimeSec }).verify(jwt), String(maxLifetimeSec)).resolves.toMatchObject({ userId: 'u' })
    }
  })

  test('the default ttl is one hour, or the maximum lifetime when shorter', () => {
    expect(defaultTtlFor(DAY)).toBe(3_600)
    expect(defaultTtlFor(600)).toBe(600)
    expect(defaultTtlFor(0)).toBe(3_600)
  })
})

describe('config', () => {
  test('defaults: tolerance 5 s, maximum lifetime 24 h', () => {
    const config = loadConfig({})
    expect(config.auth.clockToleranceSec).toBe(5)
    expect(config.auth.maxLifetimeSec).toBe(DAY)
  })

  test('TANDEM_JWT_MAX_LIFETIME_SEC: 0 disables, bad values name the variable', () => {
    expect(loadConfig({ TANDEM_JWT_MAX_LIFETIME_SEC: '0' }).auth.maxLifetimeSec).toBe(0)
    expect(loadConfig({ TANDEM_JWT_MAX_LIFETIME_SEC: '3600' }).auth.maxLifetimeSec).toBe(3_600)
    for (const bad of ['-1', '1h', String(366 * DAY)]) {
      expect(() => loadConfig({ TANDEM_JWT_MAX_LIFETIME_SEC: bad }), bad).toThrow(ConfigError)
      expect(() => loadConfig({ TANDEM_JWT_MAX_LIFETIME_SEC: bad }), bad).toThrow(/TANDEM_JWT_MAX_LIFETIME_SEC/)
    }
  })
})
