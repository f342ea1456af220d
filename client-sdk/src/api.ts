/**
 * TandemApi: a typed client for the server's REST API (`/v1/…`, `/healthz`, `/readyz`, `/metrics`).
 *
 * Every request and response type is derived from `./api-types.ts`, which `npm run gen:api` generates
 * from the OpenAPI document the server serves (`GET /v1/openapi.json`), so a server change that alters a
 * route's path, parameters or bodies breaks this file's compilation instead of drifting silently. The
 * transport is a thin layer over `fetch` (no Node built-ins): path templating, query strings, JSON or
 * binary bodies, and one error type.
 */
import type { components, operations, paths } from './api-types.js'
import { TandemError } from './errors.js'

// ---- types derived from the generated document --------------------------------------------------

type Method = 'get' | 'post' | 'patch' | 'delete'
/** The operation served at path `P` for method `M` (never when there is none). */
type Op<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>
/** Paths that serve method `M`. */
type PathWith<M extends Method> = { [P in keyof paths]: paths[P][M] extends { responses: unknown } ? P : never }[keyof paths]
type PathParams<O> = O extends { parameters: { path: infer X } } ? X : never
type QueryParams<O> = O extends { parameters: { query?: infer Q } } ? Q : never
type JsonBody<O> = O extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never
type JsonResponse<O, S extends number> = O extends { responses: { [K in S]: { content: { 'application/json': infer R } } } } ? R : never

/** A room: name, metadata, timestamps (ISO 8601 UTC), stored size and live stats (`GET /v1/rooms/{room}`). */
export type Room = JsonResponse<operations['getRoom'], 200>
/** Body of `POST /v1/rooms`: `{ name, metadata? }`. */
export type CreateRoomBody = JsonBody<operations['createRoom']>
/** Query of `GET /v1/rooms`: `limit` (1–200, default 50), `prefix`, `cursor` (a previous page's `nextCursor`). */
export type ListRoomsQuery = NonNullable<QueryParams<operations['listRooms']>>
/** One page of rooms ordered by name; `nextCursor` is null on the last page. */
export type RoomPage = JsonResponse<operations['listRooms'], 200>
/** Body of `PATCH /v1/rooms/{room}`: `{ metadata }`, which replaces the whole metadata object. */
export type UpdateRoomBody = JsonBody<operations['updateRoom']>
/** A document as JSON (`GET /v1/rooms/{room}/doc?format=json`): every top-level shared type by name. */
export type RoomDocJson = JsonResponse<operations['getRoomDoc'], 200>
/** Users connected to a room on the answering instance, one entry per user. */
export type RoomUsers = JsonResponse<operations['listRoomUsers'], 200>
/** Response of `DELETE /v1/rooms/{room}/users/{userId}`. */
export type KickResult = JsonResponse<operations['kickRoomUser'], 200>
/** Body of `POST /v1/rooms/{room}/broadcast`: `{ message }`. */
export type BroadcastBody = JsonBody<operations['broadcastToRoom']>
/** Answer of a broadcast: how many connections the room had when the message was sent. */
export type BroadcastResult = JsonResponse<operations['broadcastToRoom'], 200>
/** A version of a room's document: id, createdAt, kind (`auto`, `named`, `before-restore`), label, author, sizeBytes. */
export type Version = JsonResponse<operations['getVersion'], 200>
/** Query of `GET /v1/rooms/{room}/versions`: `limit` (1–200, default 50), `cursor` (a previous page's `nextCursor`). */
export type ListVersionsQuery = NonNullable<QueryParams<operations['listVersions']>>
/** One page of versions, newest first; `nextCursor` is null on the last page. */
export type VersionPage = JsonResponse<operations['listVersions'], 200>
/** Body of `POST /v1/rooms/{room}/versions`: `{ label?, author? }`. */
export type CreateVersionBody = JsonBody<operations['createVersion']>
/** Body of `POST /v1/rooms/{room}/versions/{id}/restore`: `{ author? }`. */
export type RestoreVersionBody = JsonBody<operations['restoreVersion']>
/** Answer of a restore: the version restored and the `before-restore` version that undoes it. */
export type RestoreResult = JsonResponse<operations['restoreVersion'], 200>
/** Body of `POST /v1/tokens`: `{ sub, name?, rooms, ttl?, admin? }`. */
export type MintTokenBody = JsonBody<operations['mintToken']>
/** A minted client token and when it expires. */
export type MintedToken = JsonResponse<operations['mintToken'], 201>
/** Body of `POST /v1/webhooks`: `{ url, events? }`. */
export type CreateWebhookBody = JsonBody<operations['createWebhook']>
/** A newly registered webhook endpoint, with its signing secret (shown only in this answer). */
export type CreatedWebhookEndpoint = JsonResponse<operations['createWebhook'], 201>
/** Every webhook endpoint: `{ webhooks }`. */
export type WebhookEndpointList = JsonResponse<operations['listWebhooks'], 200>
/** A webhook endpoint as listed (without its secret). */
export type WebhookEndpoint = WebhookEndpointList['webhooks'][number]
/** `POST /v1/webhooks/{id}/rotate-secret` body: how long the replaced secret keeps signing. */
export type RotateWebhookSecretBody = JsonBody<operations['rotateWebhookSecret']>
/** The endpoint after a rotation, with its new `secret` (shown only here) and `previousSecretExpiresAt`. */
export type RotatedWebhookEndpoint = JsonResponse<operations['rotateWebhookSecret'], 200>
/** A webhook event type (`room.created`, `room.changed`, `user.entered`, …). */
export type WebhookEventType = NonNullable<WebhookEndpoint['events']>[number]
/** Query of `GET /v1/webhooks/deliveries`: `status`, `cursor`, `limit`. */
export type ListWebhookDeliveriesQuery = NonNullable<QueryParams<operations['listWebhookDeliveries']>>
/** One page of webhook deliveries, oldest first; `nextCursor` is null on the last page. */
export type WebhookDeliveryPage = JsonResponse<operations['listWebhookDeliveries'], 200>
/** One webhook delivery: its status, attempts, last error and the payload sent. */
export type WebhookDelivery = WebhookDeliveryPage['deliveries'][number]
/** `GET /healthz`: `{ status: 'ok' }`. */
export type HealthStatus = JsonResponse<operations['health'], 200>
/** `GET /readyz`: `{ status: 'ready' }`. */
export type ReadyStatus = JsonResponse<operations['ready'], 200>
/** The error codes the server documents in its error bodies (`room_exists`, `room_not_found`, …). */
export type ApiErrorCode = components['schemas']['Error']['error']['code']

