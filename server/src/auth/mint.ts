/**
 * Issues HS256 client tokens for `POST /v1/tokens` and the `tandem token` CLI, so a small app needs no
 * auth server. Tokens are validated against the same claims schema the verifier applies.
 */
import { SignJWT } from 'jose'
import { AppError } from '../errors.js'
import { tokenClaimsSchema } from './verify.js'
import type { Access } from './verify.js'

export interface MintClaims {
  sub: string
  name?: string
  rooms: Record<string, Access>
  admin?: boolean
}

export interface MintOptions {
  /** Lifetime in seconds: integer, 1 … `maxTtlFor(maxLifetimeSec)`. */
  ttlSec: number
  issuer?: string | null
  audience?: string | null
  /**
   * The verifier's TANDEM_JWT_MAX_LIFETIME_SEC (0: no limit): a longer ttl is refused, so nothing is
   * minted that the server would then refuse. @default 0
   */
  maxLifetimeSec?: number
}

/** Longest token lifetime `mintToken` and `parseTtl` ever accept: 365 days, in seconds. */
export const MAX_TTL_SEC = 365 * 24 * 60 * 60

/** Default lifetime of minted tokens (REST and CLI): one hour, or the maximum lifetime when that is shorter. */
export const DEFAULT_TTL_SEC = 3_600

/** The longest ttl a server with this TANDEM_JWT_MAX_LIFETIME_SEC (0: no limit) mints. */
export function maxTtlFor(maxLifetimeSec: number): number {
  return maxLifetimeSec > 0 ? Math.min(maxLifetimeSec, MAX_TTL_SEC) : MAX_TTL_SEC
}

/** The ttl used when none is given: one hour, capped by the maximum lifetime. */
export function defaultTtlFor(maxLifetimeSec: number): number {
  return Math.min(DEFAULT_TTL_SEC, maxTtlFor(maxLifetimeSec))
}

/** Why `ttlSec` cannot be minted under `maxLifetimeSec`, or null. The message names the setting. */
export function ttlProblem(ttlSec: number, maxLifetimeSec: number): string | null {
  if (!Number.isInteger(ttlSec) || ttlSec <= 0) return 'ttl must be a whole number of seconds greater than zero'
  const max = maxTtlFor(maxLifetimeSec)
  if (ttlSec <= max) return null
  if (max < MAX_TTL_SEC) {
    return `ttl ${ttlSec} s is longer than the server's maximum token lifetime of ${max} s (TANDEM_JWT_MAX_LIFETIME_SEC); the server would refuse the token`
  }
  return `ttl must be at most ${MAX_TTL_SEC} s (365 days)`
}

const TTL_UNIT_SEC: Readonly<Record<string, number>> = { '': 1, s: 1, m: 60, h: 3_600, d: 86_400 }
const TTL_PATTERN = /^(\d{1,12})([smhd]?)$/

/**
 * Rejects with AppError `bad_request` when the claims would fail verification or the TTL is out of range
 * (longer than `maxLifetimeSec`, or than 365 days).
 */
export async function mintToken(key: Uint8Array, claims: MintClaims, opts: MintOptions): Promise<string> {
  const problem = ttlProblem(opts.ttlSec, opts.maxLifetimeSec ?? 0)
  if (problem !== null) throw new AppError('bad_request', problem)
  const parsed = tokenClaimsSchema.safeParse(claims)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const where = issue?.path.map(String).join('.') || 'claims'
    throw new AppError('bad_request', `invalid token claim ${where}: ${issue?.message ?? 'invalid'}`)
  }
  const { sub, name, rooms, admin } = parsed.data
  const nowSec = Math.floor(Date.now() / 1000)
  const jwt = new SignJWT({
    rooms: rooms ?? {},
    ...(name !== undefined ? { name } : {}),
    ...(admin !== undefined ? { admin } : {}),
  })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setIssuedAt(nowSec)
    .setExpirationTime(nowSec + opts.ttlSec)
  if (opts.issuer) jwt.setIssuer(opts.issuer)
  if (opts.audience) jwt.setAudience(opts.audience)
  return jwt.sign(key)
}

/** Parses a CLI lifetime: "90s", "15m", "1h", "7d" or plain seconds. Throws an Error explaining the format. */
export function parseTtl(text: string): number {
  const match = TTL_PATTERN.exec(text.trim())
  if (!match) {
    throw new Error(`invalid TTL "${text}": use seconds or a number followed by s, m, h or d (e.g. 90s, 15m, 1h, 7d)`)
  }
  const seconds = Number(match[1]) * (TTL_UNIT_SEC[match[2] ?? ''] ?? 1)
  if (seconds <= 0) throw new Error(`invalid TTL "${text}": must be greater than zero`)
  if (seconds > MAX_TTL_SEC) throw new Error(`invalid TTL "${text}": must be at most 365d`)
  return seconds
}
