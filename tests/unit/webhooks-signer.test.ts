import { describe, expect, test } from 'vitest'
import { Webhook } from 'standardwebhooks'
import { decodeSecret, generateId, generateSecret, signWebhook, signingSecrets } from '#server/webhooks/signer'

const nowSec = (): number => Math.floor(Date.now() / 1000)

describe('Standard Webhooks signer', () => {
  test('matches the specification example signature', () => {
    // Example from the Standard Webhooks spec / svix docs.
    const headers = signWebhook('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', {
      id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      timestampSec: 1614265330,
      body: '{"test": 2432232314}',
    })
    expect(headers).toEqual({
      'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      'webhook-timestamp': '1614265330',
      'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    })
  })

  test('the standardwebhooks package verifies what we sign', () => {
    const secret = generateSecret()
    const body = JSON.stringify({ type: 'room.created', timestamp: new Date().toISOString(), data: { room: 'r-1', note: 'ünïcödé ✓' } })
    const headers = signWebhook(secret, { id: generateId('msg_'), timestampSec: nowSec(), body })
    expect(new Webhook(secret).verify(body, { ...headers })).toEqual(JSON.parse(body))
  })

  test('a tampered body, id or timestamp fails verification', () => {
    const secret = generateSecret()
    const body = '{"type":"room.deleted","data":{"room":"a"}}'
    const headers = signWebhook(secret, { id: 'msg_1', timestampSec: nowSec(), body })
    const wh = new Webhook(secret)
    expect(() => wh.verify(body.replace('"a"', '"b"'), { ...headers })).toThrow()
    expect(() => wh.verify(body, { ...headers, 'webhook-id': 'msg_2' })).toThrow()
    // Relative to the signed timestamp, not the clock: the second may tick over between the two lines.
    expect(() => wh.verify(body, { ...headers, 'webhook-timestamp': String(Number(headers['webhook-timestamp']) - 1) })).toThrow()
  })

  test('another secret fails verification', () => {
    const body = '{}'
    const headers = signWebhook(generateSecret(), { id: 'msg_1', timestampSec: nowSec(), body })
    expect(() => new Webhook(generateSecret()).verify(body, { ...headers })).toThrow()
  })

  test('a stale timestamp is rejected by receivers, which is why every attempt is re-signed', () => {
    const secret = generateSecret()
    const body = '{}'
    const stale = signWebhook(secret, { id: 'msg_1', timestampSec: nowSec() - 600, body })
    expect(() => new Webhook(secret).verify(body, { ...stale })).toThrow()
    const fresh = signWebhook(secret, { id: 'msg_1', timestampSec: nowSec(), body })
    expect(fresh['webhook-id']).toBe(stale['webhook-id'])
    expect(() => new Webhook(secret).verify(body, { ...fresh })).not.toThrow()
  })

  test('generated secrets are whsec_ + base64 of 32 random bytes', () => {
    const a = generateSecret()
    const b = generateSecret()
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]+={0,2}$/)
    expect(decodeSecret(a).byteLength).toBe(32)
    expect(a).not.toBe(b)
  })

  test('malformed secrets are refused', () => {
    expect(() => decodeSecret('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')).toThrow(/whsec_/)
    expect(() => decodeSecret('whsec_not base64!')).toThrow(/base64/)
    expect(() => decodeSecret('whsec_c2hvcnQ=')).toThrow(/16 bytes/)
  })

  test('ids sort in creation order, also within one millisecond and when the clock steps back', () => {
    const ids = Array.from({ length: 5_000 }, () => generateId('msg_'))
    ids.push(generateId('msg_', Date.now() - 60_000))
    expect([...ids].sort()).toEqual(ids)
    expect(new Set(ids).size).toBe(ids.length)
    expect(generateId('ep_')).toMatch(/^ep_[0-9a-f]{28}$/)
  })

  test('signing secrets: the current one, plus the previous one until its expiry (none: while it is set)', () => {
    const current = generateSecret()
    const previous = generateSecret()
    const at = 1_700_000_000_000
    expect(signingSecrets({ secret: current, previousSecret: null, previousSecretExpiresAt: null }, at)).toEqual([current])
    expect(signingSecrets({ secret: current, previousSecret: previous, previousSecretExpiresAt: at + 1 }, at)).toEqual([current, previous])
    expect(signingSecrets({ secret: current, previousSecret: previous, previousSecretExpiresAt: at }, at)).toEqual([current])
    expect(signingSecrets({ secret: current, previousSecret: previous, previousSecretExpiresAt: at - 1 }, at)).toEqual([current])
    expect(signingSecrets({ secret: current, previousSecret: previous, previousSecretExpiresAt: null }, at)).toEqual([current, previous])
    expect(signingSecrets({ secret: current, previousSecret: current, previousSecretExpiresAt: null }, at)).toEqual([current])

    // Both verifiers accept the overlap's header; after expiry only the new secret's does.
    const during = signWebhook(signingSecrets({ secret: current, previousSecret: previous, previousSecretExpiresAt: at + 1 }, at), { id: 'msg_1', timestampSec: Date.now() / 1000, body: '{}' })
    expect(new Webhook(current).verify('{}', { ...during })).toEqual({})
    expect(new Webhook(previous).verify('{}', { ...during })).toEqual({})
    const after = signWebhook(signingSecrets({ secret: current, previousSecret: previous, previousSecretExpiresAt: at }, at), { id: 'msg_1', timestampSec: Date.now() / 1000, body: '{}' })
    expect(() => new Webhook(previous).verify('{}', { ...after })).toThrow()
  })
})
