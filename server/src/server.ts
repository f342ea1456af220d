/**
 * Composition root: builds the store, replication, registry, auth and the uWS app, and owns listen/close.
 * Tests and embedders inject dependencies; main.ts is the only caller that exits the process.
 * One store adapter serves every concern: it is handed to each consumer, whose deps type names only the
 * part it uses (rooms: DocumentLog and RoomRecords, REST health: StoreLifecycle, webhooks: WebhookOutbox).
 */
import type { TemplatedApp, WebSocket, WebSocketBehavior } from 'uWebSockets.js'
import type { Logger } from 'pino'
import { ConfigError, settingName, type Config, type StoreConfig } from './config.js'
import { createLogger } from './logger.js'
import { loadUws } from './uws.js'
import { resolveVerificationKey } from './auth/keys.js'
import { createTokenVerifier } from './auth/verify.js'
import type { Store } from './persistence/store.js'
import { createSqliteStore } from './persistence/sqlite.js'
import { createMemoryStore } from './persistence/memory.js'
import { PostgresOpenError, createPostgresStore } from './persistence/postgres.js'
import type { Replication } from './rooms/replication.js'
import { createLocalReplication } from './replication/local.js'
import { RedisConnectError, createRedisReplication } from './replication/redis.js'
import { createRedisUsers } from './replication/redis-users.js'
import { createLocalUsers, type ClusterUsers } from './rooms/users.js'
import { redactUrlPassword } from './config.js'
import { postgresSecrets } from './persistence/postgres-secrets.js'
import { dataDirSecrets, type SecretKeeper } from './secret-file.js'
import { createRoomEvents, type RoomEvents } from './rooms/events.js'
import { RoomRegistry } from './rooms/registry.js'
import { createFanout } from './ws/broadcast.js'
import { notAnUpgrade, upgradeHandler } from './ws/upgrade.js'
import { Admission } from './ws/admission.js'
import { lockDataDir, type DataDirLock } from './data-dir-lock.js'
import { RatePenalties, penaltyMs, usersOf } from './ws/penalties.js'
import { parseCidr, type CidrRange } from './ip.js'
import { defaultMaxConnections, DescriptorGuard, openFileLimit } from './descriptors.js'
import { Listener } from './listen.js'
import { singleBehavior } from './ws/single.js'
import { multiplexedBehavior } from './ws/multiplexed.js'
import { closeSocket, type Socket, type SocketData } from './ws/socket.js'
import type { WsContext } from './ws/context.js'
import { createMetrics, type Metrics } from './metrics.js'
import { CLOSE_CODE } from './errors.js'
import { RoomService } from './rooms/service.js'
import { VersionService } from './rooms/versions.js'
import { versionRoutes } from './http/versions.js'
import { resolveAdminKey } from './http/admin-key.js'
import { createRestApi } from './http/api.js'
import type { Router } from './http/router.js'
import { createWebhooks } from './webhooks/service.js'
import { webhookRoutes } from './webhooks/routes.js'
import { randomBytes } from 'node:crypto'

/** How long a drain waits for webhook attempts in flight (the rest of the budget is for commits). */
const WEBHOOK_DRAIN_GRACE_MS = 3_000

export interface ServerDeps {
  logger?: Logger
  store?: Store
  /** Cross-instance replication; default: Redis when config.cluster is set, else none (local). */
  replication?: Replication
  /** Who is in which room across instances; default: Redis when config.cluster is set, else this process's own count. */
  users?: ClusterUsers
  /** Registers extra HTTP routes after the built-in ones (the demo mode adds its pages and token route). */
  routes?: (router: Router) => void
  /**
   * The data directory's lock, when the caller took it before writing files of its own there (the demo
   * mode keeps its webhook secret in it); the server owns it from here and releases it on close.
   */
  dataDirLock?: DataDirLock
}

export interface TandemServer {
  /** Starts listening; resolves with the bound port (useful with port 0). */
  listen(): Promise<{ port: number }>
  /** Drains: stop accepting, flush, close sockets with 1012, unload rooms, close the store. */
  close(): Promise<void>
  readonly registry: RoomRegistry
  readonly events: RoomEvents
  readonly metrics: Metrics
  readonly store: Store
  /** Open WebSocket connections. */
  readonly connectionCount: number
}

