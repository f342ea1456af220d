/**
 * A raw-`ws` test client for both framings (`/ws/:room` single, `/ws` multiplexed) and builders for the
 * bytes it sends. A `Conn` behaves like a provider for every room it tracks (answers sync step 1, applies
 * step 2 / updates, sends its own doc's updates) and records everything it receives, per room, in order.
 *
 * Every `Conn` is registered in `openConns` until its socket closes; a test file calls
 * `afterEach(closeOpenConns)` and removes long-lived connections (opened in `beforeAll`) from the set.
 * Vitest isolates test files, so the set is per file.
 */
import type { IncomingMessage } from 'node:http'
import WebSocket from 'ws'
import * as Y from 'yjs'
import {
  decodeMultiplexedFrame,
  decodeSingleFrame,
  encodeMultiplexedFrame,
  encodeSingleFrame,
  type Message,
} from '@tandem/client/protocol'
import { waitFor } from './server.js'

export type Framing = 'single' | 'multiplexed'
export interface Received {
  room: string
  message: Message
}
export interface CloseInfo {
  code: number
  reason: string
}

const REMOTE = Symbol('remote')
/** Connections not yet closed; see `closeOpenConns`. */
export const openConns = new Set<Conn>()

/**
 * One socket. For every room it has a doc for, it behaves like a provider: answers sync step 1, applies
 * sync step 2 / updates, and sends its own doc's updates. Everything received is recorded in order.
 */
export class Conn {
  readonly received: Received[] = []
  readonly docs = new Map<string, Y.Doc>()
  readonly decodeErrors: string[] = []
  closeInfo: CloseInfo | null = null
  /** The Sec-WebSocket-Protocol header of the 101 response (undefined when absent). */
  selectedProtocolHeader: string | undefined

  constructor(
    readonly ws: WebSocket,
    readonly framing: Framing,
    readonly defaultRoom: string,
  ) {
    openConns.add(this)
    ws.binaryType = 'nodebuffer'
    ws.on('upgrade', (res: IncomingMessage) => {
      const header = res.headers['sec-websocket-protocol']
      this.selectedProtocolHeader = Array.isArray(header) ? header.join(',') : header
    })
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) {
        this.decodeErrors.push('text frame from server')
        return
      }
      this.onFrame(new Uint8Array(data))
    })
    ws.on('close', (code: number, reason: Buffer) => {
      this.closeInfo = { code, reason: reason.toString() }
      openConns.delete(this)
    })
    ws.on('error', () => {}) // surfaced through closeInfo / the opened promise
  }

  /** A doc for `room`, kept in sync like a provider would. */
  track(room: string, doc = new Y.Doc()): Y.Doc {
    this.docs.set(room, doc)
    doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin !== REMOTE && this.ws.readyState === WebSocket.OPEN) this.send(room, { type: 'update', update })
    })
    return doc
  }

  send(room: string, message: Message): void {
    this.ws.send(this.framing === 'single' ? encodeSingleFrame(message) : encodeMultiplexedFrame(room, message))
  }

  private onFrame(bytes: Uint8Array): void {
    if (this.framing === 'single') {
      const decoded = decodeSingleFrame(bytes)
      if (!decoded.ok) return void this.decodeErrors.push(decoded.reason)
      for (const message of decoded.value) this.onMessage(this.defaultRoom, message)
      return
    }
    const decoded = decodeMultiplexedFrame(bytes)
    if (!decoded.ok) return void this.decodeErrors.push(decoded.reason)
    if (decoded.value.kind === 'message') this.onMessage(decoded.value.address, decoded.value.message)
  }

  private onMessage(room: string, message: Message): void {
    this.received.push({ room, message })
    const doc = this.docs.get(room)
    if (!doc) return
    if (message.type === 'sync-step-1') {
      this.send(room, { type: 'sync-step-2', update: Y.encodeStateAsUpdate(doc, message.stateVector) })
    } else if (message.type === 'sync-step-2' || message.type === 'update') {
      Y.applyUpdate(doc, message.update, REMOTE)
    }
  }

  mark(): number {
    return this.received.length
  }

  /** Messages for `room` received after `mark`, keepalive/presence (awareness) excluded. */
  since(mark: number, room = this.defaultRoom): Message[] {
    return this.received
      .slice(mark)
      .filter((r) => r.room === room && r.message.type !== 'awareness')
      .map((r) => r.message)
  }

  /** Waits for a message for `room` after `from` matching `pred`; fails early if the socket closes. */
  async next<T extends Message['type']>(
    type: T,
    opts: { room?: string; from?: number; ms?: number; where?: (m: Extract<Message, { type: T }>) => boolean } = {},
  ): Promise<Extract<Message, { type: T }>> {
    const room = opts.room ?? this.defaultRoom
    let found: Extract<Message, { type: T }> | undefined
    await waitFor(
      () => {
        for (const r of this.received.slice(opts.from ?? 0)) {
          if (r.room !== room || r.message.type !== type) continue
          const m = r.message as Extract<Message, { type: T }>
          if (opts.where && !opts.where(m)) continue
          found = m
          return true
        }
        if (this.closeInfo) throw new Error(`socket closed (${this.closeInfo.code} ${this.closeInfo.reason}) while waiting for ${type} in ${room}`)
        return false
      },
      `${type} in ${room}`,
      opts.ms ?? 5_000,
    )
    return found as Extract<Message, { type: T }>
  }

  /** Barrier: everything this socket sent before has been processed once the step-2 answer arrives. */
  async roundTrip(room = this.defaultRoom): Promise<void> {
    const from = this.mark()
    const doc = this.docs.get(room)
    this.send(room, { type: 'sync-step-1', stateVector: doc ? Y.encodeStateVector(doc) : Uint8Array.of(0) })
    await this.next('sync-step-2', { room, from })
  }

  /** Edits the doc and resolves once the server acknowledged the edit as durably saved. */
  async write(room: string, edit: (doc: Y.Doc) => void): Promise<void> {
    const doc = this.docs.get(room)
    if (!doc) throw new Error(`not tracking ${room}`)
    const from = this.mark()
    let sent: Uint8Array | null = null
    const capture = (update: Uint8Array, origin: unknown): void => {
      if (origin !== REMOTE) sent = update
    }
    doc.on('update', capture)
    doc.transact(() => edit(doc))
    doc.off('update', capture)
    const update: Uint8Array | null = sent
    if (update === null) throw new Error('the edit changed nothing')
    if (this.framing === 'single') {
      await this.next('update', { room, from, where: (m) => Buffer.from(m.update).equals(Buffer.from(update)) })
    } else {
      await this.next('sync-status', { room, from, where: (m) => m.applied })
    }
  }

  async closedWith(ms = 5_000): Promise<CloseInfo> {
    await waitFor(() => this.closeInfo !== null, `socket close (${this.framing} ${this.defaultRoom})`, ms)
    return this.closeInfo as CloseInfo
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate()
  }
}

