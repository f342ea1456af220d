/**
 * The prom-client implementation of Metrics: private registries per server, every listed metric present,
 * labels as documented, and close() stopping the event-loop monitor.
 */
import { describe, expect, test } from 'vitest'
import { register as globalRegistry } from 'prom-client'
import { createMetrics, METRIC_NAMES } from '../../server/src/metrics.js'
import { waitFor } from '../helpers/server.js'

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

describe('createMetrics', () => {
  test('renders every metric name, with gauges read from their sources', async () => {
    let connections = 3
    const metrics = createMetrics({ connections: () => connections, loadedRooms: () => 2, pendingBytes: () => 0 })
    const { contentType, body } = await metrics.render()
    expect(contentType).toContain('text/plain')
    for (const name of METRIC_NAMES) expect(body, name).toMatch(new RegExp(`^# TYPE ${name} `, 'm'))
    expect(value(body, 'tandem_connections')).toBe(3)
    expect(value(body, 'tandem_rooms_loaded')).toBe(2)
    connections = 5
    expect(value((await metrics.render()).body, 'tandem_connections')).toBe(5)
    expect((await metrics.render()).body).toMatch(/^process_resident_memory_bytes /m)
    metrics.close()
  })

  test('records WebSocket, room, webhook and HTTP observations with their labels', async () => {
    const m = createMetrics({ connections: () => 0, loadedRooms: () => 0, pendingBytes: () => 0 })
    m.connectionOpened('single')
    m.connectionClosed('single', 4404)
    m.connectionClosed('multiplexed', 1000)
    m.messageIn(10)
    m.messageIn(5)
    m.decodeError('malformed')
    m.framesOut(3, 100)
    m.framesOut(0, 100) // nobody received it: counts nothing
    m.updateApplied(0.0002)
    m.storageCommitted(0.004)
    m.savedAcknowledged(0.005)
    m.webhookAttempt('retry')
    m.webhookQueueDepth(7)
    m.httpRequest('/v1/rooms/:room', 'GET', 200, 0.001)
    const { body } = await m.render()
    expect(value(body, 'tandem_connections_opened_total{framing="single"}')).toBe(1)
    expect(value(body, 'tandem_connections_closed_total{framing="single",code="4404"}')).toBe(1)
    expect(value(body, 'tandem_connections_closed_total{framing="multiplexed",code="1000"}')).toBe(1)
    expect(value(body, 'tandem_messages_in_total')).toBe(2)
    expect(value(body, 'tandem_bytes_in_total')).toBe(15)
    expect(value(body, 'tandem_decode_errors_total{reason="malformed"}')).toBe(1)
    expect(value(body, 'tandem_messages_out_total')).toBe(3)
    expect(value(body, 'tandem_bytes_out_total')).toBe(300)
    expect(value(body, 'tandem_update_apply_seconds_count')).toBe(1)
    expect(value(body, 'tandem_update_apply_seconds_bucket{le="0.00025"}')).toBe(1)
    expect(value(body, 'tandem_storage_commit_seconds_count')).toBe(1)
    expect(value(body, 'tandem_saved_ack_seconds_sum')).toBeCloseTo(0.005)
    expect(value(body, 'tandem_webhook_attempts_total{outcome="retry"}')).toBe(1)
    expect(value(body, 'tandem_webhook_queue_depth')).toBe(7)
    expect(value(body, 'tandem_http_requests_total{route="/v1/rooms/:room",method="GET",status="200"}')).toBe(1)
    expect(value(body, 'tandem_http_request_duration_seconds_count{route="/v1/rooms/:room",method="GET",status="200"}')).toBe(1)
    m.close()
  })

  test('two servers in one process keep separate registries, and the global one stays empty', async () => {
    const a = createMetrics({ connections: () => 1, loadedRooms: () => 0, pendingBytes: () => 0 })
    const b = createMetrics({ connections: () => 2, loadedRooms: () => 0, pendingBytes: () => 0 })
    a.messageIn(1)
    expect(value((await a.render()).body, 'tandem_messages_in_total')).toBe(1)
    expect(value((await b.render()).body, 'tandem_messages_in_total')).toBe(0)
    expect(value((await b.render()).body, 'tandem_connections')).toBe(2)
    expect(await globalRegistry.metrics()).not.toContain('tandem_')
    a.close()
    b.close()
  })

  test('event-loop lag is reported per scrape window and stops after close()', async () => {
    const m = createMetrics({ connections: () => 0, loadedRooms: () => 0, pendingBytes: () => 0 })
    const window = async (): Promise<number | undefined> => value((await m.render()).body, 'tandem_event_loop_lag_seconds{quantile="1"}')
    // A reported window resets the monitor, and its next tick only restarts its clock (Node's
    // histogram records the time between two ticks): let two sampling intervals pass before blocking.
    await waitFor(async () => (await window()) !== undefined, 'the event-loop monitor to start')
    const ticks = async (): Promise<void> => {
      const at = Date.now() + 25
      await waitFor(() => Date.now() >= at, 'two sampling intervals')
    }
    await ticks()
    const until = Date.now() + 50
    while (Date.now() < until) {
      /* block the loop */
    }
    await ticks() // the tick that measures the block
    expect(await window()).toBeGreaterThan(0.03) // the 50 ms block, not the 10 ms sampling interval
    m.close()
    m.close() // idempotent
    await expect(m.render()).resolves.toBeDefined()
  })
})
