/**
 * REST authentication: `Authorization: Bearer <admin key>`, or a client JWT whose `admin` claim is true.
 * Failures say only what the caller must fix (missing, invalid, expired, not an admin token).
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { TokenVerifier } from '../auth/verify.js'
import { AppError } from '../errors.js'
import type { Authenticator, Caller } from './router.js'

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i
/** Three base64url segments: worth handing to the JWT verifier. */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

export function createAdminAuthenticator(adminKey: string, verifier: TokenVerifier): Authenticator {
  // Comparing fixed-length digests keeps the comparison constant-time whatever the candidate's length.
  const keyDigest = digest(adminKey)
  const admin: Caller = Object.freeze({ kind: 'admin-key' })
  return {
    async authenticate(authorization: string): Promise<Caller> {
      if (authorization.trim() === '') {
        throw new AppError('token_missing', 'this endpoint needs Authorization: Bearer <admin key or admin JWT>')
      }
      const match = BEARER.exec(authorization)
      if (!match?.[1]) throw new AppError('token_missing', 'use the Bearer scheme: Authorization: Bearer <admin key or admin JWT>')
      const credential = match[1]
      if (timingSafeEqual(digest(credential), keyDigest)) return admin
      if (!JWT_SHAPE.test(credential)) throw new AppError('token_invalid', 'the bearer credential is neither the admin key nor a valid token')
      const principal = await verifier.verify(credential)
      if (!principal.admin) throw new AppError('forbidden', 'this token has no admin claim; REST calls need the admin key or an admin token')
      return { kind: 'token', principal }
    },
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}
