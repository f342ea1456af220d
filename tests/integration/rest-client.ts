/**
 * A small REST client for the integration suites that checks every response it receives against the
 * server's own `/v1/openapi.json` (ajv, JSON Schema 2020-12): the documented status, media type and body.
 */
import net from 'node:net'
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { mintToken } from '@tandem/server'
import { TEST_SECRET, type RunningServer } from '../helpers/server.js'

// ajv-formats is CommonJS with a default export; under NodeNext its default import is the module object.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv2020) => void

/** The admin key the REST suites configure. */
export const ADMIN_KEY = 'rest-test-admin-key-0123456789abcdef'

export interface CallOptions {
  /** JSON-serialised unless it is a Uint8Array or string. */
  body?: unknown
  /** Defaults to application/json for object bodies, application/octet-stream for bytes. */
  contentType?: string | null
  /** Bearer credential; defaults to the admin key; null sends no Authorization header. */
  auth?: string | null
  headers?: Record<string, string>
}

export interface CallResult {
  status: number
  headers: Headers
  contentType: string
  bytes: Uint8Array
  /** Parsed JSON when the response is application/json, else undefined. */
  json: unknown
  /** Shortcut for `json.error.code` on error bodies. */
  code: string | undefined
}

type JsonObject = Record<string, unknown>

interface OperationInfo {
  operationId: string
  responses: Record<string, { content?: Record<string, { schema?: unknown }> }>
}

export class RestClient {
  readonly seen = new Map<string, Set<number>>()
  #doc: JsonObject | null = null
  #ajv: Ajv2020 | null = null
  readonly #validators = new Map<string, ValidateFunction>()

  constructor(
    readonly srv: RunningServer,
    readonly adminKey: string = ADMIN_KEY,
  ) {}

  get base(): string {
    return `http://127.0.0.1:${this.srv.port}`
  }

  async call(method: string, path: string, opts: CallOptions = {}): Promise<CallResult> {
    const headers: Record<string, string> = { ...opts.headers }
    const auth = opts.auth === undefined ? this.adminKey : opts.auth
    if (auth !== null) headers.authorization = `Bearer ${auth}`
    let body: string | Uint8Array<ArrayBuffer> | undefined
    if (opts.body instanceof Uint8Array) {
      body = new Uint8Array(opts.body)
      if (opts.contentType !== null) headers['content-type'] = opts.contentType ?? 'application/octet-stream'
    } else if (typeof opts.body === 'string') {
      body = opts.body
      if (opts.contentType !== null) headers['content-type'] = opts.contentType ?? 'application/json'
    } else if (opts.body !== undefined) {
      body = JSON.stringify(opts.body)
      if (opts.contentType !== null) headers['content-type'] = opts.contentType ?? 'application/json'
    }
    const res = await fetch(this.base + path, { method, headers, ...(body !== undefined && { body }) })
    const bytes = new Uint8Array(await res.arrayBuffer())
    const contentType = res.headers.get('content-type') ?? ''
    const json = contentType.startsWith('application/json') ? (JSON.parse(new TextDecoder().decode(bytes)) as unknown) : undefined
    const code = errorCode(json)
    const result: CallResult = { status: res.status, headers: res.headers, contentType, bytes, json, code }
    await this.check(method, path, result)
    return result
  }

  /** The server's OpenAPI document (fetched once). */
  async document(): Promise<JsonObject> {
    if (this.#doc === null) {
      const res = await fetch(`${this.base}/v1/openapi.json`)
      if (res.status !== 200) throw new Error(`openapi.json answered ${res.status}`)
      this.#doc = (await res.json()) as JsonObject
    }
    return this.#doc
  }

  /** Fails unless the response is what the OpenAPI document promises for this method and path. */
  async check(method: string, path: string, result: CallResult): Promise<void> {
    const doc = await this.document()
    const ajv = this.#ajvFor(doc)
    const pathname = path.split('?')[0] ?? path
    const found = findOperation(doc, method, pathname)
    if (!found) {
      // Not a documented operation (unknown path, or a method the path lacks): must be a standard error.
      expectStatusIn(result.status, [404, 405], `${method} ${pathname}`)
      this.#validate(ajv, 'tandem-error', { $ref: 'tandem-error' }, result.json, `${method} ${pathname} ${result.status}`)
      return
    }
    const { op, template } = found
    const response = op.responses[String(result.status)]
    if (!response) throw new Error(`${method} ${template} answered ${result.status}, which the OpenAPI document does not list`)
    let seen = this.seen.get(op.operationId)
    if (!seen) this.seen.set(op.operationId, (seen = new Set()))
    seen.add(result.status)
    if (!response.content) {
      if (result.bytes.byteLength !== 0) throw new Error(`${method} ${template} ${result.status} has a body but documents none`)
      return
    }
    const mediaType = result.contentType.split(';')[0]?.trim() ?? ''
    const media = response.content[mediaType]
    if (!media) throw new Error(`${method} ${template} ${result.status}: content type ${mediaType} is not documented (${Object.keys(response.content).join(', ')})`)
    if (mediaType === 'application/json' && media.schema !== undefined) {
      const key = `${op.operationId} ${result.status}`
      this.#validate(ajv, key, media.schema, result.json, `${method} ${template} ${result.status}`)
    }
  }

