/**
 * The only reader of the environment. `loadConfig` is pure: it takes env (and CLI overrides), validates
 * every value, fills defaults and returns a frozen object. A bad value throws ConfigError naming the variable.
 */
import type { AuthOptions } from './auth/keys.js'
import { parseCidr } from './ip.js'
import { MAX_SECRET_OVERLAP_SEC, webhookSecretProblem } from './webhooks/secret-format.js'

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'

export type StoreConfig =
  | { kind: 'sqlite'; path: string }
  | { kind: 'memory' }
  | Readonly<{
      kind: 'postgres'
      /** Connection URL; may hold a password, so it is never logged as is (see redactUrl). */
      url: string
      /** Schema holding Tandem's tables (created if missing). */
      schema: string
      /** Pooled connections for reads and non-append writes (appends have their own connection). */
      poolSize: number
      /** Connect and query timeout: a connection that answers nothing for this long is replaced. */
      timeoutMs: number
      /** Bytes of appends that may wait while Postgres is unreachable; past it rooms close with 1013. */
      maxWaitingBytes: number
    }>

/**
 * Cluster membership: Redis carries updates, presence and control messages between instances, and a
 * shared PostgreSQL store (TANDEM_DATABASE_URL) holds the truth. Null when the instance runs alone.
 */
export type ClusterConfig = Readonly<{
  /** Redis connection URL; may hold a password, so it is only ever logged through redactUrl. */
  redisUrl: string
  /** Prefix of every Redis key and channel this cluster uses (several clusters may share one Redis). */
  redisPrefix: string
}>

export type Config = Readonly<{
  host: string
  port: number
  dataDir: string
  /** How the user set the data directory (`--data-dir` or TANDEM_DATA_DIR), for error messages. */
  dataDirSetting: string
  /** Variables the user set with a flag, mapped to that flag (see settingName): errors name what was typed. */
  flags: Readonly<Record<string, string>>
  store: StoreConfig
  /** This instance's name in the cluster (origin of what it publishes); null means generated at boot. */
  instanceId: string | null
  cluster: ClusterConfig | null
  logLevel: LogLevel
  auth: Readonly<AuthOptions>
  ws: Readonly<{
    maxMessageBytes: number
    maxBackpressureBytes: number
    idleTimeoutSec: number
    /** Multiplexed sockets must authorise a room within this time. */
    authTimeoutMs: number
    /** Frames a socket may send before its room is authorised and loaded. */
    preAuthMaxMessages: number
    preAuthMaxBytes: number
    /** Largest awareness (presence) state one client may publish, as JSON text; bigger closes with 1008. */
    maxAwarenessBytes: number
    /** Deepest JSON nesting an awareness state may have; deeper closes with 1008. */
    maxAwarenessDepth: number
    /** A connection's awareness reaches the room at most once per this interval (newer states replace queued ones). */
    awarenessIntervalMs: number
    /** Per-connection token buckets (0 disables one): sustained rate and burst; past the burst the socket closes with 4429. */
    messagesPerSec: number
    messageBurst: number
    bytesPerSec: number
    /** At least maxMessageBytes, so one maximum-size sync message always gets through. */
    byteBurst: number
  }>
  rooms: Readonly<{
    /** How long a room with no peers stays loaded. */
    idleUnloadMs: number
    /** Interval of the empty awareness update sent to every room with peers. */
    keepaliveMs: number
    /** Compact a live room's log once it has this many rows and has been quiet for compactQuietMs (or has ten times as many). */
    compactAfterRows: number
    compactQuietMs: number
    /** A WebSocket join to a room with no record creates it; when false it is refused with 4404. */
    autoCreate: boolean
    /** Largest document (encoded state) a room may hold; an update past it is refused (4413 / HTTP 413). */
    maxDocBytes: number
    /** Most bytes of content a room holds while it waits for updates it never received (Yjs pending structs). */
    maxPendingBytes: number
    /** How long a room waits for another instance to confirm the commit of an update it relayed before storing it itself. */
    replicaConfirmTimeoutMs: number
  }>
  connections: Readonly<{
    /** WebSocket connections (open or upgrading) one client address may hold; 0 means no cap. */
    maxPerAddress: number
    /** WebSocket connections the server may hold; null means derived from the open-file limit at startup. */
    maxConnections: number | null
    /** Proxies (addresses or CIDR ranges) whose X-Forwarded-For names the client. */
    trustedProxies: readonly string[]
    /** Origins whose pages may open WebSockets (403 otherwise); null allows any. Requests without Origin pass. */
    allowedOrigins: readonly string[] | null
  }>
  http: Readonly<{
    /** REST admin key; null means generated into the data directory on first run. */
    adminKey: string | null
    /** Largest accepted REST request body. */
    maxBodyBytes: number
    /** A request body must arrive completely within this time after the request's headers (408 otherwise). */
    bodyTimeoutMs: number
    /** Browser origins allowed to call /v1 cross-origin (CORS); `*` for any; empty for none. */
    corsOrigins: readonly string[]
  }>
  webhooks: Readonly<{
    /** Endpoint configured through the environment (besides those registered via the API). */
    url: string | null
    /** Its `whsec_…` signing secret; required when url is set. */
    secret: string | null
    /** The secret it had before a rotation: deliveries carry a signature with both while it is set. */
    previousSecret: string | null
    /** After `POST /v1/webhooks/:id/rotate-secret`, the old secret still signs for this long (seconds). */
    secretOverlapSec: number
    /** Allow endpoints on loopback/private/link-local addresses (tests, local demos). */
    allowPrivate: boolean
    timeoutMs: number
    /** room.changed is sent after this much quiet per room… */
    debounceMs: number
    /** …or at the latest this long after the first unsent change. */
    maxWaitMs: number
    /** Attempts before a delivery is kept as failed. */
    maxAttempts: number
    /** Exponential backoff: base * 2^(attempt-1), capped, with jitter. */
    retryBaseMs: number
    retryMaxMs: number
  }>
  versions: Readonly<{
    /** An automatic version is taken once a room has been quiet this long after an edit. */
    quietMs: number
    /** ...and at least this often while edits continue. */
    maxIntervalMs: number
    /** Automatic versions kept per room (named and before-restore versions are always kept); 0 turns them off. */
    keepAuto: number
  }>
  shutdownTimeoutMs: number
}>

