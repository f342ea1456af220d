/**
 * The REST API as the composition root sees it: a router with the built-in routes (rooms, documents,
 * tokens, operations) and the OpenAPI document over whatever is registered.
 *
 * Adding routes from another module (webhooks does this):
 *
 *   const api = createRestApi({ … })
 *   api.router.add(...webhookRoutes(deps))   // each built with defineRoute({ method, path, schemas, handle })
 *   api.router.attach(app)
 *
 * Route definitions carry their zod schemas (keep them in the module's own schemas file, reusing
 * `timestamp`, `errorBody` etc. from ./schemas.ts); the router validates requests with them and
 * `/v1/openapi.json` documents them. Handlers throw AppError for 4xx answers.
 */
import type { Logger } from 'pino'
import type { TokenVerifier } from '../auth/verify.js'
import type { Config } from '../config.js'
import type { Metrics } from '../metrics.js'
import type { StoreLifecycle } from '../persistence/store-lifecycle.js'
import type { RoomService } from '../rooms/service.js'
import { createAdminAuthenticator } from './auth.js'
import { opsRoutes } from './health.js'
import { buildOpenApi } from './openapi.js'
import { roomRoutes } from './rooms.js'
import { Router, type HttpMetrics } from './router.js'
import { tokenRoutes } from './tokens.js'

export interface RestApiOptions {
  log: Logger
  metrics: Metrics & HttpMetrics
  http: Config['http']
  /** The resolved admin key (configured or generated). */
  adminKey: string
  verifier: TokenVerifier
  rooms: RoomService
  store: Pick<StoreLifecycle, 'ping'>
  /** HS256 secret for POST /v1/tokens; null when tokens are verified with a public key or JWKS. */
  signingKey: Uint8Array | null
  auth: Pick<Config['auth'], 'issuer' | 'audience' | 'maxLifetimeSec'>
  isDraining: () => boolean
}

export interface RestApi {
  readonly router: Router
  /** The OpenAPI document for every route registered so far. */
  openapi(): Record<string, unknown>
}

export function createRestApi(opts: RestApiOptions): RestApi {
  const router = new Router({
    log: opts.log,
    metrics: opts.metrics,
    auth: createAdminAuthenticator(opts.adminKey, opts.verifier),
    maxBodyBytes: opts.http.maxBodyBytes,
    bodyTimeoutMs: opts.http.bodyTimeoutMs,
    corsOrigins: opts.http.corsOrigins,
  })
  let cached: { doc: Record<string, unknown>; text: string } | null = null
  router.onChange(() => {
    cached = null
  })
  const document = (): { doc: Record<string, unknown>; text: string } => {
    if (cached === null) {
      const doc = buildOpenApi(router.routes)
      cached = { doc, text: JSON.stringify(doc) }
    }
    return cached
  }
  router.add(
    ...roomRoutes(opts.rooms),
    ...tokenRoutes({ signingKey: opts.signingKey, issuer: opts.auth.issuer, audience: opts.auth.audience, maxLifetimeSec: opts.auth.maxLifetimeSec }),
    ...opsRoutes({ store: opts.store, isDraining: opts.isDraining, metrics: opts.metrics, openapi: () => document().text }),
  )
  return {
    router,
    openapi: () => document().doc,
  }
}