/** The `fetch` the client calls: the global one, or any function with its signature. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>

/** Options of {@link TandemApi}. Pass at most one of `adminKey` and `getToken`. */
export interface TandemApiOptions {
  /**
   * Where the server is, e.g. `https://collab.example.com` (REST paths such as `/v1/rooms` are appended;
   * a path prefix such as `https://example.com/collab` is kept). In a browser a relative base such as
   * `''` or `/collab` targets the page's origin.
   */
  baseUrl: string
  /**
   * The REST admin key (`TANDEM_ADMIN_KEY`, or `npx tandem admin-key`). It grants everything: keep it on
   * servers, never ship it to a browser.
   */
  adminKey?: string
  /**
   * Returns the bearer credential for authenticated routes, e.g. a short-lived admin JWT (`"admin": true`
   * claim) from your backend. Called before every such request.
   */
  getToken?: () => string | Promise<string>
  /** The fetch implementation. @default globalThis.fetch (browsers, Node ≥ 18, Deno, Bun) */
  fetch?: FetchLike
}

/** Per-call options, the last argument of every {@link TandemApi} method. */
export interface RequestOptions {
  /** Aborts the request; the call then rejects with `TandemError('aborted')`. */
  signal?: AbortSignal
}

// ---- the client ------------------------------------------------------------------------------------

/** Room names, as the server accepts them everywhere (same as `client.room()`). */
const ROOM_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/

type Parse = 'json' | 'bytes' | 'text' | 'none'

