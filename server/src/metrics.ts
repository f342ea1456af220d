/**
 * What the rest of the server records, and its prom-client implementation behind `/metrics`.
 *
 * Each server gets a private Registry (never prom-client's global one), so several servers in one test
 * process do not collide. Process-wide metrics (CPU, memory, handles, GC, nodejs_eventloop_lag_*) are
 * collected once per process on a separate private registry and appended to every server's output:
 * they describe the process, not a server, and prom-client's collectors for them cannot be stopped.
 * The per-server event-loop monitor (`tandem_event_loop_lag_seconds`) is stopped by `close()`.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { WsMetrics } from './ws/context.js'
import type { HttpMetrics } from './http/router.js'

export interface RoomMetrics {
  /** Seconds to validate and apply one client update. */
  updateApplied(seconds: number): void
  /** Seconds from appendUpdate to its commit. */
  storageCommitted(seconds: number): void
  /** Seconds from receiving an update to sending its saved acknowledgement. */
  savedAcknowledged(seconds: number): void
  /** A client update refused without being applied. */
  updateRefused(reason: 'read_only' | 'document_too_large' | 'pending_overflow' | 'conflicting_content' | 'foreign_client'): void
  /** A compaction that kept the rows because the compacted form would not have replayed to the same document. */
  compactionKept(): void
  /** Updates another instance relayed without confirming their commit, stored by this instance instead. */
  replicaUpdatesStored(count: number): void
}

export interface WebhookMetrics {
  /** One delivery attempt's outcome. */
  webhookAttempt(outcome: 'delivered' | 'retry' | 'failed' | 'gone'): void
  /** Pending deliveries in the outbox. */
  webhookQueueDepth(depth: number): void
  /** user.entered/user.left events given up before they reached the outbox (queue full, or shutdown). */
  webhookEventsDropped(count: number, type: 'user.entered' | 'user.left' | 'room.restored'): void
}

export interface MetricsSources {
  /** Open WebSocket connections. */
  connections: () => number
  /** Rooms loaded in memory. */
  loadedRooms: () => number
  /** Bytes of content loaded rooms hold while waiting for updates they never received. */
  pendingBytes: () => number
}

export interface Metrics extends WsMetrics, RoomMetrics, WebhookMetrics {
  /** Frames sent: `recipients` sockets received a `bytes`-long frame. */
  framesOut(recipients: number, bytes: number): void
  /** Prometheus text exposition. */
  render(): Promise<{ contentType: string; body: string }>
  /** Stops background collectors (event-loop lag monitor). */
  close(): void
}

/** Every metric name this module registers per server (the README and tests list the same). */
export const METRIC_NAMES = [
  'tandem_connections',
  'tandem_connections_opened_total',
  'tandem_connections_closed_total',
  'tandem_rooms_loaded',
  'tandem_messages_in_total',
  'tandem_bytes_in_total',
  'tandem_messages_out_total',
  'tandem_bytes_out_total',
  'tandem_decode_errors_total',
  'tandem_update_apply_seconds',
  'tandem_storage_commit_seconds',
  'tandem_saved_ack_seconds',
  'tandem_updates_refused_total',
  'tandem_compactions_kept_total',
  'tandem_replica_updates_stored_total',
  'tandem_pending_bytes',
  'tandem_webhook_attempts_total',
  'tandem_webhook_queue_depth',
  'tandem_webhook_events_dropped_total',
  'tandem_http_requests_total',
  'tandem_http_request_duration_seconds',
  'tandem_event_loop_lag_seconds',
] as const

/** Sub-millisecond to seconds: applies and commits are usually fast, and the slow tail is what matters. */
const LATENCY_BUCKETS_SEC = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const HTTP_BUCKETS_SEC = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
/** Event-loop delay percentiles reported per scrape window. */
const LAG_QUANTILES: readonly [label: string, percentile: number][] = [
  ['0.5', 50],
  ['0.9', 90],
  ['0.99', 99],
  ['1', 100],
]
/** Sampling resolution of the event-loop monitor, in milliseconds. */
const LAG_RESOLUTION_MS = 10

let processRegistry: Registry | null = null

