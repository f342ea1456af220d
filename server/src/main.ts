/**
 * Process edge: argv + env -> config -> createServer -> listen; signals. The only file that exits.
 *
 *   tandem serve [--host H] [--port P] [--data-dir D] [--database-url URL] [--redis-url URL]
 *   tandem migrate [--database-url URL]
 *   tandem token --room <name> [--room <name> …] [--read-only] [--ttl 1h] [--sub <id>] [--name <n>] [--database-url URL]
 *   tandem admin-key [--data-dir D] [--database-url URL]
 */
import { parseArgs } from 'node:util'
import { loadConfig, ConfigError, type Config } from './config.js'
import { createLogger } from './logger.js'
import { createServer, secretKeeperFor } from './server.js'
import { resolveVerificationKey } from './auth/keys.js'
import { defaultTtlFor, mintToken, parseTtl, ttlProblem } from './auth/mint.js'
import { isValidRoomName } from './errors.js'
import { UwsLoadError } from './uws.js'
import { RedisConnectError } from './replication/redis.js'
import { resolveAdminKey } from './http/admin-key.js'
import { PostgresOpenError, migrateDatabase, redactUrl } from './persistence/postgres-schema.js'

const USAGE = `Usage:
  tandem serve [--host H] [--port P] [--data-dir D] [--database-url URL] [--redis-url URL]
  tandem migrate [--database-url URL]  apply PostgreSQL schema migrations and exit
  tandem token --room <name> [--room <name> ...] [--read-only] [--ttl 1h] [--sub <id>] [--name <name>]
               [--data-dir D] [--database-url URL]
  tandem admin-key [--data-dir D] [--database-url URL]
                                       print the REST admin key (generated on first use; kept in the
                                       database when TANDEM_DATABASE_URL is set, else in the data dir)

Configuration comes from TANDEM_* environment variables (see README); flags override them.`

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  switch (command) {
    case 'serve':
      return serve(rest)
    case 'migrate':
      return migrate(rest)
    case 'token':
      return token(rest)
    case 'admin-key':
      return adminKey(rest)
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE)
      return command === undefined ? 2 : 0
    default:
      console.error(`Unknown command ${JSON.stringify(command)}.\n\n${USAGE}`)
      return 2
  }
}

async function serve(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      'data-dir': { type: 'string' },
      'database-url': { type: 'string' },
      'redis-url': { type: 'string' },
    },
    strict: true,
  })
  const config = loadConfig(process.env, {
    host: values.host,
    port: values.port,
    dataDir: values['data-dir'],
    databaseUrl: values['database-url'],
    redisUrl: values['redis-url'],
  })
  const log = createLogger(config.logLevel)
  const server = await createServer(config, { logger: log })
  await server.listen()

  let stopping = false
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting without finishing the drain')
      process.exit(1)
    }
    stopping = true
    log.info({ signal }, 'draining')
    const deadline = setTimeout(() => {
      log.error({ deadlineMs: config.shutdownTimeoutMs }, 'drain did not finish in time')
      process.exit(1)
    }, config.shutdownTimeoutMs)
    deadline.unref()
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'drain failed')
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  return new Promise<number>(() => {}) // runs until a signal
}

/** Applies the PostgreSQL migrations (what `serve` does at boot) and exits; SQLite needs no such step. */
async function migrate(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { 'database-url': { type: 'string' } }, strict: true })
  const config = loadConfig(process.env, { databaseUrl: values['database-url'] })
  const store = config.store
  if (store.kind !== 'postgres') {
    console.error('tandem migrate: TANDEM_DATABASE_URL (or --database-url) is not set; the SQLite store migrates itself when the server starts')
    return 1
  }
  try {
    const { from, to } = await migrateDatabase({ url: store.url, schema: store.schema, timeoutMs: store.timeoutMs })
    console.log(
      from === to
        ? `tandem migrate: schema "${store.schema}" at ${redactUrl(store.url)} is up to date (version ${to})`
        : `tandem migrate: schema "${store.schema}" at ${redactUrl(store.url)} migrated from version ${from} to ${to}`,
    )
    return 0
  } catch (err) {
    if (err instanceof PostgresOpenError) throw new ConfigError(err.setting, err.message)
    throw err
  }
}

async function token(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      room: { type: 'string', multiple: true },
      'read-only': { type: 'boolean', default: false },
      ttl: { type: 'string' },
      sub: { type: 'string', default: 'cli-user' },
      name: { type: 'string' },
      'data-dir': { type: 'string' },
      'database-url': { type: 'string' },
    },
    strict: true,
  })
  const rooms = values.room ?? []
  if (rooms.length === 0) {
    console.error('tandem token: give at least one --room <name> (a name, a prefix ending in *, or * for every room)')
    return 2
  }
  for (const room of rooms) {
    const name = room.endsWith('*') ? room.slice(0, -1) : room
    if (room !== '*' && !isValidRoomName(name)) {
      console.error(`tandem token: ${JSON.stringify(room)} is not a room name, prefix* or *`)
      return 2
    }
  }
  const config: Config = loadConfig(process.env, { dataDir: values['data-dir'], databaseUrl: values['database-url'] })
  const key = await resolveVerificationKey(config.auth, secretKeeperFor(config))
  if (key.kind !== 'secret') {
    console.error('tandem token: this server verifies tokens signed elsewhere (public key or JWKS); mint them with that issuer')
    return 2
  }
  const access = values['read-only'] ? 'read' : 'write'
  // Never mint what this server would refuse: the ttl is held to TANDEM_JWT_MAX_LIFETIME_SEC.
  const { maxLifetimeSec } = config.auth
  let ttlSec: number
  try {
    ttlSec = values.ttl === undefined ? defaultTtlFor(maxLifetimeSec) : parseTtl(values.ttl)
  } catch (err) {
    console.error(`tandem token: ${err instanceof Error ? err.message : String(err)}`)
    return 2
  }
  const problem = ttlProblem(ttlSec, maxLifetimeSec)
  if (problem !== null) {
    console.error(`tandem token: ${problem}`)
    return 2
  }
  const jwt = await mintToken(
    key.key,
    { sub: values.sub, ...(values.name !== undefined && { name: values.name }), rooms: Object.fromEntries(rooms.map((r) => [r, access])) },
    { ttlSec, issuer: config.auth.issuer, audience: config.auth.audience, maxLifetimeSec },
  )
  process.stdout.write(`${jwt}\n`)
  return 0
}

/**
 * Prints the admin key the server uses: TANDEM_ADMIN_KEY, else the generated one (created if missing),
 * kept in `<data-dir>/admin-key`, or with TANDEM_DATABASE_URL in the database.
 */
async function adminKey(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { 'data-dir': { type: 'string' }, 'database-url': { type: 'string' } }, strict: true })
  const config: Config = loadConfig(process.env, { dataDir: values['data-dir'], databaseUrl: values['database-url'] })
  const resolved = await resolveAdminKey(config.http.adminKey, secretKeeperFor(config))
  if (resolved.source === 'generated') console.error(`tandem admin-key: generated a new admin key in ${resolved.path ?? config.dataDir}`)
  process.stdout.write(`${resolved.key}\n`)
  return 0
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof ConfigError || err instanceof UwsLoadError || err instanceof RedisConnectError) {
      console.error(`tandem: ${err.message}`)
    } else if (err instanceof Error && 'code' in err && typeof err.code === 'string' && err.code.startsWith('ERR_PARSE_ARGS')) {
      console.error(`tandem: ${err.message}\n\n${USAGE}`)
    } else {
      console.error('tandem: failed to start:', err)
    }
    process.exit(1)
  },
)