/**
 * Wraps a framing's behaviour so each socket gives its admission ticket back when it closes, and the users
 * of a socket closed for flooding (4429) stay out until their buckets would have refilled.
 */
function counted(admission: Admission, penalize: (ws: WebSocket<SocketData>) => void, behavior: Pick<WebSocketBehavior<SocketData>, 'open' | 'message' | 'close'>): typeof behavior {
  return {
    ...behavior,
    open(ws) {
      admission.opened(ws)
      behavior.open?.(ws)
    },
    close(ws, code, message) {
      try {
        behavior.close?.(ws, code, message)
      } finally {
        if (code === CLOSE_CODE.rate_limited) penalize(ws)
        admission.closed(ws)
      }
    },
  }
}

export async function createServer(config: Config, deps: ServerDeps = {}): Promise<TandemServer> {
  // Before anything in the data directory is read or changed: a second server on it exits here.
  const lock = deps.dataDirLock ?? lockDataDir(config.dataDir, config.dataDirSetting)
  try {
    return await buildServer(config, deps, lock)
  } catch (err) {
    lock.release()
    throw err
  }
}

async function buildServer(config: Config, deps: ServerDeps, lock: DataDirLock): Promise<TandemServer> {
  const log = deps.logger ?? createLogger(config.logLevel)
  // Names this instance as the origin of what it publishes to the others; unique per process start.
  const instanceId = config.instanceId ?? randomBytes(6).toString('base64url')
  const uws = loadUws()

  const secrets = secretKeeperFor(config)
  const key = await resolveVerificationKey(config.auth, secrets)
  if (key.kind === 'secret' && key.generated) {
    log.info(
      { secretFile: key.keptAt },
      'no JWT key configured: generated an HS256 secret; mint a client token with `npx tandem token --room <name>`',
    )
  }
  if (config.auth.allowAnonymous) {
    log.warn('TANDEM_ALLOW_ANONYMOUS=true: clients without a token get write access to every room')
  }
  const verifier = createTokenVerifier(key, config.auth)

  const store = deps.store ?? (await openStore(config, log))
  let replication: Replication
  try {
    replication =
      deps.replication ??
      (config.cluster === null
        ? createLocalReplication(instanceId)
        : await createRedisReplication({ url: config.cluster.redisUrl, prefix: config.cluster.redisPrefix, instanceId }, log.child({ component: 'replication' })))
  } catch (err) {
    if (deps.store === undefined) await store.close()
    if (err instanceof RedisConnectError) throw new ConfigError(settingName(config, 'TANDEM_REDIS_URL'), err.message)
    throw err
  }
  if (config.cluster !== null) log.info({ instanceId, redis: redactUrlPassword(config.cluster.redisUrl), prefix: config.cluster.redisPrefix }, 'cluster member')
  const events = createRoomEvents((err, event) => log.error({ err, event: event.type }, 'room event listener threw'))
  const users =
    deps.users ??
    (config.cluster === null
      ? createLocalUsers(events)
      : await createRedisUsers({ url: config.cluster.redisUrl, prefix: config.cluster.redisPrefix, instanceId }, events, log.child({ component: 'users' })))

  let draining = false
  const sockets = new Set<Socket>()
  const metrics = createMetrics({ connections: () => sockets.size, loadedRooms: () => registry.size, pendingBytes: () => registry.pendingBytes })
  const app: TemplatedApp = uws.App()
  const fanout = createFanout(app, metrics)
  const registry = new RoomRegistry({
    store,
    replication,
    broadcast: fanout.broadcast,
    events,
    users,
    log,
    metrics,
    compactAfterRows: config.rooms.compactAfterRows,
    compactQuietMs: config.rooms.compactQuietMs,
    maxDocBytes: config.rooms.maxDocBytes,
    maxPendingBytes: config.rooms.maxPendingBytes,
    replicaConfirmTimeoutMs: config.rooms.replicaConfirmTimeoutMs,
    idleUnloadMs: config.rooms.idleUnloadMs,
    keepaliveMs: config.rooms.keepaliveMs,
    autoCreate: config.rooms.autoCreate,
    maxTokenLifetimeMs: config.auth.maxLifetimeSec === 0 ? 0 : (config.auth.maxLifetimeSec + 2 * config.auth.clockToleranceSec) * 1000,
    autoVersions:
      config.versions.keepAuto === 0
        ? null
        : { quietMs: config.versions.quietMs, maxIntervalMs: config.versions.maxIntervalMs, take: (room): Promise<void> => versions.takeAuto(room) },
  })
  const versions: VersionService = new VersionService({
    store,
    registry,
    events,
    broadcast: fanout.broadcast,
    log: log.child({ component: 'versions' }),
    settings: config.versions,
  })

  const penalties = new RatePenalties()
  const ctx: WsContext = {
    config: config.ws,
    penalties,
    registry,
    verifier,
    fanout,
    log,
    metrics,
    sockets,
    isDraining: () => draining,
  }

  const common: WebSocketBehavior<SocketData> = {
    compression: uws.DISABLED,
    // uWS drops an oversize frame's connection without a close frame; allowing twice the limit lets the
    // handlers close anything over TANDEM_MAX_MESSAGE_BYTES with a proper 1009.
    maxPayloadLength: config.ws.maxMessageBytes * 2,
    maxBackpressure: config.ws.maxBackpressureBytes,
    // Slow receivers are closed, never skipped: a skipped Yjs update leaves a client diverged.
    // (The trufflesuite typings declare this option as a number; the native side reads it as a boolean.)
    closeOnBackpressureLimit: true as unknown as number,
    idleTimeout: config.ws.idleTimeoutSec,
    sendPingsAutomatically: true,
  }
  const fdLimit = openFileLimit()
  const maxConnections = config.connections.maxConnections ?? (fdLimit === null ? Number.MAX_SAFE_INTEGER : defaultMaxConnections(fdLimit))
  if (fdLimit !== null && config.connections.maxConnections !== null && config.connections.maxConnections > defaultMaxConnections(fdLimit)) {
    log.warn({ maxConnections, openFileLimit: fdLimit }, 'TANDEM_MAX_CONNECTIONS leaves little room below the open-file limit')
  }
  const admission = new Admission({
    maxPerAddress: config.connections.maxPerAddress,
    maxConnections,
    trustedProxies: config.connections.trustedProxies.map((entry) => parseCidr(entry) as CidrRange),
  })
  const upgradeCtx = { verifier, log, isDraining: () => draining, admission, penalties, allowedOrigins: config.connections.allowedOrigins, registry }
  const penalize = (ws: WebSocket<SocketData>): void => {
    const data = ws.getUserData()
    penalties.penalize(usersOf(data), penaltyMs(data.rate, config.ws))
  }
  app.ws<SocketData>('/ws', { ...common, upgrade: upgradeHandler(upgradeCtx, 'multiplexed'), ...counted(admission, penalize, multiplexedBehavior(ctx)) })
  app.ws<SocketData>('/ws/*', { ...common, upgrade: upgradeHandler(upgradeCtx, 'single'), ...counted(admission, penalize, singleBehavior(ctx)) })
  // uWS hands a request without a valid Sec-WebSocket-Key on to the next route; answer it here, not with the REST 404.
  app.any('/ws', notAnUpgrade)
  app.any('/ws/*', notAnUpgrade)

  const adminKey = await resolveAdminKey(config.http.adminKey, secrets)
  if (adminKey.source === 'generated') {
    log.info({ adminKeyFile: adminKey.path }, 'no TANDEM_ADMIN_KEY configured: generated a REST admin key; print it with `npx tandem admin-key`')
  }
  const rooms = new RoomService({ store, registry, events, broadcast: fanout.broadcast, replication, users, log })
  const rest = createRestApi({
    log,
    metrics,
    http: config.http,
    adminKey: adminKey.key,
    verifier,
    rooms,
    store,
    signingKey: key.kind === 'secret' ? key.key : null,
    auth: config.auth,
    isDraining: () => draining,
  })
  const webhooks = await createWebhooks(config.webhooks, {
    store,
    events,
    log: log.child({ component: 'webhooks' }),
    metrics,
    describeRoom: (roomId) => rooms.describe(roomId),
  })
  rest.router.add(...versionRoutes(versions), ...webhookRoutes(webhooks))
  deps.routes?.(rest.router)
  rest.router.attach(app)

  const listener = new Listener(uws, app, config.host)
  const guard =
    fdLimit === null
      ? null
      : new DescriptorGuard({ limit: fdLimit, log, pause: () => listener.pause(), resume: () => !draining && listener.resume() })
  let closing: Promise<void> | null = null

  const drain = async (): Promise<void> => {
    draining = true
    guard?.stop()
    listener.close()
    // Let commits in flight finish so their saved acks reach clients before the sockets go.
    await registry.flushAll()
    for (const ws of [...sockets]) closeSocket(ws, CLOSE_CODE.restarting, 'server restarting')
    await registry.closeAll()
    await users.close() // emits the last user.left events (or leaves them to the instance that reaps this one)
    // Writes debounced room.changed events to the outbox; attempts cut off here retry after the restart.
    await webhooks.close(Math.min(config.webhooks.timeoutMs, WEBHOOK_DRAIN_GRACE_MS))
    await replication.close()
    await versions.close()
    await store.close()
    metrics.close()
    lock.release()
    log.info('server closed')
  }

  return {
    listen() {
      const port = listener.listen(config.port)
      if (port === null) {
        // Named after the setting the user gave, so the CLI can print it as one line.
        const setting = settingName(config, 'TANDEM_PORT')
        return Promise.reject(new ConfigError(setting, `could not listen on ${config.host}:${config.port} (in use or not permitted); stop what holds it or choose another port`))
      }
      guard?.start()
      log.info({ maxConnections, openFileLimit: fdLimit, host: config.host, instanceId, port }, 'listening')
      return Promise.resolve({ port })
    },
    close() {
      closing ??= drain()
      return closing
    },
    registry,
    events,
    metrics,
    store,
    get connectionCount() {
      return sockets.size
    },
  }
}