interface Call<O> {
  params?: PathParams<O>
  query?: QueryParams<O>
  json?: JsonBody<O>
  bytes?: Uint8Array
  /** False for the public routes: no credential is fetched or sent. */
  auth?: boolean
}

/**
 * A typed client for Tandem's REST API. Methods are named after the OpenAPI `operationId`s and return the
 * documented response bodies as they are.
 *
 * Errors: any non-2xx answer rejects with a {@link TandemError} whose `code` is the server's error code
 * (`room_exists`, `room_not_found`, `token_invalid`, …; see {@link ApiErrorCode}) and `status` the HTTP
 * status. A response that is not Tandem's error body gives `http_error`, a failed request
 * `network_error`, an aborted one `aborted`, a throwing `getToken` `token_unavailable`, an unparsable
 * success body `invalid_response`. Path arguments are checked before sending: room names like
 * `client.room()` does (`invalid_room_name`), other ids must not be empty, `.` or `..` (`bad_request`).
 *
 * @example
 * import { TandemApi } from '@tandem/client'
 * const api = new TandemApi({ baseUrl: 'https://collab.example.com', adminKey: process.env.TANDEM_ADMIN_KEY })
 * await api.createRoom({ name: 'notes-42', metadata: { title: 'Q3 planning' } })
 * const { token } = await api.mintToken({ sub: 'ada', rooms: { 'notes-42': 'write' }, ttl: '1h' })
 */
export class TandemApi {
  readonly #baseUrl: string
  readonly #credential: (() => string | Promise<string>) | null
  readonly #fetch: FetchLike

  constructor(options: TandemApiOptions) {
    const { baseUrl, adminKey, getToken } = options
    if (typeof baseUrl !== 'string') throw invalidOptions('options.baseUrl must be a string, e.g. "https://collab.example.com"')
    if (adminKey !== undefined && getToken !== undefined) throw invalidOptions('pass options.adminKey or options.getToken, not both')
    if (adminKey !== undefined && (typeof adminKey !== 'string' || adminKey === '')) throw invalidOptions('options.adminKey must be a non-empty string')
    if (getToken !== undefined && typeof getToken !== 'function') throw invalidOptions('options.getToken must be a function')
    if (options.fetch === undefined && typeof globalThis.fetch !== 'function') {
      throw new TandemError('no_fetch', 'no global fetch: pass one as options.fetch')
    }
    this.#baseUrl = baseUrl.replace(/\/+$/, '')
    this.#credential = adminKey !== undefined ? () => adminKey : (getToken ?? null)
    // Never call a fetch as a method of this object: browsers throw "Illegal invocation" for window.fetch.
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  }

  // ---- rooms ---------------------------------------------------------------------------------------

  /** `POST /v1/rooms`: creates a room. @throws TandemError `room_exists` (409), `invalid_room_name` (400). */
  createRoom(body: CreateRoomBody, options?: RequestOptions): Promise<Room> {
    return this.#request('post', '/v1/rooms', { json: body }, 'json', options) as Promise<Room>
  }

  /**
   * `GET /v1/rooms`: one page of rooms ordered by name. Pass the page's `nextCursor` as `cursor` for the
   * next one, or iterate them all with {@link TandemApi.listAllRooms}.
   */
  listRooms(query: ListRoomsQuery = {}, options?: RequestOptions): Promise<RoomPage> {
    return this.#request('get', '/v1/rooms', { query }, 'json', options) as Promise<RoomPage>
  }

  /**
   * Every room (optionally under `prefix`), fetching pages of `limit` rooms as the loop advances.
   *
   * @example
   * for await (const room of api.listAllRooms({ prefix: 'team-42:' })) console.log(room.name)
   */
  async *listAllRooms(query: Omit<ListRoomsQuery, 'cursor'> = {}, options?: RequestOptions): AsyncGenerator<Room, void, undefined> {
    let cursor: string | null = null
    do {
      const page: RoomPage = await this.listRooms(cursor === null ? query : { ...query, cursor }, options)
      yield* page.rooms
      cursor = page.nextCursor
    } while (cursor !== null)
  }

