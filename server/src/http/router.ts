/**
 * The uWS adapter for the REST API: a route table with `:param` patterns, admin auth, body reading with a
 * hard size limit, JSON parsing, zod validation, error mapping, corked writes and per-route metrics.
 *
 * uWS terminates the process on ill use, so this module is the only place REST code touches a uWS
 * request or response, and it keeps three rules for every request:
 *  - everything needed from `req` is copied before the first await (uWS frees it on return);
 *  - `onAborted` is registered before returning, and nothing is written once it fired;
 *  - every write after an await happens inside `res.cork`, exactly once.
 *
 * Other modules add routes with `router.add(defineRoute({...}))`: schemas in the definition drive both
 * validation and the OpenAPI document (see ./openapi.ts), so a route registered later (webhooks) is
 * validated and documented like the built-in ones.
 */
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js'
import type { Logger } from 'pino'
import type * as z from 'zod'
import type { Principal } from '../auth/verify.js'
import { AppError, HTTP_STATUS, type ErrorCode } from '../errors.js'
import { StoreUnavailableError } from '../persistence/unavailable.js'
import { BODY_GAP_MS, ClientAborted, parseJson, readBody, type BodyReader } from './body.js'

/** What the router records per answered request; the metrics module implements it. */
export interface HttpMetrics {
  /** One request answered: route pattern (or `unmatched`), method, status (499 when the client left first), seconds taken. */
  httpRequest(route: string, method: string, status: number, seconds: number): void
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
const METHODS: readonly HttpMethod[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']

/** Who made an authenticated request. Public routes see `{ kind: 'public' }`. */
export type Caller = { kind: 'admin-key' } | { kind: 'token'; principal: Principal } | { kind: 'public' }

export interface Authenticator {
  /** Resolves with the caller for an `Authorization` header value ('' when absent); rejects with an AppError. */
  authenticate(authorization: string): Promise<Caller>
}

/** A request body: JSON validated by `schema`, or raw bytes of one media type. */
export type BodySpec =
  /** `optional`: a request without a body (no Content-Length or 0, no chunked encoding) gets `body: undefined`. */
  | { kind: 'json'; schema: z.ZodType; description?: string; optional?: boolean }
  | { kind: 'binary'; contentType: string; description: string }

export interface ResponseSpec {
  description: string
  /** JSON body; its schema is what the OpenAPI document promises. */
  json?: z.ZodType
  /** Any other body: its media type and (optionally) a JSON Schema for OpenAPI. */
  content?: { type: string; schema?: Record<string, unknown> }
}

type ObjectSchema = z.ZodObject
type Out<S> = S extends z.ZodType ? z.output<S> : Record<string, never>
type BodyOut<B> = B extends { kind: 'json'; schema: infer S extends z.ZodType; optional: true }
  ? z.output<S> | undefined
  : B extends { kind: 'json'; schema: infer S extends z.ZodType }
    ? z.output<S>
    : B extends { kind: 'binary' }
      ? Uint8Array
      : undefined

export interface RouteRequest<P, Q, B> {
  params: P
  query: Q
  body: B
  caller: Caller
  /** Request headers, lowercased names. */
  headers: ReadonlyMap<string, string>
  log: Logger
  /** True once the client went away; long handlers may stop early (the router never writes to it). */
  readonly aborted: boolean
}

/** What a handler returns; use `jsonReply`, `bytesReply` or `noContent`. */
export interface Reply {
  status: number
  contentType?: string
  body?: string | Uint8Array
  headers?: Readonly<Record<string, string>>
}

export interface RouteSpec<P extends ObjectSchema | undefined, Q extends ObjectSchema | undefined, B extends BodySpec | undefined> {
  method: HttpMethod
  /** `/v1/rooms/:room`: literal segments and `:name` parameters (one whole segment each). */
  path: string
  /** Unique, camelCase; becomes the OpenAPI operationId. */
  operationId: string
  summary: string
  description?: string
  tag: string
  /** `admin`: the admin key or a JWT with `"admin": true`. `public`: no auth. */
  auth: 'admin' | 'public'
  params?: P
  query?: Q
  body?: B
  /** Success responses by status. */
  responses: Readonly<Record<number, ResponseSpec>>
  /**
   * Error codes this route answers with besides those the router adds itself (auth, validation, body
   * limits, 500); documented in OpenAPI.
   */
  errors?: readonly ErrorCode[]
  handle(req: RouteRequest<Out<P>, Out<Q>, BodyOut<B>>): Reply | Promise<Reply>
}

/** A route with its types erased, as the table and the OpenAPI generator see it. */
export interface Route {
  readonly method: HttpMethod
  readonly path: string
  readonly operationId: string
  readonly summary: string
  readonly description?: string
  readonly tag: string
  readonly auth: 'admin' | 'public'
  readonly params?: ObjectSchema
  readonly query?: ObjectSchema
  readonly body?: BodySpec
  readonly responses: Readonly<Record<number, ResponseSpec>>
  readonly errors?: readonly ErrorCode[]
  handle(req: RouteRequest<unknown, unknown, unknown>): Reply | Promise<Reply>
}

/** Type-checks a route's handler against its schemas, then erases the types for the table. */
export function defineRoute<P extends ObjectSchema | undefined = undefined, Q extends ObjectSchema | undefined = undefined, B extends BodySpec | undefined = undefined>(
  spec: RouteSpec<P, Q, B>,
): Route {
  return spec as unknown as Route
}

export function jsonReply(status: number, value: unknown, headers?: Readonly<Record<string, string>>): Reply {
  return { status, contentType: 'application/json', body: JSON.stringify(value), ...(headers && { headers }) }
}

export function bytesReply(status: number, body: Uint8Array, contentType: string): Reply {
  return { status, contentType, body }
}

export function noContent(): Reply {
  return { status: 204 }
}

const fieldErrorCodes = new WeakMap<z.ZodType, ErrorCode>()

/**
 * Makes a failure of `schema`, when it is a top-level field of params, query or a JSON body, answer with
 * `code` instead of `bad_request` (room names answer `invalid_room_name`, as over WebSocket).
 */
export function withErrorCode<S extends z.ZodType>(schema: S, code: ErrorCode): S {
  fieldErrorCodes.set(schema, code)
  return schema
}

/** Every error the router itself may answer with, by the route's shape (for OpenAPI). */
export function routerErrors(route: Route): ErrorCode[] {
  const codes: ErrorCode[] = ['internal']
  if (route.auth === 'admin') codes.push('token_missing', 'token_invalid', 'token_expired', 'forbidden', 'unavailable')
  if (route.params || route.query || route.body) codes.push('bad_request')
  if (route.body) codes.push('payload_too_large', 'unsupported_media_type', 'request_timeout')
  return codes
}

/** The media type of a Content-Type header value, lowercased, without parameters. */
export function mediaType(contentType: string): string {
  return (contentType.split(';', 1)[0] ?? '').trim().toLowerCase()
}

/** Validates `value` with `schema`; a failure is a 400 naming the first failing field path. */
export function validate<S extends z.ZodType>(schema: S, value: unknown, where: 'body' | 'query' | 'path'): z.output<S> {
  const result = schema.safeParse(value)
  if (result.success) return result.data
  const issue = innermost(result.error.issues[0])
  const path = issue?.path.map(String).join('.') ?? ''
  const field = issue?.path[0]
  const shape = (schema as unknown as { shape?: Record<string, z.ZodType> }).shape
  const fieldSchema = typeof field === 'string' && shape ? shape[field] : undefined
  const code = (fieldSchema && fieldErrorCodes.get(fieldSchema)) ?? 'bad_request'
  const location = path === '' ? where : `${where}.${path}`
  throw new AppError(code, `invalid ${location}: ${issue?.message ?? 'invalid value'}`)
}

interface IssueLike {
  code?: string
  path: PropertyKey[]
  message: string
  issues?: IssueLike[]
  errors?: IssueLike[][]
}

/**
 * The issue that explains a failure: a record key's own check rather than "Invalid key in record", and
 * for a union the branch that matched the value's type rather than "Invalid input".
 */
function innermost(issue: IssueLike | undefined): IssueLike | undefined {
  if (issue === undefined) return undefined
  let inner: IssueLike | undefined
  if ((issue.code === 'invalid_key' || issue.code === 'invalid_element') && issue.issues) inner = issue.issues[0]
  if (issue.code === 'invalid_union' && issue.errors) inner = issue.errors.find((branch) => branch[0] && branch[0].code !== 'invalid_type')?.[0]
  if (inner === undefined) return issue
  return innermost({ ...inner, path: [...issue.path, ...inner.path] })
}

// ---- routing ---------------------------------------------------------------------------------------

type Segment = { literal: string } | { param: string }

interface Compiled<R> {
  route: R
  segments: Segment[]
  /** '1' per literal segment, '0' per parameter: the higher string is the more specific pattern. */
  rank: string
}

export type RouteMatch<R> = { kind: 'found'; route: R; params: Record<string, string> } | { kind: 'not_found' } | { kind: 'method_not_allowed'; allow: string[] }

/**
 * Picks the route for a method and path. Literal segments beat parameters (`/v1/webhooks/deliveries`
 * wins over `/v1/webhooks/:id` whatever the registration order); parameters match one whole, non-empty
 * segment; one trailing slash is ignored.
 */
export function selectRoute<R extends { method: string; path: string }>(routes: readonly R[], method: string, path: string): RouteMatch<R> {
  return select(routes.map(compile), method, path)
}

function compile<R extends { path: string }>(route: R): Compiled<R> {
  const segments: Segment[] = route.path
    .slice(1)
    .split('/')
    .map((s) => (s.startsWith(':') ? { param: s.slice(1) } : { literal: s }))
  return { route, segments, rank: segments.map((s) => ('literal' in s ? '1' : '0')).join('') }
}

function select<R extends { method: string }>(compiled: readonly Compiled<R>[], method: string, path: string): RouteMatch<R> {
  const trimmed = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path
  const parts = trimmed.slice(1).split('/')
  const candidates = compiled
    .flatMap((c) => {
      const params = matchSegments(c.segments, parts)
      return params === null ? [] : [{ c, params }]
    })
    .sort((a, b) => (a.c.rank < b.c.rank ? 1 : a.c.rank > b.c.rank ? -1 : 0))
  const hit = candidates.find((x) => x.c.route.method === method)
  if (hit) return { kind: 'found', route: hit.c.route, params: hit.params }
  if (candidates.length === 0) return { kind: 'not_found' }
  return { kind: 'method_not_allowed', allow: [...new Set(candidates.map((x) => x.c.route.method))] }
}

export interface RouterOptions {
  log: Logger
  metrics: HttpMetrics
  auth: Authenticator
  /** Largest accepted request body (TANDEM_MAX_BODY_BYTES). */
  maxBodyBytes: number
  /** A body must arrive completely within this long after the headers (TANDEM_BODY_TIMEOUT_MS). */
  bodyTimeoutMs: number
  /** Origins allowed cross-origin (TANDEM_CORS_ORIGINS); `*` for any. Omitted or empty: no CORS headers. */
  corsOrigins?: readonly string[]
}

/** Request headers a cross-origin caller may send; everything the API reads. */
const CORS_ALLOWED_HEADERS = 'authorization, content-type'
/** Response headers a cross-origin caller may read besides the CORS-safelisted ones. */
const CORS_EXPOSED_HEADERS = 'allow, retry-after'
/** How long a browser may cache a preflight answer, in seconds. */
const CORS_MAX_AGE_SEC = 600

const PUBLIC_CALLER: Caller = Object.freeze({ kind: 'public' })

const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  204: 'No Content',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
}

/** A status line for uWS's writeStatus, e.g. "201 Created". */
export function statusLine(status: number): string {
  const text = STATUS_TEXT[status]
  return text === undefined ? String(status) : `${status} ${text}`
}

export class Router {
  readonly #compiled: Compiled<Route>[] = []
  readonly #opts: RouterOptions
  readonly #log: Logger
  readonly #listeners = new Set<() => void>()

