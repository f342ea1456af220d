/**
 * Resolves the key tokens are verified with: a shared HS256 secret, a PEM public key, a JWKS URL, or (with
 * none configured) a secret generated on first run and kept in the data directory, or on PostgreSQL in the
 * database (see secret-file.ts).
 * Everything that can be wrong with a key fails here, at boot, with an error naming the variable.
 */
import { createPublicKey } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { ConfigError } from '../config.js'
import { errorCode, secretKeeper, type SecretKeeper } from '../secret-file.js'

export interface AuthOptions {
  /** TANDEM_JWT_SECRET: HS256 shared secret, UTF-8 text (≥ 32 bytes, enforced by config). */
  secret: string | null
  /** TANDEM_JWT_PUBLIC_KEY: PEM text (starts with "-----BEGIN") or a path to a PEM file. */
  publicKey: string | null
  /** TANDEM_JWKS_URL */
  jwksUrl: string | null
  /** Expected `iss`; not checked when null. */
  issuer: string | null
  /** Expected `aud`; not checked when null. */
  audience: string | null
  /** Tokenless clients get write access to every room. Only behind an explicit flag. */
  allowAnonymous: boolean
  /** Leeway for `exp`, `nbf` and `iat`, in seconds: clocks of issuing machines and ours may differ this much. */
  clockToleranceSec: number
  /** Longest lifetime (`exp` − `iat`, or `exp` − now without `iat`) a token may have, in seconds; 0: no limit. */
  maxLifetimeSec: number
}

export type VerificationKey =
  // keptAt: where a generated secret is kept (a file path or the database table); absent when configured.
  | { kind: 'secret'; key: Uint8Array; generated: boolean; keptAt?: string }
  | { kind: 'public'; key: KeyObject; algorithms: string[] }
  | { kind: 'jwks'; url: URL }

/** Every asymmetric JWS algorithm Tandem accepts. HS* is never accepted with a public key or a JWKS. */
export const ASYMMETRIC_ALGORITHMS: readonly string[] = Object.freeze([
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA', 'Ed25519',
])

/** Name of the generated secret inside the data directory. */
export const SECRET_FILE_NAME = 'jwt-secret'

const PUBLIC_KEY_VAR = 'TANDEM_JWT_PUBLIC_KEY'
const RSA_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']
const PSS_ALGORITHMS = ['PS256', 'PS384', 'PS512']
const PSS_BY_HASH: Readonly<Record<string, string>> = { sha256: 'PS256', sha384: 'PS384', sha512: 'PS512' }
const ES_BY_CURVE: Readonly<Record<string, string>> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' }
/** jose refuses RS and PS keys below this size at verify time; refuse them at boot instead. */
const MIN_RSA_BITS = 2048
/** 32 random bytes as base64url text. Longer values written by an operator are accepted. */
const PRIVATE_PEM_PATTERN = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/

/** `secrets`: where a generated secret is kept, a data directory or a keeper (used only with no key configured). */
export async function resolveVerificationKey(opts: AuthOptions, secrets: string | SecretKeeper): Promise<VerificationKey> {
  if (opts.secret !== null) {
    return { kind: 'secret', key: new TextEncoder().encode(opts.secret), generated: false }
  }
  if (opts.publicKey !== null) {
    const pem = await readPem(opts.publicKey)
    return { kind: 'public', ...publicKeyFromPem(pem) }
  }
  if (opts.jwksUrl !== null) {
    return { kind: 'jwks', url: parseJwksUrl(opts.jwksUrl) }
  }
  return { kind: 'secret', ...(await loadOrCreateSecret(secrets)) }
}

/**
 * Returns the kept secret (`<dataDir>/jwt-secret`, mode 0600, or the database's), creating it on first run.
 *
 * The key is the UTF-8 bytes of the base64url text (not the decoded bytes), so the kept text is also a
 * valid TANDEM_JWT_SECRET value: an operator can move to an explicit secret without invalidating tokens.
 */
export async function loadOrCreateSecret(secrets: string | SecretKeeper): Promise<{ key: Uint8Array; generated: boolean; keptAt: string }> {
  const file = await secretKeeper(secrets).loadOrCreate({
    fileName: SECRET_FILE_NAME,
    noun: 'secret',
    holds: 'the token signing secret',
    envVar: 'TANDEM_JWT_SECRET',
    regenerateNote: 'tokens issued with the old one stop working',
  })
  return { key: new TextEncoder().encode(file.text), generated: file.created, keptAt: file.path }
}

async function readPem(value: string): Promise<string> {
  let text = value.trim()
  if (!text.startsWith('-----BEGIN')) {
    try {
      text = (await readFile(value, 'utf8')).trim()
    } catch (err) {
      throw new ConfigError(PUBLIC_KEY_VAR, `cannot read PEM file ${value}: ${describeReadError(err)}`)
    }
  }
  // Env vars and secret stores often carry PEM with literal "\n" sequences instead of line breaks.
  if (!text.includes('\n') && text.includes('\\n')) text = text.replaceAll('\\n', '\n')
  return text
}

