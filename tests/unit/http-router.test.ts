/**
 * The router's pure parts: body reading against a stand-in for uWS's onData (neutered buffers included),
 * JSON parsing, validation messages, route registration checks and the error-status table.
 */
import { describe, expect, test } from 'vitest'
import * as z from 'zod'
import { pino } from 'pino'
import { AppError, HTTP_STATUS, type ErrorCode } from '../../server/src/errors.js'
import {
  ClientAborted,
  Router,
  defineRoute,
  errorReply,
  jsonReply,
  mediaType,
  parseJson,
  readBody,
  selectRoute,
  statusLine,
  validate,
  withErrorCode,
  type Authenticator,
} from '../../server/src/http/router.js'
import { createRoomBody, listRoomsQuery, metadata, mintTokenBody, roomParams } from '../../server/src/http/schemas.js'

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
    const reader = readBody(fake.res, 100, 6, new AbortController().signal)
    fake.push(new TextEncoder().encode('abc'), false)
    expect(reader.complete).toBe(false)
    fake.push(new TextEncoder().encode('def'), true)
    expect(reader.complete).toBe(true)
    expect(new TextDecoder().decode(await reader.promise)).toBe('abcdef')
  })

  test('collects chunks of unknown total length (chunked)', async () => {
    const fake = fakeResponse()
    const reader = readBody(fake.res, 100, null, new AbortController().signal)
    for (const part of ['{"a"', ':', '1}']) fake.push(new TextEncoder().encode(part), false)
    fake.push(new Uint8Array(0), true)
    expect(new TextDecoder().decode(await reader.promise)).toBe('{"a":1}')
  })

  test('an empty body resolves to zero bytes', async () => {
    const fake = fakeResponse()
    const reader = readBody(fake.res, 100, null, new AbortController().signal)
    fake.push(new Uint8Array(0), true)
    expect((await reader.promise).byteLength).toBe(0)
  })

  test('a declared length over the limit rejects at once, without reading', async () => {
    const fake = fakeResponse()
    const reader = readBody(fake.res, 10, 11, new AbortController().signal)
    const err = await rejection(reader.promise)
    expect(err).toBeInstanceOf(AppError)
    expect((err as AppError).code).toBe('payload_too_large')
    expect(fake.registered()).toBe(false)
    expect(reader.complete).toBe(false)
  })

  test('a body growing past the limit rejects on the chunk that crosses it and ignores the rest', async () => {
    const fake = fakeResponse()
    const reader = readBody(fake.res, 10, null, new AbortController().signal)
    fake.push(new Uint8Array(6), false)
    fake.push(new Uint8Array(6), false)
    const err = await rejection(reader.promise)
    expect((err as AppError).code).toBe('payload_too_large')
    expect(() => fake.push(new Uint8Array(1000), true)).not.toThrow()
    expect(reader.complete).toBe(false)
  })

  test('more data than the declared length is refused', async () => {
    const fake = fakeResponse()
    const reader = readBody(fake.res, 100, 2, new AbortController().signal)
    fake.push(new Uint8Array(3), true)
    expect(((await rejection(reader.promise)) as AppError).code).toBe('payload_too_large')
  })

  test('an abort rejects with ClientAborted, before or during the read', async () => {
    const early = new AbortController()
    early.abort()
    expect(await rejection(readBody(fakeResponse().res, 100, null, early.signal).promise)).toBeInstanceOf(ClientAborted)

    const fake = fakeResponse()
    const controller = new AbortController()
    const reader = readBody(fake.res, 100, 10, controller.signal)
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

describe('validate', () => {
  test('names the failing field path', () => {
    expect(() => validate(metadata, { a: { b: { c: { d: { e: 1 } } } } }, 'body')).toThrow(/^invalid body: nested at most 4/)
    expect(() => validate(listRoomsQuery, { limit: '500' }, 'query')).toThrow(/^invalid query\.limit: /)
    expect(() => validate(mintTokenBody, { sub: 'a', rooms: { 'no spaces': 'write' } }, 'body')).toThrow(/^invalid body\.rooms\.no spaces: not a room name/)
    expect(() => validate(mintTokenBody, { sub: 'a', rooms: {}, ttl: '2y' }, 'body')).toThrow(/^invalid body\.ttl: invalid TTL "2y"/)
  })

  test('fields marked withErrorCode answer with that code', () => {
    const err = (fn: () => unknown): AppError => {
      try {
        fn()
      } catch (e) {
        return e as AppError
      }
      throw new Error('no error')
    }
    expect(err(() => validate(roomParams, { room: '-x' }, 'path')).code).toBe('invalid_room_name')
    expect(err(() => validate(createRoomBody, { name: 'a b' }, 'body')).code).toBe('invalid_room_name')
    expect(err(() => validate(createRoomBody, { name: 'ok', metadata: 1 }, 'body')).code).toBe('bad_request')
    const custom = z.object({ id: withErrorCode(z.string().startsWith('wh_'), 'webhook_not_found') })
    expect(err(() => validate(custom, { id: 'nope' }, 'path')).code).toBe('webhook_not_found')
  })

  test('parses defaults and coercions', () => {
    expect(validate(listRoomsQuery, {}, 'query')).toEqual({ limit: 50 })
    expect(validate(listRoomsQuery, { limit: '7', prefix: 'team-' }, 'query')).toEqual({ limit: 7, prefix: 'team-' })
    expect(validate(mintTokenBody, { sub: 'a', rooms: {} }, 'body').ttl).toBeUndefined() // the route applies min(1 h, TANDEM_JWT_MAX_LIFETIME_SEC)
    expect(validate(mintTokenBody, { sub: 'a', rooms: {}, ttl: '15m' }, 'body').ttl).toBe(900)
  })

  test('metadata keys named __proto__ cannot change a prototype', () => {
    const parsed = validate(metadata, JSON.parse('{"__proto__":{"polluted":true},"ok":1}'), 'body') as Record<string, unknown>
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })
})

describe('helpers', () => {
  test('mediaType drops parameters and case', () => {
    expect(mediaType('Application/JSON; charset=UTF-8')).toBe('application/json')
    expect(mediaType('')).toBe('')
  })

  test('every error code maps to a status the router can write', () => {
    for (const code of Object.keys(HTTP_STATUS) as ErrorCode[]) {
      const reply = errorReply(new AppError(code, 'm'))
      expect(statusLine(reply.status)).toBe(HTTP_STATUS[code])
      expect(JSON.parse(reply.body as string)).toEqual({ error: { code, message: 'm' } })
    }
  })
})

describe('Router.add', () => {
  const auth: Authenticator = { authenticate: () => Promise.resolve({ kind: 'admin-key' }) }
  const router = () => new Router({ log: pino({ level: 'silent' }), metrics: { httpRequest: () => {} }, auth, maxBodyBytes: 1024 })
  const route = (path: string, operationId: string, params?: z.ZodObject) =>
    defineRoute({
      method: 'GET',
      path,
      operationId,
      summary: 's',
      tag: 't',
      auth: 'public',
      ...(params && { params }),
      responses: { 200: { description: 'ok' } },
      handle: () => jsonReply(200, {}),
    })

  test('refuses duplicates and undeclared path parameters at startup', () => {
    const r = router().add(route('/a/:room', 'a', roomParams))
    expect(() => r.add(route('/a/:other', 'b', z.object({ other: z.string() })))).toThrow(/duplicate route/)
    expect(() => r.add(route('/b', 'a'))).toThrow(/duplicate operationId/)
    expect(() => r.add(route('/c/:room', 'c'))).toThrow(/path parameters/)
    expect(() => r.add(route('/d', 'd', roomParams))).toThrow(/path parameters/)
    expect(r.routes.map((x) => x.operationId)).toEqual(['a'])
  })

  test('notifies listeners when routes are added', () => {
    const r = router()
    let changes = 0
    r.onChange(() => changes++)
    r.add(route('/x', 'x'), route('/y', 'y'))
    expect(changes).toBe(1)
  })
})

describe('selectRoute', () => {
  const routes = [
    { method: 'GET', path: '/v1/webhooks/:id' },
    { method: 'DELETE', path: '/v1/webhooks/:id' },
    { method: 'GET', path: '/v1/webhooks/deliveries' },
    { method: 'POST', path: '/v1/webhooks/deliveries/:id/replay' },
    { method: 'GET', path: '/v1/rooms' },
  ]

  test('literal segments win over parameters, whatever the registration order', () => {
    expect(selectRoute(routes, 'GET', '/v1/webhooks/deliveries')).toEqual({ kind: 'found', route: routes[2], params: {} })
    expect(selectRoute(routes, 'GET', '/v1/webhooks/ep_1')).toEqual({ kind: 'found', route: routes[0], params: { id: 'ep_1' } })
    expect(selectRoute(routes, 'POST', '/v1/webhooks/deliveries/msg_1/replay')).toMatchObject({ kind: 'found', params: { id: 'msg_1' } })
  })

  test('405 lists the methods the path has; 404 for unknown paths and empty segments', () => {
    expect(selectRoute(routes, 'PUT', '/v1/webhooks/ep_1')).toEqual({ kind: 'method_not_allowed', allow: ['GET', 'DELETE'] })
    expect(selectRoute(routes, 'GET', '/v1/webhooks//replay')).toEqual({ kind: 'not_found' })
    expect(selectRoute(routes, 'GET', '/v1/nope')).toEqual({ kind: 'not_found' })
    expect(selectRoute(routes, 'GET', '/v1/webhooks/')).toEqual({ kind: 'not_found' })
  })

  test('one trailing slash is ignored; percent-encoding is decoded; bad encoding is a 400', () => {
    expect(selectRoute(routes, 'GET', '/v1/rooms/')).toMatchObject({ kind: 'found' })
    expect(selectRoute(routes, 'GET', '/v1/webhooks/a%3Ab')).toMatchObject({ params: { id: 'a:b' } })
    expect(() => selectRoute(routes, 'GET', '/v1/webhooks/%E0%A4%A')).toThrow(/percent-encoding/)
  })
})
