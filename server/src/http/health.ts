/**
 * Operational endpoints, all without auth: `/healthz` (the process answers), `/readyz` (the store answers
 * and accepts writes, and the server is not draining), `/metrics` (Prometheus text) and `/v1/openapi.json`.
 * A store whose last commit failed (a full disk) is not ready until writes succeed again
 * (StoreLifecycle.ping), so a load balancer sends new clients elsewhere instead of to a server that
 * cannot save their edits.
 *
 * `/metrics` is unauthenticated, like most Prometheus targets: it exposes counts and latencies, never
 * room names or user ids. Operators who serve Tandem on a public interface should keep `/metrics`
 * behind their proxy or firewall (see README).
 */
import * as z from 'zod'
import type { Metrics } from '../metrics.js'
import type { StoreLifecycle } from '../persistence/store-lifecycle.js'
import { AppError } from '../errors.js'
import { defineRoute, jsonReply, type Route } from './router.js'
import * as s from './schemas.js'

/** A store that does not answer a readiness ping within this long is reported not ready. */
export const READY_TIMEOUT_MS = 2_000

export interface OpsRouteOptions {
  store: Pick<StoreLifecycle, 'ping'>
  isDraining: () => boolean
  metrics: Pick<Metrics, 'render'>
  /** The OpenAPI document, serialized. */
  openapi: () => string
}

export function opsRoutes(opts: OpsRouteOptions): Route[] {
  return [
    defineRoute({
      method: 'GET',
      path: '/healthz',
      operationId: 'health',
      summary: 'Liveness: the process is up',
      tag: 'operations',
      auth: 'public',
      responses: { 200: { description: 'Up.', json: s.healthStatus } },
      handle: () => jsonReply(200, { status: 'ok' }),
    }),
    defineRoute({
      method: 'GET',
      path: '/readyz',
      operationId: 'ready',
      summary: 'Readiness: the store answers and accepts writes, and the server is not draining',
      tag: 'operations',
      auth: 'public',
      responses: { 200: { description: 'Ready for traffic.', json: s.readyStatus } },
      errors: ['unavailable'],
      async handle({ log }) {
        if (opts.isDraining()) throw new AppError('unavailable', 'server is draining')
        try {
          await withTimeout(opts.store.ping(), READY_TIMEOUT_MS)
        } catch (err) {
          log.warn({ err }, 'readiness check: store not ready')
          throw new AppError('unavailable', 'store is not ready (it does not answer, or its writes are failing)')
        }
        if (opts.isDraining()) throw new AppError('unavailable', 'server is draining')
        return jsonReply(200, { status: 'ready' })
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/metrics',
      operationId: 'metrics',
      summary: 'Prometheus metrics (text exposition format)',
      description: 'Unauthenticated; keep it behind your proxy or firewall on public interfaces.',
      tag: 'operations',
      auth: 'public',
      responses: { 200: { description: 'Metrics.', content: { type: 'text/plain', schema: { type: 'string' } } } },
      async handle() {
        const { contentType, body } = await opts.metrics.render()
        return { status: 200, contentType, body }
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/v1/openapi.json',
      operationId: 'openapi',
      summary: 'This API as an OpenAPI 3.1 document',
      tag: 'operations',
      auth: 'public',
      responses: { 200: { description: 'The document.', json: z.record(z.string(), z.unknown()) } },
      handle: () => ({ status: 200, contentType: 'application/json', body: opts.openapi() }),
    }),
  ]
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (err: unknown) => {
        clearTimeout(timer)
        reject(err instanceof Error ? err : new Error(String(err)))
      },
    )
  })
}
