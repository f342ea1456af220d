/**
 * The OpenAPI 3.1 document for `/v1/openapi.json`, generated from the route table and its zod schemas
 * (`z.toJSONSchema`, JSON Schema 2020-12, which OpenAPI 3.1 uses as is). Routes registered later
 * (webhooks) appear like the built-in ones.
 */
import { createRequire } from 'node:module'
import * as z from 'zod'
import { HTTP_STATUS, type ErrorCode } from '../errors.js'
import { routerErrors, type Route } from './router.js'
import { errorBody } from './schemas.js'

type JsonSchema = Record<string, unknown>
type JsonObject = Record<string, unknown>

const TAGS = [
  { name: 'rooms', description: 'Room records, live stats, users and messages.' },
  { name: 'documents', description: 'Read and write the Yjs document of a room.' },
  { name: 'versions', description: "Version history: list, save, preview, delete and restore snapshots of a room's document." },
  { name: 'tokens', description: 'Mint client tokens.' },
  { name: 'webhooks', description: 'Webhook endpoints and deliveries.' },
  { name: 'operations', description: 'Health, readiness, metrics and this document.' },
]

const SECURITY_SCHEME = 'bearer'

export function buildOpenApi(routes: readonly Route[]): JsonObject {
  const paths: Record<string, Record<string, JsonObject>> = {}
  for (const route of routes) {
    const path = route.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')
    paths[path] ??= {}
    paths[path][route.method.toLowerCase()] = operation(route)
  }
  const usedTags = new Set(routes.map((r) => r.tag))
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tandem',
      version: packageVersion(),
      description:
        'REST API of the Tandem collaboration server. Errors are `{"error":{"code","message"}}` with stable snake_case codes. Timestamps are ISO 8601 UTC strings.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    tags: [...TAGS.filter((t) => usedTags.has(t.name)), ...[...usedTags].filter((t) => !TAGS.some((k) => k.name === t)).map((name) => ({ name }))],
    paths,
    components: {
      schemas: { Error: toJsonSchema(errorBody, 'output') },
      securitySchemes: {
        [SECURITY_SCHEME]: {
          type: 'http',
          scheme: 'bearer',
          description: 'The admin key (TANDEM_ADMIN_KEY, or `npx tandem admin-key`), or a client JWT with `"admin": true`.',
        },
      },
    },
  }
}

function operation(route: Route): JsonObject {
  const op: JsonObject = {
    operationId: route.operationId,
    summary: route.summary,
    ...(route.description !== undefined && { description: route.description }),
    tags: [route.tag],
    security: route.auth === 'admin' ? [{ [SECURITY_SCHEME]: [] }] : [],
  }
  const parameters = [...objectParameters(route.params, 'path'), ...objectParameters(route.query, 'query')]
  if (parameters.length > 0) op.parameters = parameters
  if (route.body) {
    op.requestBody =
      route.body.kind === 'json'
        ? {
            required: route.body.optional !== true,
            ...(route.body.description !== undefined && { description: route.body.description }),
            content: { 'application/json': { schema: toJsonSchema(route.body.schema, 'input') } },
          }
        : {
            required: true,
            description: route.body.description,
            content: { [route.body.contentType]: { schema: { type: 'string', contentMediaType: route.body.contentType } } },
          }
  }
  const responses: JsonObject = {}
  for (const [status, spec] of Object.entries(route.responses)) {
    const content: JsonObject = {}
    if (spec.content) content[spec.content.type] = spec.content.schema ? { schema: spec.content.schema } : {}
    if (spec.json) content['application/json'] = { schema: toJsonSchema(spec.json, 'output') }
    responses[status] = { description: spec.description, ...(Object.keys(content).length > 0 && { content }) }
  }
  for (const [status, codes] of errorsByStatus(route)) {
    responses[String(status)] = {
      description: `Error: ${codes.map((c) => `\`${c}\``).join(', ')}.`,
      content: {
        'application/json': {
          schema: {
            allOf: [
              { $ref: '#/components/schemas/Error' },
              { type: 'object', properties: { error: { type: 'object', properties: { code: { type: 'string', enum: codes } } } } },
            ],
          },
        },
      },
    }
  }
  op.responses = responses
  return op
}

function errorsByStatus(route: Route): Map<number, ErrorCode[]> {
  const codes = new Set<ErrorCode>([...routerErrors(route), ...(route.errors ?? [])])
  const byStatus = new Map<number, ErrorCode[]>()
  for (const code of codes) {
    const status = Number.parseInt(HTTP_STATUS[code], 10)
    const list = byStatus.get(status) ?? []
    list.push(code)
    byStatus.set(status, list)
  }
  return new Map([...byStatus.entries()].sort(([a], [b]) => a - b))
}

function objectParameters(schema: z.ZodObject | undefined, where: 'path' | 'query'): JsonObject[] {
  if (!schema) return []
  const json = toJsonSchema(schema, 'input')
  const properties = (json.properties ?? {}) as Record<string, JsonSchema>
  const required = new Set((json.required ?? []) as string[])
  return Object.entries(properties).map(([name, property]) => {
    const { description, ...rest } = property
    return {
      name,
      in: where,
      required: where === 'path' || required.has(name),
      ...(typeof description === 'string' && { description }),
      schema: rest,
    }
  })
}

/** A self-contained JSON Schema (no $defs or $ref, so it can be embedded anywhere in the document). */
export function toJsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const json = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any', reused: 'inline', cycles: 'throw' }) as JsonSchema
  delete json.$schema
  const text = JSON.stringify(json)
  if (text.includes('"$ref"') || text.includes('"$defs"')) throw new Error(`schema is not self-contained: ${text.slice(0, 200)}`)
  return json
}

let version: string | null = null

function packageVersion(): string {
  if (version === null) {
    // dist/http/openapi.js and src/http/openapi.ts both sit two levels below the package root.
    const pkg = createRequire(import.meta.url)('../../package.json') as { version?: unknown }
    version = typeof pkg.version === 'string' ? pkg.version : '0.0.0'
  }
  return version
}