export class ConfigError extends Error {
  constructor(
    /** The setting at fault, as the user gave it: an environment variable, or a flag such as `--port`. */
    readonly variable: string,
    /** What is wrong with it, without the setting's name. */
    readonly detail: string,
  ) {
    super(`${variable}: ${detail}`)
    this.name = 'ConfigError'
  }
}

/** The flag that sets each variable (ConfigOverrides): errors name what the user actually typed. */
const FLAG_FOR: Readonly<Record<string, string>> = {
  TANDEM_HOST: '--host',
  TANDEM_PORT: '--port',
  TANDEM_DATA_DIR: '--data-dir',
  TANDEM_DATABASE_URL: '--database-url',
  TANDEM_REDIS_URL: '--redis-url',
}

type Env = Readonly<Record<string, string | undefined>>

/** Values from CLI flags; they win over the environment. */
export interface ConfigOverrides {
  host?: string
  port?: string
  dataDir?: string
  redisUrl?: string
  databaseUrl?: string
}

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']
const MIB = 1024 * 1024

export function loadConfig(env: Env, overrides: ConfigOverrides = {}): Config {
  const fromFlags: Record<string, string> = {
    ...(overrides.host !== undefined && { TANDEM_HOST: overrides.host }),
    ...(overrides.port !== undefined && { TANDEM_PORT: overrides.port }),
    ...(overrides.dataDir !== undefined && { TANDEM_DATA_DIR: overrides.dataDir }),
    ...(overrides.redisUrl !== undefined && { TANDEM_REDIS_URL: overrides.redisUrl }),
    ...(overrides.databaseUrl !== undefined && { TANDEM_DATABASE_URL: overrides.databaseUrl }),
  }
  const label = (variable: string): string => (variable in fromFlags ? (FLAG_FOR[variable] ?? variable) : variable)
  try {
    const flags = Object.fromEntries(Object.keys(fromFlags).map((variable) => [variable, label(variable)]))
    return readConfig({ ...env, ...fromFlags }, label, flags)
  } catch (err) {
    if (err instanceof ConfigError && label(err.variable) !== err.variable) throw new ConfigError(label(err.variable), err.detail)
    throw err
  }
}

