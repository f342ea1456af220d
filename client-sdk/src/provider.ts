/**
 * One room on a TandemClient's shared socket: a Y.Doc and an Awareness kept in sync with the server,
 * with a status union, sync and saved milestones, and typed events. Providers are created by
 * `client.room(name)`; the client owns the socket and tells each provider when it opens and closes.
 */
import * as Y from 'yjs'
import { Awareness, applyAwarenessUpdate, encodeAwarenessUpdate, removeAwarenessStates } from 'y-protocols/awareness'
import { encodeMultiplexedFrame, type Message, type Scope } from './protocol.js'
import { Emitter } from './emitter.js'
import { TandemError, serverError } from './errors.js'

/**
 * Where a room stands:
 * - `connecting`: the first connection attempt for this room is under way (socket not yet open).
 * - `syncing`: the socket is open; the room is authenticating and exchanging state with the server.
 * - `synced`: the server's state has been received; local and remote edits now flow live.
 * - `reconnecting`: the connection was lost (or refused); the client retries with backoff.
 * - `offline`: like `reconnecting`, but the browser reports no network (`navigator.onLine === false`);
 *   the client retries as soon as the `online` event fires.
 * - `closed`: destroyed, or stopped for good by the server (see the `error` event).
 *
 * Edits are accepted in every status; they are kept in the Y.Doc and sent once the room is synced.
 */
export type RoomStatus = 'connecting' | 'syncing' | 'synced' | 'reconnecting' | 'offline' | 'closed'

/** Extra information passed with a `status` event. */
export interface StatusDetail {
  /** The WebSocket close code that ended the previous connection, if any. */
  closeCode?: number
  /** When `reconnecting` / `offline`: milliseconds until the next attempt. */
  retryInMs?: number
  /** When `closed` because the server stopped the room: why. */
  error?: TandemError
}

/** Events of a {@link RoomProvider}, with their listener arguments. */
export type RoomProviderEvents = {
  /** The status changed. */
  status: [status: RoomStatus, detail: StatusDetail]
  /** The room (re)synced with the server: emitted after every successful (re)connect. */
  synced: []
  /** Every local change made so far is durably stored on the server (`hasUnsavedChanges` became false). */
  saved: []
  /**
   * Something went wrong. Codes: see {@link TandemErrorCode}. `forbidden`, `room_not_found`,
   * `document_too_large` and `message_too_big` also close the room.
   */
  error: [error: TandemError]
  /** An application message from the server (Hocuspocus "stateless" message). */
  stateless: [payload: string]
}

/** Options of `client.room(name, options)`. */
export interface RoomOptions {
  /**
   * The document to sync. Pass one that already holds content (for example loaded from IndexedDB) and
   * it is merged with the server's. @default a new Y.Doc (or `awareness.doc` when `awareness` is given)
   */
  doc?: Y.Doc
  /**
   * The presence instance to sync. It must belong to `doc`. A provider that creates its own also destroys
   * it in `destroy()`; one passed in is left alive (its local state is cleared). @default new Awareness(doc)
   */
  awareness?: Awareness
}

/** @internal What a provider needs from its client. */
export interface RoomLink {
  /** Sends a frame if the socket is open; false otherwise. */
  send(frame: Uint8Array): boolean
  readonly isOpen: boolean
  getToken(room: string): Promise<string>
  readonly providerVersion: string
  /** Backoff delay for a room-level retry. */
  retryDelay(attempt: number): number
  /** The room synced: the client resets its reconnect backoff. */
  onSynced(): void
  /** The room's join attempt is over (authenticated, denied, or abandoned): the client may admit another. */
  joinSettled(provider: RoomProvider): void
  /** Join again on the open socket, when a slot is free (the client calls `open()`). */
  requestJoin(provider: RoomProvider): void
  /** The provider is closed for good: the client forgets it (and closes the socket if it was the last). */
  release(provider: RoomProvider): void
}

