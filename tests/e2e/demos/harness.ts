/**
 * Runs the demo mode (`examples/start.js`, what `npm start` runs) as a child process for the browser
 * tests: on a given port (0 picks one) and data directory, with the port read from its `demos ready`
 * log line. Stopping sends SIGTERM, so the server drains as it would under Ctrl+C.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
const START = path.join(ROOT, 'examples/start.js')

export interface DemoProcess {
  port: number
  /** http://127.0.0.1:<port> */
  base: string
  /** The in-process webhook bot's stats endpoint (`GET` answers its counters), null with --no-bot. */
  botStatsUrl: string | null
  child: ChildProcess
  /** Everything the process printed so far (for failure messages). */
  output(): string
  /** SIGTERM, then wait for the exit; resolves with the exit code. */
  stop(): Promise<number | null>
}

export async function startDemoProcess(dataDir: string, port = 0, timeoutMs = 30_000): Promise<DemoProcess> {
  const child = spawn(process.execPath, [START, '--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir], {
    cwd: ROOT,
    env: { ...process.env, TANDEM_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  let botStatsUrl: string | null = null
  const ready = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`demo server did not start within ${timeoutMs} ms:\n${out}`)), timeoutMs)
    let buffered = ''
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      buffered += chunk.toString()
      let newline: number
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline)
        buffered = buffered.slice(newline + 1)
        if (!line.startsWith('{')) continue
        const entry = JSON.parse(line) as { msg?: string; port?: number; bot?: string | null }
        if (entry.msg === 'demos ready' && typeof entry.port === 'number') {
          if (typeof entry.bot === 'string') botStatsUrl = new URL('/healthz', entry.bot).href
          clearTimeout(timer)
          resolve(entry.port)
        }
      }
    })
    child.stderr?.on('data', (chunk: Buffer) => {
      out += chunk.toString()
    })
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`demo server exited with ${code} before it was ready:\n${out}`))
    })
  })
  const actualPort = await ready
  return {
    port: actualPort,
    base: `http://127.0.0.1:${actualPort}`,
    botStatsUrl,
    child,
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      return exited
    },
  }
}

export interface FrontProxy {
  /** http://127.0.0.1:<port> of the proxy: stays the same while the demo server behind it restarts. */
  base: string
  close(): Promise<void>
}

/**
 * A TCP pass-through in front of the demo server, like a load balancer: pages keep one address while
 * the server restarts on a fresh port (reusing a just-freed ephemeral port can collide with the
 * browser's own outgoing connections). While no server is up, connections are refused.
 */
export async function startFrontProxy(target: () => number | null): Promise<FrontProxy> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    const port = target()
    if (port === null) {
      client.destroy()
      return
    }
    const upstream = net.connect(port, '127.0.0.1')
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('error', () => {})
      s.on('close', () => {
        sockets.delete(s)
        client.destroy()
        upstream.destroy()
      })
    }
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  return {
    base: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}
