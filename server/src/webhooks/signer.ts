/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): the receiver verifies
 * `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>` with the key it shares with us as `whsec_<base64>`.
 */
import { createHmac, randomBytes } from 'node:crypto'

export const SECRET_PREFIX = 'whsec_'

/** The three headers every delivery attempt carries. */
export interface SignatureHeaders {
  /** Same on every attempt of one delivery, so receivers can deduplicate. */
  readonly 'webhook-id': string
  /** Seconds since the epoch at signing time; receivers reject stale ones (replay protection). */
  readonly 'webhook-timestamp': string
  readonly 'webhook-signature': string
}

export interface SignInput {
  readonly id: string
  readonly timestampSec: number
  readonly body: string
}

/**
 * The HMAC key inside a `whsec_` secret. Throws on a secret that is not `whsec_` + base64 of at least
 * 16 bytes (config.ts validates the environment's secret; generated ones are always valid).
 */
export function decodeSecret(secret: string): Buffer {
  if (!secret.startsWith(SECRET_PREFIX)) throw new Error('webhook secret must start with whsec_')
  const encoded = secret.slice(SECRET_PREFIX.length)
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) throw new Error('webhook secret must be whsec_ followed by base64')
  const key = Buffer.from(encoded, 'base64')
  if (key.byteLength < 16) throw new Error('webhook secret key must be at least 16 bytes')
  return key
}

/** Signs one attempt. Call it again on every retry: a fresh timestamp keeps receivers' replay windows valid. */
export function signWebhook(secret: string | Buffer, input: SignInput): SignatureHeaders {
  const key = typeof secret === 'string' ? decodeSecret(secret) : secret
  const timestamp = String(Math.floor(input.timestampSec))
  const signature = createHmac('sha256', key).update(`${input.id}.${timestamp}.${input.body}`, 'utf8').digest('base64')
  return { 'webhook-id': input.id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${signature}` }
}

/** A fresh `whsec_` secret: 32 random bytes (the spec asks for 24–64). */
export function generateSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64')
}

/**
 * An id that sorts by creation time: 12 hex digits of milliseconds, a 4-digit sequence that keeps ids
 * made in the same millisecond in call order, then 12 random hex digits. Cursor paging over `id` thus
 * lists deliveries and endpoints oldest first. Monotonic within a process even if the clock steps back.
 */
export function generateId(prefix: 'msg_' | 'ep_', now: number = Date.now()): string {
  let ms = Math.floor(now)
  if (ms <= lastIdMs) {
    ms = lastIdMs
    idSeq++
    if (idSeq > 0xffff) {
      ms++
      idSeq = 0
    }
  } else {
    idSeq = 0
  }
  lastIdMs = ms
  return prefix + ms.toString(16).padStart(12, '0') + idSeq.toString(16).padStart(4, '0') + randomBytes(6).toString('hex')
}

let lastIdMs = 0
let idSeq = 0
