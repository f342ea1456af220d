import { generateKeyPairSync, randomBytes, sign as cryptoSign } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose'
import type { CryptoKey, JWTPayload } from 'jose'
import { describe, expect, onTestFinished, test } from 'vitest'
import { AppError } from '../../server/src/errors.js'
import type { ErrorCode } from '../../server/src/errors.js'
import { accessFor } from '../../server/src/auth/access.js'
import { loadOrCreateSecret, resolveVerificationKey } from '../../server/src/auth/keys.js'
import type { AuthOptions, VerificationKey } from '../../server/src/auth/keys.js'
import { mintToken, parseTtl } from '../../server/src/auth/mint.js'
import { createTokenVerifier, MAX_TOKEN_CHARS } from '../../server/src/auth/verify.js'
import type { TokenVerifier } from '../../server/src/auth/verify.js'

const SECRET_TEXT = 'test-secret-0123456789-abcdefghijklmnop'
const SECRET = new TextEncoder().encode(SECRET_TEXT)
const nowSec = (): number => Math.floor(Date.now() / 1000)

function authOptions(overrides: Partial<AuthOptions> = {}): AuthOptions {
  return {
    secret: null,
    publicKey: null,
    jwksUrl: null,
    issuer: null,
    audience: null,
    allowAnonymous: false,
    clockToleranceSec: 0,
    maxLifetimeSec: 86_400,
    ...overrides,
  }
}

async function verifierFor(overrides: Partial<AuthOptions>, dataDir = '/nonexistent'): Promise<TokenVerifier> {
  const opts = authOptions(overrides)
  return createTokenVerifier(await resolveVerificationKey(opts, dataDir), opts)
}

const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

/** Builds a compact JWS by hand, so tests can produce what jose refuses to sign (alg none, rsa-pss keys). */
function handmadeJwt(header: object, payload: object, signer: (input: Buffer) => Buffer | string): string {
  const input = `${b64url(header)}.${b64url(payload)}`
  const sig = signer(Buffer.from(input))
  return `${input}.${typeof sig === 'string' ? sig : sig.toString('base64url')}`
}

function claims(extra: JWTPayload = {}): JWTPayload {
  return { sub: 'user-1', rooms: { 'doc-1': 'write' }, exp: nowSec() + 600, ...extra }
}

async function signed(payload: JWTPayload, key: Uint8Array | KeyObject | CryptoKey, alg: string): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg, typ: 'JWT' }).sign(key)
}

/** Asserts an AppError with `code` whose message does not echo the token. */
async function expectRejects(verifier: TokenVerifier, token: string, code: ErrorCode): Promise<AppError> {
  const err: unknown = await verifier.verify(token).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err, `expected ${code}`).toBeInstanceOf(AppError)
  const appErr = err as AppError
  expect(appErr.code).toBe(code)
  if (token.length >= 8) expect(appErr.message).not.toContain(token)
  return appErr
}

function rsaPair(): { publicKey: KeyObject; privateKey: KeyObject; pem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  return { publicKey, privateKey, pem: publicKey.export({ type: 'spki', format: 'pem' }) as string }
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-auth-'))
  onTestFinished(() => rm(dir, { recursive: true, force: true }))
  return dir
}