  constructor(opts: RouterOptions) {
    this.#opts = opts
    this.#log = opts.log.child({ component: 'http' })
  }

  /**
   * Registers routes. Throws at startup on a malformed pattern, a duplicate method + path, a duplicate
   * operationId, or path parameters that the `params` schema does not declare.
   */
  add(...routes: Route[]): this {
    for (const route of routes) {
      if (!METHODS.includes(route.method)) throw new Error(`route ${route.operationId}: unsupported method ${String(route.method)}`)
      if (!route.path.startsWith('/')) throw new Error(`route ${route.operationId}: path must start with "/"`)
      const compiled = compile(route)
      const { segments } = compiled
      const names = segments.flatMap((s) => ('param' in s ? [s.param] : []))
      const declared = Object.keys(route.params?.shape ?? {})
      if (names.some((n) => !declared.includes(n)) || declared.some((n) => !names.includes(n))) {
        throw new Error(`route ${route.operationId}: path parameters ${JSON.stringify(names)} must match the params schema ${JSON.stringify(declared)}`)
      }
      for (const existing of this.#compiled) {
        if (existing.route.operationId === route.operationId) throw new Error(`duplicate operationId ${route.operationId}`)
        if (existing.route.method === route.method && samePattern(existing.segments, segments)) {
          throw new Error(`duplicate route ${route.method} ${route.path}`)
        }
      }
      this.#compiled.push(compiled)
    }
    for (const listener of this.#listeners) listener()
    return this
  }

  /** Every registered route, in registration order. */
  get routes(): readonly Route[] {
    return this.#compiled.map((c) => c.route)
  }

  /** Calls `listener` whenever routes are added (the OpenAPI document is rebuilt lazily). */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Serves every non-WebSocket request on `app` (register WebSocket routes first; uWS prefers them). */
  attach(app: TemplatedApp): void {
    app.any('/*', (res, req) => this.handle(res, req))
  }

  /** The uWS handler. Never throws: every failure becomes a response (or nothing, if the client left). */
  handle(res: HttpResponse, req: HttpRequest): void {
    const exchange = new Exchange(res, this.#opts.metrics)
    try {
      this.#dispatch(exchange, req)
    } catch (err) {
      this.#fail(exchange, err, 'unmatched')
    }
  }

  #dispatch(ex: Exchange, req: HttpRequest): void {
    // req dies when this function returns: copy everything now.
    const rawMethod = req.getMethod().toUpperCase()
    const rawPath = req.getUrl()
    const rawQuery = req.getQuery() ?? ''
    const headers = new Map<string, string>()
    req.forEach((key, value) => headers.set(key, value))

    ex.method = METHODS.includes(rawMethod as HttpMethod) ? rawMethod : 'OTHER'
    const origin = headers.get('origin')
    const corsAllowed = origin !== undefined && this.#allowsOrigin(origin) && rawPath.startsWith('/v1/')
    if (corsAllowed) ex.corsHeaders = { 'access-control-allow-origin': origin, vary: 'origin', 'access-control-expose-headers': CORS_EXPOSED_HEADERS }
    if (rawMethod === 'OPTIONS' && corsAllowed && headers.has('access-control-request-method')) return this.#preflight(ex, rawPath)
    // A body nobody reads (404, 405, 415…) is not parsed: see Exchange.send for how such answers end.
    ex.bodyIncomplete = (headers.get('content-length') ?? '0') !== '0' || headers.has('transfer-encoding')
    const match = select(this.#compiled, rawMethod, rawPath)
    if (match.kind === 'not_found') throw new AppError('not_found', `no route for ${rawPath}`)
    if (match.kind === 'method_not_allowed') {
      const allow = match.allow.join(', ')
      ex.extraHeaders = { allow }
      throw new AppError('method_not_allowed', `${rawMethod} is not allowed here; allowed: ${allow}`)
    }
    const { route } = match
    ex.routeLabel = route.path

    // Start reading the body now (uWS streams it right after this returns), in parallel with auth.
    let reader: BodyReader | null = null
    let contentTypeError: AppError | null = null
    // An optional JSON body that is absent needs no Content-Type and is not read.
    const bodyAbsent = route.body?.kind === 'json' && route.body.optional === true && !ex.bodyIncomplete
    if (route.body && !bodyAbsent) {
      const expected = route.body.kind === 'json' ? 'application/json' : route.body.contentType
      const got = mediaType(headers.get('content-type') ?? '')
      if (got !== expected) {
        contentTypeError = new AppError('unsupported_media_type', `expected Content-Type ${expected}, got ${got === '' ? 'none' : got}`)
      } else {
        const declared = parseContentLength(headers.get('content-length'))
        const { maxBodyBytes, bodyTimeoutMs } = this.#opts
        reader = readBody(ex.res, { maxBytes: maxBodyBytes, contentLength: declared, timeoutMs: bodyTimeoutMs, gapMs: Math.min(BODY_GAP_MS, bodyTimeoutMs) }, ex.signal)
        reader.promise.catch(() => {}) // observed below; never an unhandled rejection if auth fails first
        ex.reader = reader
      }
    }

    const rawParams = match.params
    void this.#run(ex, route, { headers, rawParams, rawQuery, reader, contentTypeError }).catch((err: unknown) => this.#fail(ex, err, route.path))
  }

  async #run(
    ex: Exchange,
    route: Route,
    input: {
      headers: Map<string, string>
      rawParams: Record<string, string>
      rawQuery: string
      reader: BodyReader | null
      contentTypeError: AppError | null
    },
  ): Promise<void> {
    const caller = route.auth === 'admin' ? await this.#opts.auth.authenticate(input.headers.get('authorization') ?? '') : PUBLIC_CALLER
    if (ex.aborted) return
    const params = route.params ? validate(route.params, input.rawParams, 'path') : {}
    const query = route.query ? validate(route.query, parseQuery(input.rawQuery), 'query') : {}
    if (input.contentTypeError) throw input.contentTypeError
    let body: unknown = undefined
    if (route.body && input.reader) {
      const bytes = await input.reader.promise
      if (ex.aborted) return
      body = route.body.kind === 'json' ? validate(route.body.schema, parseJson(bytes), 'body') : bytes
    }
    const log = this.#log
    const reply = await route.handle({
      params,
      query,
      body,
      caller,
      headers: input.headers,
      log,
      get aborted() {
        return ex.aborted
      },
    })
    ex.send(reply)
  }

  #allowsOrigin(origin: string): boolean {
    const allowed = this.#opts.corsOrigins ?? []
    return allowed.includes('*') || allowed.includes(origin)
  }

