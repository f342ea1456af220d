import type { Logger } from 'pino'
import type { Config } from '../config.js'
import type { TokenVerifier } from '../auth/verify.js'
import type { RoomRegistry } from '../rooms/registry.js'
import type { Fanout } from './broadcast.js'
import type { Socket } from './socket.js'
import type { RatePenalties } from './penalties.js'

/** What the WebSocket counters need; the metrics module implements it (a no-op one in tests). */
export interface WsMetrics {
  connectionOpened(framing: 'single' | 'multiplexed'): void
  connectionClosed(framing: 'single' | 'multiplexed', code: number): void
  messageIn(bytes: number): void
  decodeError(reason: string): void
}

export interface WsContext {
  config: Config['ws']
  /** Users recently closed with 4429, refused until their penalty runs out. */
  penalties: RatePenalties
  registry: RoomRegistry
  verifier: TokenVerifier
  fanout: Fanout
  log: Logger
  metrics: WsMetrics
  /** Every open socket, so a drain can close them all. */
  sockets: Set<Socket>
  isDraining: () => boolean
}
