/**
 * Turns a JWT into a Principal, or an AppError whose message is safe to show the client.
 * Only this module and mint.ts know jose.
 */
import { createRemoteJWKSet, errors, jwtVerify } from 'jose'
import type { JWTPayload, JWTVerifyGetKey, JWTVerifyOptions, KeyInput } from 'jose'
import * as z from 'zod'
import { AppError, isValidRoomName } from '../errors.js'
import { ASYMMETRIC_ALGORITHMS } from './keys.js'
import type { AuthOptions, VerificationKey } from './keys.js'

export type Access = 'read' | 'write'

export interface Principal {
  /** The token's `sub`. */
  userId: string
  name: string | null
  /** Room name, prefix ending in `*`, or `*` → access. Null-prototype and frozen. */
  rooms: Readonly<Record<string, Access>>
  /** Claim `"admin": true`. */
  admin: boolean
  /** `exp` in epoch milliseconds; null only for the anonymous principal. */
  expiresAtMs: number | null
  /** `iat` in epoch milliseconds; null when the token has none (and for the anonymous principal). */
  issuedAtMs: number | null
}

export interface TokenVerifier {
  /** Resolves with the token's principal; rejects with AppError `token_expired`, `token_invalid` or (JWKS unreachable) `unavailable`. */
  verify(token: string): Promise<Principal>
  /** The principal for tokenless clients; null unless anonymous access is enabled. */
  readonly anonymous: Principal | null
}

/** Tokens longer than this are rejected before parsing. */
export const MAX_TOKEN_CHARS = 8 * 1024
/** Most entries a `rooms` claim may hold. */
export const MAX_ROOM_ENTRIES = 1_000
const MAX_TEXT_CLAIM_CHARS = 256

/** A `rooms` key: a room name, a room-name prefix followed by `*`, or `*` alone. */
export function isRoomKey(key: string): boolean {
  if (key === '*') return true
  return isValidRoomName(key.endsWith('*') ? key.slice(0, -1) : key)
}

/** The claims Tandem reads. Other claims pass through unchecked (jose already checked exp/nbf/iss/aud). */
export const tokenClaimsSchema = z.object({
  sub: z.string().min(1).max(MAX_TEXT_CLAIM_CHARS),
  name: z.string().max(MAX_TEXT_CLAIM_CHARS).optional(),
  rooms: z
    .record(z.string().refine(isRoomKey, 'not a room name, prefix* or *'), z.enum(['read', 'write']))
    .refine((rooms) => Object.keys(rooms).length <= MAX_ROOM_ENTRIES, `at most ${MAX_ROOM_ENTRIES} entries`)
    .optional(),
  admin: z.boolean().optional(),
})

export type TokenClaims = z.infer<typeof tokenClaimsSchema>

const ANONYMOUS: Principal = Object.freeze({
  userId: 'anonymous',
  name: null,
  rooms: freezeRooms({ '*': 'write' }),
  admin: false,
  expiresAtMs: null,
  issuedAtMs: null,
})

export function createTokenVerifier(key: VerificationKey, opts: AuthOptions): TokenVerifier {
  const { input, algorithms } = verificationInput(key)
  // jose applies the tolerance to exp and nbf; iat and the lifetime are checked in toPrincipal.
  const options: JWTVerifyOptions = {
    algorithms,
    requiredClaims: ['exp', 'sub'],
    clockTolerance: opts.clockToleranceSec,
    ...(opts.issuer ? { issuer: opts.issuer } : {}),
    ...(opts.audience ? { audience: opts.audience } : {}),
  }
  const timing: TokenTiming = { clockToleranceSec: opts.clockToleranceSec, maxLifetimeSec: opts.maxLifetimeSec }
  return Object.freeze({
    anonymous: opts.allowAnonymous ? ANONYMOUS : null,
    async verify(token: string): Promise<Principal> {
      if (token.length > MAX_TOKEN_CHARS) throw new AppError('token_invalid', `token is longer than ${MAX_TOKEN_CHARS} characters`)
      let payload: JWTPayload
      try {
        payload = await verifyJwt(token, input, options)
      } catch (err) {
        throw toTokenError(err)
      }
      return toPrincipal(payload, timing, Date.now())
    },
  })
}

/** How the verifier judges a token's times; the same numbers `createTokenVerifier` got in AuthOptions. */
export interface TokenTiming {
  clockToleranceSec: number
  /** 0: no limit. */
  maxLifetimeSec: number
}

/**
 * Checks a verified payload's times that jose does not: `iat` may lie in the future by at most the
 * tolerance, and the token's lifetime — `exp` − `iat`, or `exp` − now when it has no `iat` — may not
 * exceed `maxLifetimeSec`. jose has already checked `exp` and `nbf` against now ± tolerance. Throws
 * AppError `token_invalid` with a message naming the claim. Exported for unit tests.
 */