/** Default process metrics, collected once per process on a private registry. */
function processMetrics(): Registry {
  if (processRegistry === null) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

export function createMetrics(sources: MetricsSources): Metrics & HttpMetrics {
  const registry = new Registry()
  const registers = [registry]

  new Gauge({
    name: 'tandem_connections',
    help: 'Open WebSocket connections.',
    registers,
    collect() {
      this.set(sources.connections())
    },
  })
  new Gauge({
    name: 'tandem_rooms_loaded',
    help: 'Rooms loaded in memory.',
    registers,
    collect() {
      this.set(sources.loadedRooms())
    },
  })
  const opened = new Counter({ name: 'tandem_connections_opened_total', help: 'WebSocket connections opened, by framing.', labelNames: ['framing'], registers })
  const closed = new Counter({
    name: 'tandem_connections_closed_total',
    help: 'WebSocket connections closed, by framing and close code.',
    labelNames: ['framing', 'code'],
    registers,
  })
  const messagesIn = new Counter({ name: 'tandem_messages_in_total', help: 'WebSocket messages received.', registers })
  const bytesIn = new Counter({ name: 'tandem_bytes_in_total', help: 'WebSocket payload bytes received.', registers })
  const messagesOut = new Counter({ name: 'tandem_messages_out_total', help: 'WebSocket messages sent (one per recipient).', registers })
  const bytesOut = new Counter({ name: 'tandem_bytes_out_total', help: 'WebSocket payload bytes sent (summed over recipients).', registers })
  const decodeErrors = new Counter({
    name: 'tandem_decode_errors_total',
    help: 'Client frames that failed to decode, by reason.',
    labelNames: ['reason'],
    registers,
  })
  const applyLatency = new Histogram({
    name: 'tandem_update_apply_seconds',
    help: 'Time to validate and apply one client update.',
    buckets: LATENCY_BUCKETS_SEC,
    registers,
  })
  const commitLatency = new Histogram({
    name: 'tandem_storage_commit_seconds',
    help: 'Time from appending an update to the commit that contains it.',
    buckets: LATENCY_BUCKETS_SEC,
    registers,
  })
  const savedLatency = new Histogram({
    name: 'tandem_saved_ack_seconds',
    help: 'Time from receiving an update to sending its saved acknowledgement.',
    buckets: LATENCY_BUCKETS_SEC,
    registers,
  })
  const updatesRefused = new Counter({
    name: 'tandem_updates_refused_total',
    help: 'Client updates refused without being applied, by reason.',
    labelNames: ['reason'],
    registers,
  })
  const compactionsKept = new Counter({
    name: 'tandem_compactions_kept_total',
    help: 'Compactions that kept a room\'s rows because the compacted form would have changed the document.',
    registers,
  })
  const replicaStored = new Counter({
    name: 'tandem_replica_updates_stored_total',
    help: 'Updates another instance relayed without confirming their commit, stored by this instance in its place.',
    registers,
  })
  new Gauge({
    name: 'tandem_pending_bytes',
    help: 'Bytes of content loaded rooms hold while waiting for updates they never received (Yjs pending structs).',
    registers,
    collect() {
      this.set(sources.pendingBytes())
    },
  })
  const webhookAttempts = new Counter({
    name: 'tandem_webhook_attempts_total',
    help: 'Webhook delivery attempts, by outcome.',
    labelNames: ['outcome'],
    registers,
  })
  const webhookQueue = new Gauge({ name: 'tandem_webhook_queue_depth', help: 'Pending webhook deliveries in the outbox.', registers })
  const webhookDropped = new Counter({
    name: 'tandem_webhook_events_dropped_total',
    help: 'user.entered/user.left webhook events given up before they were written to the outbox (queue full, or shutdown), by type.',
    labelNames: ['type'],
    registers,
  })
  const httpRequests = new Counter({
    name: 'tandem_http_requests_total',
    help: 'HTTP requests answered, by route pattern, method and status (499: the client went away first).',
    labelNames: ['route', 'method', 'status'],
    registers,
  })
  const httpLatency = new Histogram({
    name: 'tandem_http_request_duration_seconds',
    help: 'Time from receiving an HTTP request to ending its response, by route pattern, method and status.',
    labelNames: ['route', 'method', 'status'],
    buckets: HTTP_BUCKETS_SEC,
    registers,
  })

  let lagMonitor: IntervalHistogram | null = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS })
  lagMonitor.enable()
  new Gauge({
    name: 'tandem_event_loop_lag_seconds',
    help: `Event-loop delay percentiles since the previous scrape (sampled every ${LAG_RESOLUTION_MS} ms).`,
    labelNames: ['quantile'],
    registers,
    collect() {
      if (lagMonitor === null) return
      // An empty window (no sample yet) reports min as a huge sentinel; skip it rather than export noise.
      if (lagMonitor.count === 0) return
      // Each sample is the time between two monitor ticks: the interval itself plus the delay. Report the delay.
      const intervalNs = LAG_RESOLUTION_MS * 1e6
      for (const [label, percentile] of LAG_QUANTILES) {
        this.set({ quantile: label }, Math.max(0, lagMonitor.percentile(percentile) - intervalNs) / 1e9)
      }
      lagMonitor.reset()
    },
  })

  return {
    connectionOpened(framing) {
      opened.inc({ framing })
    },
    connectionClosed(framing, code) {
      closed.inc({ framing, code: String(code) })
    },
    messageIn(bytes) {
      messagesIn.inc()
      bytesIn.inc(bytes)
    },
    decodeError(reason) {
      decodeErrors.inc({ reason })
    },
    framesOut(recipients, bytes) {
      if (recipients <= 0) return
      messagesOut.inc(recipients)
      bytesOut.inc(recipients * bytes)
    },
    updateApplied(seconds) {
      applyLatency.observe(seconds)
    },
    storageCommitted(seconds) {
      commitLatency.observe(seconds)
    },
    savedAcknowledged(seconds) {
      savedLatency.observe(seconds)
    },
    updateRefused(reason) {
      updatesRefused.inc({ reason })
    },
    compactionKept() {
      compactionsKept.inc()
    },
    replicaUpdatesStored(count) {
      replicaStored.inc(count)
    },
    webhookAttempt(outcome) {
      webhookAttempts.inc({ outcome })
    },
    webhookQueueDepth(depth) {
      webhookQueue.set(depth)
    },
    webhookEventsDropped(count, type) {
      webhookDropped.inc({ type }, count)
    },
    httpRequest(route, method, status, seconds) {
      const labels = { route, method, status: String(status) }
      httpRequests.inc(labels)
      httpLatency.observe(labels, seconds)
    },
    async render() {
      const own = await registry.metrics()
      const proc = await processMetrics().metrics()
      return { contentType: registry.contentType, body: `${own}\n${proc}` }
    },
    close() {
      lagMonitor?.disable()
      lagMonitor = null
    },
  }
}