  /** `GET /v1/rooms/{room}`: metadata, stored size and live stats. @throws TandemError `room_not_found` (404). */
  getRoom(room: string, options?: RequestOptions): Promise<Room> {
    return this.#request('get', '/v1/rooms/{room}', { params: { room } }, 'json', options) as Promise<Room>
  }

  /** `PATCH /v1/rooms/{room}`: replaces the room's metadata object. @throws TandemError `room_not_found` (404). */
  updateRoom(room: string, body: UpdateRoomBody, options?: RequestOptions): Promise<Room> {
    return this.#request('patch', '/v1/rooms/{room}', { params: { room }, json: body }, 'json', options) as Promise<Room>
  }

  /**
   * `DELETE /v1/rooms/{room}`: deletes the room and its document; connected clients are closed with 4404.
   * @throws TandemError `room_not_found` (404).
   */
  async deleteRoom(room: string, options?: RequestOptions): Promise<void> {
    await this.#request('delete', '/v1/rooms/{room}', { params: { room } }, 'none', options)
  }

  /**
   * `GET /v1/rooms/{room}/doc`: the document as one binary Yjs update; apply it with `Y.applyUpdate(doc, update)`.
   * @throws TandemError `room_not_found` (404).
   */
  async getRoomDoc(room: string, options?: RequestOptions): Promise<Uint8Array> {
    return (await this.#request('get', '/v1/rooms/{room}/doc', { params: { room }, query: { format: 'binary' } }, 'bytes', options)) as Uint8Array
  }

  /**
   * `GET /v1/rooms/{room}/doc?format=json`: every top-level shared type by name (Y.Text and Y.XmlFragment
   * as strings, Y.Map as objects, Y.Array as arrays). @throws TandemError `room_not_found` (404).
   */
  getRoomDocJson(room: string, options?: RequestOptions): Promise<RoomDocJson> {
    return this.#request('get', '/v1/rooms/{room}/doc', { params: { room }, query: { format: 'json' } }, 'json', options) as Promise<RoomDocJson>
  }

  /**
   * `POST /v1/rooms/{room}/doc`: applies a binary Yjs update (`Y.encodeStateAsUpdate(doc)` or an `update`
   * event's payload). Resolves once it is durably stored; connected clients receive it like any edit.
   * @throws TandemError `room_not_found` (404), `bad_request` (400) for an empty update.
   */
  async applyRoomUpdate(room: string, update: Uint8Array, options?: RequestOptions): Promise<void> {
    await this.#request('post', '/v1/rooms/{room}/doc', { params: { room }, bytes: update }, 'none', options)
  }

  /** `GET /v1/rooms/{room}/users`: users connected to the room (on every instance of a cluster). */
  listRoomUsers(room: string, options?: RequestOptions): Promise<RoomUsers> {
    return this.#request('get', '/v1/rooms/{room}/users', { params: { room } }, 'json', options) as Promise<RoomUsers>
  }

  /**
   * `DELETE /v1/rooms/{room}/users/{userId}`: closes every connection of the user in the room, on every
   * instance, with 4403 (`forbidden`: clients do not reconnect). Tokens are not revoked: stop issuing the
   * user tokens for the room to keep it out. @throws TandemError `room_not_found` (404).
   */
  kickRoomUser(room: string, userId: string, options?: RequestOptions): Promise<KickResult> {
    return this.#request('delete', '/v1/rooms/{room}/users/{userId}', { params: { room, userId } }, 'json', options) as Promise<KickResult>
  }

  /**
   * `POST /v1/rooms/{room}/broadcast`: sends `message` to the room's multiplexed clients (the SDK's
   * `stateless` event; y-websocket clients do not receive it).
   */
  broadcastToRoom(room: string, body: BroadcastBody, options?: RequestOptions): Promise<BroadcastResult> {
    return this.#request('post', '/v1/rooms/{room}/broadcast', { params: { room }, json: body }, 'json', options) as Promise<BroadcastResult>
  }

  // ---- versions ------------------------------------------------------------------------------------

  /**
   * `GET /v1/rooms/{room}/versions`: one page of the room's versions, newest first. Pass the page's
   * `nextCursor` as `cursor` for the next (older) one. @throws TandemError `room_not_found` (404).
   */
  listVersions(room: string, query: ListVersionsQuery = {}, options?: RequestOptions): Promise<VersionPage> {
    return this.#request('get', '/v1/rooms/{room}/versions', { params: { room }, query }, 'json', options) as Promise<VersionPage>
  }

  /** `POST /v1/rooms/{room}/versions`: saves a named version of the document as it is now. */
  createVersion(room: string, body: CreateVersionBody = {}, options?: RequestOptions): Promise<Version> {
    return this.#request('post', '/v1/rooms/{room}/versions', { params: { room }, json: body }, 'json', options) as Promise<Version>
  }

  /** `GET /v1/rooms/{room}/versions/{id}`. @throws TandemError `room_not_found`, `version_not_found` (404). */
  getVersion(room: string, id: string, options?: RequestOptions): Promise<Version> {
    return this.#request('get', '/v1/rooms/{room}/versions/{id}', { params: { room, id } }, 'json', options) as Promise<Version>
  }

  /**
   * `GET /v1/rooms/{room}/versions/{id}/doc`: the version's document as one binary Yjs update; apply it to
   * an empty `Y.Doc` for a read-only preview. @throws TandemError `version_not_found` (404).
   */
  async getVersionDoc(room: string, id: string, options?: RequestOptions): Promise<Uint8Array> {
    return (await this.#request('get', '/v1/rooms/{room}/versions/{id}/doc', { params: { room, id }, query: { format: 'binary' } }, 'bytes', options)) as Uint8Array
  }

  /** `GET /v1/rooms/{room}/versions/{id}/doc?format=json`: the version's document shaped like {@link TandemApi.getRoomDocJson}. */
  getVersionDocJson(room: string, id: string, options?: RequestOptions): Promise<RoomDocJson> {
    return this.#request('get', '/v1/rooms/{room}/versions/{id}/doc', { params: { room, id }, query: { format: 'json' } }, 'json', options) as Promise<RoomDocJson>
  }

  /** `DELETE /v1/rooms/{room}/versions/{id}`. @throws TandemError `version_not_found` (404). */
  async deleteVersion(room: string, id: string, options?: RequestOptions): Promise<void> {
    await this.#request('delete', '/v1/rooms/{room}/versions/{id}', { params: { room, id } }, 'none', options)
  }

  /**
   * `POST /v1/rooms/{room}/versions/{id}/restore`: the document changes to the version's content, live in
   * every open editor, after a `before-restore` version was saved (restore that one to undo). Resolves once
   * the restoring update is durably stored. @throws TandemError `version_not_found` (404).
   */
  restoreVersion(room: string, id: string, body: RestoreVersionBody = {}, options?: RequestOptions): Promise<RestoreResult> {
    return this.#request('post', '/v1/rooms/{room}/versions/{id}/restore', { params: { room, id }, json: body }, 'json', options) as Promise<RestoreResult>
  }

  // ---- tokens --------------------------------------------------------------------------------------

  /**
   * `POST /v1/tokens`: mints a client JWT for `TandemClient`'s `getToken`.
   * @throws TandemError `minting_disabled` (501) on servers that verify tokens signed elsewhere.
   */
  mintToken(body: MintTokenBody, options?: RequestOptions): Promise<MintedToken> {
    return this.#request('post', '/v1/tokens', { json: body }, 'json', options) as Promise<MintedToken>
  }

  // ---- webhooks ------------------------------------------------------------------------------------

  /** `POST /v1/webhooks`: registers an endpoint. The answer's `secret` is shown only once: store it. */
  createWebhook(body: CreateWebhookBody, options?: RequestOptions): Promise<CreatedWebhookEndpoint> {
    return this.#request('post', '/v1/webhooks', { json: body }, 'json', options) as Promise<CreatedWebhookEndpoint>
  }

  /** `GET /v1/webhooks`: every endpoint, oldest first, without secrets. */
  listWebhooks(options?: RequestOptions): Promise<WebhookEndpointList> {
    return this.#request('get', '/v1/webhooks', {}, 'json', options) as Promise<WebhookEndpointList>
  }

  /** `DELETE /v1/webhooks/{id}`: deletes an endpoint and its pending deliveries. @throws TandemError `webhook_not_found` (404). */
  async deleteWebhook(id: string, options?: RequestOptions): Promise<void> {
    await this.#request('delete', '/v1/webhooks/{id}', { params: { id } }, 'none', options)
  }

  /**
   * `POST /v1/webhooks/{id}/rotate-secret`: a new secret; the old one keeps signing beside it until
   * `previousSecretExpiresAt` (default overlap: the server's TANDEM_WEBHOOK_SECRET_OVERLAP_SEC).
   * @throws TandemError `webhook_not_found` (404), `webhook_managed_by_config` (409) for `ep_config`.
   */
  rotateWebhookSecret(id: string, body: RotateWebhookSecretBody = {}, options?: RequestOptions): Promise<RotatedWebhookEndpoint> {
    return this.#request('post', '/v1/webhooks/{id}/rotate-secret', { params: { id }, json: body }, 'json', options) as Promise<RotatedWebhookEndpoint>
  }

  /** `GET /v1/webhooks/deliveries`: one page of deliveries, oldest first, optionally by `status`. */
  listWebhookDeliveries(query: ListWebhookDeliveriesQuery = {}, options?: RequestOptions): Promise<WebhookDeliveryPage> {
    return this.#request('get', '/v1/webhooks/deliveries', { query }, 'json', options) as Promise<WebhookDeliveryPage>
  }

  /** Every delivery (optionally with one `status`), fetching pages as the loop advances. */
  async *listAllWebhookDeliveries(
    query: Omit<ListWebhookDeliveriesQuery, 'cursor'> = {},
    options?: RequestOptions,
  ): AsyncGenerator<WebhookDelivery, void, undefined> {
    let cursor: string | null = null
    do {
      const page: WebhookDeliveryPage = await this.listWebhookDeliveries(cursor === null ? query : { ...query, cursor }, options)
      yield* page.deliveries
      cursor = page.nextCursor
    } while (cursor !== null)
  }

  /**
   * `POST /v1/webhooks/deliveries/{id}/replay`: queues a delivery again from attempt 1, same `webhook-id`.
   * @throws TandemError `delivery_not_found` (404), `webhook_not_found` (404) when its endpoint is gone.
   */
  replayWebhookDelivery(id: string, options?: RequestOptions): Promise<WebhookDelivery> {
    return this.#request('post', '/v1/webhooks/deliveries/{id}/replay', { params: { id } }, 'json', options) as Promise<WebhookDelivery>
  }

  // ---- operations (no auth) ------------------------------------------------------------------------

  /** `GET /healthz`: resolves while the process is up. */
  health(options?: RequestOptions): Promise<HealthStatus> {
    return this.#request('get', '/healthz', { auth: false }, 'json', options) as Promise<HealthStatus>
  }

  /** `GET /readyz`: resolves when the store answers and the server is not draining. @throws TandemError `unavailable` (503). */
  ready(options?: RequestOptions): Promise<ReadyStatus> {
    return this.#request('get', '/readyz', { auth: false }, 'json', options) as Promise<ReadyStatus>
  }

  /** `GET /metrics`: Prometheus metrics in the text exposition format. */
  metrics(options?: RequestOptions): Promise<string> {
    return this.#request('get', '/metrics', { auth: false }, 'text', options) as Promise<string>
  }

  /** `GET /v1/openapi.json`: the OpenAPI 3.1 document this client's types are generated from. */
  openapi(options?: RequestOptions): Promise<Record<string, unknown>> {
    return this.#request('get', '/v1/openapi.json', { auth: false }, 'json', options) as Promise<Record<string, unknown>>
  }

  // ---- transport -----------------------------------------------------------------------------------

  async #request<M extends Method, P extends PathWith<M>>(method: M, path: P, call: Call<Op<P, M>>, parse: Parse, options: RequestOptions = {}): Promise<unknown> {
    const METHOD = method.toUpperCase()
    const params = (call.params ?? {}) as Record<string, string>
    let url = (path as string).replace(/\{(\w+)\}/g, (_, name: string) => pathSegment(name, params[name]))
    const search = new URLSearchParams()
    for (const [key, value] of Object.entries(call.query ?? {})) if (value !== undefined) search.set(key, String(value))
    const queryString = search.toString()
    if (queryString !== '') url += `?${queryString}`

    const headers: Record<string, string> = {}
    let body: BodyInit | undefined
    if (call.json !== undefined) {
      headers['content-type'] = 'application/json'
      body = JSON.stringify(call.json)
    } else if (call.bytes !== undefined) {
      headers['content-type'] = 'application/octet-stream'
      const bytes = call.bytes
      // fetch takes views of an ArrayBuffer only; copy one backed by a SharedArrayBuffer.
      body = bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes)
    }
    if (call.auth !== false && this.#credential !== null) {
      let credential: string
      try {
        credential = await this.#credential()
      } catch (err) {
        throw new TandemError('token_unavailable', `getToken() failed: ${describe(err)}`, { cause: err })
      }
      headers.authorization = `Bearer ${credential}`
    }

    const { signal } = options
    const fetchImpl = this.#fetch
    let res: Response
    try {
      res = await fetchImpl(this.#baseUrl + url, { method: METHOD, headers, ...(body !== undefined && { body }), ...(signal && { signal }) })
      if (!res.ok) throw await responseError(res, `${METHOD} ${path}`)
      if (parse === 'bytes') return new Uint8Array(await res.arrayBuffer())
      if (parse === 'none') return undefined
      const text = await res.text()
      if (parse === 'text') return text
      try {
        return JSON.parse(text) as unknown
      } catch (err) {
        throw new TandemError('invalid_response', `${METHOD} ${path}: the ${res.status} answer is not JSON`, { status: res.status, cause: err })
      }
    } catch (err) {
      if (err instanceof TandemError) throw err
      if (signal?.aborted) throw new TandemError('aborted', `${METHOD} ${path} was aborted`, { cause: err })
      throw new TandemError('network_error', `${METHOD} ${path}: ${describe(err)}`, { cause: err })
    }
  }
}

/** A path parameter, percent-encoded; refuses values that would address another route. */
function pathSegment(name: string, value: unknown): string {
  if (typeof value !== 'string') throw new TandemError('bad_request', `missing path parameter ${name}`, { status: 400 })
  if (name === 'room' && !ROOM_NAME_PATTERN.test(value)) {
    throw new TandemError('invalid_room_name', `invalid room name ${JSON.stringify(value)}: use 1-128 of A-Z a-z 0-9 . _ : - starting with a letter or digit`, {
      status: 400,
    })
  }
  // URLs resolve "." and ".." segments (also percent-encoded) and an empty one changes the route.
  if (value === '' || value === '.' || value === '..') throw new TandemError('bad_request', `invalid ${name} ${JSON.stringify(value)}`, { status: 400 })
  return encodeURIComponent(value)
}

/** The TandemError for a non-2xx answer: the server's `{ error: { code, message } }`, else `http_error`. */
async function responseError(res: Response, what: string): Promise<TandemError> {
  const status = res.status
  let text = ''
  try {
    text = await res.text()
  } catch {
    // The body was cut off; the status still tells what happened.
  }
  try {
    const { error } = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }
    if (typeof error?.code === 'string' && error.code !== '') {
      return new TandemError(error.code, typeof error.message === 'string' ? error.message : error.code, { status })
    }
  } catch {
    // Not JSON: a proxy's or load balancer's page.
  }
  return new TandemError('http_error', `${what}: HTTP ${status}${res.statusText ? ` ${res.statusText}` : ''}`, { status })
}

function invalidOptions(message: string): TandemError {
  return new TandemError('invalid_options', message)
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
