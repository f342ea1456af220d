/**
 * Starting and stopping the servers under test, each in its own child process on 127.0.0.1.
 *
 *   tandem       Tandem (this repo), single framing `/ws/<room>`, SQLite store (its default) unless --store
 *                memory or --store postgres (a fresh schema per server, dropped after it exits)
 *   tandem-mux   the same server measured on its multiplexed (Hocuspocus-compatible) framing `/ws`
 *   y-websocket  @y/websocket-server (the reference y-websocket server), no persistence
 *   hocuspocus   @hocuspocus/server v3, no extensions (no persistence), multiplexed framing
 *   hocuspocus-redis  one instance of a Hocuspocus cluster (bench/servers/hocuspocus-cluster.js:
 *                extension-redis + extension-database on Postgres); the cluster scenario starts N of them
 *   uws          bench/servers/uws-relay.js: bare uWebSockets.js pub/sub relay, no Yjs (the ceiling)
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { DEFAULT_DATABASE_URL, dropSchema, ensureReachable, freshSchemaName } from './postgres.js'

const here = path.dirname(fileURLToPath(import.meta.url))
export const REPO_ROOT = path.resolve(here, '..', '..')
export const RESULTS_DIR = path.join(REPO_ROOT, 'bench', 'results')
export const PROFILES_DIR = path.join(RESULTS_DIR, 'profiles')
const HOST = '127.0.0.1'

/** Children still running, killed if the bench itself exits early (Ctrl-C, crash). */
const live = new Set()
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})

/** @typedef {'tandem' | 'tandem-mux' | 'y-websocket' | 'hocuspocus' | 'hocuspocus-redis' | 'uws'} ServerKind */
/** @type {ServerKind[]} */
export const SERVER_KINDS = ['tandem', 'tandem-mux', 'y-websocket', 'hocuspocus', 'hocuspocus-redis', 'uws']
/** What `bench:compare` runs by default, Tandem first (ratios are to it). */
export const COMPARE_KINDS = /** @type {ServerKind[]} */ (['tandem', 'y-websocket', 'hocuspocus', 'uws'])

/** @type {Record<ServerKind, string>} */
export const SERVER_LABELS = {
  tandem: 'Tandem',
  'tandem-mux': 'Tandem (mux)',
  'y-websocket': 'y-websocket',
  hocuspocus: 'Hocuspocus',
  'hocuspocus-redis': 'Hocuspocus + Redis',
  uws: 'bare uWS',
}

/**
 * @typedef {object} RunningServer
 * @property {ServerKind} kind
 * @property {number} pid
 * @property {number} port
 * @property {number[]} [ports] a cluster's instances (cluster scenario): clients spread over these
 * @property {number[]} [pids] a cluster's instances' processes, in the order of `ports`
 * @property {string} host
 * @property {'single' | 'mux'} framing
 * @property {string} singlePath
 * @property {string} muxPath
 * @property {string} description
 * @property {() => Promise<{ code: number | null, signal: string | null }>} stop
 * @property {() => string} logTail
 * @property {boolean} exited
 * @property {string | null} profileDir
 * @property {() => string | null} inspectorUrl the inspector's ws:// URL once Node printed it (see inspector.js)
 * @property {(timeoutMs: number) => Promise<string | null>} waitInspectorUrl
 */

/** A free TCP port on 127.0.0.1 (there is a tiny race between closing it and the server binding it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, HOST, () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

/** @param {number} port */
function canConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: HOST, port })
    sock.once('connect', () => {
      sock.destroy()
      resolve(true)
    })
    sock.once('error', () => resolve(false))
  })
}

/**
 * @param {ServerKind} kind
 * `database` (with store postgres) points the server at a schema someone else owns and drops (a cluster's
 * instances share one); without it the server gets a fresh schema of its own, dropped when it stops.
 * `cluster` (hocuspocus-redis only, which runs in the cluster scenario alone) names the Redis prefix and
 * the instance; the scenario also passes `database` and removes both afterwards.
 * @param {{ store?: import('./context.js').StoreKind, databaseUrl?: string, database?: { url: string, schema: string },
 *   cluster?: { redisUrl: string, redisPrefix: string, instanceId: string },
 *   profile?: boolean, env?: Record<string, string>, log?: (line: string) => void }} [opts]
 * @returns {Promise<RunningServer>}
 */
