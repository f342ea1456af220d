/**
 * What the rest of the server records. The interface is fixed here; the implementation behind
 * `createMetrics` renders Prometheus text for `/metrics`.
 *
 * STUB IMPLEMENTATION: plain counters; the REST issue replaces the body with prom-client.
 */
import type { WsMetrics } from './ws/context.js'

export interface RoomMetrics {
  /** Seconds to validate and apply one client update. */
  updateApplied(seconds: number): void
  /** Seconds from appendUpdate to its commit. */
  storageCommitted(seconds: number): void
  /** Seconds from receiving an update to sending its saved acknowledgement. */
  savedAcknowledged(seconds: number): void
}

export interface WebhookMetrics {
  /** One delivery attempt's outcome. */
  webhookAttempt(outcome: 'delivered' | 'retry' | 'failed' | 'gone'): void
  /** Pending deliveries in the outbox. */
  webhookQueueDepth(depth: number): void
}

export interface MetricsSources {
  /** Open WebSocket connections. */
  connections: () => number
  /** Rooms loaded in memory. */
  loadedRooms: () => number
}

export interface Metrics extends WsMetrics, RoomMetrics, WebhookMetrics {
  /** Frames sent: `recipients` sockets received a `bytes`-long frame. */
  framesOut(recipients: number, bytes: number): void
  /** Prometheus text exposition. */
  render(): Promise<{ contentType: string; body: string }>
  /** Stops background collectors (event-loop lag monitor). */
  close(): void
}

export function createMetrics(_sources: MetricsSources): Metrics {
  const noop = (): void => {}
  return {
    connectionOpened: noop,
    connectionClosed: noop,
    messageIn: noop,
    decodeError: noop,
    framesOut: noop,
    updateApplied: noop,
    storageCommitted: noop,
    savedAcknowledged: noop,
    webhookAttempt: noop,
    webhookQueueDepth: noop,
    render: async () => ({ contentType: 'text/plain; version=0.0.4', body: '' }),
    close: noop,
  }
}