/** Words for the usual reasons, with the code for searching: "no such file (ENOENT)". */
function describeReadError(err: unknown): string {
  const code = errorCode(err)
  const words = code === 'ENOENT' ? 'no such file' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : null
  if (code === undefined) return err instanceof Error ? err.message : String(err)
  return words === null ? code : `${words} (${code})`
}

function publicKeyFromPem(pem: string): { key: KeyObject; algorithms: string[] } {
  if (PRIVATE_PEM_PATTERN.test(pem)) {
    throw new ConfigError(PUBLIC_KEY_VAR, `contains a private key; configure the public key only (openssl pkey -in key.pem -pubout)`)
  }
  let key: KeyObject
  try {
    key = createPublicKey(pem)
  } catch (err) {
    // The cause (an OpenSSL decoder message) names no setting; it shows at TANDEM_LOG_LEVEL=debug.
    throw Object.assign(new ConfigError(PUBLIC_KEY_VAR, 'is not a valid PEM public key or certificate'), { cause: err })
  }
  const details = key.asymmetricKeyDetails ?? {}
  switch (key.asymmetricKeyType) {
    case 'rsa':
      assertRsaSize(details.modulusLength)
      return { key, algorithms: [...RSA_ALGORITHMS] }
    case 'rsa-pss': {
      assertRsaSize(details.modulusLength)
      const pinned = details.hashAlgorithm === undefined ? undefined : PSS_BY_HASH[details.hashAlgorithm]
      if (details.hashAlgorithm !== undefined && pinned === undefined) {
        throw new ConfigError(PUBLIC_KEY_VAR, `RSA-PSS key restricted to ${details.hashAlgorithm}, which no JWS algorithm uses`)
      }
      // jose cannot import an rsa-pss KeyObject on every Node version; the same modulus as a plain RSA key
      // works everywhere, and the pinned list keeps it PS-only.
      return { key: rsaPssAsRsa(key), algorithms: pinned === undefined ? [...PSS_ALGORITHMS] : [pinned] }
    }
    case 'ec': {
      const alg = details.namedCurve === undefined ? undefined : ES_BY_CURVE[details.namedCurve]
      if (alg === undefined) {
        throw new ConfigError(PUBLIC_KEY_VAR, `EC curve ${details.namedCurve ?? 'unknown'} is not supported (use P-256, P-384 or P-521)`)
      }
      return { key, algorithms: [alg] }
    }
    case 'ed25519':
      // "Ed25519" is the fully-specified name (RFC 9864) for the same signature as "EdDSA".
      return { key, algorithms: ['EdDSA', 'Ed25519'] }
    default:
      throw new ConfigError(PUBLIC_KEY_VAR, `${key.asymmetricKeyType ?? 'unknown'} keys are not supported (use RSA, RSA-PSS, EC P-256/P-384/P-521 or Ed25519)`)
  }
}

function assertRsaSize(bits: number | undefined): void {
  if (bits === undefined || bits < MIN_RSA_BITS) {
    throw new ConfigError(PUBLIC_KEY_VAR, `RSA key is ${bits ?? 'of unknown'} bits; at least ${MIN_RSA_BITS} are required`)
  }
}

/** Re-wraps an rsa-pss public key's RSAPublicKey (modulus, exponent) as a plain rsa KeyObject. */
function rsaPssAsRsa(key: KeyObject): KeyObject {
  // SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }
  const spki = key.export({ type: 'spki', format: 'der' })
  const outer = readDer(spki, 0, 0x30)
  const algorithm = readDer(spki, outer.start, 0x30)
  const bits = readDer(spki, algorithm.end, 0x03)
  // The BIT STRING's first content byte counts unused bits (0 for DER keys); RSAPublicKey follows.
  const rsaPublicKey = spki.subarray(bits.start + 1, bits.end)
  return createPublicKey({ key: rsaPublicKey, format: 'der', type: 'pkcs1' })
}

/** Reads one DER TLV header at `offset`, checking its tag. Returns where its content starts and ends. */
function readDer(buf: Buffer, offset: number, tag: number): { start: number; end: number } {
  if (buf[offset] !== tag) throw new ConfigError(PUBLIC_KEY_VAR, `malformed RSA-PSS public key`)
  let pos = offset + 1
  const first = buf[pos++] ?? 0
  let length = first
  if (first & 0x80) {
    const count = first & 0x7f
    length = 0
    for (let i = 0; i < count; i++) length = length * 256 + (buf[pos++] ?? 0)
  }
  if (pos + length > buf.length) throw new ConfigError(PUBLIC_KEY_VAR, `malformed RSA-PSS public key`)
  return { start: pos, end: pos + length }
}

function parseJwksUrl(value: string): URL {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new ConfigError('TANDEM_JWKS_URL', `is not a valid URL: ${value}`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError('TANDEM_JWKS_URL', `must be an http(s) URL, got ${url.protocol}`)
  }
  return url
}