export function checkTokenTimes(payload: JWTPayload, timing: TokenTiming, nowMs: number): void {
  const nowSec = nowMs / 1000
  const tolerance = timing.clockToleranceSec
  const exp = payload.exp ?? 0 // required; jose has checked it is a number
  if (payload.iat !== undefined && payload.iat > nowSec + tolerance) {
    throw new AppError('token_invalid', `token is issued in the future ("iat" is more than ${tolerance} s ahead of this server's clock)`)
  }
  if (timing.maxLifetimeSec === 0) return
  if (payload.iat !== undefined) {
    if (exp - payload.iat > timing.maxLifetimeSec) {
      throw new AppError(
        'token_invalid',
        `token lifetime ("exp" - "iat") is ${Math.round(exp - payload.iat)} s, more than the maximum of ${timing.maxLifetimeSec} s (TANDEM_JWT_MAX_LIFETIME_SEC)`,
      )
    }
  } else if (exp - nowSec > timing.maxLifetimeSec + tolerance) {
    throw new AppError(
      'token_invalid',
      `token without "iat" expires ${Math.round(exp - nowSec)} s from now, more than the maximum lifetime of ${timing.maxLifetimeSec} s (TANDEM_JWT_MAX_LIFETIME_SEC)`,
    )
  }
}

function verificationInput(key: VerificationKey): { input: KeyInput | JWTVerifyGetKey; algorithms: string[] } {
  switch (key.kind) {
    case 'secret':
      return { input: key.key, algorithms: ['HS256'] }
    case 'public':
      return { input: key.key, algorithms: key.algorithms.filter((alg) => ASYMMETRIC_ALGORITHMS.includes(alg)) }
    case 'jwks': {
      const jwks = createRemoteJWKSet(key.url)
      // A JWKS fetch failure is our outage, not a bad token: report `unavailable` so clients retry
      // instead of discarding a good token.
      const getKey: JWTVerifyGetKey = async (header, token) => {
        try {
          return await jwks(header, token)
        } catch (err) {
          if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) throw err
          throw new AppError('unavailable', 'token signing keys are unavailable', { cause: err })
        }
      }
      return { input: getKey, algorithms: [...ASYMMETRIC_ALGORITHMS] }
    }
  }
}

async function verifyJwt(token: string, input: KeyInput | JWTVerifyGetKey, options: JWTVerifyOptions): Promise<JWTPayload> {
  try {
    return (await jwtVerify(token, input, options)).payload
  } catch (err) {
    if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err
    // A JWKS with several keys of the token's type and no `kid` to pick one: try each (jose's documented pattern).
    for await (const candidate of err as errors.JWKSMultipleMatchingKeys & AsyncIterable<KeyInput>) {
      try {
        return (await jwtVerify(token, candidate, options)).payload
      } catch (inner) {
        if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw inner
      }
    }
    throw new errors.JWSSignatureVerificationFailed()
  }
}

function toPrincipal(payload: JWTPayload, timing: TokenTiming, nowMs: number): Principal {
  const parsed = tokenClaimsSchema.safeParse(payload)
  if (!parsed.success) {
    // The top-level claim name comes from our schema, never from the token.
    const claim = parsed.error.issues[0]?.path[0]
    throw new AppError('token_invalid', typeof claim === 'string' ? `token claim "${claim}" is invalid` : 'token claims are invalid')
  }
  checkTokenTimes(payload, timing, nowMs)
  const claims = parsed.data
  return Object.freeze({
    userId: claims.sub,
    name: claims.name ?? null,
    rooms: freezeRooms(claims.rooms ?? {}),
    admin: claims.admin === true,
    // The connection closes (4401) when exp has passed on our clock by more than the tolerance, the same
    // moment from which the token would be refused: accepting it and then cutting the socket at once
    // would only make clients reconnect in a loop.
    expiresAtMs: ((payload.exp ?? 0) + timing.clockToleranceSec) * 1000,
    issuedAtMs: payload.iat === undefined ? null : payload.iat * 1000,
  })
}

/** Null prototype, so a room called "constructor" or "toString" never finds an inherited value. */
function freezeRooms(rooms: Readonly<Record<string, Access>>): Readonly<Record<string, Access>> {
  return Object.freeze(Object.assign(Object.create(null) as Record<string, Access>, rooms))
}

/** Maps anything jwtVerify throws to a client-safe AppError. Messages name claims, never echo values. */
function toTokenError(err: unknown): AppError {
  if (err instanceof AppError) return err
  if (err instanceof errors.JWTExpired) return new AppError('token_expired', 'token has expired')
  if (err instanceof errors.JWTClaimValidationFailed) return new AppError('token_invalid', claimMessage(err))
  if (err instanceof errors.JOSEAlgNotAllowed) return new AppError('token_invalid', 'token algorithm is not accepted')
  if (err instanceof errors.JOSENotSupported) return new AppError('token_invalid', 'token algorithm is not supported')
  if (err instanceof errors.JWSSignatureVerificationFailed) return new AppError('token_invalid', 'token signature is invalid')
  if (err instanceof errors.JWKSNoMatchingKey) return new AppError('token_invalid', 'no signing key matches the token')
  if (err instanceof errors.JOSEError) return new AppError('token_invalid', 'token is malformed')
  return new AppError('token_invalid', 'token could not be verified', { cause: err })
}

function claimMessage(err: InstanceType<typeof errors.JWTClaimValidationFailed>): string {
  if (err.reason === 'missing') return `token is missing the "${err.claim}" claim`
  switch (err.claim) {
    case 'nbf':
      return 'token is not yet valid'
    case 'iss':
      return 'token issuer is not accepted'
    case 'aud':
      return 'token audience is not accepted'
    default:
      return `token claim "${err.claim}" is invalid`
  }
}