/** The setting as the user gave it: the flag when one set `variable`, else the variable itself. */
export function settingName(config: Pick<Config, 'flags'>, variable: string): string {
  return config.flags[variable] ?? variable
}

function readConfig(merged: Env, label: (variable: string) => string, flags: Record<string, string>): Config {
  const dataDir = stringVar(merged, 'TANDEM_DATA_DIR', './data')
  const store = storeConfig(merged, dataDir)

  const secret = optionalVar(merged, 'TANDEM_JWT_SECRET')
  const publicKey = optionalVar(merged, 'TANDEM_JWT_PUBLIC_KEY')
  const jwksUrl = optionalVar(merged, 'TANDEM_JWKS_URL')
  const keyCount = [secret, publicKey, jwksUrl].filter((v) => v !== null).length
  if (keyCount > 1) {
    throw new ConfigError('TANDEM_JWT_SECRET', 'set only one of TANDEM_JWT_SECRET, TANDEM_JWT_PUBLIC_KEY, TANDEM_JWKS_URL')
  }
  if (secret !== null && new TextEncoder().encode(secret).byteLength < 32) {
    throw new ConfigError('TANDEM_JWT_SECRET', 'must be at least 32 bytes (HS256 needs a 256-bit key)')
  }
  if (jwksUrl !== null) urlVar('TANDEM_JWKS_URL', jwksUrl)

  const maxDocBytes = intVar(merged, 'TANDEM_MAX_DOC_BYTES', { default: 32 * MIB, min: 64 * 1024, max: 1024 * MIB })
  // A client joining with the whole document sends it as one sync-step-2 message: the frame limit must hold it.
  const maxMessageBytes = intVar(merged, 'TANDEM_MAX_MESSAGE_BYTES', { default: maxDocBytes + MIB, min: 1024, max: 1025 * MIB })

  const bytesPerSec = intVar(merged, 'TANDEM_WS_BYTES_PER_SEC', { default: 4 * MIB, min: 0, max: 1024 * MIB })
  // The burst lets one maximum-size message (a joiner's whole document) through on a fresh connection.
  const byteBurst = intVar(merged, 'TANDEM_WS_BYTE_BURST', { default: Math.max(maxMessageBytes, 4 * bytesPerSec), min: maxMessageBytes, max: 4096 * MIB })

  const webhookUrl = optionalVar(merged, 'TANDEM_WEBHOOK_URL')
  if (webhookUrl !== null) urlVar('TANDEM_WEBHOOK_URL', webhookUrl)
  const webhookSecret = optionalVar(merged, 'TANDEM_WEBHOOK_SECRET')
  if (webhookUrl !== null && webhookSecret === null) {
    throw new ConfigError('TANDEM_WEBHOOK_SECRET', 'required when TANDEM_WEBHOOK_URL is set (a whsec_… secret)')
  }
  // The signer's own rule (webhooks/secret-format.ts): a secret that boots is a secret that signs.
  if (webhookSecret !== null) {
    const problem = webhookSecretProblem(webhookSecret)
    if (problem !== null) throw new ConfigError('TANDEM_WEBHOOK_SECRET', problem)
  }
  const previousWebhookSecret = optionalVar(merged, 'TANDEM_WEBHOOK_PREVIOUS_SECRET')
  if (previousWebhookSecret !== null) {
    if (webhookSecret === null) throw new ConfigError('TANDEM_WEBHOOK_PREVIOUS_SECRET', 'needs TANDEM_WEBHOOK_SECRET (the new secret) to be set')
    const problem = webhookSecretProblem(previousWebhookSecret)
    if (problem !== null) throw new ConfigError('TANDEM_WEBHOOK_PREVIOUS_SECRET', problem)
    if (previousWebhookSecret === webhookSecret) throw new ConfigError('TANDEM_WEBHOOK_PREVIOUS_SECRET', 'is the same as TANDEM_WEBHOOK_SECRET')
  }
  const adminKey = optionalVar(merged, 'TANDEM_ADMIN_KEY')
  if (adminKey !== null && adminKey.length < 24) throw new ConfigError('TANDEM_ADMIN_KEY', 'must be at least 24 characters')

  const cluster = clusterConfig(merged, store)
  const instanceId = optionalVar(merged, 'TANDEM_INSTANCE_ID')
  if (instanceId !== null && !INSTANCE_ID_PATTERN.test(instanceId)) {
    throw new ConfigError('TANDEM_INSTANCE_ID', `must be 1-64 letters, digits, '.', '_', ':' or '-', got ${JSON.stringify(instanceId)}`)
  }

  return deepFreeze({
    host: stringVar(merged, 'TANDEM_HOST', '0.0.0.0'),
    port: intVar(merged, 'TANDEM_PORT', { default: 4321, min: 0, max: 65_535 }),
    dataDir,
    dataDirSetting: label('TANDEM_DATA_DIR'),
    flags,
    store,
    instanceId,
    cluster,
    logLevel: enumVar(merged, 'TANDEM_LOG_LEVEL', LOG_LEVELS, 'info'),
    auth: {
      secret,
      publicKey,
      jwksUrl,
      issuer: optionalVar(merged, 'TANDEM_JWT_ISSUER'),
      audience: optionalVar(merged, 'TANDEM_JWT_AUDIENCE'),
      allowAnonymous: boolVar(merged, 'TANDEM_ALLOW_ANONYMOUS', false),
      clockToleranceSec: intVar(merged, 'TANDEM_JWT_CLOCK_TOLERANCE_SEC', { default: 5, min: 0, max: 300 }),
      // 0 turns the check off (tokens from an issuer whose lifetimes Tandem should not judge).
      maxLifetimeSec: intVar(merged, 'TANDEM_JWT_MAX_LIFETIME_SEC', { default: 86_400, min: 0, max: 365 * 86_400 }),
    },
    ws: {
      maxMessageBytes,
      // A joiner's first frame carries the whole document, so the limit must sit well above a message.
      // (uWS refuses a send only once the buffer is already over the limit, so one message of the limit's
      // size still goes out to an idle socket; twice that leaves room for the frames that follow it.)
      maxBackpressureBytes: intVar(merged, 'TANDEM_MAX_BACKPRESSURE_BYTES', {
        default: Math.max(16 * MIB, 2 * maxMessageBytes),
        min: Math.max(64 * 1024, maxMessageBytes),
        max: 1024 * MIB,
      }),
      idleTimeoutSec: intVar(merged, 'TANDEM_IDLE_TIMEOUT_SEC', { default: 60, min: 8, max: 960 }),
      authTimeoutMs: intVar(merged, 'TANDEM_AUTH_TIMEOUT_MS', { default: 10_000, min: 100, max: 300_000 }),
      preAuthMaxMessages: 1000,
      // Clients send their document (sync step 2) only after the server's sync step 1, which follows auth.
      preAuthMaxBytes: 5 * MIB,
      maxAwarenessBytes: intVar(merged, 'TANDEM_MAX_AWARENESS_BYTES', { default: 64 * 1024, min: 256, max: 16 * MIB }),
      maxAwarenessDepth: intVar(merged, 'TANDEM_MAX_AWARENESS_DEPTH', { default: 32, min: 1, max: 1_000 }),
      // 20 Hz: smooth cursors, and a room of n connections receives at most 20n presence frames a second.
      awarenessIntervalMs: intVar(merged, 'TANDEM_AWARENESS_INTERVAL_MS', { default: 50, min: 0, max: 10_000 }),
      messagesPerSec: intVar(merged, 'TANDEM_WS_MESSAGES_PER_SEC', { default: 500, min: 0, max: 1_000_000 }),
      messageBurst: intVar(merged, 'TANDEM_WS_MESSAGE_BURST', { default: 2_000, min: 1, max: 10_000_000 }),
      bytesPerSec,
      byteBurst,
    },
    rooms: {
      idleUnloadMs: intVar(merged, 'TANDEM_ROOM_IDLE_MS', { default: 30_000, min: 0, max: 86_400_000 }),
      // y-websocket and Hocuspocus clients reconnect after 30 s without a message: stay well inside it.
      keepaliveMs: intVar(merged, 'TANDEM_KEEPALIVE_MS', { default: 15_000, min: 100, max: 25_000 }),
      compactAfterRows: intVar(merged, 'TANDEM_COMPACT_AFTER_ROWS', { default: 2_000, min: 2, max: 1_000_000 }),
      compactQuietMs: intVar(merged, 'TANDEM_COMPACT_QUIET_MS', { default: 2_000, min: 0, max: 3_600_000 }),
      autoCreate: boolVar(merged, 'TANDEM_AUTO_CREATE_ROOMS', true),
      maxDocBytes,
      maxPendingBytes: intVar(merged, 'TANDEM_MAX_PENDING_BYTES', { default: 2 * MIB, min: 0, max: 1024 * MIB }),
      replicaConfirmTimeoutMs: intVar(merged, 'TANDEM_REPLICA_CONFIRM_TIMEOUT_MS', { default: 10_000, min: 100, max: 600_000 }),
    },
    connections: {
      maxPerAddress: intVar(merged, 'TANDEM_MAX_CONNECTIONS_PER_ADDRESS', { default: 256, min: 0, max: 10_000_000 }),
      maxConnections: optionalIntVar(merged, 'TANDEM_MAX_CONNECTIONS', { min: 1, max: 10_000_000 }),
      trustedProxies: cidrListVar(merged, 'TANDEM_TRUSTED_PROXIES'),
      allowedOrigins: originListVar(merged, 'TANDEM_ALLOWED_ORIGINS'),
    },
    http: {
      adminKey,
      maxBodyBytes: intVar(merged, 'TANDEM_MAX_BODY_BYTES', { default: MIB, min: 1024, max: 256 * MIB }),
      bodyTimeoutMs: intVar(merged, 'TANDEM_BODY_TIMEOUT_MS', { default: 30_000, min: 100, max: 600_000 }),
      corsOrigins: originListVar(merged, 'TANDEM_CORS_ORIGINS') ?? [],
    },
    webhooks: {
      url: webhookUrl,
      secret: webhookSecret,
      previousSecret: previousWebhookSecret,
      secretOverlapSec: intVar(merged, 'TANDEM_WEBHOOK_SECRET_OVERLAP_SEC', { default: 86_400, min: 0, max: MAX_SECRET_OVERLAP_SEC }),
      allowPrivate: boolVar(merged, 'TANDEM_WEBHOOK_ALLOW_PRIVATE', false),
      timeoutMs: intVar(merged, 'TANDEM_WEBHOOK_TIMEOUT_MS', { default: 15_000, min: 100, max: 120_000 }),
      debounceMs: intVar(merged, 'TANDEM_WEBHOOK_DEBOUNCE_MS', { default: 2_000, min: 0, max: 3_600_000 }),
      maxWaitMs: intVar(merged, 'TANDEM_WEBHOOK_MAX_WAIT_MS', { default: 10_000, min: 0, max: 3_600_000 }),
      maxAttempts: intVar(merged, 'TANDEM_WEBHOOK_MAX_ATTEMPTS', { default: 10, min: 1, max: 100 }),
      retryBaseMs: intVar(merged, 'TANDEM_WEBHOOK_RETRY_BASE_MS', { default: 5_000, min: 1, max: 3_600_000 }),
      retryMaxMs: intVar(merged, 'TANDEM_WEBHOOK_RETRY_MAX_MS', { default: 3_600_000, min: 1, max: 86_400_000 }),
    },
    versions: {
      quietMs: intVar(merged, 'TANDEM_VERSION_QUIET_MS', { default: 300_000, min: 10, max: 86_400_000 }),
      maxIntervalMs: intVar(merged, 'TANDEM_VERSION_MAX_INTERVAL_MS', { default: 1_800_000, min: 10, max: 7 * 86_400_000 }),
      keepAuto: intVar(merged, 'TANDEM_VERSION_KEEP_AUTO', { default: 50, min: 0, max: 100_000 }),
    },
    shutdownTimeoutMs: intVar(merged, 'TANDEM_SHUTDOWN_TIMEOUT_MS', { default: 20_000, min: 100, max: 120_000 }),
  })
}

