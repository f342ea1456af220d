/**
 * The listen socket: exclusive, always with SO_REUSEADDR, and closable and re-openable on the same port
 * (the descriptor guard pauses accepting that way).
 *
 * Exclusive: uWS otherwise sets SO_REUSEPORT, and a second Tandem on the same port (and data directory)
 * would silently share the connections. SO_REUSEADDR: uSockets sets it (and SO_REUSEPORT) only when the
 * requested port is not 0. On port 0 the listen socket and every connection it accepts lack it, and
 * since uWS closes a WebSocket from the server side (close frame, then FIN), a drain leaves one
 * TIME_WAIT per connection on the server's port that blocks any new bind to it for 60 s. So port 0 is
 * resolved first (an ephemeral port from a throwaway listen) and then bound by number, like any other.
 */
import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js'
import type { UWS } from './uws.js'

/** uWS's LIBUS_LISTEN_EXCLUSIVE_PORT (the typings only declare the overload without a host). */
const LISTEN_EXCLUSIVE_PORT = 1
/** Tries to bind an ephemeral port by number (another process may take it in between). */
const EPHEMERAL_ATTEMPTS = 5

type ListenWithOptions = (host: string, port: number, options: number, cb: (socket: us_listen_socket | false) => void) => TemplatedApp

export class Listener {
  readonly #uws: UWS
  readonly #app: TemplatedApp
  readonly #host: string
  #socket: us_listen_socket | null = null
  #port = 0

  constructor(uws: UWS, app: TemplatedApp, host: string) {
    this.#uws = uws
    this.#app = app
    this.#host = host
  }

  get port(): number {
    return this.#port
  }

  get listening(): boolean {
    return this.#socket !== null
  }

  /** Binds `port` (0: an ephemeral one); returns the bound port, or null if it is in use or not permitted. */
  listen(port: number): number | null {
    if (port !== 0) return this.#bind(port) ? port : null
    for (let attempt = 0; attempt < EPHEMERAL_ATTEMPTS; attempt++) {
      const ephemeral = this.#ephemeralPort()
      if (ephemeral === null) return null
      if (this.#bind(ephemeral)) return ephemeral
    }
    return null
  }

  /** Stops accepting; the kernel refuses new connections until `resume`. */
  pause(): void {
    if (this.#socket === null) return
    this.#uws.us_listen_socket_close(this.#socket)
    this.#socket = null
  }

  /** Listens again on the port bound before; false if that failed. */
  resume(): boolean {
    if (this.#socket !== null) return true
    if (this.#port === 0) return false
    return this.#bind(this.#port)
  }

  close(): void {
    this.pause()
  }

  #bind(port: number): boolean {
    let bound: us_listen_socket | false = false
    // uWS calls back synchronously.
    ;(this.#app.listen as unknown as ListenWithOptions).call(this.#app, this.#host, port, LISTEN_EXCLUSIVE_PORT, (socket) => {
      bound = socket
    })
    if (!bound) return false
    this.#socket = bound
    this.#port = this.#uws.us_socket_local_port(bound)
    return true
  }

  /** A free port from the kernel, via a listen socket closed at once (it never accepted anything). */
  #ephemeralPort(): number | null {
    let port: number | null = null
    ;(this.#app.listen as unknown as ListenWithOptions).call(this.#app, this.#host, 0, LISTEN_EXCLUSIVE_PORT, (socket) => {
      if (!socket) return
      port = this.#uws.us_socket_local_port(socket)
      this.#uws.us_listen_socket_close(socket)
    })
    return port
  }
}
