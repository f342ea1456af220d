/**
 * The slice of the WebSocket API the client uses, so the browser's `WebSocket` and the `ws` package
 * both fit without adapters, and tests can pass a fake.
 */

/**
 * What the client needs from a WebSocket instance. Handler parameters are typed `never` so that any
 * implementation's handler property (DOM `MessageEvent`, `ws`'s own event types) is assignable.
 */
export interface WebSocketLike {
  binaryType: string
  readonly readyState: number
  onopen: ((event: never) => void) | null
  onmessage: ((event: never) => void) | null
  onclose: ((event: never) => void) | null
  onerror: ((event: never) => void) | null
  send(data: Uint8Array): void
  close(code?: number, reason?: string): void
}

/**
 * A WebSocket constructor: `globalThis.WebSocket` in browsers, Deno, Bun and Node ≥ 22; the `ws` package's
 * default export in Node 20.
 */
export type WebSocketConstructor = new (url: string) => WebSocketLike

/** The event shapes the client reads (a subset of what every implementation provides). */
export interface MessageEventLike {
  data: unknown
}
export interface CloseEventLike {
  code: number
  reason: string
}

/** WebSocket.OPEN; not read from the constructor because fakes may not define the static. */
export const OPEN = 1

/** The WebSocket to use: the injected one, else the global one, else null. */
export function resolveWebSocket(injected: WebSocketConstructor | undefined): WebSocketConstructor | null {
  if (injected) return injected
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
  return typeof global === 'function' ? global : null
}

/**
 * A binary message as bytes. `binaryType = 'arraybuffer'` gives an ArrayBuffer everywhere; a view
 * (Node Buffer from a `ws` instance whose binaryType was reset) is accepted too. Text frames give null.
 */
export function toBytes(data: unknown): Uint8Array | null {
  if (data instanceof ArrayBuffer) return new Uint8Array(data)
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  // ArrayBuffers from another realm (iframes, vm contexts) fail instanceof.
  if (Object.prototype.toString.call(data) === '[object ArrayBuffer]') return new Uint8Array(data as ArrayBuffer)
  return null
}