const INSTANCE_ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/
const REDIS_PREFIX_PATTERN = /^[A-Za-z0-9._:-]{0,64}$/

/** TANDEM_REDIS_URL makes the instance a cluster member; that only works on a shared PostgreSQL store. */
function clusterConfig(env: Env, store: StoreConfig): ClusterConfig | null {
  const redisUrl = optionalVar(env, 'TANDEM_REDIS_URL')
  const prefix = env['TANDEM_REDIS_PREFIX'] === undefined ? 'tandem:' : env['TANDEM_REDIS_PREFIX'].trim()
  if (!REDIS_PREFIX_PATTERN.test(prefix)) {
    throw new ConfigError('TANDEM_REDIS_PREFIX', `must be at most 64 letters, digits, '.', '_', ':' or '-', got ${JSON.stringify(prefix)}`)
  }
  if (redisUrl === null) return null
  // Never echo the value: it may carry a password.
  let parsed: URL
  try {
    parsed = new URL(redisUrl)
  } catch {
    throw new ConfigError('TANDEM_REDIS_URL', 'not a valid URL (expected redis://[user:password@]host:port[/db])')
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new ConfigError('TANDEM_REDIS_URL', `must be a redis:// or rediss:// URL, got ${parsed.protocol}//…`)
  }
  // Instances on separate SQLite files would each hold a different truth; Redis only carries messages.
  if (store.kind !== 'postgres') {
    throw new ConfigError('TANDEM_REDIS_URL', 'a cluster needs a shared PostgreSQL store: set TANDEM_DATABASE_URL as well')
  }
  return { redisUrl, redisPrefix: prefix }
}

