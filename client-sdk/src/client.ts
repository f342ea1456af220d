/**
 * TandemClient: one multiplexed WebSocket (`ws(s)://host/ws`) shared by every room the app opens.
 * It owns the socket lifecycle (lazy connect, reconnect with backoff, dead-socket detection, close
 * codes) and routes frames to the room providers by address. No Node or DOM imports: the browser's
 * globals are used only when they exist.
 */
import { decodeMultiplexedFrame, PONG_FRAME } from './protocol.js'
import { Emitter } from './emitter.js'
import { TandemError, serverError } from './errors.js'
import { backoffDelay, resolveBackoff, type BackoffOptions } from './backoff.js'
import { RoomProvider, type RoomControl, type RoomLink, type RoomOptions, type StatusDetail } from './provider.js'
import { OPEN, resolveWebSocket, toBytes, type CloseEventLike, type MessageEventLike, type WebSocketConstructor, type WebSocketLike } from './transport.js'

/** This package's version; sent to the server as `tandem-client/<version>` in every auth message. */
export const CLIENT_VERSION = '0.1.0'
const PROVIDER_VERSION = `tandem-client/${CLIENT_VERSION}`

/** Room names, as the server accepts them everywhere (PROTOCOL.md §5.1). */
const ROOM_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/

const CLOSE_TOO_BIG = 1009
const CLOSE_RESTARTING = 1012
const CLOSE_SLOW_CONSUMER = 1013
const CLOSE_TOKEN_EXPIRED = 4401
const CLOSE_FORBIDDEN = 4403
const CLOSE_ROOM_NOT_FOUND = 4404
const CLOSE_DOCUMENT_TOO_LARGE = 4413
/** After 1013 (slow consumer) wait at least as long as retry number 5: 8 s with the default backoff. */
const SLOW_CONSUMER_MIN_ATTEMPT = 5
/**
 * Rooms authenticating at once on one socket. Servers bound the rooms a socket may have awaiting auth
 * (Tandem: 100, then `too_many_rooms`; Hocuspocus: 100, then close 1008), so an app opening hundreds of
 * rooms joins them in waves.
 */
const MAX_CONCURRENT_JOINS = 50

/**
 * The shared socket's state:
 * - `idle`: no room is open, so no socket (the client connects when `room()` is first called).
 * - `connecting` / `reconnecting`: a connection attempt is under way, or waiting for its backoff delay.
 * - `open`: the socket is open.
 * - `offline`: waiting to reconnect while the browser reports no network.
 * - `closed`: `destroy()` was called.
 */
export type ConnectionStatus = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'offline' | 'closed'

/** Events of a {@link TandemClient}. Room-level events live on each {@link RoomProvider}. */
export type TandemClientEvents = {
  /** The shared socket's status changed. */
  status: [status: ConnectionStatus, detail: StatusDetail]
}

/** Options of {@link TandemClient}. */
export interface TandemClientOptions {
  /**
   * The multiplexed endpoint, e.g. `wss://collab.example.com/ws`. A function is called before every
   * connection attempt (useful behind service discovery, or when the server's address changes).
   */
  url: string | (() => string | Promise<string>)
  /**
   * Returns a JWT for `room`. Called for every room on every (re)connect and again after the server
   * reports an expired token (close 4401), so return a fresh token, not a cached expired one. The token
   * travels in the room's auth message, never in the URL.
   */
  getToken: (room: string) => string | Promise<string>
  /**
   * WebSocket implementation. @default globalThis.WebSocket. Node 20 has none: pass `ws`
   * (`import WebSocket from 'ws'`).
   */
  WebSocket?: WebSocketConstructor
  /** Reconnect delays. @default { baseMs: 250, maxMs: 10_000, jitter: 0.3 } */
  backoff?: Partial<BackoffOptions>
  /**
   * Dead-socket detection: with no message from the server for this long, the socket is dropped and
   * reconnected (the server sends traffic at least every 15 s). Also bounds how long a connection
   * attempt may take. @default 30_000
   */
  messageTimeoutMs?: number
}

interface RoomEntry {
  provider: RoomProvider
  control: RoomControl
}

