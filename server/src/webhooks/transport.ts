/**
 * One HTTP POST to a vetted destination. node:http rather than fetch: it never follows redirects, takes a
 * `lookup` that pins the connection to the checked address, and lets us stop reading a large response.
 */
import http from 'node:http'
import https from 'node:https'
import { isIP } from 'node:net'
import { pinnedLookup, type Destination } from './ssrf.js'

/** Bytes of a response body read at most; the rest is never read (the socket is discarded). */
export const MAX_RESPONSE_BYTES = 64 * 1024

export interface WebhookRequest {
  readonly destination: Destination
  /** Signature headers; content-type, content-length and user-agent are added here. */
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
  /** Aborts the attempt (deadline or shutdown). */
  readonly signal: AbortSignal
}

export interface WebhookResponse {
  readonly statusCode: number
  /** Raw `Retry-After` header, if any. */
  readonly retryAfter: string | null
  /** Up to MAX_RESPONSE_BYTES of the body, decoded as UTF-8. */
  readonly body: string
}

/** Sends one attempt; rejects on connection errors and when the signal aborts before a response. */
export type WebhookTransport = (req: WebhookRequest) => Promise<WebhookResponse>

export interface HttpTransport {
  readonly send: WebhookTransport
  /** Destroys pooled keep-alive sockets. */
  close(): void
}

const USER_AGENT = 'Tandem-Webhooks/1'

export function createHttpTransport(opts: { maxSockets: number }): HttpTransport {
  // Keep-alive pools, keyed by host:port. A pooled socket is only reused after the same hostname passed
  // the address check again for this attempt, and it is connected to an address that was checked.
  const agents = {
    http: new http.Agent({ keepAlive: true, maxSockets: opts.maxSockets, maxFreeSockets: opts.maxSockets }),
    https: new https.Agent({ keepAlive: true, maxSockets: opts.maxSockets, maxFreeSockets: opts.maxSockets }),
  }
  return {
    send: (req) => send(req, req.destination.url.protocol === 'https:' ? agents.https : agents.http),
    close() {
      agents.http.destroy()
      agents.https.destroy()
    },
  }
}

function send(req: WebhookRequest, agent: http.Agent): Promise<WebhookResponse> {
  const { destination, body, signal } = req
  const { url, hostname, address, family } = destination
  const secure = url.protocol === 'https:'
  const options: https.RequestOptions = {
    protocol: url.protocol,
    hostname,
    port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
    path: `${url.pathname}${url.search}`,
    method: 'POST',
    agent,
    headers: {
      ...req.headers,
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      'user-agent': USER_AGENT,
    },
    // An IP literal is connected to directly (it is the checked address); a name goes through the pin.
    lookup: pinnedLookup(address, family),
    ...(secure && isIP(hostname) === 0 && { servername: hostname }),
    signal,
  }
  return new Promise<WebhookResponse>((resolve, reject) => {
    const request = (secure ? https : http).request(options, (res) => {
      const chunks: Buffer[] = []
      let received = 0
      let settled = false
      const finish = (): void => {
        if (settled) return
        settled = true
        const retryAfter = res.headers['retry-after']
        resolve({
          statusCode: res.statusCode ?? 0,
          retryAfter: typeof retryAfter === 'string' ? retryAfter : null,
          body: Buffer.concat(chunks).toString('utf8'),
        })
      }
      res.on('data', (chunk: Buffer) => {
        if (settled) return
        const room = MAX_RESPONSE_BYTES - received
        chunks.push(chunk.byteLength > room ? chunk.subarray(0, room) : chunk)
        received += Math.min(chunk.byteLength, room)
        if (received >= MAX_RESPONSE_BYTES) {
          finish()
          res.destroy() // stop reading; the socket is not reused
        }
      })
      res.on('end', finish)
      // The status line already arrived: a body cut short (deadline, reset) does not change the verdict.
      res.on('error', finish)
      res.on('close', finish)
    })
    request.on('error', reject)
    request.end(body)
  })
}
