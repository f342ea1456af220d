/**
 * The shared Postgres test helpers: a schema per test file (tests/helpers/postgres.ts), and the TCP proxy
 * (tests/helpers/tcp-proxy.ts) in front of the real Postgres, as fault-injection suites use them.
 */
import { afterAll, expect, onTestFinished, test } from 'vitest'
import type pg from 'pg'
import {
  POSTGRES_HOST,
  POSTGRES_PORT,
  connectPostgres,
  describePostgres,
  dropSchema,
  pgQuery,
  postgresUrlVia,
  quoteSchema,
  schemaExists,
  schemaNames,
  useTestSchema,
} from '../helpers/postgres.js'
import { waitFor } from '../helpers/server.js'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js'

describePostgres('a test file\'s own schema', () => {
  const schema = useTestSchema()
  const names = schemaNames()
  afterAll(() => names.dropAll())

  test('exists from the first test on, under a tandem_test_ name, and is first on a client\'s search_path', async () => {
    expect(schema.name).toMatch(/^tandem_test_[0-9a-f]{12}$/)
    expect(await schemaExists(schema.name)).toBe(true)
    await pgQuery('CREATE TABLE t (v int)', [], { schema: schema.name })
    await pgQuery('INSERT INTO t VALUES (7)', [], { schema: schema.name })
    const { rows } = await pgQuery<{ v: number }>(`SELECT v FROM ${quoteSchema(schema.name)}.t`)
    expect(rows).toEqual([{ v: 7 }])
  })

  test('schemaNames hands out distinct names and drops every schema made under them', async () => {
    const a = names.fresh()
    const b = names.fresh()
    expect(a).not.toBe(b)
    await pgQuery(`CREATE SCHEMA ${quoteSchema(a)}`)
    await names.dropAll()
    expect(await schemaExists(a)).toBe(false)
    // b was never created: dropping it is not an error, and a second dropAll has nothing to do.
    await names.dropAll()
    await dropSchema(b)
  })

  test('names that are not test schema names are refused before any SQL', () => {
    for (const bad of ['Public', 'a"; DROP SCHEMA public; --', '', '1abc', 'x'.repeat(64)]) {
      expect(() => quoteSchema(bad), bad).toThrow(/not a test schema name/)
    }
  })
})

describePostgres('Postgres through the TCP proxy', () => {
  const schema = useTestSchema()
  let proxy: TcpProxy
  const viaProxy = async (): Promise<pg.Client> => {
    const client = await connectPostgres({ url: postgresUrlVia(proxy), schema: schema.name })
    onTestFinished(() => client.end().catch(() => {}))
    return client
  }

  test('queries pass; a cut fails the connection at once and refuses new ones until restore', async () => {
    proxy = await startTcpProxy({ targetHost: POSTGRES_HOST, targetPort: POSTGRES_PORT })
    onTestFinished(() => proxy.close())
    const client = await viaProxy()
    expect((await client.query<{ n: number }>('SELECT 1 AS n')).rows).toEqual([{ n: 1 }])

    proxy.cut()
    await expect(client.query('SELECT 1')).rejects.toThrow()
    await expect(connectPostgres({ url: postgresUrlVia(proxy) })).rejects.toThrow()
    expect(proxy.stats().refused).toBeGreaterThanOrEqual(1)

    proxy.restore()
    const again = await viaProxy()
    expect((await again.query<{ n: number }>('SELECT 2 AS n')).rows).toEqual([{ n: 2 }])
  })

  test('a stall holds a query without closing its connection; resume lets it finish', async () => {
    proxy = await startTcpProxy({ targetHost: POSTGRES_HOST, targetPort: POSTGRES_PORT })
    onTestFinished(() => proxy.close())
    const client = await viaProxy()
    await client.query('SELECT 1')
    const sent = proxy.stats().toTarget

    proxy.stall()
    let settled = false
    const query = client.query<{ n: number }>('SELECT 3 AS n').finally(() => (settled = true))
    // The query's bytes reached the proxy and stay there: Postgres never saw them.
    await waitFor(() => proxy.stats().held > 0, 'the proxy to hold the query')
    expect(proxy.stats().toTarget).toBe(sent)
    expect(settled).toBe(false)
    expect(proxy.stats().open).toBe(1)

    proxy.resume()
    expect((await query).rows).toEqual([{ n: 3 }])
  })
})
