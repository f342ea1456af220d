/**
 * The router's pure parts: validation messages, route registration checks and the error-status table.
 */
import { describe, expect, test } from 'vitest'
import * as z from 'zod'
import { pino } from 'pino'
import { AppError, HTTP_STATUS, type ErrorCode } from '../../server/src/errors.js'
import {
  Router,
  defineRoute,
  errorReply,
  jsonReply,
  mediaType,
  selectRoute,
  statusLine,
  validate,
  withErrorCode,
  type Authenticator,
} from '../../server/src/http/router.js'
import { createRoomBody, listRoomsQuery, metadata, mintTokenBody, roomParams } from '../../server/src/http/schemas.js'

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
  const router = () => new Router({ log: pino({ level: 'silent' }), metrics: { httpRequest: () => {} }, auth, maxBodyBytes: 1024, bodyTimeoutMs: 30_000 })
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
