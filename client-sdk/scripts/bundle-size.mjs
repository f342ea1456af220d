#!/usr/bin/env node
/**
 * What the SDK adds to an app's bundle: esbuild bundles the built package (dist/) the way an app's
 * bundler would, minified, with the peer dependencies (yjs, y-protocols, lib0, react) left out since
 * the app has them anyway, and gzips the result.
 *
 *   npm run size                 # builds (tsc -b), then prints a table
 *   node client-sdk/scripts/bundle-size.mjs --json
 *
 * tests/unit/bundle-size.test.ts keeps the figures the SDK's README quotes within their budget.
 */
import { gzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url))
const PEERS = ['yjs', 'y-protocols', 'y-protocols/*', 'lib0', 'lib0/*', 'react', 'react/*']

/** What an app imports, as the entry of a bundle. */
export const ENTRIES = {
  /** The client, rooms, presence and the REST client. */
  sdk: "export * from '@tandem/client'",
  /** Only the REST client (what a backend that mints tokens or reads documents imports). */
  rest: "export { TandemApi } from '@tandem/client'",
  /** The SDK plus the React hooks. */
  'sdk+react': "export * from '@tandem/client'; export * from '@tandem/client/react'",
}

/**
 * Bundles one entry; resolves with its minified and min+gzip sizes in bytes.
 * @param {string} contents
 */
export async function measure(contents) {
  const result = await build({
    stdin: { contents, resolveDir: PACKAGE_DIR, loader: 'js' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    external: PEERS,
    write: false,
    logLevel: 'silent',
  })
  const code = result.outputFiles[0]?.contents ?? new Uint8Array()
  return { minBytes: code.byteLength, gzipBytes: gzipSync(code, { level: 9 }).byteLength }
}

/** Sizes of every entry in ENTRIES. */
export async function measureAll() {
  /** @type {Record<string, { minBytes: number, gzipBytes: number }>} */
  const sizes = {}
  for (const [name, contents] of Object.entries(ENTRIES)) sizes[name] = await measure(contents)
  return sizes
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const sizes = await measureAll()
  if (process.argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify(sizes)}\n`)
  } else {
    const kb = (/** @type {number} */ bytes) => `${(bytes / 1024).toFixed(1)} KB`
    process.stdout.write('entry        min        min+gzip   (peer dependencies excluded)\n')
    for (const [name, size] of Object.entries(sizes)) {
      process.stdout.write(`${name.padEnd(12)} ${kb(size.minBytes).padEnd(10)} ${kb(size.gzipBytes)}\n`)
    }
  }
}