describe('HS256 secret', () => {
  test('valid token → principal', async () => {
    const verifier = await verifierFor({ secret: SECRET_TEXT })
    const exp = nowSec() + 600
    const token = await signed(claims({ exp, name: 'Ada', admin: true, rooms: { 'doc-1': 'read', 'team-*': 'write' } }), SECRET, 'HS256')
    const principal = await verifier.verify(token)
    expect(principal).toMatchObject({ userId: 'user-1', name: 'Ada', admin: true, expiresAtMs: exp * 1000 })
    expect({ ...principal.rooms }).toEqual({ 'doc-1': 'read', 'team-*': 'write' })
    expect(Object.isFrozen(principal.rooms)).toBe(true)
    expect(Object.getPrototypeOf(principal.rooms)).toBeNull()
    expect(verifier.anonymous).toBeNull()
  })

  test('missing rooms → no access; missing name → null; admin defaults to false', async () => {
    const verifier = await verifierFor({ secret: SECRET_TEXT })
    const principal = await verifier.verify(await signed({ sub: 'u', exp: nowSec() + 60 }, SECRET, 'HS256'))
    expect(principal).toMatchObject({ name: null, admin: false })
    expect(accessFor(principal, 'doc-1')).toBeNull()
  })

  test('no exp → token_invalid', async () => {
    const verifier = await verifierFor({ secret: SECRET_TEXT })
    const err = await expectRejects(verifier, await signed({ sub: 'u' }, SECRET, 'HS256'), 'token_invalid')
    expect(err.message).toContain('exp')
  })

  test('expired → token_expired', async () => {
    const verifier = await verifierFor({ secret: SECRET_TEXT })
    await expectRejects(verifier, await signed(claims({ exp: nowSec() - 60 }), SECRET, 'HS256'), 'token_expired')
  })

  test('clock tolerance covers nbf and exp: a token past exp by less than the tolerance is accepted, and expires at exp + tolerance', async () => {
    const verifier = await verifierFor({ secret: SECRET_TEXT, clockToleranceSec: 120 })
    await expect(verifier.verify(await signed(claims({ nbf: nowSec() + 60 }), SECRET, 'HS256'))).resolves.toMatchObject({ userId: 'user-1' })
    const exp = nowSec() - 60
    await expect(verifier.verify(await signed(claims({ exp }), SECRET, 'HS256'))).resolves.toMatchObject({ expiresAtMs: (exp + 120) * 1000 })
    await expectRejects(verifier, await signed(claims({ exp: nowSec() - 180 }), SECRET, 'HS256'), 'token_expired')
  })

  test('nbf in the future → token_invalid', async () => {
    const verifier = await verifierFor({ secret: SECRET_TEXT })
    await expectRejects(verifier, await signed(claims({ nbf: nowSec() + 3_600 }), SECRET, 'HS256'), 'token_invalid')
  })

  test('alg none → token_invalid', async () => {
    const verifier = await verifierFor({ secret: SECRET_TEXT })
    const token = handmadeJwt({ alg: 'none', typ: 'JWT' }, claims(), () => '')
    await expectRejects(verifier, token, 'token_invalid')
  })

  test('bad signature → token_invalid', async () => {
    const verifier = await verifierFor({ secret: SECRET_TEXT })
    const other = await signed(claims(), new TextEncoder().encode('another-secret-of-at-least-32-bytes!'), 'HS256')
    await expectRejects(verifier, other, 'token_invalid')
    // Same header and payload, tampered payload: signature no longer matches.
    const good = await signed(claims(), SECRET, 'HS256')
    const [h, , s] = good.split('.')
    await expectRejects(verifier, `${h}.${b64url(claims({ admin: true }))}.${s}`, 'token_invalid')
  })

  test('HS384 and RS256 are not accepted with a secret', async () => {
    const verifier = await verifierFor({ secret: SECRET_TEXT })
    await expectRejects(verifier, await signed(claims(), SECRET, 'HS384'), 'token_invalid')
    await expectRejects(verifier, await signed(claims(), rsaPair().privateKey, 'RS256'), 'token_invalid')
  })

  test('malformed tokens → token_invalid', async () => {
    const verifier = await verifierFor({ secret: SECRET_TEXT })
    for (const token of ['', 'abc', 'a.b.c', 'not.a.jwt.at.all', `${b64url({ alg: 'HS256' })}.!!!.sig`]) {
      await expectRejects(verifier, token, 'token_invalid')
    }
  })

  test('oversize token → token_invalid without parsing', async () => {
    const verifier = await verifierFor({ secret: SECRET_TEXT })
    await expectRejects(verifier, 'a'.repeat(MAX_TOKEN_CHARS + 1), 'token_invalid')
    // A correctly signed token is refused too once it is over the limit.
    const big = await signed(claims({ pad: 'x'.repeat(MAX_TOKEN_CHARS) }), SECRET, 'HS256')
    const err = await expectRejects(verifier, big, 'token_invalid')
    expect(err.message).toContain('longer')
  })

  test('issuer and audience: match accepted, mismatch and absence rejected', async () => {
    const verifier = await verifierFor({ secret: SECRET_TEXT, issuer: 'https://auth.example', audience: 'tandem' })
    const ok = await signed(claims({ iss: 'https://auth.example', aud: 'tandem' }), SECRET, 'HS256')
    await expect(verifier.verify(ok)).resolves.toMatchObject({ userId: 'user-1' })
    const okArray = await signed(claims({ iss: 'https://auth.example', aud: ['other', 'tandem'] }), SECRET, 'HS256')
    await expect(verifier.verify(okArray)).resolves.toMatchObject({ userId: 'user-1' })

    const badIss = await expectRejects(verifier, await signed(claims({ iss: 'https://evil.example', aud: 'tandem' }), SECRET, 'HS256'), 'token_invalid')
    expect(badIss.message).toContain('issuer')
    const badAud = await expectRejects(verifier, await signed(claims({ iss: 'https://auth.example', aud: 'other' }), SECRET, 'HS256'), 'token_invalid')
    expect(badAud.message).toContain('audience')
    await expectRejects(verifier, await signed(claims({ aud: 'tandem' }), SECRET, 'HS256'), 'token_invalid')
    await expectRejects(verifier, await signed(claims({ iss: 'https://auth.example' }), SECRET, 'HS256'), 'token_invalid')
  })

  test('iss/aud are not checked when not configured', async () => {
    const verifier = await verifierFor({ secret: SECRET_TEXT })
    await expect(verifier.verify(await signed(claims({ iss: 'anyone', aud: 'anything' }), SECRET, 'HS256'))).resolves.toBeDefined()
  })

  test('anonymous principal only when enabled', async () => {
    expect((await verifierFor({ secret: SECRET_TEXT })).anonymous).toBeNull()
    const anonymous = (await verifierFor({ secret: SECRET_TEXT, allowAnonymous: true })).anonymous
    expect(anonymous).toMatchObject({ userId: 'anonymous', name: null, admin: false, expiresAtMs: null })
    expect(anonymous && accessFor(anonymous, 'any-room')).toBe('write')
  })
})