/** @internal How the client drives a provider. Not part of the public API. */
export interface RoomControl {
  /** A connection attempt starts: prefetch the token, report `status`. */
  connecting(status: 'connecting' | 'reconnecting' | 'offline', detail: StatusDetail): void
  /** The socket is open: authenticate and sync. */
  open(): void
  /** A message addressed to this room. */
  receive(message: Message): void
  /** The socket is gone; the client reconnects (status and delay given) or stops. */
  disconnected(status: 'reconnecting' | 'offline', detail: StatusDetail): void
  /** The server ended the room for good. */
  stop(error: TandemError): void
  /** Whether the room completed a sync in its current session. */
  readonly synced: boolean
  /** Bytes of the largest frame the room sent in its current session. */
  readonly largestSent: number
  /** Page is being hidden (possibly unloaded): clear presence so others see no ghost. */
  pagehide(): void
  /** Page restored from the back/forward cache: restore presence cleared by `pagehide`. */
  pageshow(): void
}

/** A Waiter resolves when `done` holds. */
interface Waiter {
  target: number
  resolve: () => void
  reject: (err: TandemError) => void
}

/**
 * What may arrive on an address before the server authenticated the current session. `close` too: a room
 * that fails to load (1011, or 1013 while the store is unreachable) is closed before the server sends
 * Authenticated (PROTOCOL.md §6); ignoring it would leave the room syncing until the socket's auth timeout.
 */
const PRE_AUTH_MESSAGES: ReadonlySet<Message['type']> = new Set(['authenticated', 'permission-denied', 'auth-token-request', 'close'])

const NOT_AUTHENTICATED = 0
const AUTHENTICATING = 1
const AUTHENTICATED = 2

/**
 * A room: exposes the `doc` and `awareness` every Yjs editor binding takes, plus status and save tracking.
 *
 * Create one with `client.room(name)`; release it with `destroy()`.
 *
 * @example
 * const provider = client.room('doc-42')
 * provider.on('status', (status) => setBadge(status))
 * await provider.whenSynced()
 * provider.doc.getText('body').insert(0, 'hi')
 * await provider.whenSaved()   // durably stored on the server
 */
export class RoomProvider extends Emitter<RoomProviderEvents> {
  /** The room name (the multiplexed address). */
  readonly name: string
  /** The shared document. Pass it to your editor binding. Not destroyed by `destroy()`. */
  readonly doc: Y.Doc
  /** Presence (cursors, user names). Pass it to your editor binding's cursor plugin. */
  readonly awareness: Awareness

  readonly #link: RoomLink
  readonly #ownsAwareness: boolean
  #status: RoomStatus = 'connecting'
  #scope: Scope | null = null
  #destroyed = false

  /** Incremented whenever a server session for this room ends; async work from an older session is dropped. */
  #session = 0
  #auth = NOT_AUTHENTICATED
  /** Auth sent on the current socket: frames may go out (the server queues them until authorised). */
  #joined = false
  /**
   * Our sync-step-2 (the answer to the server's sync-step-1) went out in this session. Until then local
   * changes are not sent one by one: the sync-step-2 carries them, so every later update's SyncStatus
   * means "everything up to here is stored" and acknowledgements form a simple watermark.
   */
  #stateSent = false
  #synced = false
  #largestSent = 0
  #tokenPromise: Promise<string> | null = null
  /** One fresh-token retry after a `token_expired` denial, reset on success. */
  #retriedExpiredToken = false
  #roomAttempt = 0
  #rejoinTimer: ReturnType<typeof setTimeout> | null = null

  /** Local changes seen so far, and how many of them the server has confirmed as stored. */
  #localSeq = 0
  #savedSeq = 0
  /** For each update / sync-step-2 sent and not yet answered by SyncStatus: the #localSeq it covers. */
  #inflight: number[] = []
  #savedWaiters: Waiter[] = []
  #syncedWaiters: Waiter[] = []
  /** Presence cleared by `pagehide`, restored by `pageshow` if the page comes back from the bfcache. */
  #hiddenState: Record<string, unknown> | null = null