  /**
   * A CORS preflight for an allowed origin: 204 with the methods the path has (none: 404, so a typo is
   * not mistaken for a CORS problem). Bearer tokens, not cookies, authenticate, so credentials stay off.
   */
  #preflight(ex: Exchange, path: string): void {
    ex.routeLabel = 'preflight'
    const methods = METHODS.filter((method) => select(this.#compiled, method, path).kind === 'found')
    if (methods.length === 0) throw new AppError('not_found', `no route for ${path}`)
    ex.send({
      status: 204,
      headers: {
        'access-control-allow-methods': methods.join(', '),
        'access-control-allow-headers': CORS_ALLOWED_HEADERS,
        'access-control-max-age': String(CORS_MAX_AGE_SEC),
      },
    })
  }

  #fail(ex: Exchange, err: unknown, route: string): void {
    if (err instanceof ClientAborted || ex.aborted) return
    let appError: AppError
    if (err instanceof AppError) {
      appError = err
      if (err.code === 'internal') this.#log.error({ err, route, method: ex.method }, 'request failed')
    } else if (err instanceof StoreUnavailableError) {
      // The database is down, not the request wrong or the server broken: "retry later", like /readyz.
      this.#log.warn({ err: { message: err.message }, route, method: ex.method }, 'request failed: storage unavailable')
      appError = new AppError('unavailable', 'storage unavailable; retry later')
    } else {
      this.#log.error({ err, route, method: ex.method }, 'request failed')
      appError = new AppError('internal', 'internal error')
    }
    const headers: Record<string, string> = { ...ex.extraHeaders }
    if (appError.code === 'token_missing' || appError.code === 'token_invalid' || appError.code === 'token_expired') {
      headers['www-authenticate'] = 'Bearer'
    }
    ex.send(errorReply(appError, headers))
  }
}

/** The standard error body: `{"error":{"code","message"}}` with the code's HTTP status. */
export function errorReply(err: AppError, headers?: Readonly<Record<string, string>>): Reply {
  const status = Number.parseInt(HTTP_STATUS[err.code], 10)
  return jsonReply(status, { error: { code: err.code, message: err.message } }, headers)
}

/**
 * One request/response pair: owns the single onAborted handler, the abort signal for the body reader,
 * and the only write (corked, once, never after an abort). Records the request's metrics.
 */
class Exchange {
  aborted = false
  done = false
  method = 'OTHER'
  routeLabel = 'unmatched'
  extraHeaders: Record<string, string> = {}
  /** CORS headers for an allowed cross-origin caller, added to whatever is answered. */
  corsHeaders: Record<string, string> | null = null
  reader: BodyReader | null = null
  /** The request announced a body; unless `reader` consumed all of it, the answer asks the client to close. */
  bodyIncomplete = false
  readonly #controller = new AbortController()
  readonly #startedAt = performance.now()