export interface ConnectOptions {
  token?: string
  protocols?: string[]
}

export function wsUrl(base: string, path: string, tokenValue?: string): string {
  return `${base}${path}${tokenValue !== undefined ? `?token=${encodeURIComponent(tokenValue)}` : ''}`
}

export async function opened(conn: Conn): Promise<Conn> {
  await new Promise<void>((resolve, reject) => {
    conn.ws.once('open', () => resolve())
    conn.ws.once('unexpected-response', (_req, res: IncomingMessage) => reject(new Error(`upgrade refused: ${res.statusCode}`)))
    conn.ws.once('error', reject)
  })
  return conn
}

/**
 * A single-framing client that syncs like y-websocket: it sends sync step 1 on open.
 *
 * uWS 20.30 can cut an asynchronously completed upgrade right after its 101 (see upgradeHandler in
 * server/src/ws/upgrade.ts); with the server in the test's own process that happens to about one
 * upgrade in 3,000 under load (the upgrades bench, server in its own process, sees none in 10,000).
 * A socket closed with 1006 before any frame is connected again, as every client reconnects, and the
 * retry is printed.
 */
export async function single(base: string, room: string, opts: ConnectOptions = {}, doc?: Y.Doc): Promise<Conn> {
  for (let attempt = 1; ; attempt++) {
    const conn = new Conn(new WebSocket(wsUrl(base, `/ws/${room}`, opts.token), opts.protocols), 'single', room)
    const tracked = conn.track(room, doc)
    try {
      await opened(conn)
      conn.send(room, { type: 'sync-step-1', stateVector: Y.encodeStateVector(tracked) })
      await conn.next('sync-step-2')
    } catch (err) {
      const cut = conn.closeInfo?.code === 1006 && conn.received.length === 0
      if (!cut || attempt === 3) throw err
      console.warn(`[raw-client] ${room}: upgrade cut right after its 101 (1006 before any frame); connecting again`)
      continue
    }
    // Settle the handshake: the server's answer to our sync step 2 (a saved echo) arrives before this.
    await conn.roundTrip()
    return conn
  }
}

