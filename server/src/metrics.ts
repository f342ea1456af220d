/**
 * Process-wide counters. Plain numbers for now; the REST/metrics issue exposes them (and more) in
 * Prometheus format through prom-client.
 */
import type { WsMetrics } from './ws/context.js'

export interface Metrics extends WsMetrics {
  readonly snapshot: () => Readonly<MetricsSnapshot>
}

export interface MetricsSnapshot {
  connectionsOpen: Record<'single' | 'multiplexed', number>
  closesByCode: Record<string, number>
  messagesIn: number
  bytesIn: number
  decodeErrors: Record<string, number>
}

export function createMetrics(): Metrics {
  const s: MetricsSnapshot = {
    connectionsOpen: { single: 0, multiplexed: 0 },
    closesByCode: {},
    messagesIn: 0,
    bytesIn: 0,
    decodeErrors: {},
  }
  return {
    connectionOpened(framing) {
      s.connectionsOpen[framing] += 1
    },
    connectionClosed(framing, code) {
      s.connectionsOpen[framing] -= 1
      s.closesByCode[code] = (s.closesByCode[code] ?? 0) + 1
    },
    messageIn(bytes) {
      s.messagesIn += 1
      s.bytesIn += bytes
    },
    decodeError(reason) {
      s.decodeErrors[reason] = (s.decodeErrors[reason] ?? 0) + 1
    },
    snapshot: () => s,
  }
}
