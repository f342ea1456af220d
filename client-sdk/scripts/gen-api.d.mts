/** Types of ./gen-api.mjs, for tests/unit/sdk-api-types.test.ts. */

/** What the generator needs to start a server: `createServer` and `loadConfig` of `@tandem/server`. */
export interface ServerModules {
  createServer(config: never): Promise<{ listen(): Promise<{ port: number }>; close(): Promise<void> }>
  loadConfig(env: Record<string, string>): unknown
}

/** Absolute path of client-sdk/src/api-types.ts. */
export const OUTPUT_FILE: string
/** The "generated — do not edit" header the file starts with. */
export const HEADER: string
/** Starts a server (by default the built `@tandem/server`), fetches `/v1/openapi.json`, stops it. */
export function fetchOpenApiDocument(server?: ServerModules): Promise<Record<string, unknown>>
/** The full text of api-types.ts for that server's document. */
export function generateApiTypes(server?: ServerModules): Promise<string>
/** The full text of api-types.ts for an OpenAPI document. */
export function typesFromDocument(document: Record<string, unknown>): Promise<string>
