/**
 * Request bodies against a stand-in for uWS's onData (neutered buffers included): limits, deadlines,
 * the end of a refused body, and JSON parsing with its depth and finite-number rules.
 */
import { afterEach, describe, expect, test, vi } from 'vitest'
import { AppError } from '../../server/src/errors.js'
import { ClientAborted, MAX_JSON_DEPTH, parseJson, readBody, type BodyLimits } from '../../server/src/http/body.js'
import { nestingExceeds } from '../../server/src/json-nesting.js'

function limits(maxBytes: number, contentLength: number | null, timeoutMs = 60_000, gapMs = 30_000): BodyLimits {
  return { maxBytes, contentLength, timeoutMs, gapMs }
}

type DataHandler = (chunk: ArrayBuffer, isLast: boolean) => void

/** Stands in for uWS's response: keeps the onData handler and neuters each chunk after the call, like uWS. */
function fakeResponse(): { res: { onData(handler: DataHandler): void }; push(bytes: Uint8Array, isLast: boolean): void; registered: () => boolean } {
  let handler: DataHandler | null = null
  return {
    res: {
      onData(h: DataHandler) {
        handler = h
      },
    },
    push(bytes, isLast) {
      const buffer = bytes.slice().buffer
      handler?.(buffer, isLast)
      new Uint8Array(buffer).fill(0) // what the handler did not copy is gone
    },
    registered: () => handler !== null,
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}

describe('readBody', () => {
  test('collects chunks into the preallocated buffer when the length is declared', async () => {
    const fake = fakeResponse()
    const reader = readBody(fake.res, limits(100, 6), new AbortController().signal)
    fake.push(new TextEncoder().encode('abc'), false)
    expect(reader.complete).toBe(false)
    fake.push(new TextEncoder().encode('def'), true)
    expect(reader.complete).toBe(true)
    expect(new TextDecoder().decode(await reader.promise)).toBe('abcdef')
  })

  test('collects chunks of unknown total length (chunked)', async () => {
    const fake = fakeResponse()
    const reader = readBody(fake.res, limits(100, null), new AbortController().signal)
    for (const part of ['{"a"', ':', '1}']) fake.push(new TextEncoder().encode(part), false)
    fake.push(new Uint8Array(0), true)
    expect(new TextDecoder().decode(await reader.promise)).toBe('{"a":1}')
  })

  test('an empty body resolves to zero bytes', async () => {
    const fake = fakeResponse()
    const reader = readBody(fake.res, limits(100, null), new AbortController().signal)
    fake.push(new Uint8Array(0), true)
    expect((await reader.promise).byteLength).toBe(0)
  })

  test('a declared length over the limit rejects at once, without reading', async () => {
    const fake = fakeResponse()
    const reader = readBody(fake.res, limits(10, 11), new AbortController().signal)
    const err = await rejection(reader.promise)
    expect(err).toBeInstanceOf(AppError)
    expect((err as AppError).code).toBe('payload_too_large')
    expect(reader.complete).toBe(false)
    // The rest is still read, and dropped, so the caller knows when the client stopped sending.
    fake.push(new Uint8Array(11), true)
    expect(reader.complete).toBe(true)
  })

  test('a body growing past the limit rejects on the chunk that crosses it and ignores the rest', async () => {
    const fake = fakeResponse()
    const reader = readBody(fake.res, limits(10, null), new AbortController().signal)
    fake.push(new Uint8Array(6), false)
    fake.push(new Uint8Array(6), false)
    const err = await rejection(reader.promise)
    expect((err as AppError).code).toBe('payload_too_large')
    expect(reader.complete).toBe(false)
    expect(() => fake.push(new Uint8Array(1000), true)).not.toThrow()
    expect(reader.complete).toBe(true)
  })

  test('more data than the declared length is refused', async () => {
    const fake = fakeResponse()
    const reader = readBody(fake.res, limits(100, 2), new AbortController().signal)
    fake.push(new Uint8Array(3), true)
    expect(((await rejection(reader.promise)) as AppError).code).toBe('payload_too_large')
  })

  test('an abort rejects with ClientAborted, before or during the read', async () => {
    const early = new AbortController()
    early.abort()
    expect(await rejection(readBody(fakeResponse().res, limits(100, null), early.signal).promise)).toBeInstanceOf(ClientAborted)

    const fake = fakeResponse()
    const controller = new AbortController()
    const reader = readBody(fake.res, limits(100, 10), controller.signal)
    fake.push(new Uint8Array(3), false)
    controller.abort()
    expect(await rejection(reader.promise)).toBeInstanceOf(ClientAborted)
    expect(() => fake.push(new Uint8Array(7), true)).not.toThrow()
  })
})

describe('parseJson', () => {
  const bytes = (s: string) => new TextEncoder().encode(s)
  test('parses JSON and names the syntax problem otherwise', () => {
    expect(parseJson(bytes('{"a":[1,2]}'))).toEqual({ a: [1, 2] })
    const err = (() => {
      try {
        parseJson(bytes('{"a":}'))
      } catch (e) {
        return e as AppError
      }
      throw new Error('no error')
    })()
    expect(err.code).toBe('bad_request')
    expect(err.message).toBe("malformed JSON body: Unexpected token '}'")
    expect(() => parseJson(bytes('{"a": 1,}'))).toThrow(/position 8/)
    expect(() => parseJson(bytes('{"a":'))).toThrow(/^malformed JSON body: Unexpected end of JSON input$/)
  })
  test('empty bodies and invalid UTF-8 are 400s with their own messages', () => {
    expect(() => parseJson(new Uint8Array(0))).toThrow(/empty/)
    expect(() => parseJson(Uint8Array.of(0x22, 0xc3, 0x28, 0x22))).toThrow(/UTF-8/)
  })
})


describe('readBody deadlines', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  test('a pause longer than the gap rejects with request_timeout; chunks in time re-arm it', async () => {
    vi.useFakeTimers()
    const fake = fakeResponse()
    const reader = readBody(fake.res, limits(100, 10, 10_000, 1_000), new AbortController().signal)
    vi.advanceTimersByTime(900)
    fake.push(new Uint8Array(3), false)
    vi.advanceTimersByTime(900)
    fake.push(new Uint8Array(3), false)
    vi.advanceTimersByTime(1_001)
    const err = (await rejection(reader.promise)) as AppError
    expect(err.code).toBe('request_timeout')
    expect(err.message).toMatch(/paused/)
  })

  test('a body trickling in past the whole-body deadline rejects, naming TANDEM_BODY_TIMEOUT_MS', async () => {
    vi.useFakeTimers()
    const fake = fakeResponse()
    const reader = readBody(fake.res, limits(1000, 100, 2_000, 500), new AbortController().signal)
    for (let i = 0; i < 5; i++) {
      vi.advanceTimersByTime(400)
      fake.push(new Uint8Array(1), false)
    }
    const err = (await rejection(reader.promise)) as AppError
    expect(err.code).toBe('request_timeout')
    expect(err.message).toMatch(/TANDEM_BODY_TIMEOUT_MS/)
  })

  test('no timer outlives a finished body', async () => {
    vi.useFakeTimers()
    const fake = fakeResponse()
    const reader = readBody(fake.res, limits(100, 2, 1_000, 500), new AbortController().signal)
    fake.push(new Uint8Array(2), true)
    await reader.promise
    expect(vi.getTimerCount()).toBe(0)
  })
})