/**
 * A multiplexed client, returned once the socket is open and has answered a ping: the server sends
 * nothing before a room is authorised, so the ping is what shows the upgrade was not cut right after its
 * 101 (see `single`); a cut socket is connected again, and the retry is printed.
 */
export async function multiplexed(base: string, opts: ConnectOptions = {}): Promise<Conn> {
  for (let attempt = 1; ; attempt++) {
    const conn = await opened(new Conn(new WebSocket(wsUrl(base, '/ws', opts.token), opts.protocols), 'multiplexed', ''))
    const answered = await new Promise<boolean>((resolve) => {
      conn.ws.once('pong', () => resolve(true))
      conn.ws.once('close', () => resolve(false))
      conn.ws.ping()
    })
    if (answered || conn.closeInfo?.code !== 1006 || attempt === 3) return conn
    console.warn('[raw-client] multiplexed: upgrade cut right after its 101 (1006 before any frame); connecting again')
  }
}

/** Hocuspocus-style join: auth then sync step 1 without waiting; resolves with the auth answer. */
export async function join(conn: Conn, room: string, tokenValue: string, doc?: Y.Doc): Promise<Message> {
  const tracked = conn.track(room, doc)
  const from = conn.mark()
  conn.send(room, { type: 'auth-token', token: tokenValue, providerVersion: null })
  conn.send(room, { type: 'sync-step-1', stateVector: Y.encodeStateVector(tracked) })
  await waitFor(() => {
    if (conn.received.slice(from).some((r) => r.room === room && (r.message.type === 'authenticated' || r.message.type === 'permission-denied'))) return true
    if (conn.closeInfo) throw new Error(`socket closed (${conn.closeInfo.code} ${conn.closeInfo.reason}) before the auth answer for ${room}`)
    return false
  }, `auth answer for ${room}`)
  const answer = conn.received.slice(from).find((r) => r.room === room && (r.message.type === 'authenticated' || r.message.type === 'permission-denied'))
  if (answer?.message.type === 'authenticated') {
    await conn.next('sync-step-2', { room, from })
    await conn.roundTrip(room) // settle the handshake (SyncStatus for our sync step 2)
  }
  return (answer as Received).message
}

/** Terminates every connection still in `openConns` (use as `afterEach(closeOpenConns)`). */
export function closeOpenConns(): void {
  for (const conn of [...openConns]) conn.close()
}

// ---------------------------------------------------------------------------------------------------
// Frame builders
// ---------------------------------------------------------------------------------------------------

export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

/** lib0's varUint encoding of `n`. */
export function varUint(n: number): number[] {
  const out: number[] = []
  while (n > 0x7f) {
    out.push(0x80 | (n % 128))
    n = Math.floor(n / 128)
  }
  out.push(n)
  return out
}

export type Part = number | readonly number[] | Uint8Array

/** Concatenates single bytes and byte sequences. */
export function bytes(...parts: Part[]): Uint8Array {
  const out: number[] = []
  for (const part of parts) {
    if (typeof part === 'number') out.push(part)
    else out.push(...part)
  }
  return Uint8Array.from(out)
}

/** `b` preceded by its length as a varUint. */
export const withLength = (b: readonly number[] | Uint8Array): number[] => [...varUint(b.length), ...b]

/** The multiplexed address for `room`; nothing in the single framing. */
export const prefix = (framing: Framing, room: string): number[] => (framing === 'single' ? [] : withLength(utf8(room)))

/** A Yjs update that inserts `text` at the start of the text `t` of a fresh doc. */
export function textUpdate(text: string): Uint8Array {
  const doc = new Y.Doc()
  doc.getText('t').insert(0, text)
  return Y.encodeStateAsUpdate(doc)
}

/** The bytes of an awareness update with one entry: `clientId`, clock 1, state `json` (sent as is). */
export const awarenessEntry = (clientId: number, json: string): number[] => [1, ...varUint(clientId), 1, ...withLength(utf8(json))]

/** One awareness entry (what a provider sends for its own cursor). */
export function awarenessFrame(clientId: number, state: unknown): Message {
  return { type: 'awareness', update: Uint8Array.from(awarenessEntry(clientId, JSON.stringify(state))) }
}