export async function startServer(kind, opts = {}) {
  const port = await freePort()
  // Arms the inspector without starting it: a SIGUSR1 (bench/lib/inspector.js, idle scenario only) opens
  // it on a free port of 127.0.0.1 instead of the shared default 9229. Nothing listens until then.
  /** @type {string[]} */
  const nodeArgs = ['--inspect-port=127.0.0.1:0']
  let profileDir = null
  if (opts.profile) {
    profileDir = path.join(PROFILES_DIR, `${kind}-${new Date().toISOString().replace(/[:.]/g, '-')}`)
    fs.mkdirSync(profileDir, { recursive: true })
    nodeArgs.push('--cpu-prof', '--cpu-prof-dir', profileDir)
  }
  /** @type {Record<string, string>} */
  const env = { ...process.env, ...opts.env }
  /** @type {string[]} */
  let args
  let framing = /** @type {'single' | 'mux'} */ ('single')
  let description
  let dataDir = null
  /** @type {{ url: string, schema: string } | null} */
  let database = null
  /** @type {{ url: string, schema: string } | null} */
  let sharedDatabase = null
  switch (kind) {
    case 'tandem':
    case 'tandem-mux': {
      const main = path.join(REPO_ROOT, 'server', 'dist', 'main.js')
      if (!fs.existsSync(main)) throw new Error('Tandem is not built: run `npx tsc -b` (or `npm run build`) first')
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-'))
      const store = opts.store ?? 'sqlite'
      if (store === 'postgres' && opts.database) {
        sharedDatabase = opts.database
      } else if (store === 'postgres') {
        const url = opts.databaseUrl ?? DEFAULT_DATABASE_URL
        await ensureReachable(url)
        database = { url, schema: freshSchemaName() }
      }
      Object.assign(env, {
        TANDEM_ALLOW_ANONYMOUS: 'true',
        TANDEM_STORE: store,
        TANDEM_LOG_LEVEL: 'warn',
        // Every bench client connects from 127.0.0.1: the per-address cap (256) would refuse most of them.
        TANDEM_MAX_CONNECTIONS_PER_ADDRESS: '0',
        ...(database && { TANDEM_DATABASE_URL: database.url, TANDEM_DATABASE_SCHEMA: database.schema }),
        ...(sharedDatabase && { TANDEM_DATABASE_URL: sharedDatabase.url, TANDEM_DATABASE_SCHEMA: sharedDatabase.schema }),
        ...opts.env,
      })
      args = [path.join(REPO_ROOT, 'server', 'bin', 'tandem.js'), 'serve', '--host', HOST, '--port', String(port), '--data-dir', dataDir]
      framing = kind === 'tandem' ? 'single' : 'mux'
      description = `Tandem (${store} store, ${framing === 'single' ? 'single framing /ws/<room>' : 'multiplexed framing /ws'})`
      break
    }
    case 'y-websocket':
      Object.assign(env, { HOST, PORT: String(port) })
      delete env.YPERSISTENCE
      args = [path.join(REPO_ROOT, 'node_modules', '@y', 'websocket-server', 'src', 'server.js')]
      description = '@y/websocket-server 0.1.1 (no persistence)'
      break
    case 'hocuspocus':
      Object.assign(env, { HOST, PORT: String(port) })
      args = [path.join(REPO_ROOT, 'bench', 'servers', 'hocuspocus.js')]
      framing = 'mux'
      description = `@hocuspocus/server ${packageVersion('@hocuspocus/server')} (no extensions, no persistence)`
      break
    case 'hocuspocus-redis': {
      const c = opts.cluster
      if (!c || !opts.database) throw new Error('hocuspocus-redis is one instance of a cluster: run it with the cluster scenario (npm run bench -- cluster --server hocuspocus-redis)')
      Object.assign(env, {
        HOST,
        PORT: String(port),
        REDIS_URL: c.redisUrl,
        REDIS_PREFIX: c.redisPrefix,
        IDENTIFIER: c.instanceId,
        DATABASE_URL: opts.database.url,
        DATABASE_SCHEMA: opts.database.schema,
      })
      args = [path.join(REPO_ROOT, 'bench', 'servers', 'hocuspocus-cluster.js')]
      framing = 'mux'
      description = `@hocuspocus/server ${packageVersion('@hocuspocus/server')} + extension-redis ${packageVersion('@hocuspocus/extension-redis')} + extension-database ${packageVersion('@hocuspocus/extension-database')} (Postgres)`
      break
    }
    case 'uws':
      Object.assign(env, { HOST, PORT: String(port) })
      args = [path.join(REPO_ROOT, 'bench', 'servers', 'uws-relay.js')]
      description = 'bare uWebSockets.js relay (no Yjs)'
      break
    default:
      throw new Error(`unknown server ${kind}; one of ${SERVER_KINDS.join(', ')}`)
  }

  const child = spawn(process.execPath, [...nodeArgs, ...args], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  live.add(child)
  child.once('exit', () => live.delete(child))
  /** @type {string[]} */
  const tail = []
  /** @type {string | null} */
  let inspectorUrl = null
  /** @type {Set<(url: string) => void>} */
  const inspectorWaiters = new Set()
  const onLine = (/** @type {string} */ line) => {
    if (line.trim() === '') return
    // Node's own inspector lines ("Debugger listening on ws://...", "For help, see: ...",
    // "Debugger attached.", "Debugger ending on ..."): only the URL matters, the rest is not server output.
    const m = /^Debugger listening on (ws:\/\/\S+)/.exec(line)
    if (m) {
      inspectorUrl = m[1]
      for (const w of inspectorWaiters) w(m[1])
      inspectorWaiters.clear()
      return
    }
    if (/^(For help, see: https:\/\/nodejs\.org\/en\/docs\/inspector|Debugger attached\.|Debugger ending on |Waiting for the debugger to disconnect)/.test(line)) return
    tail.push(line)
    if (tail.length > 40) tail.shift()
    opts.log?.(line)
  }
  // Whole lines only: a chunk may end in the middle of one (the inspector URL must not be cut).
  const lines = (/** @type {import('node:stream').Readable} */ stream) => {
    let partial = ''
    stream.setEncoding('utf8')
    stream.on('data', (/** @type {string} */ chunk) => {
      const parts = (partial + chunk).split('\n')
      partial = parts.pop() ?? ''
      for (const line of parts) onLine(line)
    })
    stream.on('end', () => {
      if (partial !== '') onLine(partial)
      partial = ''
    })
  }
  lines(child.stdout)
  lines(child.stderr)
  /** @type {Promise<{ code: number | null, signal: string | null }>} */
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))

  /** @type {RunningServer} */
  const server = {
    kind,
    pid: /** @type {number} */ (child.pid),
    port,
    host: HOST,
    framing,
    singlePath: '/ws/',
    muxPath: '/ws',
    description,
    exited: false,
    profileDir,
    logTail: () => tail.join('\n'),
    inspectorUrl: () => inspectorUrl,
    waitInspectorUrl(timeoutMs) {
      if (inspectorUrl !== null) return Promise.resolve(inspectorUrl)
      return new Promise((resolve) => {
        const done = (/** @type {string | null} */ url) => {
          clearTimeout(timer)
          inspectorWaiters.delete(done)
          resolve(url)
        }
        const timer = setTimeout(() => done(null), timeoutMs)
        inspectorWaiters.add(done)
      })
    },
    async stop() {
      if (server.exited) return exited
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
      const result = await exited
      clearTimeout(timer)
      await removeStorage()
      return result
    },
  }
  void exited.then(() => {
    server.exited = true
  })
  // After the server exited (it holds the schema's connections until then); once, whoever gets here first.
  let removed = false
  const removeStorage = async () => {
    if (removed) return
    removed = true
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true })
    if (database) {
      const warning = await dropSchema(database.url, database.schema)
      if (warning && opts.log) opts.log(warning)
      else if (warning) console.warn(warning)
    }
  }

  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    if (server.exited) {
      await removeStorage()
      throw new Error(`${kind} exited during startup:\n${server.logTail()}`)
    }
    if (await canConnect(port)) return server
    await new Promise((r) => setTimeout(r, 50))
  }
  await server.stop()
  throw new Error(`${kind} did not listen on ${HOST}:${port} within 30 s:\n${server.logTail()}`)
}

/** @param {string} name */
export function packageVersion(name) {
  try {
    return JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'node_modules', ...name.split('/'), 'package.json'), 'utf8')).version
  } catch {
    return 'unknown'
  }
}