/** The URL without its password, for logs and error messages. */
export function redactUrlPassword(raw: string): string {
  try {
    const url = new URL(raw)
    if (url.password !== '') url.password = '***'
    return url.toString()
  } catch {
    return '(unparseable URL)'
  }
}

/** Regular unquoted-style identifier, lowercase: quoted or not, it names the same schema. */
const SCHEMA_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/

/** TANDEM_DATABASE_URL selects Postgres; otherwise TANDEM_STORE picks SQLite (the default) or memory. */
function storeConfig(env: Env, dataDir: string): StoreConfig {
  const url = optionalVar(env, 'TANDEM_DATABASE_URL')
  const explicitKind = optionalVar(env, 'TANDEM_STORE')
  const kind = enumVar(env, 'TANDEM_STORE', ['sqlite', 'memory', 'postgres'] as const, url === null ? 'sqlite' : 'postgres')
  if (kind !== 'postgres') {
    if (url !== null && explicitKind !== null) {
      throw new ConfigError('TANDEM_DATABASE_URL', `selects PostgreSQL, but TANDEM_STORE=${kind}: unset one of them`)
    }
    return kind === 'memory' ? { kind: 'memory' } : { kind: 'sqlite', path: joinPath(dataDir, 'tandem.db') }
  }
  if (url === null) throw new ConfigError('TANDEM_DATABASE_URL', 'required when TANDEM_STORE=postgres (postgres://user:password@host:port/database)')
  // Never echo the value: it may carry a password.
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new ConfigError('TANDEM_DATABASE_URL', 'not a valid URL (expected postgres://user:password@host:port/database)')
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new ConfigError('TANDEM_DATABASE_URL', `must be a postgres:// or postgresql:// URL, got ${parsed.protocol}//…`)
  }
  const schema = stringVar(env, 'TANDEM_DATABASE_SCHEMA', 'public')
  if (!SCHEMA_PATTERN.test(schema)) {
    throw new ConfigError('TANDEM_DATABASE_SCHEMA', `must be lowercase letters, digits and _ (not starting with a digit, at most 63), got ${JSON.stringify(schema)}`)
  }
  return {
    kind: 'postgres',
    url,
    schema,
    poolSize: intVar(env, 'TANDEM_DATABASE_POOL_SIZE', { default: 10, min: 1, max: 1_000 }),
    timeoutMs: intVar(env, 'TANDEM_DATABASE_TIMEOUT_MS', { default: 10_000, min: 100, max: 600_000 }),
    maxWaitingBytes: intVar(env, 'TANDEM_DATABASE_MAX_WAITING_BYTES', { default: 64 * MIB, min: MIB, max: 4096 * MIB }),
  }
}

