/**
 * REST bodies at the edges: size limits enforced without buffering the rest, content types, malformed
 * JSON, and clients that vanish mid-request. After each, the server must still answer.
 */
import net from 'node:net'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startServer, waitFor, type RunningServer } from '../helpers/server.js'
import { ADMIN_KEY, RestClient, rawRequest } from './rest-client.js'

const LIMIT = 4096
let srv: RunningServer
let api: RestClient

beforeAll(async () => {
  srv = await startServer({ TANDEM_STORE: 'memory', TANDEM_ADMIN_KEY: ADMIN_KEY, TANDEM_MAX_BODY_BYTES: String(LIMIT) })
  api = new RestClient(srv)
})

afterAll(async () => {
  await srv.stop()
})

async function healthy(): Promise<void> {
  expect((await api.call('GET', '/healthz', { auth: null })).status).toBe(200)
  expect((await api.call('GET', '/v1/rooms?limit=1')).status).toBe(200)
}

function head(method: string, path: string, headers: Record<string, string>): string {
  return [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', `Authorization: Bearer ${ADMIN_KEY}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)].join('\r\n')
}

const HUGE = 64 * 1024 * 1024

describe('body size limit (TANDEM_MAX_BODY_BYTES)', () => {
  test('a declared Content-Length over the limit is refused with 413 before the body is sent, asking the client to close', async () => {
    const res = await rawRequest(srv.port, head('POST', '/v1/rooms', { 'Content-Type': 'application/json', 'Content-Length': String(HUGE) }), HUGE)
    expect(res.status).toBe(413)
    expect(res.text).toContain('"code":"payload_too_large"')
    expect(res.text.toLowerCase()).toContain('connection: close')
    // The answer arrived long before 64 MiB went out: the server did not wait for (or buffer) the rest.
    expect(res.sentWhenAnswered).toBeLessThan(HUGE / 4)
    await healthy()
  })

  test('a chunked body that grows past the limit is cut off with 413 mid-upload', async () => {
    const res = await rawRequest(srv.port, head('POST', '/v1/rooms', { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' }), HUGE, { chunked: true })
    expect(res.status).toBe(413)
    expect(res.text.toLowerCase()).toContain('connection: close')
    expect(res.sentWhenAnswered).toBeLessThan(HUGE / 4)
    await healthy()
  })

  test('binary document updates obey the same limit', async () => {
    const room = `limits-${Date.now().toString(36)}`
    expect((await api.call('POST', '/v1/rooms', { body: { name: room } })).status).toBe(201)
    const res = await api.call('POST', `/v1/rooms/${room}/doc`, { body: new Uint8Array(LIMIT + 1) })
    expect([res.status, res.code]).toEqual([413, 'payload_too_large'])
    await healthy()
  })

  test('a body exactly at the limit is accepted for parsing', async () => {
    const message = 'x'.repeat(LIMIT - '{"message":""}'.length)
    const res = await api.call('POST', '/v1/rooms/limits-exact/broadcast', { body: { message } })
    expect(res.code).toBe('room_not_found') // parsed and validated, then the room was looked up
  })
})

describe('content types and JSON', () => {
  test('a JSON route refuses other content types with 415', async () => {
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream']) {
      const res = await api.call('POST', '/v1/rooms', { body: '{"name":"a"}', contentType })
      expect([res.status, res.code], contentType).toEqual([415, 'unsupported_media_type'])
      expect((res.json as { error: { message: string } }).error.message).toContain('application/json')
    }
    const none = await api.call('POST', '/v1/rooms', { body: '{"name":"a"}', contentType: null, headers: { 'content-type': '' } })
    expect(none.status).toBe(415)
  })

  test('charset parameters and case do not matter', async () => {
    const res = await api.call('POST', '/v1/rooms', { body: { name: `ct-${Date.now().toString(36)}` }, contentType: 'Application/JSON; charset=utf-8' })
    expect(res.status).toBe(201)
  })

  test('malformed JSON is a 400 that names the problem', async () => {
    const cases: [string, string][] = [
      ['{"name": "a",}', 'malformed JSON body'],
      ['{"name"', 'malformed JSON body'],
      ['', 'request body is empty'],
      ['[1,2]', 'invalid body'],
      ['"just a string"', 'invalid body'],
    ]
    for (const [body, message] of cases) {
      const res = await api.call('POST', '/v1/rooms', { body, contentType: 'application/json' })
      expect([res.status, res.code], body).toEqual([400, 'bad_request'])
      expect((res.json as { error: { message: string } }).error.message, body).toContain(message)
    }
    const bad = await api.call('POST', '/v1/rooms', { body: new Uint8Array([0x7b, 0xff, 0x7d]), contentType: 'application/json' })
    expect((bad.json as { error: { message: string } }).error.message).toContain('UTF-8')
    await healthy()
  })

  test('a malformed Content-Length is refused and the server stays up', async () => {
    const res = await rawRequest(srv.port, head('POST', '/v1/rooms', { 'Content-Type': 'application/json', 'Content-Length': '12abc' }), 0)
    // uWS's HTTP parser drops such a request by closing the connection; it never reaches a handler.
    expect(res.closed).toBe(true)
    expect(res.status === 0 || res.status >= 400).toBe(true)
    await healthy()
  })
})

describe('clients that go away', () => {
  /** Opens a socket, sends `data`, then destroys it once the server has surely read it. */
  function abortAfter(data: string): Promise<void> {
    return new Promise((resolve) => {
      const socket = net.connect(srv.port, '127.0.0.1', () => {
        socket.write(data, () => {
          // Written to the kernel; destroy without waiting for an answer (RST or FIN mid-body).
          socket.destroy()
          resolve()
        })
      })
      socket.on('error', () => resolve())
    })
  }

  test('destroying the socket halfway through a body does not crash the server', async () => {
    const body = JSON.stringify({ name: 'half', metadata: { pad: 'x'.repeat(2000) } })
    for (let i = 0; i < 20; i++) {
      await abortAfter(`${head('POST', '/v1/rooms', { 'Content-Type': 'application/json', 'Content-Length': String(body.length) })}\r\n\r\n${body.slice(0, body.length / 2)}`)
      await abortAfter(`${head('POST', '/v1/rooms/half/doc', { 'Content-Type': 'application/octet-stream', 'Content-Length': '3000' })}\r\n\r\n${'\u0000'.repeat(1000)}`)
      await abortAfter(`${head('POST', '/v1/rooms', { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' })}\r\n\r\n10\r\n{"name":"half",`)
      // A whole request, then gone while its handler awaits the store: the answer must not be written.
      const whole = JSON.stringify({ name: `gone-${i}` })
      await abortAfter(`${head('POST', '/v1/rooms', { 'Content-Type': 'application/json', 'Content-Length': String(whole.length) })}\r\n\r\n${whole}`)
    }
    await healthy()
    // The aborted requests are counted as 499 (client went away), never as answered.
    await waitFor(async () => {
      const res = await fetch(`http://127.0.0.1:${srv.port}/metrics`)
      return /tandem_http_requests_total\{route="\/v1\/rooms",method="POST",status="499"\} \d+/.test(await res.text())
    }, 'aborted requests to be counted as 499')
  })

  test('aborting while a slow admin JWT check is pending does not crash the server', async () => {
    // Fire many requests and destroy each socket right after the headers: the abort races the async auth.
    await Promise.all(
      Array.from({ length: 50 }, () => abortAfter(`GET /v1/rooms HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer aaa.bbb.ccc\r\n\r\n`)),
    )
    await healthy()
  })
})
