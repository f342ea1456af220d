import { describe, expect, test } from 'vitest'
import { decodeEnvelope, encodeEnvelope } from '../../server/src/replication/codec.js'
import { compareIds, livenessKey, roomKeys } from '../../server/src/replication/redis.js'
import type { ReplicatedMessage } from '../../server/src/rooms/replication.js'

const messages: ReplicatedMessage[] = [
  { type: 'update', update: Uint8Array.of(1, 2, 3), userId: 'alice' },
  { type: 'update', update: Uint8Array.of(0, 0), userId: null },
  { type: 'update', update: Uint8Array.of(4), userId: 'alice', seq: 1_764_000_000_000_123 },
  { type: 'update', update: Uint8Array.of(4), userId: null, seq: 0, committedUpTo: 0 },
  { type: 'update', update: Uint8Array.of(4), userId: 'bob', committedUpTo: 1_764_000_000_000_122 },
  { type: 'committed', upTo: 1_764_000_000_000_123 },
  { type: 'awareness', update: Uint8Array.of(1, 5, 1, 2, 123, 125), userId: 'bob' },
  { type: 'sync-request', stateVector: Uint8Array.of(1, 9, 4) },
  { type: 'sync-reply', to: 'instance-2', update: Uint8Array.of(7) },
  { type: 'room-deleted' },
  { type: 'stateless', payload: '{"ü":"✓"}' },
  { type: 'kick', userId: 'mallory', code: 4403, reason: 'removed from the room', at: 1_764_000_000_000 },
]

describe('replication wire codec', () => {
  test.each(messages)('round-trips $type', (message) => {
    expect(decodeEnvelope(encodeEnvelope('origin-1', message))).toEqual({ origin: 'origin-1', message })
  })

  test('an update written without seq (by an older instance) decodes as already committed', () => {
    const old = Uint8Array.of(1, 1, 111, 0, 1, 4, 1, 5, ...Buffer.from('alice'))
    expect(decodeEnvelope(old)).toEqual({ origin: 'o', message: { type: 'update', update: Uint8Array.of(4), userId: 'alice' } })
    expect(encodeEnvelope('o', { type: 'update', update: Uint8Array.of(4), userId: 'alice' })).toEqual(old)
  })

  test('anything that does not parse is null, never a throw', () => {
    const good = encodeEnvelope('o', messages[0]!)
    expect(decodeEnvelope(new Uint8Array())).toBeNull()
    expect(decodeEnvelope(Uint8Array.of(2, 1, 111, 0))).toBeNull() // unknown version
    expect(decodeEnvelope(Uint8Array.of(1, 1, 111, 99))).toBeNull() // unknown type
    expect(decodeEnvelope(good.subarray(0, good.length - 2))).toBeNull() // truncated
    expect(decodeEnvelope(Uint8Array.from([...good, 0]))).toBeNull() // trailing bytes
    for (let i = 0; i < 200; i++) {
      const noise = Uint8Array.from({ length: 1 + (i % 17) }, (_, j) => (i * 31 + j * 7) % 256)
      expect(() => decodeEnvelope(noise)).not.toThrow()
    }
  })
})

describe('Redis key layout', () => {
  test('the room is encoded inside a hash tag, so no room name reaches another room’s keys', () => {
    expect(roomKeys('tandem:', 'doc-1')).toEqual({ log: 'tandem:{doc-1}:log', bus: 'tandem:{doc-1}:bus' })
    // ':' is legal in room names; encoded, "a:log" cannot pose as the keys of room "a".
    expect(roomKeys('tandem:', 'a:log').log).toBe('tandem:{a%3Alog}:log')
    const names = ['a', 'a:log', 'a}:log', 'a{b}', 'a%3Alog']
    const keys = names.flatMap((n) => Object.values(roomKeys('p:', n)))
    expect(new Set(keys).size).toBe(keys.length)
    for (const key of keys) expect(key.match(/[{}]/g)).toEqual(['{', '}']) // exactly one hash tag
    expect(livenessKey('p:', 'eu:1')).toBe('p:instance:eu%3A1')
  })

  test('stream ids compare by number, not as text', () => {
    expect(compareIds('9-0', '10-0')).toBe(-1)
    expect(compareIds('10-2', '10-10')).toBe(-1)
    expect(compareIds('10-10', '10-10')).toBe(0)
    expect(compareIds('1700000000000-1', '0-0')).toBe(1)
  })
})