/**
 * Connects an app to a Tandem server. Open rooms with {@link TandemClient.room}; all of them share one
 * WebSocket, opened lazily with the first room and closed when the last one is destroyed.
 *
 * Reconnects with capped, jittered exponential backoff (sooner when the browser comes back `online` or
 * the tab becomes visible, almost at once after a server restart (1012), later after a slow-consumer
 * close (1013)); calls `getToken` again on every reconnect and after a 4401; stops a room for good on
 * 4403 / 4404 / 4413 with a {@link TandemError} (`forbidden` / `room_not_found` / `document_too_large`),
 * and after a 1009 that follows a sync (`message_too_big`, see below).
 *
 * @example
 * import { TandemClient } from '@tandem/client'
 * const client = new TandemClient({
 *   url: 'wss://collab.example.com/ws',
 *   getToken: async (room) => (await fetch(`/api/collab-token?room=${room}`)).text(),
 * })
 * const provider = client.room('doc-42')
 * await provider.whenSynced()
 */
export class TandemClient extends Emitter<TandemClientEvents> {
  readonly #url: () => string | Promise<string>
  readonly #getToken: (room: string) => string | Promise<string>
  readonly #WebSocket: WebSocketConstructor
  readonly #backoff: Readonly<BackoffOptions>
  readonly #messageTimeoutMs: number
  readonly #link: RoomLink
  readonly #rooms = new Map<string, RoomEntry>()
  /** Rooms whose join is in flight on the current socket, and rooms waiting for a slot (FIFO). */
  readonly #joining = new Set<RoomEntry>()
  #joinQueue: RoomEntry[] = []

  #status: ConnectionStatus = 'idle'
  #socket: WebSocketLike | null = null
  /** Bumped whenever the current connection attempt is abandoned; stale async results check it. */
  #connectSeq = 0
  /** Consecutive failed attempts; reset when a room syncs. */
  #attempt = 0
  #everOpened = false
  #retryTimer: ReturnType<typeof setTimeout> | null = null
  #watchdog: ReturnType<typeof setInterval> | null = null
  #lastMessageAt = 0
  #listening = false
  #destroyed = false

