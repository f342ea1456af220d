/**
 * Process edge: argv + env -> config -> createServer -> listen; signals. The only file that exits.
 *
 *   tandem serve [--host H] [--port P] [--data-dir D] [--database-url URL] [--redis-url URL]
 *   tandem migrate [--database-url URL]
 *   tandem token --room <name> [--room <name> …] [--read-only] [--ttl 1h] [--sub <id>] [--name <n>] [--data-dir D] [--database-url URL]
 *   tandem admin-key [--data-dir D] [--database-url URL]
 *   tandem --help | <command> --help | --version
 *
 * Every failure is one line on stderr naming the setting at fault (the stack only at TANDEM_LOG_LEVEL=debug);
 * wrong arguments print the command's usage and exit 2.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { loadConfig, ConfigError, settingName, type Config, type ConfigOverrides } from './config.js'
import { createLogger } from './logger.js'
import { createServer, secretKeeperFor } from './server.js'
import { resolveVerificationKey } from './auth/keys.js'
import { defaultTtlFor, mintToken, parseTtl, ttlProblem } from './auth/mint.js'
import { isValidRoomName } from './errors.js'
import { UwsLoadError } from './uws.js'
import { RedisConnectError } from './replication/redis.js'
import { resolveAdminKey } from './http/admin-key.js'
import { PostgresOpenError, migrateDatabase, redactUrl } from './persistence/postgres-schema.js'
import { findDataDir } from './find-data-dir.js'

const COMMANDS_HELP = `Commands:
  serve       run the server
  migrate     apply PostgreSQL schema migrations and exit
  token       mint a client token signed with the server's key
  admin-key   print the REST admin key

Run \`tandem <command> --help\` for a command's options, \`tandem --version\` for the version.
Configuration comes from TANDEM_* environment variables (see the README); flags override them.`

const USAGE = `Usage: tandem <command> [options]

${COMMANDS_HELP}`

const DATA_DIR_HELP = `  --data-dir D          data directory (TANDEM_DATA_DIR). Default: the data/ folder of the project this
                        is run in: the nearest folder, from here up, that holds a data/ with Tandem's
                        files or is the project's root (its package.json); without one, give --data-dir`

/** Each command's --help text. */
const HELP: Readonly<Record<string, string>> = {
  serve: `Usage: tandem serve [options]

Runs the server: WebSocket, REST API and webhooks on one port. Stops cleanly on SIGTERM/SIGINT.

Options:
  --host H              address to listen on (TANDEM_HOST, default 0.0.0.0)
  --port P              port to listen on, 0 for any free one (TANDEM_PORT, default 4321)
  --data-dir D          SQLite database and generated secrets (TANDEM_DATA_DIR, default ./data)
  --database-url URL    PostgreSQL store instead of SQLite (TANDEM_DATABASE_URL)
  --redis-url URL       join a cluster over Redis; needs --database-url (TANDEM_REDIS_URL)
  -h, --help            show this help

Every other setting is a TANDEM_* environment variable (see the README's configuration table).
A startup failure prints one line naming the setting; TANDEM_LOG_LEVEL=debug adds the stack trace.`,
  migrate: `Usage: tandem migrate [options]

Applies the PostgreSQL schema migrations (what \`tandem serve\` does at boot) and exits.
The SQLite store needs no such step: it migrates itself when the server starts.

Options:
  --database-url URL    the database (TANDEM_DATABASE_URL; TANDEM_DATABASE_SCHEMA picks the schema)
  -h, --help            show this help`,
  token: `Usage: tandem token --room <name> [--room <name> ...] [options]

Prints a client token (a JWT) signed with the key the server uses: TANDEM_JWT_SECRET, else the
secret generated in the data directory (or, with TANDEM_DATABASE_URL, in the database).

Options:
  --room R              a room name, a prefix ending in *, or * for every room (repeatable)
  --read-only           read access only (default: write)
  --ttl T               lifetime: 90s, 15m, 1h, 2d (default 1h, held to TANDEM_JWT_MAX_LIFETIME_SEC)
  --sub ID              the user id (sub claim, default cli-user)
  --name N              the display name (name claim)
${DATA_DIR_HELP}
  --database-url URL    read the generated secret from this database (TANDEM_DATABASE_URL)
  -h, --help            show this help`,
  'admin-key': `Usage: tandem admin-key [options]

Prints the REST admin key the server uses: TANDEM_ADMIN_KEY, else the key generated on first use,
kept in <data-dir>/admin-key, or with TANDEM_DATABASE_URL in the database.

Options:
${DATA_DIR_HELP}
  --database-url URL    read the generated key from this database (TANDEM_DATABASE_URL)
  -h, --help            show this help`,
}

/** Wrong arguments: printed with the command's usage, exit code 2. */
class UsageError extends Error {
  constructor(
    message: string,
    readonly command: string | null,
  ) {
    super(message)
    this.name = 'UsageError'
  }
}

const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const

/** Runs a command's parseArgs (which includes HELP_OPTION): null when help was printed. */
function parse<T extends { values: { help?: boolean | undefined } }>(command: string, run: () => T): T['values'] | null {
  let values: T['values']
  try {
    values = run().values
  } catch (err) {
    if (isParseArgsError(err)) throw new UsageError(err.message, command)
    throw err
  }
  if (values.help === true) {
    console.log(HELP[command])
    return null
  }
  return values
}

