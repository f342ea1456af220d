/**
 * The generated OpenAPI document: valid JSON Schema throughout (ajv strict), self-contained schemas,
 * auth and errors on every operation, and routes registered later (as webhooks does) included.
 */
import { describe, expect, test } from 'vitest'
import * as z from 'zod'
import { pino } from 'pino'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { createRestApi } from '../../server/src/http/api.js'
import { defineRoute, jsonReply } from '../../server/src/http/router.js'
import { timestamp } from '../../server/src/http/schemas.js'
import { createMetrics } from '../../server/src/metrics.js'
import type { RoomService } from '../../server/src/rooms/service.js'
import type { TokenVerifier } from '../../server/src/auth/verify.js'

const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv2020) => void

function api() {
  const metrics = createMetrics({ connections: () => 0, loadedRooms: () => 0, pendingBytes: () => 0 })
  const rest = createRestApi({
    log: pino({ level: 'silent' }),
    metrics,
    http: { adminKey: null, maxBodyBytes: 1024, bodyTimeoutMs: 30_000, corsOrigins: [] },
    adminKey: 'k'.repeat(43),
    verifier: {} as TokenVerifier,
    rooms: {} as RoomService,
    store: { ping: () => Promise.resolve() },
    signingKey: null,
    auth: { issuer: null, audience: null, maxLifetimeSec: 86_400 },
    isDraining: () => false,
  })
  return { rest, close: () => metrics.close() }
}

type Operation = { operationId: string; security: unknown[]; responses: Record<string, { content?: Record<string, { schema?: unknown }> }>; requestBody?: { content: Record<string, { schema: unknown }> }; parameters?: { schema: unknown }[] }

function operations(doc: Record<string, unknown>): [string, Operation][] {
  return Object.entries(doc.paths as Record<string, Record<string, Operation>>).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => [`${method.toUpperCase()} ${path}`, op] as [string, Operation]),
  )
}

describe('OpenAPI document', () => {
  test('every schema compiles under ajv strict mode and is self-contained', () => {
    const { rest, close } = api()
    const doc = rest.openapi()
    const ajv = new Ajv2020({ strict: true, allowUnionTypes: true })
    addFormats(ajv)
    ajv.addSchema((doc.components as { schemas: { Error: object } }).schemas.Error, 'err')
    let compiled = 0
    for (const [name, op] of operations(doc)) {
      const schemas = [
        ...Object.values(op.responses).flatMap((r) => Object.values(r.content ?? {}).map((c) => c.schema)),
        ...Object.values(op.requestBody?.content ?? {}).map((c) => c.schema),
        ...(op.parameters ?? []).map((p) => p.schema),
      ].filter((s) => s !== undefined)
      for (const schema of schemas) {
        const text = JSON.stringify(schema)
        expect(text, name).not.toContain('$defs')
        ajv.compile(JSON.parse(text.replaceAll('#/components/schemas/Error', 'err')) as object)
        compiled++
      }
    }
    expect(compiled).toBeGreaterThan(30)
    close()
  })

  test('admin routes declare bearer auth and the auth errors; public ones declare none', () => {
    const { rest, close } = api()
    for (const [name, op] of operations(rest.openapi())) {
      const isPublic = ['/healthz', '/readyz', '/metrics', '/v1/openapi.json'].some((p) => name.endsWith(` ${p}`))
      expect(op.security, name).toEqual(isPublic ? [] : [{ bearer: [] }])
      expect(Object.keys(op.responses), name).toContain('500')
      if (!isPublic) expect(Object.keys(op.responses), name).toEqual(expect.arrayContaining(['401', '403']))
    }
    close()
  })

  test('routes registered later appear, and the cached document is rebuilt', () => {
    const { rest, close } = api()
    const before = rest.openapi()
    rest.router.add(
      defineRoute({
        method: 'GET',
        path: '/v1/webhooks/:id',
        operationId: 'getWebhook',
        summary: 'A webhook endpoint',
        tag: 'webhooks',
        auth: 'admin',
        params: z.object({ id: z.string().startsWith('ep_') }),
        responses: { 200: { description: 'The endpoint.', json: z.object({ id: z.string(), createdAt: timestamp }) } },
        errors: ['webhook_not_found'],
        handle: ({ params }) => jsonReply(200, { id: params.id, createdAt: new Date(0).toISOString() }),
      }),
    )
    const after = rest.openapi()
    expect(after).not.toBe(before)
    const op = (after.paths as Record<string, Record<string, Operation>>)['/v1/webhooks/{id}']?.get
    expect(op?.operationId).toBe('getWebhook')
    expect(JSON.stringify(op?.responses['404'])).toContain('webhook_not_found')
    expect((after.tags as { name: string }[]).map((t) => t.name)).toContain('webhooks')
    close()
  })
})