  constructor(options: TandemClientOptions) {
    super()
    const { url, getToken } = options
    if (typeof url !== 'string' && typeof url !== 'function') throw new TandemError('invalid_options', 'options.url must be a string or a function')
    if (typeof getToken !== 'function') throw new TandemError('invalid_options', 'options.getToken must be a function')
    const WebSocketImpl = resolveWebSocket(options.WebSocket)
    if (WebSocketImpl === null) {
      throw new TandemError('no_websocket', 'no global WebSocket: pass one, e.g. `new TandemClient({ WebSocket: (await import("ws")).default, … })`')
    }
    const messageTimeoutMs = options.messageTimeoutMs ?? 30_000
    if (!Number.isFinite(messageTimeoutMs) || messageTimeoutMs <= 0) {
      throw new TandemError('invalid_options', `options.messageTimeoutMs must be a positive number, got ${messageTimeoutMs}`)
    }
    this.#url = typeof url === 'string' ? () => url : url
    this.#getToken = getToken
    this.#WebSocket = WebSocketImpl
    this.#backoff = resolveBackoff(options.backoff)
    this.#messageTimeoutMs = messageTimeoutMs

    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the link's getter needs the client's private fields
    const client = this
    this.#link = {
      send: (frame) => {
        const ws = client.#socket
        if (ws === null || client.#status !== 'open' || ws.readyState !== OPEN) return false
        ws.send(frame)
        return true
      },
      get isOpen() {
        return client.#status === 'open' && client.#socket !== null && client.#socket.readyState === OPEN
      },
      getToken: (room) => Promise.resolve(client.#getToken(room)),
      providerVersion: PROVIDER_VERSION,
      retryDelay: (attempt) => backoffDelay(attempt, client.#backoff),
      onSynced: () => {
        client.#attempt = 0
      },
      requestJoin: (provider) => {
        const entry = client.#rooms.get(provider.name)
        if (entry?.provider === provider) client.#requestJoin(entry)
      },
      joinSettled: (provider) => {
        const entry = client.#rooms.get(provider.name)
        if (entry?.provider === provider && client.#joining.delete(entry)) client.#admitJoins()
      },
      release: (provider) => client.#release(provider),
    }
  }

  /** The shared socket's status; see {@link ConnectionStatus}. */
  get status(): ConnectionStatus {
    return this.#status
  }

  /**
   * Opens a room on the shared socket and returns its provider.
   *
   * One provider per room name per client: calling `room(name)` while a provider for `name` is open
   * throws `TandemError('room_already_open')`. Keep the provider you got (or `destroy()` it first); two
   * providers for one room on one socket would race for the same address. A name becomes free again
   * once its provider is destroyed or closed by the server.
   *
   * @throws TandemError `invalid_room_name` (names match `^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`),
   *   `room_already_open`, `destroyed`, `invalid_options`.
   */
  room(name: string, options: RoomOptions = {}): RoomProvider {
    if (this.#destroyed) throw new TandemError('destroyed', 'this TandemClient was destroyed')
    if (typeof name !== 'string' || !ROOM_NAME_PATTERN.test(name)) {
      throw new TandemError('invalid_room_name', `invalid room name ${JSON.stringify(name)}: use 1-128 of A-Z a-z 0-9 . _ : - starting with a letter or digit`, { status: 400 })
    }
    if (this.#rooms.has(name)) {
      throw new TandemError('room_already_open', `room ${name} is already open on this client: reuse that provider or destroy() it first`)
    }
    const registered: { control?: RoomControl } = {}
    const provider = new RoomProvider(name, options, this.#link, (control) => {
      registered.control = control
    })
    if (registered.control === undefined) throw new Error('unreachable: RoomProvider did not register')
    const entry: RoomEntry = { provider, control: registered.control }
    this.#rooms.set(name, entry)

    switch (this.#status) {
      case 'idle':
        this.#connect()
        break
      case 'open':
        this.#requestJoin(entry)
        break
      case 'connecting':
      case 'reconnecting':
        if (this.#retryTimer === null) entry.control.connecting(this.#status, {})
        else entry.control.disconnected('reconnecting', {})
        break
      case 'offline':
        entry.control.disconnected('offline', {})
        break
      case 'closed':
        break
    }
    return provider
  }

  /**
   * Destroys every room (clearing this client's presence in each), closes the socket and stops all
   * timers and global listeners. Idempotent; the client cannot be reused.
   */
  destroy(): void {
    if (this.#destroyed) return
    for (const { provider } of [...this.#rooms.values()]) provider.destroy()
    this.#goIdle()
    this.#destroyed = true
    this.#setStatus('closed', {})
    this.removeAllListeners()
  }

  // -------------------------------------------------------------------------------------------------
  // Connection lifecycle
  // -------------------------------------------------------------------------------------------------

  #connect(): void {
    if (this.#destroyed || this.#rooms.size === 0) return
    this.#clearRetry()
    this.#dropSocket()
    const seq = ++this.#connectSeq
    const status = this.#everOpened || this.#attempt > 0 ? 'reconnecting' : 'connecting'
    this.#setStatus(status, {})
    this.#listen()
    for (const { control } of [...this.#rooms.values()]) control.connecting(status, {})
    this.#lastMessageAt = Date.now()
    this.#startWatchdog()

    Promise.resolve()
      .then(() => this.#url())
      .then(
        (url) => {
          if (seq !== this.#connectSeq) return
          this.#openSocket(url)
        },
        (err: unknown) => {
          if (seq !== this.#connectSeq) return
          console.warn('[tandem] options.url failed; retrying', err)
          this.#socketLost(undefined)
        },
      )
  }

  #openSocket(url: string): void {
    let ws: WebSocketLike
    try {
      ws = new this.#WebSocket(url)
    } catch (err) {
      // A malformed URL throws synchronously (SyntaxError); retrying with backoff keeps the behaviour uniform.
      console.warn(`[tandem] could not open a WebSocket to ${url}; retrying`, err)
      this.#socketLost(undefined)
      return
    }
    ws.binaryType = 'arraybuffer'
    this.#socket = ws
    ws.onopen = () => {
      if (this.#socket !== ws) return
      this.#everOpened = true
      this.#lastMessageAt = Date.now()
      this.#setStatus('open', {})
      for (const entry of [...this.#rooms.values()]) this.#requestJoin(entry)
    }
    ws.onmessage = (event: MessageEventLike) => {
      if (this.#socket !== ws) return
      this.#lastMessageAt = Date.now()
      this.#onFrame(event.data)
    }
    ws.onclose = (event: CloseEventLike) => {
      if (this.#socket !== ws) return
      this.#socketLost(event.code)
    }
    ws.onerror = () => {
      // A close event always follows; it carries the code we act on.
    }
  }

  #onFrame(data: unknown): void {
    const bytes = toBytes(data)
    if (bytes === null) {
      console.warn('[tandem] ignoring a text frame from the server')
      return
    }
    const decoded = decodeMultiplexedFrame(bytes)
    if (!decoded.ok) {
      console.warn(`[tandem] dropping a frame that does not decode (${decoded.reason})`)
      return
    }
    const frame = decoded.value
    switch (frame.kind) {
      case 'ping':
        this.#socket?.send(PONG_FRAME)
        return
      case 'pong':
        return
      case 'message':
        this.#rooms.get(frame.address)?.control.receive(frame.message)
        return
    }
  }

  /** The socket closed (code from the close event) or was given up on (undefined: timeout, failed open). */
  #socketLost(code: number | undefined): void {
    this.#dropSocket()
    this.#connectSeq += 1
    this.#stopWatchdog()
    if (code === CLOSE_FORBIDDEN || code === CLOSE_ROOM_NOT_FOUND || code === CLOSE_DOCUMENT_TOO_LARGE) {
      // The whole socket was refused: every room on it is over.
      const error =
        code === CLOSE_FORBIDDEN
          ? serverError('forbidden', 'the server closed the connection: forbidden (4403)')
          : code === CLOSE_ROOM_NOT_FOUND
            ? serverError('room_not_found', 'the server closed the connection: room not found (4404)')
            : serverError('document_too_large', 'the server closed the connection: document too large (4413)')
      for (const { control } of [...this.#rooms.values()]) control.stop(error)
      return
    }
    if (code === CLOSE_TOO_BIG) this.#stopOversizeRoom()
    if (this.#rooms.size === 0 || this.#destroyed) return this.#goIdle()
    const delay = this.#nextDelay(code)
    const status = isOffline() ? 'offline' : 'reconnecting'
    const detail: StatusDetail = { retryInMs: delay }
    if (code !== undefined) detail.closeCode = code
    this.#setStatus(status, detail)
    for (const { control } of [...this.#rooms.values()]) control.disconnected(status, detail)
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null
      this.#connect()
    }, delay)
  }

  /**
   * After a 1009 (a message over the server's size limit) on a socket where a room had synced, the
   * server is reachable and its limit is real: reconnecting would re-send the same content in the next
   * sync-step-2 and be closed again, in a loop. The room that sent the largest frame is stopped with
   * `message_too_big`; the others reconnect. Read before `disconnected()` resets the sessions.
   */
  #stopOversizeRoom(): void {
    const entries = [...this.#rooms.values()]
    if (!entries.some(({ control }) => control.synced)) return
    let culprit: RoomEntry | null = null
    for (const entry of entries) if (entry.control.largestSent > (culprit?.control.largestSent ?? 0)) culprit = entry
    if (culprit === null) return
    const bytes = culprit.control.largestSent
    culprit.control.stop(serverError('message_too_big', `room ${culprit.provider.name}: the server closed the connection (1009) after a ${bytes}-byte message over its size limit`))
  }

  #nextDelay(code: number | undefined): number {
    let delay: number
    if (code === CLOSE_RESTARTING) {
      // Planned restart: come back soon, spread over one base interval so clients do not stampede.
      delay = Math.round(Math.random() * this.#backoff.baseMs)
    } else if (code === CLOSE_TOKEN_EXPIRED && this.#attempt === 0) {
      delay = 0 // fetch fresh tokens and reconnect now; a repeat before any sync backs off
    } else {
      if (code === CLOSE_SLOW_CONSUMER) this.#attempt = Math.max(this.#attempt, SLOW_CONSUMER_MIN_ATTEMPT)
      delay = backoffDelay(this.#attempt, this.#backoff)
    }
    this.#attempt += 1
    return delay
  }

  #requestJoin(entry: RoomEntry): void {
    if (this.#joining.has(entry) || this.#joinQueue.includes(entry)) return
    this.#joinQueue.push(entry)
    this.#admitJoins()
  }

  #admitJoins(): void {
    while (this.#joining.size < MAX_CONCURRENT_JOINS && this.#joinQueue.length > 0 && this.#link.isOpen) {
      const entry = this.#joinQueue.shift() as RoomEntry
      if (this.#rooms.get(entry.provider.name) !== entry) continue // destroyed while waiting
      // open() ends any previous session first, which reports "settled": count the new join after it.
      entry.control.open()
      this.#joining.add(entry)
    }
  }

  /** Detaches and closes the current socket, if any, without waiting for its close event. */
  #dropSocket(): void {
    this.#joining.clear()
    this.#joinQueue = []
    const ws = this.#socket
    if (ws === null) return
    this.#socket = null
    ws.onopen = null
    ws.onmessage = null
    ws.onclose = null
    // Keep an error handler: `ws` throws on an unhandled 'error' raised while closing a connecting socket.
    ws.onerror = () => {}
    try {
      ws.close(1000)
    } catch {
      // Closing a socket that is still connecting throws in some implementations; it is being dropped anyway.
    }
  }

  #release(provider: RoomProvider): void {
    const entry = this.#rooms.get(provider.name)
    if (entry?.provider !== provider) return
    this.#rooms.delete(provider.name)
    this.#joining.delete(entry)
    if (this.#rooms.size === 0) this.#goIdle()
    else this.#admitJoins()
  }

  /** No rooms left: close the socket and stop every timer and global listener. */
  #goIdle(): void {
    this.#clearRetry()
    this.#stopWatchdog()
    this.#dropSocket()
    this.#connectSeq += 1
    this.#attempt = 0
    this.#everOpened = false
    this.#unlisten()
    if (!this.#destroyed) this.#setStatus('idle', {})
  }

  #clearRetry(): void {
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer)
    this.#retryTimer = null
  }

  #startWatchdog(): void {
    this.#stopWatchdog()
    const every = Math.max(20, Math.min(this.#messageTimeoutMs / 10, 3_000))
    this.#watchdog = setInterval(() => this.#checkAlive(), every)
  }

  #stopWatchdog(): void {
    if (this.#watchdog !== null) clearInterval(this.#watchdog)
    this.#watchdog = null
  }

  #checkAlive(): void {
    if (this.#watchdog === null) return
    // Browsers do not surface WebSocket pings, and a half-open TCP connection can stay "open" for
    // minutes: silence longer than the server's keepalive period means the socket is dead.
    if (Date.now() - this.#lastMessageAt > this.#messageTimeoutMs) this.#socketLost(undefined)
  }

  #setStatus(status: ConnectionStatus, detail: StatusDetail): void {
    if (this.#status === status || this.#status === 'closed') return
    this.#status = status
    this.emit('status', status, detail)
  }

  // -------------------------------------------------------------------------------------------------
  // Browser lifecycle (only where these globals exist)
  // -------------------------------------------------------------------------------------------------

  readonly #onOnline = (): void => {
    if (this.#retryTimer !== null) this.#connect()
  }

  readonly #onOffline = (): void => {
    if (this.#retryTimer === null) return
    this.#setStatus('offline', {})
    for (const { control } of [...this.#rooms.values()]) control.disconnected('offline', {})
  }

  readonly #onVisibilityChange = (): void => {
    if (typeof document === 'undefined' || document.visibilityState !== 'visible') return
    if (this.#retryTimer !== null) this.#connect()
    else this.#checkAlive() // timers are throttled in background tabs: check now
  }

  readonly #onPagehide = (): void => {
    for (const { control } of [...this.#rooms.values()]) control.pagehide()
  }

  readonly #onPageshow = (event: Event): void => {
    if ((event as PageTransitionEvent).persisted !== true) return
    for (const { control } of [...this.#rooms.values()]) control.pageshow()
  }

  #listen(): void {
    if (this.#listening) return
    this.#listening = true
    const target = eventTarget()
    target?.addEventListener('online', this.#onOnline)
    target?.addEventListener('offline', this.#onOffline)
    target?.addEventListener('pagehide', this.#onPagehide)
    target?.addEventListener('pageshow', this.#onPageshow)
    if (typeof document !== 'undefined' && typeof document.addEventListener === 'function') {
      document.addEventListener('visibilitychange', this.#onVisibilityChange)
    }
  }

  #unlisten(): void {
    if (!this.#listening) return
    this.#listening = false
    const target = eventTarget()
    target?.removeEventListener('online', this.#onOnline)
    target?.removeEventListener('offline', this.#onOffline)
    target?.removeEventListener('pagehide', this.#onPagehide)
    target?.removeEventListener('pageshow', this.#onPageshow)
    if (typeof document !== 'undefined' && typeof document.removeEventListener === 'function') {
      document.removeEventListener('visibilitychange', this.#onVisibilityChange)
    }
  }
}

/** `window` in browsers; null where the global object is not an event target (Node). */
function eventTarget(): Pick<EventTarget, 'addEventListener' | 'removeEventListener'> | null {
  const g = globalThis as Partial<Pick<EventTarget, 'addEventListener' | 'removeEventListener'>>
  return typeof g.addEventListener === 'function' && typeof g.removeEventListener === 'function'
    ? (g as Pick<EventTarget, 'addEventListener' | 'removeEventListener'>)
    : null
}

function isOffline(): boolean {
  return (globalThis as { navigator?: { onLine?: boolean } }).navigator?.onLine === false
}
