/**
 * The WebSocket edge's Peer: one socket's membership in one room, framed the way that socket speaks.
 */
import { encodeMultiplexedFrame, encodeSingleFrame, type AwarenessEntry, type Message } from '@tandem/client/protocol'
import type { Peer } from '../rooms/peer.js'
import type { Principal } from '../auth/verify.js'
import { CLOSE_CODE } from '../errors.js'
import { closeSocket, sendFrame, type Socket } from './socket.js'

let nextPeerId = 1

/** One-entry cache of the last encoded sync-step-2 frame (see `encode`). uWS copies what it sends. */
let lastStep2: { update: Uint8Array | null; key: string; frame: Uint8Array } = { update: null, key: '', frame: new Uint8Array() }

const LEFT = 1
const REFUSAL_SENT = 2

/**
 * Close codes that concern one room, not the connection: on the multiplexed framing they end only that
 * room's session (a `close` message on its address) and the socket stays open for the others.
 */
const ROOM_LEVEL_CODES: ReadonlySet<number> = new Set([CLOSE_CODE.forbidden, CLOSE_CODE.room_not_found, CLOSE_CODE.document_too_large])

/**
 * A connection's awareness between two deliveries to the room (see dispatch.ts `relayAwareness`): the
 * timer that ends the current interval, and the newest entry per client id that arrived during it.
 */
export interface AwarenessWindow {
  timer: NodeJS.Timeout
  queued: Map<number, AwarenessEntry> | null
}

/*
 * One of these lives as long as its socket stays in the room, so its fields are kept few (each is 8
 * bytes per idle connection): user id and name are read from the principal, two booleans share a field.
 */
export class SocketPeer implements Peer {
  readonly id = nextPeerId++
  #flags = 0
  /** Non-null only while this connection's awareness is being rate-limited (see dispatch.ts). */
  awarenessWindow: AwarenessWindow | null = null
  /** Non-null only while a large update of this connection waits to be applied: what arrived after it (see dispatch.ts). */
  behindStagedUpdate: Message[] | null = null

  constructor(
    readonly ws: Socket,
    readonly framing: 'single' | 'multiplexed',
    /** Multiplexed: the raw address replies must use (room name, or `name\0session`). */
    readonly address: string,
    readonly roomId: string,
    /** Whose token authorised this membership (user id and name), and when it was issued. */
    readonly principal: Pick<Principal, 'userId' | 'name' | 'issuedAtMs'>,
    /** Mutable: a multiplexed token refresh may change the scope. */
    public canWrite: boolean,
    /** Multiplexed only: called when the room ends this peer's membership but the socket stays. */
    private readonly detach: ((peer: SocketPeer, reason: string) => void) | null,
  ) {}

  get userId(): string {
    return this.principal.userId
  }

  get userName(): string | null {
    return this.principal.name
  }

  get tokenIssuedAtMs(): number | null {
    return this.principal.issuedAtMs
  }

  /** Shares the room's topic frame (plain address or single framing) instead of a per-peer send. */
  get usesTopic(): boolean {
    return this.framing === 'single' || this.address === this.roomId
  }

  get closed(): boolean {
    return (this.#flags & LEFT) !== 0 || this.ws.getUserData().closed
  }

  markLeft(): void {
    this.#flags |= LEFT
    // Queued presence must not reach the room after the peer left: it would outlive its removal.
    if (this.awarenessWindow !== null) clearTimeout(this.awarenessWindow.timer)
    this.awarenessWindow = null
  }

  send(message: Message): void {
    if (this.closed) return
    sendFrame(this.ws, this.encode(message))
  }

  encode(message: Message): Uint8Array {
    // A join wave sends the same (cached, possibly megabytes-long) full-state sync-step-2 to every
    // joiner: encode that frame once per framing and address, not once per peer.
    if (message.type === 'sync-step-2') {
      const key = this.framing === 'single' ? '' : this.address
      if (lastStep2.update === message.update && lastStep2.key === key) return lastStep2.frame
      const frame = this.framing === 'single' ? encodeSingleFrame(message) : encodeMultiplexedFrame(this.address, message)
      lastStep2 = { update: message.update, key, frame }
      return frame
    }
    return this.framing === 'single' ? encodeSingleFrame(message) : encodeMultiplexedFrame(this.address, message)
  }

  acknowledgeSaved(update: Uint8Array): void {
    if (this.framing === 'single') this.send({ type: 'update', update })
    else this.send({ type: 'sync-status', applied: true })
  }

  refuseUpdate(): void {
    if (this.framing === 'multiplexed') {
      this.send({ type: 'sync-status', applied: false })
    } else if ((this.#flags & REFUSAL_SENT) === 0) {
      // y-websocket only logs this, but it tells a developer why edits do not stick.
      this.#flags |= REFUSAL_SENT
      this.send({ type: 'permission-denied', reason: 'read-only' })
    }
  }

  close(code: number, reason: string): void {
    if (this.closed) return
    if (this.framing === 'multiplexed' && ROOM_LEVEL_CODES.has(code) && this.detach !== null) {
      // Other rooms on this socket are unaffected: close just this one.
      this.send({ type: 'close', reason: `${code} ${reason}` })
      this.detach(this, reason)
      return
    }
    closeSocket(this.ws, code, reason)
  }
}