  /** @internal Use `client.room(name)`. */
  constructor(name: string, options: RoomOptions, link: RoomLink, register: (control: RoomControl) => void) {
    super()
    const doc = options.doc ?? options.awareness?.doc ?? new Y.Doc()
    if (options.awareness && options.awareness.doc !== doc) {
      throw new TandemError('invalid_options', `room ${name}: options.awareness belongs to a different Y.Doc than options.doc`)
    }
    this.name = name
    this.doc = doc
    this.awareness = options.awareness ?? new Awareness(doc)
    this.#ownsAwareness = options.awareness === undefined
    this.#link = link
    // Content the doc already holds (say, loaded from IndexedDB) is unsaved until the server confirms it:
    // the first sync-step-2 carries it, and its SyncStatus settles it.
    if (doc.store.clients.size > 0) this.#localSeq = 1
    doc.on('update', this.#onDocUpdate)
    doc.on('destroy', this.#onDocDestroy)
    this.awareness.on('update', this.#onAwarenessUpdate)
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the control's getter reads a private field
    const provider = this
    register({
      connecting: (status, detail) => this.#connecting(status, detail),
      open: () => this.#open(),
      receive: (message) => this.#receive(message),
      disconnected: (status, detail) => this.#disconnected(status, detail),
      stop: (error) => this.#shutdown(error),
      get synced() {
        return provider.#synced
      },
      get largestSent() {
        return provider.#largestSent
      },
      pagehide: () => this.#pagehide(),
      pageshow: () => this.#pageshow(),
    })
  }

  /** Current status; see {@link RoomStatus}. Changes are announced by the `status` event. */
  get status(): RoomStatus {
    return this.#status
  }

  /**
   * The access the server granted for this room: `read-write`, `readonly`, or null before authentication.
   * With `readonly`, local edits are refused by the server (an `update_refused` error).
   */
  get scope(): Scope | null {
    return this.#scope
  }

  /**
   * True while some local change is not yet confirmed as durably stored on the server. Content the doc
   * held before `room()` counts as a change until the first sync confirms it.
   */
  get hasUnsavedChanges(): boolean {
    return this.#savedSeq < this.#localSeq
  }

  /**
   * Resolves when the room is synced: at once if it is now, else at the next `synced`. Rejects with a
   * TandemError if the room closes first (`destroyed`, or the server's reason such as `forbidden`).
   */
  whenSynced(): Promise<void> {
    if (this.#status === 'synced') return Promise.resolve()
    return this.#wait(this.#syncedWaiters, 0)
  }

  /**
   * Resolves when every local change made before this call is durably stored on the server (it sent
   * SyncStatus after its storage commit). Changes made while offline count: they are sent on reconnect.
   * Resolves at once when there are no unsaved changes. Rejects with `update_refused` if the server
   * refused some of them (read-only access), or with the close reason if the room closes first.
   */
  whenSaved(): Promise<void> {
    if (!this.hasUnsavedChanges) return Promise.resolve()
    return this.#wait(this.#savedWaiters, this.#localSeq)
  }

  /** Sends an application message to the server (Hocuspocus "stateless"). Dropped when not connected. */
  sendStateless(payload: string): void {
    if (this.#joined) this.#send({ type: 'stateless', payload })
  }

  /**
   * Leaves the room: clears this client's presence (so others see no ghost cursor), tells the server,
   * releases every listener and rejects pending `whenSynced()` / `whenSaved()` with `destroyed`.
   * The Y.Doc is left intact. Idempotent.
   */
  destroy(): void {
    if (this.#destroyed) return
    if (this.awareness.getLocalState() !== null) {
      // Sent through #onAwarenessUpdate while the socket is still ours.
      removeAwarenessStates(this.awareness, [this.doc.clientID], 'destroy')
    }
    this.#shutdown(null)
  }

  // -------------------------------------------------------------------------------------------------
  // Driven by the client
  // -------------------------------------------------------------------------------------------------

  #connecting(status: 'connecting' | 'reconnecting' | 'offline', detail: StatusDetail): void {
    if (this.#destroyed) return
    this.#prefetchToken()
    this.#setStatus(status, detail)
  }

  #open(): void {
    if (this.#destroyed) return
    this.#join()
  }

  #disconnected(status: 'reconnecting' | 'offline', detail: StatusDetail): void {
    if (this.#destroyed) return
    this.#endSession()
    this.#clearRejoin()
    this.#tokenPromise = null
    this.#setStatus(status, detail)
  }

  #receive(message: Message): void {
    if (this.#destroyed) return
    // Until the server authenticates this session, anything else on the address belongs to an earlier
    // session of the same name (destroy() then room() again on one socket): ignore it.
    if (this.#auth !== AUTHENTICATED && !PRE_AUTH_MESSAGES.has(message.type)) return
    switch (message.type) {
      case 'authenticated':
        if (this.#auth === NOT_AUTHENTICATED) return
        this.#auth = AUTHENTICATED
        this.#scope = message.scope
        this.#retriedExpiredToken = false
        this.#link.joinSettled(this)
        return
      case 'permission-denied':
        if (this.#auth === NOT_AUTHENTICATED) return
        return this.#denied(message.reason)
      case 'auth-token-request':
        return this.#resendToken()
      case 'sync-step-1':
        // Everything the server lacks, including edits made while offline: one message, one SyncStatus.
        this.#stateSent = true
        return this.#sendChanges({ type: 'sync-step-2', update: Y.encodeStateAsUpdate(this.doc, message.stateVector) })
      case 'sync-step-2':
        this.#applyRemote(message.update)
        if (!this.#synced) this.#markSynced()
        return
      case 'update':
        return this.#applyRemote(message.update)
      case 'awareness':
        try {
          applyAwarenessUpdate(this.awareness, message.update, this)
        } catch (err) {
          console.warn(`[tandem] room ${this.name}: ignoring an awareness update that does not apply`, err)
        }
        return
      case 'query-awareness':
        return this.#sendAwareness([...this.awareness.getStates().keys()])
      case 'stateless':
        this.emit('stateless', message.payload)
        return
      case 'close':
        if (this.#auth === NOT_AUTHENTICATED) return
        return this.#serverClosed(message.reason ?? '')
      case 'sync-status':
        return this.#syncStatus(message.applied)
      case 'auth-token':
        return // client -> server only
      default:
        return assertNever(message)
    }
  }

  #pagehide(): void {
    const state = this.awareness.getLocalState()
    if (state === null) return
    this.#hiddenState = state
    removeAwarenessStates(this.awareness, [this.doc.clientID], 'pagehide')
  }

  #pageshow(): void {
    const state = this.#hiddenState
    this.#hiddenState = null
    if (state !== null && this.awareness.getLocalState() === null && !this.#destroyed) this.awareness.setLocalState(state)
  }

  // -------------------------------------------------------------------------------------------------
  // Session
  // -------------------------------------------------------------------------------------------------

  #prefetchToken(): void {
    const p = Promise.resolve().then(() => this.#link.getToken(this.name))
    p.catch(() => {}) // handled when awaited in #join
    this.#tokenPromise = p
  }

  /** Authenticates and starts sync on the open socket. The server queues what follows auth. */
  #join(): void {
    this.#endSession()
    this.#clearRejoin()
    const session = this.#session
    this.#setStatus('syncing', {})
    if (this.#tokenPromise === null) this.#prefetchToken()
    const token = this.#tokenPromise as Promise<string>
    this.#tokenPromise = null
    token.then(
      (value) => {
        if (session !== this.#session || this.#destroyed || !this.#link.isOpen) return
        if (typeof value !== 'string') {
          this.#tokenFailed(new TypeError(`getToken('${this.name}') must return a string, got ${typeof value}`))
          return
        }
        this.#auth = AUTHENTICATING
        this.#send({ type: 'auth-token', token: value, providerVersion: this.#link.providerVersion })
        this.#joined = true
        // Not waiting for `authenticated` (Hocuspocus ordering): the server queues these until it is.
        this.#send({ type: 'sync-step-1', stateVector: Y.encodeStateVector(this.doc) })
        if (this.awareness.getLocalState() !== null) this.#sendAwareness([this.doc.clientID])
      },
      (err: unknown) => {
        if (session !== this.#session || this.#destroyed) return
        this.#tokenFailed(err)
      },
    )
  }

  #tokenFailed(err: unknown): void {
    this.#emitError(new TandemError('token_unavailable', `getToken('${this.name}') failed: ${describe(err)}`, { cause: err }))
    this.#scheduleRejoin(undefined)
  }

  /** Forgets everything tied to the server session that just ended. Unacknowledged changes stay unsaved. */
  #endSession(): void {
    this.#link.joinSettled(this)
    this.#session += 1
    this.#auth = NOT_AUTHENTICATED
    this.#joined = false
    this.#stateSent = false
    this.#synced = false
    this.#largestSent = 0
    this.#inflight = []
    // Without a server session nobody refreshes remote presence: drop it now rather than show stale cursors.
    const remote = [...this.awareness.getStates().keys()].filter((id) => id !== this.doc.clientID)
    if (remote.length > 0) removeAwarenessStates(this.awareness, remote, this)
  }

  #scheduleRejoin(closeCode: number | undefined): void {
    this.#endSession()
    this.#clearRejoin()
    const delay = this.#link.retryDelay(this.#roomAttempt)
    this.#roomAttempt += 1
    const detail: StatusDetail = { retryInMs: delay }
    if (closeCode !== undefined) detail.closeCode = closeCode
    this.#setStatus('reconnecting', detail)
    this.#rejoinTimer = setTimeout(() => {
      this.#rejoinTimer = null
      // If the socket is down, the client's reconnect rejoins every room anyway.
      if (this.#link.isOpen && !this.#destroyed) this.#link.requestJoin(this)
    }, delay)
  }

  #clearRejoin(): void {
    if (this.#rejoinTimer !== null) clearTimeout(this.#rejoinTimer)
    this.#rejoinTimer = null
  }

  #resendToken(): void {
    const session = this.#session
    Promise.resolve()
      .then(() => this.#link.getToken(this.name))
      .then(
        (token) => {
          if (session === this.#session && this.#joined && typeof token === 'string') {
            this.#send({ type: 'auth-token', token, providerVersion: this.#link.providerVersion })
          }
        },
        (err: unknown) => {
          if (session === this.#session) this.#emitError(new TandemError('token_unavailable', `getToken('${this.name}') failed: ${describe(err)}`, { cause: err }))
        },
      )
  }

  #denied(reason: string): void {
    if (reason === 'token_expired' && !this.#retriedExpiredToken) {
      // getToken may have handed out a cached token that just expired: ask once more before giving up.
      this.#retriedExpiredToken = true
      this.#endSession()
      this.#link.requestJoin(this)
      return
    }
    this.#shutdown(serverError(reason, `access to room ${this.name} was denied: ${reason}`))
  }

  /** `[room][7][reason]`: the server ended this room's session; the reason starts with a close code. */
  #serverClosed(reason: string): void {
    const code = /^(\d{4})(?!\d)/.exec(reason)?.[1]
    switch (code) {
      case '4403':
        return this.#shutdown(serverError('forbidden', `room ${this.name} closed by the server: ${reason}`))
      case '4404':
        return this.#shutdown(serverError('room_not_found', `room ${this.name} closed by the server: ${reason}`))
      case '4413':
        // Permanent: the document is over the server's limit, and every rejoin would send it again.
        return this.#shutdown(serverError('document_too_large', `room ${this.name} closed by the server: ${reason}`))
      case '4401':
        // Token expired for this room only: join again at once with a fresh one.
        this.#endSession()
        this.#link.requestJoin(this)
        return
      default:
        this.#scheduleRejoin(code === undefined ? undefined : Number(code))
    }
  }

  #markSynced(): void {
    this.#synced = true
    this.#roomAttempt = 0
    this.#link.onSynced()
    this.#setStatus('synced', {})
    this.emit('synced')
    const waiters = this.#syncedWaiters
    this.#syncedWaiters = []
    for (const w of waiters) w.resolve()
  }

  // -------------------------------------------------------------------------------------------------
  // Local changes and saved tracking
  // -------------------------------------------------------------------------------------------------

  readonly #onDocUpdate = (update: Uint8Array, origin: unknown): void => {
    if (origin === this || this.#destroyed) return
    this.#localSeq += 1
    // Before our sync-step-2 the change waits in the doc: that sync-step-2 (this session's or the next's) carries it.
    if (this.#stateSent) this.#sendChanges({ type: 'update', update })
  }

  #sendChanges(message: Message & { type: 'update' | 'sync-step-2' }): void {
    if (!this.#joined) return
    if (this.#send(message)) this.#inflight.push(this.#localSeq)
  }

  #syncStatus(applied: boolean): void {
    const covers = this.#inflight.shift()
    if (covers === undefined) return
    const wasUnsaved = this.hasUnsavedChanges
    if (covers > this.#savedSeq) this.#savedSeq = covers
    if (!applied) {
      // Read-only: the server discarded these changes; they will never be stored.
      const error = new TandemError('update_refused', `room ${this.name}: the server refused local changes (read-only access)`, { status: 403 })
      this.#settleWaiters(this.#savedWaiters, covers, error)
      this.#emitError(error)
    } else {
      this.#settleWaiters(this.#savedWaiters, covers, null)
    }
    if (wasUnsaved && !this.hasUnsavedChanges) this.emit('saved')
  }

  #applyRemote(update: Uint8Array): void {
    try {
      Y.applyUpdate(this.doc, update, this)
    } catch (err) {
      console.warn(`[tandem] room ${this.name}: ignoring an update that does not apply`, err)
    }
  }

  readonly #onAwarenessUpdate = (changes: { added: number[]; updated: number[]; removed: number[] }, origin: unknown): void => {
    if (origin === this || !this.#joined) return
    this.#sendAwareness([...changes.added, ...changes.updated, ...changes.removed])
  }

  #sendAwareness(clients: number[]): void {
    if (!this.#joined || clients.length === 0) return
    this.#send({ type: 'awareness', update: encodeAwarenessUpdate(this.awareness, clients) })
  }

  readonly #onDocDestroy = (): void => {
    this.destroy()
  }

  // -------------------------------------------------------------------------------------------------
  // Helpers
  // -------------------------------------------------------------------------------------------------

  #send(message: Message): boolean {
    const frame = encodeMultiplexedFrame(this.name, message)
    if (frame.byteLength > this.#largestSent) this.#largestSent = frame.byteLength
    return this.#link.send(frame)
  }

  #setStatus(status: RoomStatus, detail: StatusDetail): void {
    if (this.#status === status || this.#status === 'closed') return
    this.#status = status
    this.emit('status', status, detail)
  }

  #emitError(error: TandemError): void {
    if (this.listenerCount('error') === 0) console.warn(`[tandem] room ${this.name}: ${error.code}: ${error.message}`)
    this.emit('error', error)
  }

  #wait(list: Waiter[], target: number): Promise<void> {
    if (this.#destroyed) return Promise.reject(new TandemError('destroyed', `room ${this.name} is closed`))
    return new Promise((resolve, reject) => list.push({ target, resolve, reject }))
  }

  /** Settles the waiters whose target is covered by `upTo`. */
  #settleWaiters(list: Waiter[], upTo: number, error: TandemError | null): void {
    const keep: Waiter[] = []
    for (const w of list) {
      if (w.target > upTo) keep.push(w)
      else if (error) w.reject(error)
      else w.resolve()
    }
    list.length = 0
    list.push(...keep)
  }

  /** Ends the provider: `error` null for destroy(), else the server's reason (emitted as `error`). */
  #shutdown(error: TandemError | null): void {
    if (this.#destroyed) return
    // Tell the server first (also clears a denied address), while listeners can still see the status.
    if (this.#link.isOpen) this.#send({ type: 'close', reason: null })
    this.#endSession()
    this.#destroyed = true
    this.#clearRejoin()
    this.#tokenPromise = null
    this.doc.off('update', this.#onDocUpdate)
    this.doc.off('destroy', this.#onDocDestroy)
    this.awareness.off('update', this.#onAwarenessUpdate)
    if (this.#ownsAwareness) this.awareness.destroy()
    const reason = error ?? new TandemError('destroyed', `room ${this.name} was destroyed`)
    const waiters = [...this.#syncedWaiters, ...this.#savedWaiters]
    this.#syncedWaiters = []
    this.#savedWaiters = []
    this.#link.release(this)
    this.#setStatus('closed', error ? { error } : {})
    if (error) this.#emitError(error)
    for (const w of waiters) w.reject(reason)
    this.removeAllListeners()
  }
}

function assertNever(value: never): never {
  throw new Error(`unexpected message: ${JSON.stringify(value)}`)
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