  constructor(
    readonly res: HttpResponse,
    private readonly metrics: HttpMetrics,
  ) {
    res.onAborted(() => {
      this.aborted = true
      this.#controller.abort()
      if (!this.done) {
        this.done = true
        this.#record(499)
      }
    })
  }

  get signal(): AbortSignal {
    return this.#controller.signal
  }

  send(reply: Reply): void {
    if (this.aborted || this.done) return
    this.done = true
    // Answering before the client finished sending (413, 408, 415, 401…). Closing now, with the rest of
    // the body still arriving, makes the kernel reset the connection, and a reset makes the client's TCP
    // stack drop the answer before the client reads it. So the answer says `Connection: close` and the
    // connection is left open: uWS reads and drops the rest of the body without handing it to anyone, the
    // client closes once it has read the answer, and uWS's idle timeout closes it if the client does not.
    const early = this.reader !== null ? !this.reader.complete : this.bodyIncomplete
    const res = this.res
    res.cork(() => {
      res.writeStatus(statusLine(reply.status))
      if (reply.contentType !== undefined) res.writeHeader('content-type', reply.contentType)
      res.writeHeader('cache-control', 'no-store')
      res.writeHeader('x-content-type-options', 'nosniff')
      if (early) res.writeHeader('connection', 'close')
      for (const [name, value] of Object.entries({ ...this.corsHeaders, ...reply.headers })) res.writeHeader(name, value)
      // endWithoutBody() omits Content-Length, as 204 requires.
      if (reply.status === 204) res.endWithoutBody()
      else res.end(reply.body ?? '')
    })
    this.#record(reply.status)
  }