describe('claims validation', () => {
  const cases: Array<[string, JWTPayload]> = [
    ['rooms with a bad access value', claims({ rooms: { 'doc-1': 'admin' } })],
    ['rooms not an object', claims({ rooms: ['doc-1'] })],
    ['rooms with a key that is not a room name', claims({ rooms: { 'a/b': 'read' } })],
    ['rooms with * in the middle', claims({ rooms: { 'a*b': 'read' } })],
    ['sub missing', { exp: nowSec() + 60, rooms: {} }],
    ['sub empty', claims({ sub: '' })],
    ['sub not a string', claims({ sub: 42 as unknown as string })],
    ['sub too long', claims({ sub: 'u'.repeat(257) })],
    ['name not a string', claims({ name: 7 })],
    ['admin not a boolean', claims({ admin: 'yes' })],
  ]
  test.each(cases)('%s → token_invalid', async (_label, payload) => {
    const verifier = await verifierFor({ secret: SECRET_TEXT })
    await expectRejects(verifier, await signed(payload, SECRET, 'HS256'), 'token_invalid')
  })

  test('the error names the claim, not its value', async () => {
    const verifier = await verifierFor({ secret: SECRET_TEXT })
    const err = await expectRejects(verifier, await signed(claims({ rooms: { 'secret-room-name': 'owner' } }), SECRET, 'HS256'), 'token_invalid')
    expect(err.message).toBe('token claim "rooms" is invalid')
  })
})

