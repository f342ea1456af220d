/**
 * Redis for tests: the machine's Redis at 127.0.0.1:6379, isolated per test file by a random key prefix
 * that is deleted afterwards (never FLUSHALL: other test files and agents share the server). When Redis
 * is unreachable, tests that need it fail under CI=true and are skipped, visibly, otherwise.
 */
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'

export const REDIS_PORT = 6379
export const REDIS_URL = `redis://127.0.0.1:${REDIS_PORT}`

/** REDIS_URL with its host and port replaced: the same Redis through a proxy on 127.0.0.1 (tcp-proxy.ts). */
export function redisUrlVia(proxy: { readonly host: string; readonly port: number }): string {
  return `redis://${proxy.host}:${proxy.port}`
}

/** True when Redis answers PING within a second. */
export async function redisReachable(): Promise<boolean> {
  const client = new Redis(REDIS_URL, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1_000 })
  client.on('error', () => {})
  try {
    await client.connect()
    return (await client.ping()) === 'PONG'
  } catch {
    return false
  } finally {
    client.disconnect()
  }
}

/**
 * Whether the Redis tests of a file should be skipped: false when Redis answers; under CI=true an
 * unreachable Redis throws (the file fails) instead of skipping.
 */
export async function skipWithoutRedis(file: string): Promise<boolean> {
  if (await redisReachable()) return false
  if (process.env['CI'] === 'true') throw new Error(`${file}: Redis at ${REDIS_URL} is unreachable (required when CI=true)`)
  console.warn(`[skip] ${file}: Redis at ${REDIS_URL} is unreachable; its Redis tests are skipped`)
  return true
}

/** A fresh key prefix for one test file. */
export function testPrefix(): string {
  return `tandem-test-${randomBytes(5).toString('hex')}:`
}

/** Deletes every key under the prefix (SCAN, never KEYS or FLUSH). */
export async function dropPrefix(prefix: string): Promise<void> {
  const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 })
  client.on('error', () => {})
  try {
    await client.connect()
    let cursor = '0'
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500)
      cursor = next
      if (keys.length > 0) await client.del(...keys)
    } while (cursor !== '0')
  } finally {
    client.disconnect()
  }
}
