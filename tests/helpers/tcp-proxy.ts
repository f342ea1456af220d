/**
 * A TCP proxy a test puts between the code under test and a service (Postgres, Redis) to make the network
 * fail on purpose: cut every connection, stall the bytes, or slow them down. It listens on 127.0.0.1 port 0
 * and forwards to one target; nothing else on the machine is touched.
 *
 * Bytes are forwarded by hand rather than with pipe(): pipe resumes a paused source whenever the other
 * side drains, which would defeat stall(). Each direction keeps a queue of chunks with the time they were
 * read (monotonic clock); a chunk leaves once it is `latencyMs` old and the proxy is not stalled.
 */
import net from 'node:net'
import { performance } from 'node:perf_hooks'

export interface TcpProxyOptions {
  /** The service's port on `targetHost`. */
  readonly targetPort: number
  /** @default '127.0.0.1' */
  readonly targetHost?: string
  /** Added one-way delay per chunk, in ms (see setLatency). @default 0 */
  readonly latencyMs?: number
}

export interface TcpProxyStats {
  /** Connections accepted and forwarded (refused ones not counted). */
  readonly accepted: number
  /** Connections refused while cut. */
  readonly refused: number
  /** Client connections open now. */
  readonly open: number
  /** Bytes written to the target / to clients so far. */
  readonly toTarget: number
  readonly toClient: number
  /** Bytes read from either side and held back (stalled or delayed), not yet written on. */
  readonly held: number
}

export interface TcpProxy {
  readonly host: '127.0.0.1'
  readonly port: number
  /**
   * Destroys every current connection (clients see a reset, the target a close) and refuses new ones
   * until restore(): they are accepted and reset at once, so the port stays the proxy's.
   */
  cut(): void
  restore(): void
  /**
   * Stops forwarding in both directions and keeps every socket open, new ones included: what a client
   * sees when the network drops packets. The proxy goes on reading (up to MAX_HELD_BYTES per direction
   * and connection, then TCP backpressure) and sends it all on resume().
   */
  stall(): void
  resume(): void
  /** Sets the added one-way delay; it applies to every chunk not yet forwarded, counted from its reading. */
  setLatency(ms: number): void
  stats(): TcpProxyStats
  /** Destroys every connection and stops listening. */
  close(): Promise<void>
}

/** Per direction and connection; past it the proxy stops reading, and TCP pushes back on the sender. */
export const MAX_HELD_BYTES = 1024 * 1024

interface Chunk {
  readonly data: Buffer
  readonly readAt: number
}

/** One direction of one connection: src's bytes, queued, written to dst. */
class Forwarder {
  readonly #queue: Chunk[] = []
  #heldBytes = 0
  #ended = false
  #waitingForDrain = false
  #timer: NodeJS.Timeout | null = null

  constructor(
    private readonly src: net.Socket,
    private readonly dst: net.Socket,
    private readonly proxy: ProxyState,
    private readonly count: (bytes: number) => void,
  ) {
    src.on('data', (data: Buffer) => {
      this.#queue.push({ data, readAt: performance.now() })
      this.#heldBytes += data.byteLength
      this.proxy.held += data.byteLength
      if (this.#heldBytes >= MAX_HELD_BYTES) src.pause()
      this.pump()
    })
    src.on('end', () => {
      this.#ended = true
      this.pump()
    })
    dst.on('drain', () => {
      this.#waitingForDrain = false
      this.pump()
    })
  }

  /** Writes every chunk that is due, unless stalled; schedules itself for the next one. */
  pump(): void {
    if (this.#timer) {
      clearTimeout(this.#timer)
      this.#timer = null
    }
    if (this.proxy.stalled || this.#waitingForDrain || this.dst.destroyed) return
    const now = performance.now()
    for (;;) {
      const head = this.#queue[0]
      if (!head) break
      const dueIn = head.readAt + this.proxy.latencyMs - now
      if (dueIn > 0) {
        this.#timer = setTimeout(() => this.pump(), Math.ceil(dueIn))
        return
      }
      this.#queue.shift()
      this.#heldBytes -= head.data.byteLength
      this.proxy.held -= head.data.byteLength
      this.count(head.data.byteLength)
      if (!this.dst.write(head.data)) {
        this.#waitingForDrain = true
        return
      }
    }
    if (this.#heldBytes < MAX_HELD_BYTES && this.src.isPaused() && !this.src.destroyed) this.src.resume()
    // Half-close travels on only after everything read before it.
    if (this.#ended && this.#queue.length === 0 && !this.dst.writableEnded) this.dst.end()
  }

  /** Drops what is held (the connection is gone). */
  discard(): void {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
    this.proxy.held -= this.#heldBytes
    this.#heldBytes = 0
    this.#queue.length = 0
  }
}

interface ProxyState {
  stalled: boolean
  latencyMs: number
  held: number
}

interface Pair {
  /** Resets the client, closes the upstream, drops what was held. */
  fail(): void
  /** Forwards what is due in both directions. */
  pump(): void
}

export async function startTcpProxy(opts: TcpProxyOptions): Promise<TcpProxy> {
  const targetHost = opts.targetHost ?? '127.0.0.1'
  const state: ProxyState = { stalled: false, latencyMs: opts.latencyMs ?? 0, held: 0 }
  const pairs = new Set<Pair>()
  let cut = false
  let accepted = 0
  let refused = 0
  let toTarget = 0
  let toClient = 0

  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    if (cut) {
      refused++
      client.on('error', () => {})
      client.resetAndDestroy()
      return
    }
    accepted++
    const upstream = net.connect({ host: targetHost, port: opts.targetPort, allowHalfOpen: true })
    const forwarders = [
      new Forwarder(client, upstream, state, (n) => (toTarget += n)),
      new Forwarder(upstream, client, state, (n) => (toClient += n)),
    ]
    const pair: Pair = { fail: () => fail(), pump: () => forwarders.forEach((f) => f.pump()) }
    pairs.add(pair)
    let torn = false
    let closed = 0
    // An error on either side resets the other: the proxy never leaves half a connection behind. A clean
    // close needs nothing: each FIN was passed on after the bytes before it, so the other side closes too.
    const fail = (): void => {
      if (torn) return
      torn = true
      pairs.delete(pair)
      for (const f of forwarders) f.discard()
      if (!client.destroyed) client.resetAndDestroy()
      upstream.destroy()
    }
    for (const socket of [client, upstream]) {
      socket.on('error', fail)
      socket.on('close', (hadError) => {
        if (hadError) fail()
        else if (++closed === 2) pairs.delete(pair)
      })
    }
    client.resume()
  })
  server.on('error', () => {})

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('tcp proxy: no port')

  const destroyAll = (): void => {
    for (const pair of [...pairs]) pair.fail()
  }
  const pumpAll = (): void => {
    for (const pair of pairs) pair.pump()
  }

  return {
    host: '127.0.0.1',
    port: address.port,
    cut() {
      cut = true
      destroyAll()
    },
    restore() {
      cut = false
    },
    stall() {
      state.stalled = true
    },
    resume() {
      state.stalled = false
      pumpAll()
    },
    setLatency(ms) {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`latency must be a non-negative number of ms, got ${ms}`)
      state.latencyMs = ms
      pumpAll()
    },
    stats: () => ({ accepted, refused, open: pairs.size, toTarget, toClient, held: state.held }),
    close() {
      cut = true
      destroyAll()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
