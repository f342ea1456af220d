/**
 * Tokens from an identity provider: a local JWKS endpoint (what Auth0, Clerk or Keycloak publish), a
 * Tandem server with TANDEM_JWKS_URL pointing at it, and clients whose RS256 tokens it accepts, or
 * refuses with 401 at the upgrade (unknown kid, a key the JWKS does not hold, wrong issuer or audience,
 * expired). Also the SDK, with `getToken` handing out the provider's token.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { TandemClient } from '@tandem/client'
import { startServer, type RunningServer } from '../helpers/server.js'
import { closeOpenConns, single } from '../helpers/raw-client.js'

const ISSUER = 'https://idp.example.test/'
const AUDIENCE = 'tandem'

let jwks: http.Server
let jwksUrl = ''
let jwksHits = 0
let signing: CryptoKey
let stranger: CryptoKey
let srv: RunningServer

beforeAll(async () => {
  const pair = await generateKeyPair('RS256')
  signing = pair.privateKey
  stranger = (await generateKeyPair('RS256')).privateKey
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'key-1', alg: 'RS256', use: 'sig' }
  jwks = http.createServer((req, res) => {
    jwksHits++
    if (req.url !== '/.well-known/jwks.json') {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }))
  })
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve))
  jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`
  srv = await startServer({ TANDEM_JWT_SECRET: '', TANDEM_JWKS_URL: jwksUrl, TANDEM_JWT_ISSUER: ISSUER, TANDEM_JWT_AUDIENCE: AUDIENCE })
})

afterAll(async () => {
  await srv.stop()
  await new Promise<void>((resolve) => jwks.close(() => resolve()))
})

afterEach(closeOpenConns)

interface Claims {
  kid?: string
  key?: CryptoKey
  issuer?: string
  audience?: string
  expiresIn?: string
}

/** An identity provider's token: RS256, `kid` in the header, sub/name/rooms claims. */
function providerToken(room: string, c: Claims = {}): Promise<string> {
  return new SignJWT({ name: 'Alice', rooms: { [room]: 'write' } })
    .setProtectedHeader({ alg: 'RS256', kid: c.kid ?? 'key-1' })
    .setSubject('user-alice')
    .setIssuer(c.issuer ?? ISSUER)
    .setAudience(c.audience ?? AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(c.expiresIn ?? '10m')
    .sign(c.key ?? signing)
}

describe('TANDEM_JWKS_URL', () => {
  test('an RS256 token whose kid the JWKS holds is accepted, and the server fetched the JWKS', async () => {
    const conn = await single(srv.url, 'jwks-ok', { token: await providerToken('jwks-ok') })
    expect(conn.closeInfo).toBeNull()
    expect(jwksHits).toBeGreaterThan(0)
  })

  test.each([
    ['an unknown kid', { kid: 'key-unknown' }],
    ['the right kid signed with another key', { key: 'stranger' as const }],
    ['another issuer', { issuer: 'https://evil.example.test/' }],
    ['another audience', { audience: 'not-tandem' }],
    ['an expired token', { expiresIn: '-1m' }],
  ])('%s is refused with 401 at the upgrade', async (_what, claims) => {
    const token = await providerToken('jwks-refused', { ...claims, key: 'key' in claims ? stranger : signing })
    await expect(single(srv.url, 'jwks-refused', { token })).rejects.toThrow('upgrade refused: 401')
  })

  test('a token for one room does not open another', async () => {
    const token = await providerToken('jwks-mine')
    await expect(single(srv.url, 'jwks-theirs', { token })).rejects.toThrow(/upgrade refused: 40[13]/)
  })

  test('the SDK syncs with getToken handing out the provider token', async () => {
    const asked: string[] = []
    const client = new TandemClient({
      url: `${srv.url}/ws`,
      WebSocket,
      getToken: async (room) => {
        asked.push(room)
        return providerToken(room)
      },
    })
    try {
      const room = client.room('jwks-sdk')
      await room.whenSynced()
      room.doc.getText('t').insert(0, 'hello via JWKS')
      await room.whenSaved()
      expect(asked).toContain('jwks-sdk')
      // A second, independent client sees the text: it really went through the server.
      const doc = new Y.Doc()
      await single(srv.url, 'jwks-sdk', { token: await providerToken('jwks-sdk') }, doc)
      expect(doc.getText('t').toString()).toBe('hello via JWKS')
    } finally {
      client.destroy()
    }
  })
})