describe('public key', () => {
  test('RS256, RS512 and PS256 valid with an RSA key', async () => {
    const { privateKey, pem } = rsaPair()
    const verifier = await verifierFor({ publicKey: pem })
    for (const alg of ['RS256', 'RS512', 'PS256']) {
      await expect(verifier.verify(await signed(claims(), privateKey, alg))).resolves.toMatchObject({ userId: 'user-1' })
    }
  })

  test('ES256 valid with a P-256 key', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true })
    const verifier = await verifierFor({ publicKey: await exportSPKI(publicKey) })
    await expect(verifier.verify(await signed(claims(), privateKey, 'ES256'))).resolves.toMatchObject({ userId: 'user-1' })
  })

  test('EdDSA valid with an Ed25519 key', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519')
    const verifier = await verifierFor({ publicKey: publicKey.export({ type: 'spki', format: 'pem' }) as string })
    await expect(verifier.verify(await signed(claims(), privateKey, 'EdDSA'))).resolves.toMatchObject({ userId: 'user-1' })
  })

  test('RS256 token rejected when an ES256 key is configured', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const verifier = await verifierFor({ publicKey: ec.publicKey.export({ type: 'spki', format: 'pem' }) as string })
    await expectRejects(verifier, await signed(claims(), rsaPair().privateKey, 'RS256'), 'token_invalid')
    // ES384 with a P-256 key is not the pinned algorithm either.
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' })
    await expectRejects(verifier, await signed(claims(), p384.privateKey, 'ES384'), 'token_invalid')
  })

  test('key confusion: HS256 signed with the public key PEM as HMAC secret → token_invalid', async () => {
    const { pem } = rsaPair()
    const verifier = await verifierFor({ publicKey: pem })
    for (const secretText of [pem, pem.trim()]) {
      const forged = await signed(claims({ admin: true }), new TextEncoder().encode(secretText), 'HS256')
      await expectRejects(verifier, forged, 'token_invalid')
    }
  })

  test('RS256 signed by a different RSA key → token_invalid', async () => {
    const verifier = await verifierFor({ publicKey: rsaPair().pem })
    await expectRejects(verifier, await signed(claims(), rsaPair().privateKey, 'RS256'), 'token_invalid')
  })

  test('PEM from a file path and with escaped newlines', async () => {
    const { privateKey, pem } = rsaPair()
    const dir = await tempDir()
    const file = join(dir, 'public.pem')
    await writeFile(file, pem)
    const token = await signed(claims(), privateKey, 'RS256')
    await expect((await verifierFor({ publicKey: file })).verify(token)).resolves.toBeDefined()
    await expect((await verifierFor({ publicKey: pem.trim().replaceAll('\n', '\\n') })).verify(token)).resolves.toBeDefined()
  })

  test('algorithms are pinned by key type', async () => {
    const resolve = async (pem: string): Promise<VerificationKey> => resolveVerificationKey(authOptions({ publicKey: pem }), '/nonexistent')
    const spki = (k: KeyObject): string => k.export({ type: 'spki', format: 'pem' }) as string
    expect(await resolve(rsaPair().pem)).toMatchObject({ kind: 'public', algorithms: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] })
    expect(await resolve(spki(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey))).toMatchObject({ algorithms: ['ES256'] })
    expect(await resolve(spki(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey))).toMatchObject({ algorithms: ['ES384'] })
    expect(await resolve(spki(generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey))).toMatchObject({ algorithms: ['ES512'] })
    expect(await resolve(spki(generateKeyPairSync('ed25519').publicKey))).toMatchObject({ algorithms: ['EdDSA', 'Ed25519'] })
    expect(await resolve(spki(generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).publicKey))).toMatchObject({ algorithms: ['PS256', 'PS384', 'PS512'] })
  })

  test('RSA-PSS key: PS256 accepted, RS256 rejected', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa-pss', {
      modulusLength: 2048,
      hashAlgorithm: 'sha256',
      mgf1HashAlgorithm: 'sha256',
    })
    const verifier = await verifierFor({ publicKey: publicKey.export({ type: 'spki', format: 'pem' }) as string })
    const token = handmadeJwt({ alg: 'PS256', typ: 'JWT' }, claims(), (input) => cryptoSign('sha256', input, { key: privateKey, saltLength: 32 }))
    await expect(verifier.verify(token)).resolves.toMatchObject({ userId: 'user-1' })
    await expectRejects(verifier, await signed(claims(), rsaPair().privateKey, 'RS256'), 'token_invalid')
    // The key is restricted to SHA-256 (OpenSSL will not even sign PS384 with it): PS384 is not accepted.
    const ps384 = handmadeJwt({ alg: 'PS384', typ: 'JWT' }, claims(), () => randomBytes(256))
    const err = await expectRejects(verifier, ps384, 'token_invalid')
    expect(err.message).toContain('algorithm')
  })

  test('unusable keys fail at boot with an error naming TANDEM_JWT_PUBLIC_KEY', async () => {
    const resolve = (publicKey: string): Promise<VerificationKey> => resolveVerificationKey(authOptions({ publicKey }), '/nonexistent')
    const spki = (k: KeyObject): string => k.export({ type: 'spki', format: 'pem' }) as string
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
    await expect(resolve(rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string)).rejects.toThrow(/TANDEM_JWT_PUBLIC_KEY: contains a private key/)
    await expect(resolve(rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string)).rejects.toThrow(/private key/)
    await expect(resolve(spki(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey))).rejects.toThrow(/TANDEM_JWT_PUBLIC_KEY.*2048/)
    await expect(resolve(spki(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey))).rejects.toThrow(/TANDEM_JWT_PUBLIC_KEY.*secp256k1/)
    await expect(resolve(spki(generateKeyPairSync('ed448').publicKey))).rejects.toThrow(/TANDEM_JWT_PUBLIC_KEY.*ed448/)
    await expect(resolve(spki(generateKeyPairSync('x25519').publicKey))).rejects.toThrow(/TANDEM_JWT_PUBLIC_KEY/)
    await expect(resolve('-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----')).rejects.toThrow(/TANDEM_JWT_PUBLIC_KEY/)
    await expect(resolve('/nonexistent/key.pem')).rejects.toThrow(/TANDEM_JWT_PUBLIC_KEY.*ENOENT/)
  })
})

