#!/usr/bin/env node
/**
 * Generates client-sdk/src/api-types.ts, the types of the SDK's REST client, from the OpenAPI document
 * the real server serves: it starts the built server in this process (memory store, 127.0.0.1:0, a
 * throwaway data directory, random keys), fetches `GET /v1/openapi.json`, and turns it into TypeScript
 * with openapi-typescript's Node API.
 *
 *   npm run gen:api            # builds (tsc -b), then writes client-sdk/src/api-types.ts
 *   node client-sdk/scripts/gen-api.mjs --check   # exits 1 when the committed file is stale
 *
 * tests/unit/sdk-api-types.test.ts imports `generateApiTypes` and fails when the committed file differs.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import openapiTS, { astToString } from 'openapi-typescript'

/** Where the generated types live. */
export const OUTPUT_FILE = fileURLToPath(new URL('../src/api-types.ts', import.meta.url))

/** First lines of the generated file. */
export const HEADER = [
  '// generated — do not edit; run npm run gen:api',
  '//',
  '// Types of the Tandem REST API, from the OpenAPI 3.1 document the server serves at GET /v1/openapi.json',
  '// (itself generated from the zod schemas the handlers validate with). Made by openapi-typescript through',
  '// client-sdk/scripts/gen-api.mjs; tests/unit/sdk-api-types.test.ts fails when this file is stale.',
  '',
  '',
].join('\n')

/**
 * Starts a server with `server.createServer` / `server.loadConfig` (by default the built `@tandem/server`),
 * fetches its OpenAPI document and stops it again.
 *
 * @param {import('./gen-api.d.mts').ServerModules} [server]
 * @returns {Promise<Record<string, unknown>>}
 */
export async function fetchOpenApiDocument(server) {
  const { createServer, loadConfig } = server ?? (await loadBuiltServer())
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'tandem-gen-api-'))
  try {
    const config = loadConfig({
      TANDEM_HOST: '127.0.0.1',
      TANDEM_PORT: '0',
      TANDEM_STORE: 'memory',
      TANDEM_DATA_DIR: dataDir,
      TANDEM_LOG_LEVEL: 'silent',
      TANDEM_JWT_SECRET: randomBytes(32).toString('base64url'),
      TANDEM_ADMIN_KEY: randomBytes(32).toString('base64url'),
    })
    const running = await createServer(config)
    try {
      const { port } = await running.listen()
      const res = await fetch(`http://127.0.0.1:${port}/v1/openapi.json`)
      if (!res.ok) throw new Error(`GET /v1/openapi.json answered ${res.status}`)
      return await res.json()
    } finally {
      await running.close()
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true })
  }
}

/**
 * The full text of api-types.ts for the server's current document.
 *
 * @param {import('./gen-api.d.mts').ServerModules} [server] defaults to the built `@tandem/server`
 * @returns {Promise<string>}
 */
export async function generateApiTypes(server) {
  return typesFromDocument(await fetchOpenApiDocument(server))
}

/**
 * The full text of api-types.ts for an OpenAPI document.
 *
 * @param {Record<string, unknown>} document
 * @returns {Promise<string>}
 */
export async function typesFromDocument(document) {
  const ast = await openapiTS(document, { silent: true })
  return HEADER + astToString(ast)
}

async function loadBuiltServer() {
  try {
    const { createServer, loadConfig } = await import('@tandem/server')
    return { createServer, loadConfig }
  } catch (err) {
    throw new Error('could not load the built server: run `npx tsc -b` first (npm run gen:api does)', { cause: err })
  }
}

async function main() {
  const check = process.argv.includes('--check')
  const text = await generateApiTypes()
  const relative = path.relative(process.cwd(), OUTPUT_FILE)
  if (check) {
    const current = await readFile(OUTPUT_FILE, 'utf8').catch(() => '')
    if (current !== text) {
      console.error(`${relative} is stale: run npm run gen:api`)
      process.exitCode = 1
    }
    return
  }
  await writeFile(OUTPUT_FILE, text)
  process.stdout.write(`wrote ${relative}\n`)
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().catch((err) => {
    console.error(err)
    process.exitCode = 1
  })
}
