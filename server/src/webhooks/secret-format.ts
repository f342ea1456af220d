/**
 * The one rule for what a `whsec_` signing secret must look like. config.ts checks TANDEM_WEBHOOK_SECRET
 * with it at boot and the signer decodes with it, so a secret that boots is a secret that signs.
 * Free of node: imports, like config.ts.
 */

export const SECRET_PREFIX = 'whsec_'

/** Shortest HMAC key accepted, in bytes (Standard Webhooks generates 24–64; 16 is the floor we accept). */
export const MIN_SECRET_KEY_BYTES = 16

const BASE64_BODY = /^[A-Za-z0-9+/]+$/

/**
 * Why `secret` is not a usable `whsec_` secret, or null when it is: `whsec_` followed by standard base64
 * (padding optional, but only as much as the length needs) of a key of at least 16 bytes.
 */
export function webhookSecretProblem(secret: string): string | null {
  if (!secret.startsWith(SECRET_PREFIX)) return 'must start with whsec_'
  const encoded = secret.slice(SECRET_PREFIX.length)
  const unpadded = encoded.replace(/={1,2}$/, '')
  if (unpadded === '' || !BASE64_BODY.test(unpadded)) return 'must be whsec_ followed by base64 (A-Z a-z 0-9 + /)'
  // One leftover character carries no whole byte: decoders disagree on it (Node drops it), so refuse it.
  if (unpadded.length % 4 === 1) return 'is not valid base64 (its length is off by one character)'
  if (unpadded.length !== encoded.length && encoded.length % 4 !== 0) return 'is not valid base64 (wrong padding)'
  const bytes = Math.floor((unpadded.length * 3) / 4)
  if (bytes < MIN_SECRET_KEY_BYTES) {
    return `key must be at least ${MIN_SECRET_KEY_BYTES} bytes (${Math.ceil((MIN_SECRET_KEY_BYTES * 4) / 3)} base64 characters after whsec_), got ${bytes}`
  }
  return null
}

/** Longest rotation overlap, in seconds (30 days): REST `overlapSeconds` and TANDEM_WEBHOOK_SECRET_OVERLAP_SEC. */
export const MAX_SECRET_OVERLAP_SEC = 30 * 86_400