describe('JWKS', () => {
  async function jwksServer(body: () => { status: number; json: unknown }): Promise<{ url: string; hits: () => number }> {
    let hits = 0
    const server = createServer((_req, res) => {
      hits++
      const { status, json } = body()
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())))
    const { port } = server.address() as AddressInfo
    return { url: `http://127.0.0.1:${port}/.well-known/jwks.json`, hits: () => hits }
  }

  test('accepts RS256 and ES256, rejects HS256 even with an oct key in the set', async () => {
    const rsa = await generateKeyPair('RS256', { extractable: true })
    const ec = await generateKeyPair('ES256', { extractable: true })
    const hmacSecret = randomBytes(32)
    const keys = [
      { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
      { ...(await exportJWK(ec.publicKey)), kid: 'ec-1' },
      { kty: 'oct', k: hmacSecret.toString('base64url'), kid: 'hmac-1' },
    ]
    const srv = await jwksServer(() => ({ status: 200, json: { keys } }))
    const verifier = await verifierFor({ jwksUrl: srv.url })

    const rs = await new SignJWT(claims()).setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' }).sign(rsa.privateKey)
    await expect(verifier.verify(rs)).resolves.toMatchObject({ userId: 'user-1' })
    const es = await new SignJWT(claims()).setProtectedHeader({ alg: 'ES256' }).sign(ec.privateKey)
    await expect(verifier.verify(es)).resolves.toMatchObject({ userId: 'user-1' })

    const hs = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: 'hmac-1' }).sign(hmacSecret)
    await expectRejects(verifier, hs, 'token_invalid')
    const none = handmadeJwt({ alg: 'none' }, claims(), () => '')
    await expectRejects(verifier, none, 'token_invalid')
    // Unknown signer: no key in the set verifies it.
    const stranger = await generateKeyPair('RS256')
    await expectRejects(verifier, await new SignJWT(claims()).setProtectedHeader({ alg: 'RS256', kid: 'rsa-2' }).sign(stranger.privateKey), 'token_invalid')
    await expectRejects(verifier, await new SignJWT(claims()).setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' }).sign(stranger.privateKey), 'token_invalid')
    expect(srv.hits()).toBeGreaterThan(0)
  })

  test('several keys of one type and no kid: the one that verifies is used', async () => {
    const a = await generateKeyPair('ES256', { extractable: true })
    const b = await generateKeyPair('ES256', { extractable: true })
    const keys = [await exportJWK(a.publicKey), await exportJWK(b.publicKey)]
    const srv = await jwksServer(() => ({ status: 200, json: { keys } }))
    const verifier = await verifierFor({ jwksUrl: srv.url })
    await expect(verifier.verify(await signed(claims(), b.privateKey, 'ES256'))).resolves.toMatchObject({ userId: 'user-1' })
    const c = await generateKeyPair('ES256')
    await expectRejects(verifier, await signed(claims(), c.privateKey, 'ES256'), 'token_invalid')
  })

  test('JWKS endpoint failing → unavailable, not token_invalid', async () => {
    const rsa = await generateKeyPair('RS256')
    const srv = await jwksServer(() => ({ status: 500, json: { error: 'down' } }))
    const verifier = await verifierFor({ jwksUrl: srv.url })
    await expectRejects(verifier, await signed(claims(), rsa.privateKey, 'RS256'), 'unavailable')
  })

  test('non-http JWKS URL fails at boot', async () => {
    await expect(resolveVerificationKey(authOptions({ jwksUrl: 'file:///etc/jwks.json' }), '/nonexistent')).rejects.toThrow(/TANDEM_JWKS_URL/)
    await expect(resolveVerificationKey(authOptions({ jwksUrl: 'not a url' }), '/nonexistent')).rejects.toThrow(/TANDEM_JWKS_URL/)
  })
})

