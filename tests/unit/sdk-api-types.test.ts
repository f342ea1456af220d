/**
 * client-sdk/src/api-types.ts is generated from the OpenAPI document the server serves (`npm run gen:api`).
 * This regenerates it in memory from the server's source (started for real, memory store, port 0) and
 * fails when the committed file is stale; it also checks that TandemApi has a method for every operation.
 */
import { readFile } from 'node:fs/promises'
import { describe, expect, test } from 'vitest'
import * as z from 'zod'
import { createServer } from '../../server/src/server.js'
import { loadConfig } from '../../server/src/config.js'
import { defineRoute, jsonReply } from '../../server/src/http/router.js'
import { HEADER, OUTPUT_FILE, fetchOpenApiDocument, generateApiTypes, typesFromDocument } from '../../client-sdk/scripts/gen-api.mjs'
import { TandemApi } from '../../client-sdk/src/api.js'
import type { operations } from '../../client-sdk/src/api-types.js'

// Compile-time: every operation of the generated document has a TandemApi method of the same name.
type MissingMethods = Exclude<keyof operations, keyof TandemApi>
const everyOperationHasAMethod: [MissingMethods] extends [never] ? true : MissingMethods = true

describe('generated REST types', () => {
  test('api-types.ts matches the document the server serves (run `npm run gen:api` when this fails)', async () => {
    const document = await fetchOpenApiDocument({ createServer, loadConfig })
    const [generated, committed] = await Promise.all([typesFromDocument(document), readFile(OUTPUT_FILE, 'utf8')])
    expect(committed.startsWith(HEADER), 'api-types.ts lost its "generated — do not edit" header').toBe(true)
    expect(committed, 'client-sdk/src/api-types.ts is stale: run `npm run gen:api`').toBe(generated)

    const operationIds = Object.values(document.paths as Record<string, Record<string, { operationId: string }>>).flatMap((item) =>
      Object.values(item).map((op) => op.operationId),
    )
    expect(operationIds.length).toBeGreaterThanOrEqual(19)
    for (const id of operationIds) expect(typeof (TandemApi.prototype as unknown as Record<string, unknown>)[id], `TandemApi.${id}`).toBe('function')
    expect(everyOperationHasAMethod).toBe(true)
  })

  test('a route added to the server makes the committed file stale', async () => {
    // The same server with one more route, as a later server change would add it.
    const extraRoute = defineRoute({
      method: 'GET',
      path: '/v1/extra',
      operationId: 'extra',
      summary: 'Not a real route',
      tag: 'operations',
      auth: 'public',
      responses: { 200: { description: 'Nothing.', json: z.object({ extra: z.boolean() }) } },
      handle: () => jsonReply(200, { extra: true }),
    })
    const changedServer = {
      createServer: (config: Parameters<typeof createServer>[0]) => createServer(config, { routes: (router) => void router.add(extraRoute) }),
      loadConfig,
    }
    const [generated, committed] = await Promise.all([generateApiTypes(changedServer), readFile(OUTPUT_FILE, 'utf8')])
    expect(generated).toContain('"/v1/extra"')
    expect(generated).not.toBe(committed)
  })
})