/**
 * Where generated secrets (JWT secret, admin key) are kept: in the PostgreSQL schema when the store is
 * Postgres, so every instance and CLI run on that database agrees on them; else in the data directory.
 * Its errors are ConfigErrors naming the setting, like the store's.
 */
export function secretKeeperFor(config: Pick<Config, 'store' | 'dataDir' | 'dataDirSetting' | 'flags'>): SecretKeeper {
  const cfg = config.store
  if (cfg.kind !== 'postgres') {
    const files = dataDirSecrets(config.dataDir)
    return {
      async loadOrCreate(spec) {
        try {
          return await files.loadOrCreate(spec)
        } catch (err) {
          // A directory that cannot hold the file (EACCES on the temporary file, a file in its place…).
          const problem = fileProblem(err)
          if (problem !== null) throw new ConfigError(config.dataDirSetting, `cannot keep the ${spec.noun} in ${config.dataDir}: ${problem}`)
          throw err
        }
      },
    }
  }
  const keeper = postgresSecrets({ url: cfg.url, schema: cfg.schema, timeoutMs: cfg.timeoutMs })
  return {
    async loadOrCreate(spec) {
      try {
        return await keeper.loadOrCreate(spec)
      } catch (err) {
        if (err instanceof PostgresOpenError) throw new ConfigError(settingName(config, err.setting), err.message)
        throw err
      }
    },
  }
}