describe('accessFor', () => {
  const rooms = { 'doc-1': 'read', 'doc-*': 'write', 'team-*': 'read', 'team-a-*': 'write', 'exact': 'write' } as const

  test('exact key beats a prefix', () => {
    expect(accessFor({ rooms }, 'doc-1')).toBe('read')
    expect(accessFor({ rooms }, 'doc-2')).toBe('write')
  })

  test('longest matching prefix wins', () => {
    expect(accessFor({ rooms }, 'team-a-notes')).toBe('write')
    expect(accessFor({ rooms }, 'team-b-notes')).toBe('read')
    expect(accessFor({ rooms: { 'a*': 'write', 'ab*': 'read' } }, 'abc')).toBe('read')
    expect(accessFor({ rooms: { 'a*': 'write', 'ab*': 'read' } }, 'ac')).toBe('write')
  })

  test('a prefix matches the room equal to it', () => {
    expect(accessFor({ rooms: { 'doc*': 'read' } }, 'doc')).toBe('read')
  })

  test('* alone matches everything, and loses to any longer key', () => {
    expect(accessFor({ rooms: { '*': 'read' } }, 'anything')).toBe('read')
    expect(accessFor({ rooms: { '*': 'read', 'x*': 'write' } }, 'xyz')).toBe('write')
    expect(accessFor({ rooms: { '*': 'write', 'private': 'read' } }, 'private')).toBe('read')
  })

  test('no match → null; inherited properties never match', () => {
    expect(accessFor({ rooms }, 'other')).toBeNull()
    expect(accessFor({ rooms }, 'exac')).toBeNull()
    expect(accessFor({ rooms }, 'exactly')).toBeNull()
    expect(accessFor({ rooms: {} }, 'doc-1')).toBeNull()
    expect(accessFor({ rooms: {} }, 'constructor')).toBeNull()
    expect(accessFor({ rooms: {} }, 'toString')).toBeNull()
  })
})

describe('loadOrCreateSecret', () => {
  test('creates a 0600 file in a missing directory, then reuses it', async () => {
    const dir = join(await tempDir(), 'nested', 'data')
    const first = await loadOrCreateSecret(dir)
    expect(first.generated).toBe(true)
    expect(first.key.length).toBeGreaterThanOrEqual(32)
    const st = await stat(join(dir, 'jwt-secret'))
    if (process.platform !== 'win32') expect(st.mode & 0o777).toBe(0o600)
    // The key is the file's text, so it can be copied into TANDEM_JWT_SECRET unchanged.
    expect(new TextDecoder().decode(first.key)).toBe((await readFile(join(dir, 'jwt-secret'), 'utf8')).trim())

    const second = await loadOrCreateSecret(dir)
    expect(second.generated).toBe(false)
    expect(Buffer.from(second.key).equals(Buffer.from(first.key))).toBe(true)
  })

  test('concurrent first runs agree on one secret', async () => {
    const dir = await tempDir()
    const results = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateSecret(dir)))
    expect(results.filter((r) => r.generated)).toHaveLength(1)
    const texts = new Set(results.map((r) => Buffer.from(r.key).toString()))
    expect(texts.size).toBe(1)
  })

  test.skipIf(process.platform === 'win32')('refuses a group/world-readable file', async () => {
    const dir = await tempDir()
    const file = join(dir, 'jwt-secret')
    await writeFile(file, `${randomBytes(32).toString('base64url')}\n`)
    await chmod(file, 0o644)
    await expect(loadOrCreateSecret(dir)).rejects.toThrow(/chmod 600/)
    await chmod(file, 0o600)
    await expect(loadOrCreateSecret(dir)).resolves.toMatchObject({ generated: false })
  })

  test('refuses an empty or garbage file', async () => {
    const dir = await tempDir()
    const file = join(dir, 'jwt-secret')
    await writeFile(file, '', { mode: 0o600 })
    await expect(loadOrCreateSecret(dir)).rejects.toThrow(/empty/)
    await writeFile(file, 'short!\n', { mode: 0o600 })
    await expect(loadOrCreateSecret(dir)).rejects.toThrow(/not a generated secret/)
  })

  test('resolveVerificationKey uses the generated secret when nothing is configured', async () => {
    const dir = await tempDir()
    const key = await resolveVerificationKey(authOptions(), dir)
    expect(key).toMatchObject({ kind: 'secret', generated: true })
    if (key.kind !== 'secret') throw new Error('unreachable')
    const verifier = createTokenVerifier(key, authOptions())
    const token = await mintToken(key.key, { sub: 'u', rooms: { '*': 'read' } }, { ttlSec: 60 })
    await expect(verifier.verify(token)).resolves.toMatchObject({ userId: 'u' })
    // A later run reads the same secret and accepts the same token.
    const again = await resolveVerificationKey(authOptions(), dir)
    expect(again).toMatchObject({ kind: 'secret', generated: false })
    await expect(createTokenVerifier(again, authOptions()).verify(token)).resolves.toMatchObject({ userId: 'u' })
  })
})