function optionalVar(env: Env, name: string): string | null {
  const raw = env[name]
  if (raw === undefined) return null
  const value = raw.trim()
  return value === '' ? null : value
}

function stringVar(env: Env, name: string, fallback: string): string {
  return optionalVar(env, name) ?? fallback
}

function intVar(env: Env, name: string, range: { default: number; min: number; max: number }): number {
  const raw = optionalVar(env, name)
  if (raw === null) return range.default
  if (!/^-?\d+$/.test(raw)) throw new ConfigError(name, `expected a whole number, got ${JSON.stringify(raw)}`)
  const value = Number(raw)
  if (!Number.isSafeInteger(value) || value < range.min || value > range.max) {
    throw new ConfigError(name, `must be between ${range.min} and ${range.max}, got ${raw}`)
  }
  return value
}

function optionalIntVar(env: Env, name: string, range: { min: number; max: number }): number | null {
  return optionalVar(env, name) === null ? null : intVar(env, name, { ...range, default: 0 })
}

/** Addresses and CIDR ranges separated by commas or spaces. */
function cidrListVar(env: Env, name: string): string[] {
  const raw = optionalVar(env, name)
  if (raw === null) return []
  const entries = raw.split(/[\s,]+/).filter((e) => e !== '')
  for (const entry of entries) {
    if (parseCidr(entry) === null) throw new ConfigError(name, `not an IP address or CIDR range: ${JSON.stringify(entry)}`)
  }
  return entries
}

