/**
 * One instance of a Hocuspocus cluster, set up the way its documentation scales Hocuspocus out: the
 * cluster scenario's peer to N Tandem instances.
 *
 *   @hocuspocus/server 3.4.4 with Hocuspocus's defaults: debounce 2000 ms, maxDebounce 10000 ms,
 *     unloadImmediately true, no authentication (the bench sends an empty token).
 *   @hocuspocus/extension-redis 3.4.4 on this machine's Redis, keys and channels under `PREFIX:`, one
 *     `IDENTIFIER` per instance. Every change made by an instance's own clients publishes a sync step 1 on
 *     the room's channel; each other instance answers with its own step 1 and receives the missing update
 *     as a sync step 2, which it applies and broadcasts to its clients (two Redis round trips per delivery
 *     across instances). Before storing, an instance takes a Redis lock on the room (Redlock, 1000 ms TTL,
 *     no retry); if another instance holds it, this store is skipped (Hocuspocus logs it).
 *   @hocuspocus/extension-database 3.4.4 on PostgreSQL (`pg`, a pool of 10): `fetch` reads the room's row,
 *     `store` upserts the whole document (`Y.encodeStateAsUpdate`) into
 *     `"<SCHEMA>".documents (name text primary key, data bytea, updated_at timestamptz)`.
 *
 * What is durable when: a client's update is acknowledged (SyncStatus) once applied in memory, before it
 * is stored. An instance stores a room after its own clients' changes (updates that arrive over Redis do
 * not schedule a store), 2 s after the last such change, or every 10 s at the latest while they keep
 * coming, and when its last client of the room leaves. A crash loses up to 10 s of acknowledged edits
 * (more if a store was skipped for the lock). Tandem, by comparison, acknowledges after its Postgres commit.
 *
 *   PORT=1234 HOST=127.0.0.1 REDIS_URL=redis://127.0.0.1:6379 REDIS_PREFIX=hocuspocus_bench_… \
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test DATABASE_SCHEMA=hocuspocus_bench_… \
 *   IDENTIFIER=bench-0 node bench/servers/hocuspocus-cluster.js
 *
 * The schema and table are created if missing (the bench starts instances one after another); the bench
 * drops the schema and deletes the prefix's keys after the run.
 */
import { Server } from '@hocuspocus/server'
import { Redis } from '@hocuspocus/extension-redis'
import { Database } from '@hocuspocus/extension-database'
import pg from 'pg'

/** @param {string} name */
function required(name) {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is required`)
  return v
}

const host = process.env.HOST ?? '127.0.0.1'
const port = Number(process.env.PORT ?? 1234)
const redisUrl = new URL(required('REDIS_URL'))
const prefix = required('REDIS_PREFIX')
const identifier = required('IDENTIFIER')
const schema = required('DATABASE_SCHEMA')
if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error('DATABASE_SCHEMA must be a lowercase identifier')
const table = `"${schema}".documents`

const pool = new pg.Pool({ connectionString: required('DATABASE_URL'), max: 10 })
// pg-pool hands out clients without an error listener; a lost connection must not end the process.
pool.on('error', (err) => console.error(JSON.stringify({ msg: 'postgres pool error', err: err.message })))
await pool.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`)
await pool.query(`CREATE TABLE IF NOT EXISTS ${table} (name text PRIMARY KEY, data bytea NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`)

let stores = 0
const server = new Server({
  port,
  address: host,
  quiet: true,
  stopOnSignals: true,
  extensions: [
    new Redis({ host: redisUrl.hostname, port: Number(redisUrl.port || 6379), prefix, identifier }),
    new Database({
      async fetch({ documentName }) {
        const r = await pool.query(`SELECT data FROM ${table} WHERE name = $1`, [documentName])
        return r.rows.length > 0 ? new Uint8Array(r.rows[0].data) : null
      },
      async store({ documentName, state }) {
        await pool.query(
          `INSERT INTO ${table} (name, data, updated_at) VALUES ($1, $2, now())
           ON CONFLICT (name) DO UPDATE SET data = EXCLUDED.data, updated_at = now()`,
          [documentName, state],
        )
        stores++
      },
    }),
    {
      // GET /bench/stats: documents loaded and stores done, for the bench's "rooms loaded per instance".
      async onRequest({ request, response, instance }) {
        if (request.url !== '/bench/stats') return
        response.writeHead(200, { 'content-type': 'application/json' })
        response.end(JSON.stringify({ documents: instance.getDocumentsCount(), stores }))
        // Hocuspocus's way to say "answered": reject with nothing, and no later hook runs.
        throw null
      },
      async onDestroy() {
        console.log(JSON.stringify({ msg: 'stopping', stores }))
        await pool.end()
      },
    },
  ],
})
await server.listen()
console.log(JSON.stringify({ msg: 'listening', port: server.address.port, identifier }))
