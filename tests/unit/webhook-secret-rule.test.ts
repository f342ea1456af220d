/**
 * One rule for webhook secrets: what config.ts accepts at boot is exactly what the signer can sign with.
 * A TANDEM_WEBHOOK_SECRET of 16–21 base64 characters (under 16 key bytes) used to boot and then fail
 * every delivery with "secret must be at least 16 bytes".
 */
import { execFile } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, test } from 'vitest'
import { Webhook } from 'standardwebhooks'
import { ConfigError, loadConfig } from '../../server/src/config.js'
import { webhookSecretProblem } from '../../server/src/webhooks/secret-format.js'
import { decodeSecret, signWebhook } from '../../server/src/webhooks/signer.js'
import { prng as rng } from '../helpers/prng.js'

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../server/bin/tandem.js')
const URL_ENV = { TANDEM_WEBHOOK_URL: 'https://example.com/hook' }

function bootAccepts(secret: string): boolean {
  try {
    loadConfig({ ...URL_ENV, TANDEM_WEBHOOK_SECRET: secret })
    return true
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as ConfigError).variable).toBe('TANDEM_WEBHOOK_SECRET')
    return false
  }
}

function signerAccepts(secret: string): boolean {
  try {
    signWebhook(secret, { id: 'msg_1', timestampSec: 1, body: '{}' })
    return true
  } catch {
    return false
  }
}


describe('TANDEM_WEBHOOK_SECRET is validated with the signer’s rule', () => {
  test('16–21 base64 characters (fewer than 16 key bytes) are refused at boot, naming the variable', () => {
    for (let length = 16; length <= 21; length++) {
      const secret = `whsec_${'A'.repeat(length)}`
      expect(signerAccepts(secret), `${length} chars: signer`).toBe(false)
      expect(bootAccepts(secret), `${length} chars: config`).toBe(false)
    }
    expect(() => loadConfig({ ...URL_ENV, TANDEM_WEBHOOK_SECRET: `whsec_${'A'.repeat(20)}` })).toThrow(/at least 16 bytes/)
  })

  test('22 characters and up (16+ bytes) boot and sign; the standardwebhooks package verifies', () => {
    for (const secret of [`whsec_${'A'.repeat(22)}`, `whsec_${'A'.repeat(22)}==`, `whsec_${Buffer.alloc(32, 7).toString('base64')}`]) {
      expect(bootAccepts(secret), secret).toBe(true)
      const headers = signWebhook(secret, { id: 'msg_1', timestampSec: Math.floor(Date.now() / 1000), body: '{"a":1}' })
      expect(new Webhook(secret).verify('{"a":1}', { ...headers })).toEqual({ a: 1 })
    }
  })

  test('config and signer agree on every secret (seeded random and edge cases)', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ !'
    const cases = ['whsec_', 'whsec_=', 'whsec_' + 'A'.repeat(23), 'whsec_' + 'A'.repeat(22) + '=', 'whsec_' + 'A'.repeat(21) + '===', 'WHSEC_' + 'A'.repeat(32), 'A'.repeat(40)]
    const next = rng(20_260_101)
    for (let i = 0; i < 2_000; i++) {
      const length = Math.floor(next() * 48)
      let body = ''
      for (let j = 0; j < length; j++) body += alphabet[Math.floor(next() * (next() < 0.9 ? 64 : alphabet.length))]
      cases.push(`whsec_${body}`)
    }
    for (const secret of cases) {
      expect(bootAccepts(secret), secret).toBe(signerAccepts(secret))
      expect(webhookSecretProblem(secret) === null, secret).toBe(signerAccepts(secret))
      if (signerAccepts(secret)) expect(decodeSecret(secret).byteLength).toBeGreaterThanOrEqual(16)
    }
  })

  test('TANDEM_WEBHOOK_PREVIOUS_SECRET: same rule, needs TANDEM_WEBHOOK_SECRET, must differ from it', () => {
    const current = `whsec_${Buffer.alloc(32, 1).toString('base64')}`
    const previous = `whsec_${Buffer.alloc(32, 2).toString('base64')}`
    expect(loadConfig({ ...URL_ENV, TANDEM_WEBHOOK_SECRET: current, TANDEM_WEBHOOK_PREVIOUS_SECRET: previous }).webhooks.previousSecret).toBe(previous)
    expect(loadConfig({}).webhooks.previousSecret).toBeNull()
    const bad: Record<string, string>[] = [
      { TANDEM_WEBHOOK_PREVIOUS_SECRET: previous },
      { ...URL_ENV, TANDEM_WEBHOOK_SECRET: current, TANDEM_WEBHOOK_PREVIOUS_SECRET: `whsec_${'A'.repeat(20)}` },
      { ...URL_ENV, TANDEM_WEBHOOK_SECRET: current, TANDEM_WEBHOOK_PREVIOUS_SECRET: current },
    ]
    for (const env of bad) expect(() => loadConfig(env), JSON.stringify(env)).toThrow(/TANDEM_WEBHOOK_PREVIOUS_SECRET/)
  })

  test('`tandem serve` with a 20-character secret exits at once with the config error', async () => {
    const result = await promisify(execFile)(process.execPath, [CLI, 'serve', '--port', '0', '--host', '127.0.0.1'], {
      env: { PATH: process.env.PATH ?? '', TANDEM_STORE: 'memory', ...URL_ENV, TANDEM_WEBHOOK_SECRET: `whsec_${'A'.repeat(20)}` },
      timeout: 20_000,
    }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
    )
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/TANDEM_WEBHOOK_SECRET: key must be at least 16 bytes/)
  })
})
