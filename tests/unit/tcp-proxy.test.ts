/**
 * The fault-injection proxy (tests/helpers/tcp-proxy.ts) against a tiny echo server on 127.0.0.1:0:
 * it forwards, cuts, stalls and delays exactly as the suites that put it in front of Postgres and Redis
 * rely on. Every wait is a condition with a deadline; no duration is asserted.
 */
import net from 'node:net'
import { afterEach, describe, expect, test } from 'vitest'
import { waitFor } from '../helpers/server.js'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js'

interface EchoServer {
  readonly port: number
  /** Connections the echo server has open now. */
  readonly open: () => number
  /** Bytes it has received so far. */
  readonly received: () => number
  /** Sends `text` unasked on every open connection. */
  push(text: string): void
  close(): Promise<void>
}

async function startEcho(): Promise<EchoServer> {
  const sockets = new Set<net.Socket>()
  let received = 0
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('data', (data: Buffer) => {
      received += data.byteLength
      socket.write(data)
    })
    socket.on('error', () => {})
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address() as net.AddressInfo
  return {
    port: address.port,
    open: () => sockets.size,
    received: () => received,
    push: (text) => {
      for (const socket of sockets) socket.write(text)
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}

interface Client {
  readonly socket: net.Socket
  /** Everything received so far. */
  text(): string
  /** Set once the socket closed; `error` is the error code it closed with, if any. */
  closed(): { error: string | null } | null
}

const clients = new Set<net.Socket>()

function connect(port: number): Promise<Client> {
  return new Promise((resolve, reject) => {
    let text = ''
    let closed: { error: string | null } | null = null
    let error: string | null = null
    const socket = net.connect({ host: '127.0.0.1', port })
    clients.add(socket)
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => (text += chunk))
    socket.on('error', (err: NodeJS.ErrnoException) => {
      error = err.code ?? err.message
      reject(err)
    })
    socket.on('close', () => (closed = { error }))
    socket.once('connect', () => resolve({ socket, text: () => text, closed: () => closed }))
  })
}

let echo: EchoServer | null = null
let proxy: TcpProxy | null = null

afterEach(async () => {
  for (const socket of clients) socket.destroy()
  clients.clear()
  await proxy?.close()
  await echo?.close()
  proxy = null
  echo = null
})

async function setUp(latencyMs?: number): Promise<{ echo: EchoServer; proxy: TcpProxy }> {
  echo = await startEcho()
  proxy = await startTcpProxy({ targetPort: echo.port, ...(latencyMs === undefined ? {} : { latencyMs }) })
  return { echo, proxy }
}

describe('tcp proxy', () => {
  test('listens on 127.0.0.1 and forwards both ways, per connection', async () => {
    const { proxy, echo } = await setUp()
    expect(proxy.host).toBe('127.0.0.1')
    expect(proxy.port).toBeGreaterThan(0)
    const a = await connect(proxy.port)
    const b = await connect(proxy.port)
    a.socket.write('hello ')
    b.socket.write('other')
    a.socket.write('world')
    await waitFor(() => a.text() === 'hello world' && b.text() === 'other', 'both echoes')
    expect(proxy.stats()).toMatchObject({ accepted: 2, refused: 0, open: 2, toTarget: 16, toClient: 16, held: 0 })
    expect(echo.open()).toBe(2)
  })

  test('a large transfer arrives whole and in order', async () => {
    const { proxy } = await setUp()
    const c = await connect(proxy.port)
    const payload = Array.from({ length: 20_000 }, (_, i) => `${i},`).join('')
    c.socket.write(payload)
    await waitFor(() => c.text().length >= payload.length, 'the whole payload back')
    expect(c.text()).toBe(payload)
  })

  test('a client closing closes the connection to the target', async () => {
    const { proxy, echo } = await setUp()
    const c = await connect(proxy.port)
    c.socket.write('x')
    await waitFor(() => c.text() === 'x', 'the echo')
    c.socket.end()
    await waitFor(() => echo.open() === 0 && proxy.stats().open === 0, 'both sides closed')
    expect(c.closed()).toEqual({ error: null })
  })

  test('cut resets every connection and refuses new ones until restore', async () => {
    const { proxy, echo } = await setUp()
    const a = await connect(proxy.port)
    a.socket.write('before')
    await waitFor(() => a.text() === 'before', 'the echo before the cut')

    proxy.cut()
    await waitFor(() => a.closed() !== null, 'the client to see the cut')
    expect(a.closed()?.error).toBe('ECONNRESET')
    await waitFor(() => echo.open() === 0, 'the target side to close')

    // Refused: the connection is accepted by the kernel, then reset before any byte flows.
    const refused = await connect(proxy.port).then(
      async (c) => {
        c.socket.write('ignored')
        await waitFor(() => c.closed() !== null, 'the refused connection to close')
        return c
      },
      () => null,
    )
    if (refused) expect(refused.text()).toBe('')
    await waitFor(() => proxy.stats().refused === 1, 'the refusal to be counted')
    expect(echo.received()).toBe('before'.length)

    proxy.restore()
    const b = await connect(proxy.port)
    b.socket.write('after')
    await waitFor(() => b.text() === 'after', 'the echo after restore')
    expect(proxy.stats()).toMatchObject({ accepted: 2, refused: 1, open: 1 })
  })

  test('stall holds the bytes of current and new connections, keeps them open, and resume sends them all', async () => {
    const { proxy, echo } = await setUp()
    const a = await connect(proxy.port)
    a.socket.write('one')
    await waitFor(() => a.text() === 'one', 'the first echo')

    proxy.stall()
    a.socket.write('two')
    const b = await connect(proxy.port)
    b.socket.write('three')
    // The proxy has read both writes and holds them: nothing reached the target.
    await waitFor(() => proxy.stats().held === 'twothree'.length, 'the proxy to hold both writes')
    expect(echo.received()).toBe('one'.length)
    expect(a.text()).toBe('one')
    expect(b.text()).toBe('')
    expect([a.closed(), b.closed()]).toEqual([null, null])
    expect(proxy.stats().open).toBe(2)

    proxy.resume()
    await waitFor(() => a.text() === 'onetwo' && b.text() === 'three', 'the held bytes to flow')
    expect(proxy.stats().held).toBe(0)
  })

  test('a stall holds what the target sends, too', async () => {
    const { proxy, echo } = await setUp()
    const a = await connect(proxy.port)
    await waitFor(() => echo.open() === 1, 'the target to see the connection')
    proxy.stall()
    echo.push('hello')
    await waitFor(() => proxy.stats().held === 5, 'the proxy to hold what the target sent')
    expect(a.text()).toBe('')
    proxy.resume()
    await waitFor(() => a.text() === 'hello', 'the held bytes after resume')
  })

  test('latency delays every chunk not yet forwarded, in order; lowering it releases them', async () => {
    const { proxy, echo } = await setUp(600_000)
    const c = await connect(proxy.port)
    for (let i = 0; i < 5; i++) c.socket.write(`c${i};`)
    await waitFor(() => proxy.stats().held === 15, 'all five writes held')
    expect(echo.received()).toBe(0)

    proxy.setLatency(5)
    await waitFor(() => c.text() === 'c0;c1;c2;c3;c4;', 'the delayed echoes, in order')
    // A small delay on a stream of chunks keeps them whole and in order.
    const payload = Array.from({ length: 5_000 }, (_, i) => `${i},`).join('')
    c.socket.write(payload)
    await waitFor(() => c.text().length >= 15 + payload.length, 'the delayed payload')
    expect(c.text().slice(15)).toBe(payload)
    expect(() => proxy.setLatency(-1)).toThrow(RangeError)
  })

  test('a target that refuses connections resets the client', async () => {
    const { proxy, echo: target } = await setUp()
    await target.close()
    echo = null
    const c = await connect(proxy.port)
    await waitFor(() => c.closed() !== null, 'the client to be reset')
    await waitFor(() => proxy.stats().open === 0, 'the pair to be dropped')
  })

  test('close ends every connection and stops listening', async () => {
    const { proxy: p, echo } = await setUp()
    const c = await connect(p.port)
    c.socket.write('x')
    await waitFor(() => c.text() === 'x', 'the echo')
    await p.close()
    proxy = null
    await waitFor(() => c.closed() !== null && echo.open() === 0, 'both sides closed')
    await expect(connect(p.port)).rejects.toThrow(/ECONNREFUSED/)
  })
})
