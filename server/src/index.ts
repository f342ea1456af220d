/**
 * `@tandem/server`: the public API for embedding the server in a Node process. Everything else under
 * dist/ is internal and not importable from the package (its exports map lists this entry only); the
 * `tandem` CLI is the other way in.
 *
 * ```ts
 * import { createServer, loadConfig } from '@tandem/server'
 * const server = await createServer(loadConfig(process.env))
 * const { port } = await server.listen()
 * ```
 */
export { createServer, type ServerDeps, type TandemServer } from './server.js'
export { loadConfig, ConfigError, type Config, type ConfigOverrides, type LogLevel, type StoreConfig } from './config.js'
export { createLogger, type Logger } from './logger.js'
export { mintToken, type MintClaims, type MintOptions } from './auth/mint.js'
