/**
 * Request bodies: reading with a size limit and deadlines, and parsing JSON that is bounded in depth and
 * holds only finite numbers. Pure of uWS beyond the one `onData` method a response offers, so it is unit
 * tested with a fake.
 */
import { AppError } from '../errors.js'
import { nestingExceeds } from '../json-nesting.js'

/** The part of a uWS response that streams the request body. */
export interface BodySource {
  onData(handler: (chunk: ArrayBuffer, isLast: boolean) => void): unknown
}

export interface BodyLimits {
  /** Largest accepted body (TANDEM_MAX_BODY_BYTES). */
  readonly maxBytes: number
  /** The declared Content-Length, or null (chunked). */
  readonly contentLength: number | null
  /** The whole body must have arrived within this long (TANDEM_BODY_TIMEOUT_MS). */
  readonly timeoutMs: number
  /**
   * Longest pause between two chunks. Shorter than uWS's own 10 s HTTP idle timeout, which would close
   * the connection without an answer: a stalled upload gets its 408 first.
   */
  readonly gapMs: number
}

/** uWS closes an HTTP connection that sends nothing for 10 s; a stalled body must be answered before. */
export const BODY_GAP_MS = 5_000

export interface BodyReader {
  /** Resolves with the whole body; rejects with AppError `payload_too_large` / `request_timeout`, or ClientAborted. */
  readonly promise: Promise<Uint8Array>
  /** True once the last chunk arrived, whether or not the body was accepted. */
  readonly complete: boolean
  /** Calls `listener` once the last chunk has arrived (at once if it has). */
  onComplete(listener: () => void): void
}

/** The client went away while the request was in flight; nothing may be written. */
export class ClientAborted extends Error {
  override name = 'ClientAborted'
}

/**
 * Reads a request body. Must be called before the uWS handler returns (uWS delivers data right after).
 * A declared Content-Length above the limit rejects at once; a body that grows past it (chunked, or
 * lying) rejects on the chunk that crosses it; a body that pauses longer than `gapMs` or is not complete
 * within `timeoutMs` rejects with `request_timeout`. After a rejection the rest of the body is read and
 * dropped, never buffered, so the caller can answer and then close once the client has stopped sending
 * (see `complete` / `onComplete`). `signal` is aborted by the caller's onAborted handler.
 */
export function readBody(res: BodySource, limits: BodyLimits, signal: AbortSignal): BodyReader {
  let complete = false
  let settled = false
  const completeListeners: (() => void)[] = []
  let resolve!: (body: Uint8Array) => void
  let reject!: (err: unknown) => void
  const promise = new Promise<Uint8Array>((res_, rej) => {
    resolve = res_
    reject = rej
  })
  let deadline: NodeJS.Timeout | null = null
  let gap: NodeJS.Timeout | null = null
  const stopTimers = (): void => {
    if (deadline) clearTimeout(deadline)
    if (gap) clearTimeout(gap)
    deadline = gap = null
  }
  const fail = (err: unknown): void => {
    stopTimers()
    if (settled) return
    settled = true
    reject(err)
  }
  const reader: BodyReader = {
    promise,
    get complete() {
      return complete
    },
    onComplete(listener) {
      if (complete) listener()
      else completeListeners.push(listener)
    },
  }
  if (signal.aborted) {
    fail(new ClientAborted('client went away'))
    return reader
  }
  signal.addEventListener('abort', () => fail(new ClientAborted('client went away')), { once: true })

  const { maxBytes, contentLength } = limits
  const oversize = contentLength !== null && contentLength > maxBytes
  if (oversize) fail(tooLarge(maxBytes))
  else {
    deadline = setTimeout(() => fail(timedOut(`the request body did not arrive within ${limits.timeoutMs} ms (TANDEM_BODY_TIMEOUT_MS)`)), limits.timeoutMs)
    armGap()
  }
  function armGap(): void {
    if (gap) clearTimeout(gap)
    gap = setTimeout(() => fail(timedOut(`the request body paused for more than ${limits.gapMs} ms`)), limits.gapMs)
  }

  // Known length: one allocation, chunks copied in place. Unknown (chunked): collect, join once.
  const fixed = contentLength !== null && !oversize ? new Uint8Array(contentLength) : null
  const chunks: Uint8Array[] = []
  let received = 0
  res.onData((chunk, isLast) => {
    if (!settled) {
      const size = chunk.byteLength
      if (received + size > maxBytes || (fixed !== null && received + size > fixed.byteLength)) {
        fail(tooLarge(maxBytes))
      } else {
        // uWS neuters `chunk` when this callback returns: copy now.
        if (fixed !== null) fixed.set(new Uint8Array(chunk), received)
        else if (size > 0) chunks.push(new Uint8Array(chunk.slice(0)))
        received += size
        if (isLast) {
          stopTimers()
          settled = true
          resolve(fixed !== null ? fixed.subarray(0, received) : concat(chunks, received))
        } else armGap()
      }
    }
    // Refused or not, the end of the body is what lets the caller close without resetting the connection.
    if (isLast && !complete) {
      complete = true
      for (const listener of completeListeners.splice(0)) listener()
    }
  })
  return reader
}

function tooLarge(maxBytes: number): AppError {
  return new AppError('payload_too_large', `request body is larger than ${maxBytes} bytes (TANDEM_MAX_BODY_BYTES)`)
}

function timedOut(message: string): AppError {
  return new AppError('request_timeout', message)
}

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1 && chunks[0]) return chunks[0]
  const out = new Uint8Array(total)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.byteLength
  }
  return out
}

/** Deepest nesting of arrays and objects a JSON body may have. */
export const MAX_JSON_DEPTH = 64

/**
 * Parses a body as JSON; a malformed body is a 400 naming the problem. Nesting deeper than
 * MAX_JSON_DEPTH and numbers JSON.parse would turn into ±Infinity (`1e309`) are refused with 400 too:
 * neither can be stored and read back as sent.
 */
export function parseJson(bytes: Uint8Array): unknown {
  if (bytes.byteLength === 0) throw new AppError('bad_request', 'request body is empty; expected a JSON object')
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw new AppError('bad_request', 'request body is not valid UTF-8')
  }
  // Before parsing: the checks below and the validators after it recurse once per level.
  if (nestingExceeds(text, MAX_JSON_DEPTH)) throw new AppError('bad_request', `JSON body is nested deeper than ${MAX_JSON_DEPTH} levels`)
  let value: unknown
  try {
    value = JSON.parse(text) as unknown
  } catch (err) {
    // V8's SyntaxError names the token or position; drop the excerpt of the body it sometimes quotes.
    const detail = err instanceof Error ? err.message.replace(/,\s*".*" is not valid JSON$/s, '') : 'parse error'
    throw new AppError('bad_request', `malformed JSON body: ${detail}`)
  }
  const where = nonFinitePath(value, '')
  if (where !== null) throw new AppError('bad_request', `number out of range at body${where}: JSON numbers must be finite`)
  return value
}

/** Path of the first non-finite number in a parsed value (depth already bounded), or null. */
function nonFinitePath(value: unknown, path: string): string | null {
  if (typeof value === 'number') return Number.isFinite(value) ? null : path
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = nonFinitePath(value[i], `${path}[${i}]`)
      if (found !== null) return found
    }
  } else if (value !== null && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      const found = nonFinitePath(inner, `${path}.${key}`)
      if (found !== null) return found
    }
  }
  return null
}