  #ajvFor(doc: JsonObject): Ajv2020 {
    if (this.#ajv === null) {
      const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true })
      addFormats(ajv)
      const components = doc.components as { schemas: { Error: unknown } }
      ajv.addSchema(components.schemas.Error as object, 'tandem-error')
      this.#ajv = ajv
    }
    return this.#ajv
  }

  #validate(ajv: Ajv2020, key: string, schema: unknown, value: unknown, what: string): void {
    let validator = this.#validators.get(key)
    if (!validator) {
      // The document refers to its Error component; the validator knows it as `tandem-error`.
      const local = JSON.parse(JSON.stringify(schema).replaceAll('#/components/schemas/Error', 'tandem-error')) as object
      validator = key === 'tandem-error' ? (ajv.getSchema('tandem-error') as ValidateFunction) : ajv.compile(local)
      this.#validators.set(key, validator)
    }
    if (!validator(value)) {
      throw new Error(`${what}: response does not match the OpenAPI schema: ${ajv.errorsText(validator.errors)}\n${JSON.stringify(value).slice(0, 500)}`)
    }
  }
}

function findOperation(doc: JsonObject, method: string, pathname: string): { op: OperationInfo; template: string } | null {
  const paths = doc.paths as Record<string, Record<string, OperationInfo>>
  for (const [template, item] of Object.entries(paths)) {
    const pattern = new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}/?$`)
    if (!pattern.test(pathname)) continue
    const op = item[method.toLowerCase()]
    if (op) return { op, template }
  }
  return null
}

function expectStatusIn(status: number, allowed: number[], what: string): void {
  if (!allowed.includes(status)) throw new Error(`${what} is not documented, yet answered ${status}`)
}

function errorCode(json: unknown): string | undefined {
  if (typeof json !== 'object' || json === null || !('error' in json)) return undefined
  const error = (json as { error: unknown }).error
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined
}

/** A JWT signed with the test secret, with an optional admin claim. */
export function adminToken(opts: { admin?: boolean; ttlSec?: number; sub?: string } = {}): Promise<string> {
  return mintToken(
    new TextEncoder().encode(TEST_SECRET),
    { sub: opts.sub ?? 'ops', rooms: {}, ...(opts.admin !== undefined && { admin: opts.admin }) },
    { ttlSec: opts.ttlSec ?? 3600 },
  )
}

export interface RawResponse {
  /** Everything the server sent before closing (or before `untilMs`). */
  text: string
  status: number
  /** Body bytes the client had written when the first response byte arrived. */
  sentWhenAnswered: number
  /** Whether the server closed the connection. */
  closed: boolean
}

/**
 * Sends a request over a raw TCP socket: `head` (request line + headers, without the blank line), then
 * `bodyBytes` of filler in 64 KiB writes, stopping early once the server answers or closes.
 */
export function rawRequest(port: number, head: string, bodyBytes: number, opts: { chunked?: boolean } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    let text = ''
    let sent = 0
    let sentWhenAnswered = -1
    let closed = false
    let answered = false
    let closedByUs = false
    const chunk = Buffer.alloc(64 * 1024, 0x61)
    const finish = (): void => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)
      resolve({ text, status, sentWhenAnswered, closed: closed && !closedByUs })
    }
    const closeOurselves = (): void => {
      closedByUs = !closed
      socket.destroy()
    }
    socket.on('data', (data: Buffer) => {
      if (!answered) {
        answered = true
        sentWhenAnswered = sent
      }
      text += data.toString('latin1')
      // A complete response on a connection the server keeps open: stop waiting.
      const end = text.indexOf('\r\n\r\n')
      const length = Number(/\r\ncontent-length: (\d+)/i.exec(text)?.[1] ?? -1)
      if (end >= 0 && length >= 0 && text.length >= end + 4 + length) setTimeout(closeOurselves, 50)
    })
    socket.on('error', () => {}) // EPIPE/ECONNRESET once the server closes mid-upload: expected
    socket.on('close', () => {
      closed = true
      finish()
    })
    socket.on('connect', () => {
      socket.write(`${head}\r\n\r\n`)
      const pump = (): void => {
        while (sent < bodyBytes && !answered && !closed && !socket.destroyed) {
          const size = Math.min(chunk.length, bodyBytes - sent)
          const piece = opts.chunked ? Buffer.concat([Buffer.from(`${size.toString(16)}\r\n`), chunk.subarray(0, size), Buffer.from('\r\n')]) : chunk.subarray(0, size)
          sent += size
          if (!socket.write(piece)) {
            socket.once('drain', pump)
            return
          }
        }
        if (sent >= bodyBytes && opts.chunked && !answered && !socket.destroyed) socket.write('0\r\n\r\n')
        // Give the server a deadline to answer, then stop waiting for more.
        setTimeout(closeOurselves, 5_000).unref()
      }
      pump()
    })
    socket.setTimeout(20_000, () => reject(new Error('raw request timed out')))
  })
}
