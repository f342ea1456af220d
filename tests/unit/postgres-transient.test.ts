/** Which pg failures the Postgres writer waits out and retries (isTransientPgError), and which it does not. */
import { describe, expect, test } from 'vitest'
import { isTransientPgError } from '#server/persistence/postgres'

const withCode = (message: string, code: string): Error => Object.assign(new Error(message), { code })

describe('isTransientPgError', () => {
  test.each([
    ['refused', withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')],
    ['reset', withCode('read ECONNRESET', 'ECONNRESET')],
    ['admin shutdown', withCode('terminating connection due to administrator command', '57P01')],
    ['connection exception class', withCode('connection failure', '08006')],
    ['a query on a stalled connection', new Error('Query read timeout')],
    ['the pool giving up on a stalled connect', new Error('Connection terminated due to connection timeout')],
    // pg.Client's own connect timeout: what the writer's reconnect gets from a Postgres that accepts and stalls.
    ['a client connect that stalled', new Error('timeout expired')],
    ['several addresses refused', new AggregateError([withCode('connect ECONNREFUSED ::1:5432', 'ECONNREFUSED')])],
  ])('transient: %s', (_name, err) => {
    expect(isTransientPgError(err)).toBe(true)
  })

  test.each([
    ['unique violation', withCode('duplicate key value violates unique constraint', '23505')],
    ['disk full', withCode('could not extend file', '53100')],
    ['syntax error', withCode('syntax error at or near', '42601')],
    ['not an error', 'timeout expired'],
  ])('not transient: %s', (_name, err) => {
    expect(isTransientPgError(err)).toBe(false)
  })
})