  #record(status: number): void {
    this.metrics.httpRequest(this.routeLabel, this.method, status, (performance.now() - this.#startedAt) / 1000)
  }
}

function matchSegments(segments: readonly Segment[], parts: readonly string[]): Record<string, string> | null {
  if (segments.length !== parts.length) return null
  const params: Record<string, string> = {}
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]
    const part = parts[i]
    if (segment === undefined || part === undefined) return null
    if ('literal' in segment) {
      if (segment.literal !== part) return null
    } else {
      if (part === '') return null
      params[segment.param] = decodeSegment(part)
    }
  }
  return params
}

function decodeSegment(part: string): string {
  try {
    return decodeURIComponent(part)
  } catch {
    throw new AppError('bad_request', 'malformed percent-encoding in the URL path')
  }
}

function samePattern(a: readonly Segment[], b: readonly Segment[]): boolean {
  return a.length === b.length && a.every((s, i) => {
    const t = b[i]
    if (t === undefined) return false
    return 'literal' in s ? 'literal' in t && s.literal === t.literal : 'param' in t
  })
}

/** Query string to an object; a repeated key keeps its first value. */
function parseQuery(raw: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [key, value] of new URLSearchParams(raw)) if (!Object.hasOwn(out, key)) out[key] = value
  return out
}

function parseContentLength(value: string | undefined): number | null {
  if (value === undefined || value === '') return null
  if (!/^\d{1,15}$/.test(value)) throw new AppError('bad_request', 'malformed Content-Length header')
  return Number(value)
}
