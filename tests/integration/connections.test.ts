/**
 * What the upgrade refuses before any work is done: too many connections from one address (429, with
 * X-Forwarded-For believed only from trusted proxies), invalid upgrades (400), oversize request heads
 * (431), and request heads that never finish (closed by the HTTP idle timeout). Counting is exact:
 * refused, aborted and closed connections give their slot back.
 */
import net from 'node:net'
import type { IncomingMessage } from 'node:http'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import WebSocket from 'ws'
import { startServer, token, waitFor, type RunningServer } from '../helpers/server.js'
import { closeOpenConns, single, type Conn } from '../helpers/raw-client.js'

afterEach(closeOpenConns)

interface RawAnswer {
  status: number
  headers: string
  body: string
}

/** Writes `request` on a fresh TCP connection; resolves with the answer once the server closes or answers. */
function rawRequest(port: number, request: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    let data = ''
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no answer to ${JSON.stringify(request.slice(0, 60))}`))
    }, 5_000)
    const finish = (): void => {
      clearTimeout(timer)
      const [head = '', body = ''] = data.split('\r\n\r\n')
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), headers: head.toLowerCase(), body })
      socket.destroy()
    }
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      data += chunk
      // A complete JSON answer (refusals carry Content-Length) or a 101 head is enough.
      const length = /content-length: (\d+)/i.exec(data)?.[1]
      const split = data.indexOf('\r\n\r\n')
      if (split >= 0 && (data.startsWith('HTTP/1.1 101') || (length !== undefined && data.length - split - 4 >= Number(length)))) finish()
    })
    socket.on('close', finish)
    socket.on('error', () => {})
    socket.on('connect', () => socket.write(request))
  })
}

const KEY = 'dGhlIHNhbXBsZSBub25jZQ=='

function upgradeRequest(path: string, headers: Record<string, string | undefined> = {}): string {
  const all: Record<string, string | undefined> = {
    host: '127.0.0.1',
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-key': KEY,
    'sec-websocket-version': '13',
    ...headers,
  }
  const lines = Object.entries(all)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => `${k}: ${v}`)
  return `GET ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`
}

/** An upgrade through `ws` with extra headers; resolves 101 or the refusal's status and error code. */
function attempt(url: string, headers: Record<string, string> = {}): Promise<{ status: number; code?: string; conn?: WebSocket }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers })
    ws.on('open', () => resolve({ status: 101, conn: ws }))
    ws.on('unexpected-response', (req, res: IncomingMessage) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => {
        req.destroy()
        resolve({ status: res.statusCode ?? 0, code: (JSON.parse(body) as { error: { code: string } }).error.code })
      })
    })
    ws.on('error', (err) => reject(err))
  })
}

describe('per-address connection cap', () => {
  let s: RunningServer
  let jwt: string
  beforeAll(async () => {
    s = await startServer({ TANDEM_STORE: 'memory', TANDEM_MAX_CONNECTIONS_PER_ADDRESS: '3' })
    jwt = await token()
  })
  afterAll(() => s.stop())

  test('the connection past the cap is refused with 429 too_many_connections, and a closed one frees its slot', async () => {
    const conns: Conn[] = []
    for (let i = 0; i < 3; i++) conns.push(await single(s.url, `cap-${i}`, { token: jwt }))
    const fourth = await attempt(`${s.url}/ws/cap-x?token=${jwt}`)
    expect(fourth).toMatchObject({ status: 429, code: 'too_many_connections' })
    // Refused upgrades take no slot: after many of them the count is still exactly 3.
    for (let i = 0; i < 10; i++) expect((await attempt(`${s.url}/ws/cap-x?token=bad`)).status).toBe(429)
    conns[0]?.close()
    await waitFor(() => s.server.connectionCount === 2, 'the closed connection to be counted out')
    const again = await attempt(`${s.url}/ws/cap-x?token=${jwt}`)
    expect(again.status).toBe(101)
    again.conn?.terminate()
    await waitFor(() => s.server.connectionCount === 2, 'the last connection to close')
  })

  test('refused, aborted and closed upgrades give their slots back exactly', async () => {
    await waitFor(() => s.server.connectionCount === 0, 'earlier connections to close')
    // Token refusals (401) while under the cap.
    for (let i = 0; i < 5; i++) expect((await attempt(`${s.url}/ws/cap-a?token=not-a-jwt`)).status).toBe(401)
    // Upgrades whose client goes away before the answer (the token check is asynchronous).
    for (let i = 0; i < 20; i++) {
      await new Promise<void>((resolve) => {
        const socket = net.connect(s.port, '127.0.0.1', () => {
          socket.write(upgradeRequest(`/ws/cap-a?token=${jwt}`))
          socket.destroy()
          resolve()
        })
        socket.on('error', () => {})
      })
    }
    // Upgrades answered 101 whose client vanished right after.
    for (let i = 0; i < 5; i++) {
      const answer = await rawRequest(s.port, upgradeRequest(`/ws/cap-a?token=${jwt}`))
      expect(answer.status).toBe(101)
    }
    await waitFor(() => s.server.connectionCount === 0, 'the vanished sockets to close')
    const held: WebSocket[] = []
    for (let i = 0; i < 3; i++) {
      const ok = await attempt(`${s.url}/ws/cap-a?token=${jwt}`)
      expect(ok.status).toBe(101)
      held.push(ok.conn as WebSocket)
    }
    expect(await attempt(`${s.url}/ws/cap-a?token=${jwt}`)).toMatchObject({ status: 429 })
    for (const ws of held) ws.terminate()
  })

  test('X-Forwarded-For from an untrusted peer is ignored', async () => {
    await waitFor(() => s.server.connectionCount === 0, 'earlier connections to close')
    const held: WebSocket[] = []
    for (let i = 0; i < 3; i++) {
      const ok = await attempt(`${s.url}/ws/xff?token=${jwt}`, { 'x-forwarded-for': `203.0.113.${i + 1}` })
      expect(ok.status).toBe(101)
      held.push(ok.conn as WebSocket)
    }
    expect(await attempt(`${s.url}/ws/xff?token=${jwt}`, { 'x-forwarded-for': '198.51.100.7' })).toMatchObject({ status: 429 })
    for (const ws of held) ws.terminate()
  })
})

describe('behind a trusted proxy', () => {
  let s: RunningServer
  let jwt: string
  beforeAll(async () => {
    s = await startServer({ TANDEM_STORE: 'memory', TANDEM_MAX_CONNECTIONS_PER_ADDRESS: '2', TANDEM_TRUSTED_PROXIES: '127.0.0.1, 10.0.0.0/8' })
    jwt = await token()
  })
  afterAll(() => s.stop())

  test('clients are counted by the rightmost untrusted X-Forwarded-For hop', async () => {
    const url = `${s.url}/ws/proxied?token=${jwt}`
    const held: WebSocket[] = []
    const open = async (xff: string): Promise<void> => {
      const ok = await attempt(url, { 'x-forwarded-for': xff })
      expect(ok.status, xff).toBe(101)
      held.push(ok.conn as WebSocket)
    }
    await open('203.0.113.5')
    // A second proxy hop inside 10/8 is skipped; a hop the client wrote on the left proves nothing.
    await open('1.1.1.1, 203.0.113.5, 10.1.2.3')
    expect(await attempt(url, { 'x-forwarded-for': '9.9.9.9, 203.0.113.5' })).toMatchObject({ status: 429, code: 'too_many_connections' })
    // Another client behind the same proxy has its own count.
    await open('203.0.113.6')
    // No header: the proxy itself is the client.
    await open('')
    for (const ws of held) ws.terminate()
  })
})

describe('invalid upgrades', () => {
  let s: RunningServer
  let jwt: string
  beforeAll(async () => {
    s = await startServer({ TANDEM_STORE: 'memory' })
    jwt = await token()
  })
  afterAll(() => s.stop())

  test.each([
    ['a plain GET on /ws', 'GET /ws HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['a plain GET on /ws/<room>', 'GET /ws/room HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['a POST on /ws', 'POST /ws HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n'],
    ['an upgrade without Sec-WebSocket-Key', upgradeRequest('/ws/room', { 'sec-websocket-key': undefined })],
    ['a Sec-WebSocket-Key that is not 16 bytes of base64', upgradeRequest('/ws/room', { 'sec-websocket-key': '!!!!!!!!!!!!!!!!!!!!!!==' })],
    ['an unsupported Sec-WebSocket-Version', upgradeRequest('/ws/room', { 'sec-websocket-version': '8' })],
    ['an upgrade without Upgrade: websocket', upgradeRequest('/ws', { upgrade: undefined })],
    ['an upgrade without Connection: Upgrade', upgradeRequest('/ws', { connection: 'keep-alive' })],
  ])('%s is answered 400 bad_request', async (_name, request) => {
    const answer = await rawRequest(s.port, request.replace('/ws/room', `/ws/room?token=${jwt}`))
    expect(answer.status).toBe(400)
    expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 'bad_request' } })
    expect(answer.headers).toContain('sec-websocket-version: 13')
  })

  test('request heads over the limit are answered 431 before the token is looked at', async () => {
    const big = 'a'.repeat(5_000)
    for (const request of [upgradeRequest(`/ws/room?token=${jwt}`, { 'x-padding': big }), `GET /ws HTTP/1.1\r\nHost: x\r\nX-Padding: ${big}\r\n\r\n`]) {
      const answer = await rawRequest(s.port, request)
      expect(answer.status).toBe(431)
      expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 'header_fields_too_large' } })
    }
    // A valid upgrade of ordinary size still works.
    expect((await rawRequest(s.port, upgradeRequest(`/ws/room?token=${jwt}`))).status).toBe(101)
  })

  test('REST routes are untouched', async () => {
    expect((await rawRequest(s.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')).status).toBe(200)
  })

  test('a client sending its request head one byte at a time is closed before it finishes', async () => {
    const request = upgradeRequest(`/ws/room?token=${jwt}`)
    const socket = net.connect(s.port, '127.0.0.1')
    let closed = false
    let answer = ''
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()))
    socket.on('close', () => (closed = true))
    socket.on('error', () => {})
    await new Promise<void>((resolve) => socket.on('connect', () => resolve()))
    let sent = 0
    const timer = setInterval(() => {
      if (closed || sent >= request.length) return
      socket.write(request[sent++] ?? '')
    }, 250)
    try {
      // The whole head at this pace would take minutes; uWS's HTTP idle timeout (10 s, checked every 4 s) ends it.
      await waitFor(() => closed, 'the slow client to be closed', 20_000)
    } finally {
      clearInterval(timer)
      socket.destroy()
    }
    expect(sent).toBeLessThan(request.length)
    expect(answer).not.toContain('101')
  }, 30_000)
})