/** A file-system error as a few words, or null for anything else. */
function fileProblem(err: unknown): string | null {
  switch ((err as { code?: unknown }).code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied'
    case 'EROFS':
      return 'the file system is read-only'
    case 'EEXIST':
    case 'ENOTDIR':
      return 'it is a file, not a directory'
    case 'ENOSPC':
      return 'no space left on the device'
    default:
      return null
  }
}

/**
 * The adapter the configuration picks. A Postgres store that cannot open (bad URL, unreachable, a failed
 * or refused migration) becomes a ConfigError naming the setting, which the CLI prints as one line.
 */
async function openStore(config: Config, log: Logger): Promise<Store> {
  const cfg: StoreConfig = config.store
  switch (cfg.kind) {
    case 'sqlite':
      return createSqliteStore({ path: cfg.path }, log)
    case 'memory':
      return createMemoryStore()
    case 'postgres':
      try {
        return await createPostgresStore(
          { url: cfg.url, schema: cfg.schema, poolSize: cfg.poolSize, timeoutMs: cfg.timeoutMs, maxWaitingBytes: cfg.maxWaitingBytes },
          log,
        )
      } catch (err) {
        if (err instanceof PostgresOpenError) throw new ConfigError(settingName(config, err.setting), err.message)
        throw err
      }
  }
}
