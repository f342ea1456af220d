/**
 * `POST /v1/tokens`: mint client JWTs with the server's HS256 secret, so a small app needs no auth server.
 * A server configured with a public key or a JWKS holds no signing key and answers 501 `minting_disabled`.
 */
import { defaultTtlFor, mintToken } from '../auth/mint.js'
import { AppError } from '../errors.js'
import { defineRoute, jsonReply, type Route } from './router.js'
import * as s from './schemas.js'

export interface TokenRouteOptions {
  /** The HS256 secret tokens are verified with; null when tokens are signed elsewhere. */
  signingKey: Uint8Array | null
  issuer: string | null
  audience: string | null
  /** TANDEM_JWT_MAX_LIFETIME_SEC (0: no limit): a longer ttl is refused rather than minted and then refused. */
  maxLifetimeSec: number
}

export function tokenRoutes(opts: TokenRouteOptions): Route[] {
  return [
    defineRoute({
      method: 'POST',
      path: '/v1/tokens',
      operationId: 'mintToken',
      summary: 'Mint a client token (HS256, signed with the server secret)',
      description:
        'Only the admin key may mint tokens with `admin: true` (an admin token cannot mint a longer-lived one). A `ttl` above the server\'s maximum token lifetime (TANDEM_JWT_MAX_LIFETIME_SEC) is refused with 400 `bad_request`. Servers that verify tokens with TANDEM_JWT_PUBLIC_KEY or TANDEM_JWKS_URL answer 501 `minting_disabled`.',
      tag: 'tokens',
      auth: 'admin',
      body: { kind: 'json', schema: s.mintTokenBody },
      responses: { 201: { description: 'The token and when it expires.', json: s.mintedToken } },
      errors: ['minting_disabled'],
      async handle({ body, caller }) {
        if (opts.signingKey === null) {
          throw new AppError(
            'minting_disabled',
            'this server verifies tokens signed elsewhere (TANDEM_JWT_PUBLIC_KEY or TANDEM_JWKS_URL); mint them with that issuer',
          )
        }
        if (body.admin === true && caller.kind !== 'admin-key') {
          throw new AppError('forbidden', 'only the admin key may mint admin tokens')
        }
        const token = await mintToken(
          opts.signingKey,
          {
            sub: body.sub,
            ...(body.name !== undefined && { name: body.name }),
            rooms: body.rooms,
            ...(body.admin !== undefined && { admin: body.admin }),
          },
          { ttlSec: body.ttl ?? defaultTtlFor(opts.maxLifetimeSec), issuer: opts.issuer, audience: opts.audience, maxLifetimeSec: opts.maxLifetimeSec },
        )
        return jsonReply(201, { token, expiresAt: s.toTimestamp(expiryMs(token)) })
      },
    }),
  ]
}

/** `exp` of a token we just signed, in epoch ms (read back rather than recomputed, so they agree). */
function expiryMs(token: string): number {
  const payload = token.split('.')[1] ?? ''
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown }
  if (typeof claims.exp !== 'number') throw new Error('minted token has no exp')
  return claims.exp * 1000
}