describe('parseTtl', () => {
  test.each([
    ['90s', 90],
    ['15m', 900],
    ['1h', 3_600],
    ['7d', 604_800],
    ['3600', 3_600],
    [' 2h ', 7_200],
    ['365d', 31_536_000],
  ])('%s → %i', (text, seconds) => {
    expect(parseTtl(text)).toBe(seconds)
  })

  test.each(['', '0', '0s', '-5', '1.5h', '1w', 'abc', 'h', '366d', '31536001', '1 h', '99999999999999999999'])('%j throws', (text) => {
    expect(() => parseTtl(text)).toThrow(/TTL/)
  })
})

describe('mintToken', () => {
  test('round trip with issuer and audience', async () => {
    const opts = authOptions({ secret: SECRET_TEXT, issuer: 'tandem', audience: 'tandem-clients' })
    const verifier = createTokenVerifier(await resolveVerificationKey(opts, '/nonexistent'), opts)
    const before = nowSec()
    const token = await mintToken(SECRET, { sub: 'user-9', name: 'Grace', rooms: { 'doc-*': 'write' }, admin: true }, { ttlSec: 900, issuer: 'tandem', audience: 'tandem-clients' })
    const principal = await verifier.verify(token)
    expect(principal).toMatchObject({ userId: 'user-9', name: 'Grace', admin: true })
    expect(accessFor(principal, 'doc-1')).toBe('write')
    expect(principal.expiresAtMs).toBeGreaterThanOrEqual((before + 900) * 1000)
    expect(principal.expiresAtMs).toBeLessThanOrEqual((nowSec() + 900) * 1000)

    const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()) as Record<string, unknown>
    expect(header.alg).toBe('HS256')
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>
    expect(payload).toMatchObject({ iss: 'tandem', aud: 'tandem-clients', sub: 'user-9' })
    expect(typeof payload.iat).toBe('number')

    // Without iss/aud the token fails a verifier that requires them.
    const bare = await mintToken(SECRET, { sub: 'user-9', rooms: {} }, { ttlSec: 900 })
    await expectRejects(verifier, bare, 'token_invalid')
  })

  test('refuses claims the verifier would reject, and out-of-range TTLs', async () => {
    const reject = (p: Promise<string>): Promise<void> => expect(p).rejects.toMatchObject({ code: 'bad_request' })
    await reject(mintToken(SECRET, { sub: '', rooms: {} }, { ttlSec: 60 }))
    await reject(mintToken(SECRET, { sub: 'u', rooms: { 'a/b': 'read' } }, { ttlSec: 60 }))
    await reject(mintToken(SECRET, { sub: 'u', rooms: { doc: 'owner' as 'read' } }, { ttlSec: 60 }))
    const tooMany = Object.fromEntries(Array.from({ length: 1_001 }, (_, i) => [`r${i}`, 'read' as const]))
    await reject(mintToken(SECRET, { sub: 'u', rooms: tooMany }, { ttlSec: 60 }))
    await reject(mintToken(SECRET, { sub: 'u', rooms: {} }, { ttlSec: 0 }))
    await reject(mintToken(SECRET, { sub: 'u', rooms: {} }, { ttlSec: 1.5 }))
    await reject(mintToken(SECRET, { sub: 'u', rooms: {} }, { ttlSec: 366 * 86_400 }))
  })
})
