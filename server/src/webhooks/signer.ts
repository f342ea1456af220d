/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): the receiver verifies
 * `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>` with the key it shares with us as `whsec_<base64>`.
 */
import { createHmac, randomBytes } from 'node:crypto'
import { SECRET_PREFIX, webhookSecretProblem } from './secret-format.js'

export { SECRET_PREFIX, webhookSecretProblem } from './secret-format.js'

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
 * The HMAC key inside a `whsec_` secret. Throws on a secret `webhookSecretProblem` refuses: the same rule
 * config.ts applies to TANDEM_WEBHOOK_SECRET at boot (generated secrets always pass).
 */
export function decodeSecret(secret: string): Buffer {
  const problem = webhookSecretProblem(secret)
  if (problem !== null) throw new Error(`webhook secret ${problem}`)
  return Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64')
}

/**
 * Signs one attempt. Call it again on every retry: a fresh timestamp keeps receivers' replay windows valid.
 *
 * With several secrets (a rotation's overlap: the current one first, then the previous one) the header
 * carries one space-separated `v1,<signature>` entry per secret, as Standard Webhooks allows, so a
 * receiver holding either secret accepts the delivery.
 */
export function signWebhook(secrets: string | Buffer | readonly (string | Buffer)[], input: SignInput): SignatureHeaders {
  const keys = (Array.isArray(secrets) ? secrets : [secrets]) as readonly (string | Buffer)[]
  if (keys.length === 0) throw new Error('signWebhook needs at least one secret')
  const timestamp = String(Math.floor(input.timestampSec))
  const content = `${input.id}.${timestamp}.${input.body}`
  const signatures = keys.map((secret) => {
    const key = typeof secret === 'string' ? decodeSecret(secret) : secret
    return `v1,${createHmac('sha256', key).update(content, 'utf8').digest('base64')}`
  })
  return { 'webhook-id': input.id, 'webhook-timestamp': timestamp, 'webhook-signature': signatures.join(' ') }
}

/** The part of an endpoint that decides which secrets sign (persistence/store.ts WebhookEndpoint). */
export interface EndpointSecrets {
  readonly secret: string
  readonly previousSecret: string | null
  readonly previousSecretExpiresAt: number | null
}

/**
 * The secrets an attempt at wall-clock time `nowMs` is signed with: the current one, then the previous one
 * while it has not expired (no expiry: while it is set). The expiry is a wall-clock instant that is stored
 * and shown to operators, so it is compared with the wall clock.
 */
export function signingSecrets(endpoint: EndpointSecrets, nowMs: number): string[] {
  const { secret, previousSecret, previousSecretExpiresAt } = endpoint
  if (previousSecret === null || previousSecret === secret) return [secret]
  if (previousSecretExpiresAt !== null && nowMs >= previousSecretExpiresAt) return [secret]
  return [secret, previousSecret]
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