function isParseArgsError(err: unknown): err is Error {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' && err.code.startsWith('ERR_PARSE_ARGS')
}

/** The server package's version (dist/main.js sits one folder below its package.json). */
function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown }
  return typeof pkg.version === 'string' ? pkg.version : 'unknown'
}

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
    case '--version':
    case '-v':
    case 'version':
      console.log(version())
      return 0
    case 'help':
    case '--help':
    case '-h': {
      // `tandem help token` shows the command's help.
      const topic = rest[0]
      console.log(topic !== undefined && topic in HELP ? HELP[topic] : USAGE)
      return 0
    }
    case undefined:
      console.error(USAGE)
      return 2
    default:
      throw new UsageError(command.startsWith('-') ? `Unknown option ${JSON.stringify(command)}` : `Unknown command ${JSON.stringify(command)}`, null)
  }
}

async function serve(args: string[]): Promise<number> {
  const values = parse('serve', () =>
    parseArgs({
      args,
      strict: true,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        'data-dir': { type: 'string' },
        'database-url': { type: 'string' },
        'redis-url': { type: 'string' },
        ...HELP_OPTION,
      },
    }),
  )
  if (values === null) return 0
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
  const values = parse('migrate', () => parseArgs({ args, strict: true, options: { 'database-url': { type: 'string' }, ...HELP_OPTION } }))
  if (values === null) return 0
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
    if (err instanceof PostgresOpenError) throw new ConfigError(settingName(config, err.setting), err.message)
    throw err
  }
}

async function token(args: string[]): Promise<number> {
  const values = parse('token', () =>
    parseArgs({
      args,
      strict: true,
      options: {
        room: { type: 'string', multiple: true },
        'read-only': { type: 'boolean', default: false },
        ttl: { type: 'string' },
        sub: { type: 'string', default: 'cli-user' },
        name: { type: 'string' },
        'data-dir': { type: 'string' },
        'database-url': { type: 'string' },
        ...HELP_OPTION,
      },
    }),
  )
  if (values === null) return 0
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
  const config = cliConfig('token', { dataDir: values['data-dir'], databaseUrl: values['database-url'] }, (c) => c.auth.secret === null && c.auth.publicKey === null && c.auth.jwksUrl === null)
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
  const values = parse('admin-key', () => parseArgs({ args, strict: true, options: { 'data-dir': { type: 'string' }, 'database-url': { type: 'string' }, ...HELP_OPTION } }))
  if (values === null) return 0
  const config = cliConfig('admin-key', { dataDir: values['data-dir'], databaseUrl: values['database-url'] }, (c) => c.http.adminKey === null)
  const resolved = await resolveAdminKey(config.http.adminKey, secretKeeperFor(config))
  if (resolved.source === 'generated') console.error(`tandem admin-key: generated a new admin key in ${resolved.path ?? config.dataDir}`)
  process.stdout.write(`${resolved.key}\n`)
  return 0
}

/**
 * The configuration for `token` and `admin-key`. Without --data-dir or TANDEM_DATA_DIR, and when the
 * command would read or create a secret in the data directory (`usesDataDir`), the directory is the one
 * `tandem serve` uses from the project's root (find-data-dir.ts); finding none, it refuses rather than
 * create a new directory and a secret the server has never seen.
 */
function cliConfig(command: string, overrides: ConfigOverrides, usesDataDir: (config: Config) => boolean): Config {
  const config = loadConfig(process.env, overrides)
  const givenDir = overrides.dataDir !== undefined || (process.env['TANDEM_DATA_DIR'] ?? '').trim() !== ''
  if (givenDir || config.store.kind === 'postgres' || !usesDataDir(config)) return config
  const found = findDataDir(process.cwd())
  if (found === null) {
    throw new ConfigError(
      '--data-dir',
      `not given, and no Tandem data directory was found in ${process.cwd()} or above it (no data/ holding Tandem's files, no package.json of a project using Tandem); run this where you run \`tandem serve\`, or give --data-dir (or TANDEM_DATA_DIR)`,
    )
  }
  if (path.resolve(found.dir) !== path.resolve('data')) console.error(`tandem ${command}: using the data directory ${found.dir}`)
  return loadConfig({ ...process.env, TANDEM_DATA_DIR: found.dir }, overrides)
}

/** TANDEM_LOG_LEVEL=debug (or trace) shows the full error; otherwise every failure is one line. */
function wantsStack(): boolean {
  const level = (process.env['TANDEM_LOG_LEVEL'] ?? '').trim().toLowerCase()
  return level === 'debug' || level === 'trace'
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim()
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError) {
      console.error(`tandem: ${err.message}\n\n${err.command === null ? USAGE : HELP[err.command]}`)
      process.exit(2)
    }
    const known = err instanceof ConfigError || err instanceof UwsLoadError || err instanceof RedisConnectError
    const message = err instanceof Error ? err.message : String(err)
    const hint = known || wantsStack() ? '' : ' (TANDEM_LOG_LEVEL=debug shows the full error)'
    console.error(`tandem: ${known ? '' : 'failed to start: '}${oneLine(message)}${hint}`)
    if (wantsStack()) console.error(err)
    process.exit(1)
  },
)