describe('JSON depth and numbers', () => {
  const bytes = (s: string) => new TextEncoder().encode(s)
  test('nesting counts brackets outside strings only', () => {
    expect(nestingExceeds('{"a":[1,{"b":[]}]}', 3)).toBe(true)
    expect(nestingExceeds('{"a":[1,{"b":[]}]}', 4)).toBe(false)
    expect(nestingExceeds('"[[[[" ', 0)).toBe(false)
    expect(nestingExceeds('{"a":"\\"}', 1)).toBe(false)
    expect(nestingExceeds(String.raw`{"a":"\"[["}`, 1)).toBe(false)
  })

  test('nesting deeper than the limit is a 400 before parsing', () => {
    expect(parseJson(bytes(`${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`))).toBeInstanceOf(Array)
    expect(() => parseJson(bytes(`${'['.repeat(MAX_JSON_DEPTH + 1)}${']'.repeat(MAX_JSON_DEPTH + 1)}`))).toThrow(/deeper than 64/)
    expect(() => parseJson(bytes('['.repeat(300_000)))).toThrow(AppError)
  })

  test('numbers that overflow to Infinity are refused with their path; large finite ones are kept', () => {
    expect(() => parseJson(bytes('{"a":{"b":[0,1e309]}}'))).toThrow(/body\.a\.b\[1\]/)
    expect(() => parseJson(bytes('-1e400'))).toThrow(/finite/)
    expect(parseJson(bytes('{"n":1.7976931348623157e308}'))).toEqual({ n: 1.7976931348623157e308 })
  })
})
