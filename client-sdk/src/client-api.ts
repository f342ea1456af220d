/**
 * The `TandemClient` the package exports: the multiplexed-socket client of ./client.ts plus `client.api`,
 * a {@link TandemApi} for the same server. Kept in its own module so ./client.ts stays about the socket.
 */
import { TandemClient as SocketClient, type TandemClientOptions as SocketClientOptions } from './client.js'
import { TandemApi, type TandemApiOptions } from './api.js'
import { TandemError } from './errors.js'

/** REST options of a {@link TandemClient}: those of {@link TandemApiOptions}, with `baseUrl` optional. */
export interface TandemClientApiOptions extends Omit<TandemApiOptions, 'baseUrl'> {
  /**
   * Where the REST API is. @default derived from a string `url`: `wss://host/ws` → `https://host`,
   * `ws://host:4321/prefix/ws` → `http://host:4321/prefix`. Required when `url` is a function.
   */
  baseUrl?: string
}

/** Options of {@link TandemClient}: the socket's (`url`, `getToken`, …) plus `api` for `client.api`. */
export interface TandemClientOptions extends SocketClientOptions {
  /**
   * Options of `client.api`, the REST client: its credential (`adminKey`, or `getToken` returning an
   * admin JWT: REST routes need admin rights, unlike room tokens), `baseUrl`, `fetch`. Without a
   * credential only the public routes (`health`, `ready`, `metrics`, `openapi`) succeed.
   */
  api?: TandemClientApiOptions
}

/**
 * Connects an app to a Tandem server: rooms over one multiplexed WebSocket (see {@link TandemClient.room})
 * and the REST API as `client.api`.
 *
 * @example
 * const client = new TandemClient({
 *   url: 'wss://collab.example.com/ws',
 *   getToken: async (room) => (await fetch(`/api/collab-token?room=${room}`)).text(),
 *   api: { getToken: async () => (await fetch('/api/collab-admin-token')).text() },
 * })
 * const provider = client.room('doc-42')
 * const users = await client.api.listRoomUsers('doc-42')   // REST base URL: https://collab.example.com
 */
export class TandemClient extends SocketClient {
  readonly #url: SocketClientOptions['url']
  readonly #apiOptions: TandemClientApiOptions
  #api: TandemApi | null = null

  constructor(options: TandemClientOptions) {
    super(options)
    this.#url = options.url
    this.#apiOptions = options.api ?? {}
  }

  /**
   * The REST client for this server, created on first use from the `api` option (and, unless
   * `api.baseUrl` is set, the base URL derived from `url`). Independent of the socket: it works
   * before any room is opened and after `destroy()`.
   *
   * @throws TandemError `invalid_options` when `url` is a function and `api.baseUrl` is missing, or
   *   the `api` options are invalid; `no_fetch` without a global or given `fetch`.
   */
  get api(): TandemApi {
    if (this.#api === null) {
      let baseUrl = this.#apiOptions.baseUrl
      if (baseUrl === undefined) {
        if (typeof this.#url !== 'string') {
          throw new TandemError('invalid_options', 'options.url is a function: pass options.api.baseUrl for client.api')
        }
        baseUrl = apiBaseUrl(this.#url)
      }
      this.#api = new TandemApi({ ...this.#apiOptions, baseUrl })
    }
    return this.#api
  }
}

/**
 * The REST base URL of the server whose multiplexed WebSocket endpoint is `wsUrl`: `ws:` → `http:`,
 * `wss:` → `https:`, a final `/ws` path segment dropped, query and fragment dropped.
 *
 * @example
 * apiBaseUrl('wss://collab.example.com/ws')       // 'https://collab.example.com'
 * apiBaseUrl('ws://127.0.0.1:4321/tandem/ws')     // 'http://127.0.0.1:4321/tandem'
 * @throws TandemError `invalid_options` when `wsUrl` is not an absolute URL.
 */
export function apiBaseUrl(wsUrl: string): string {
  let url: URL
  try {
    url = new URL(wsUrl)
  } catch {
    throw new TandemError('invalid_options', `cannot derive the REST base URL from ${JSON.stringify(wsUrl)}: pass options.api.baseUrl`)
  }
  const protocol = url.protocol === 'wss:' ? 'https:' : url.protocol === 'ws:' ? 'http:' : url.protocol
  const path = url.pathname.replace(/\/+$/, '').replace(/\/ws$/, '')
  return `${protocol}//${url.host}${path}`
}