/**
 * A list of browser origins (`https://app.example.com`, `http://localhost:5173`), comma or space
 * separated, normalised as browsers send them; `*` alone means any. Null when unset.
 */
function originListVar(env: Env, name: string): string[] | null {
  const raw = optionalVar(env, name)
  if (raw === null) return null
  const entries = raw.split(/[\s,]+/).filter((e) => e !== '')
  if (entries.length === 1 && entries[0] === '*') return ['*']
  return entries.map((entry) => {
    let url: URL
    try {
      url = new URL(entry)
    } catch {
      throw new ConfigError(name, `not an origin (scheme://host[:port]): ${JSON.stringify(entry)}`)
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username !== '') {
      throw new ConfigError(name, `not an origin (scheme://host[:port], no path): ${JSON.stringify(entry)}`)
    }
    return url.origin
  })
}

function boolVar(env: Env, name: string, fallback: boolean): boolean {
  const raw = optionalVar(env, name)
  if (raw === null) return fallback
  const lower = raw.toLowerCase()
  if (['true', '1', 'yes', 'on'].includes(lower)) return true
  if (['false', '0', 'no', 'off'].includes(lower)) return false
  throw new ConfigError(name, `expected true or false, got ${JSON.stringify(raw)}`)
}

function enumVar<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = optionalVar(env, name)
  if (raw === null) return fallback
  const match = allowed.find((a) => a === raw.toLowerCase())
  if (match === undefined) throw new ConfigError(name, `expected one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`)
  return match
}

function urlVar(name: string, raw: string): URL {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new ConfigError(name, `not a valid URL: ${JSON.stringify(raw)}`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError(name, 'must be an http(s) URL')
  return url
}

// config.ts stays free of node: imports so it can be unit-tested anywhere; a plain join is enough here.
function joinPath(dir: string, file: string): string {
  return dir.endsWith('/') ? dir + file : `${dir}/${file}`
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child)
    Object.freeze(value)
  }
  return value
}
