/**
 * The real server on PostgreSQL (TANDEM_DATABASE_URL): a client syncs a document and gets its saved
 * acknowledgement, the server restarts on the same schema, and a new client (and REST) read the document
 * back; a second server on the same schema sees the same rooms. Skips with a message when Postgres is
 * unreachable outside CI; fails under CI=true.
 */
import { afterAll, afterEach, describe, expect, test } from 'vitest'
import WebSocket from 'ws'
import { TandemClient } from '../../client-sdk/src/index.js'
import { POSTGRES_URL, pgQuery, postgresSkip, schemaNames } from '../helpers/postgres.js'
import { startServer, token, waitFor, type RunningServer } from '../helpers/server.js'

const schemas = schemaNames()
const cleanups: (() => void | Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})
afterAll(() => schemas.dropAll())

async function pgServer(schema: string): Promise<RunningServer> {
  const srv = await startServer({ TANDEM_DATABASE_URL: POSTGRES_URL, TANDEM_DATABASE_SCHEMA: schema, TANDEM_ROOM_IDLE_MS: '100' })
  cleanups.push(() => srv.stop())
  return srv
}

function client(srv: RunningServer, jwt: string): TandemClient {
  const c = new TandemClient({ url: `${srv.url}/ws`, getToken: () => jwt, WebSocket, backoff: { baseMs: 50, maxMs: 500 } })
  cleanups.push(() => c.destroy())
  return c
}

describe.skipIf(postgresSkip !== undefined)('server on PostgreSQL', () => {
  test('a synced, saved document survives a restart and is read back by a new client and by REST', async () => {
    const schema = schemas.fresh()
    const room = 'pg-doc'
    const jwt = await token({ rooms: { [room]: 'write' } })

    const first = await pgServer(schema)
    const a = client(first, jwt).room(room)
    await a.whenSynced()
    a.doc.getText('t').insert(0, 'stored in postgres')
    await a.whenSaved()
    // The saved acknowledgement came after the commit: the row is there now.
    const { rows } = await pgQuery<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".updates WHERE room = $1`, [room])
    expect(rows[0]?.n).toBeGreaterThan(0)
    await first.stop()

    const second = await pgServer(schema)
    const b = client(second, jwt).room(room)
    await b.whenSynced()
    await waitFor(() => b.doc.getText('t').toString() === 'stored in postgres', 'the restarted server to serve the stored document')
    const res = await fetch(`http://127.0.0.1:${second.port}/v1/rooms/${room}/doc?format=json`, {
      headers: { authorization: `Bearer ${await adminKeyOf(second)}` },
    })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ t: 'stored in postgres' })
    expect((await fetch(`http://127.0.0.1:${second.port}/readyz`)).status).toBe(200)
  })

  test('two servers on one schema share room records', async () => {
    const schema = schemas.fresh()
    const [one, two] = await Promise.all([pgServer(schema), pgServer(schema)])
    const created = await fetch(`http://127.0.0.1:${one.port}/v1/rooms`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await adminKeyOf(one)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'shared-room', metadata: { by: 'one' } }),
    })
    expect(created.status).toBe(201)
    const seen = await fetch(`http://127.0.0.1:${two.port}/v1/rooms/shared-room`, { headers: { authorization: `Bearer ${await adminKeyOf(two)}` } })
    expect(seen.status).toBe(200)
    expect(((await seen.json()) as { metadata: unknown }).metadata).toEqual({ by: 'one' })
  })
})

/** The admin key a test server generated (on Postgres it is kept in the schema). */
async function adminKeyOf(srv: RunningServer): Promise<string> {
  const { resolveAdminKey } = await import('#server/http/admin-key')
  const { secretKeeperFor } = await import('#server/server')
  return (await resolveAdminKey(srv.config.http.adminKey, secretKeeperFor(srv.config))).key
}
