#!/usr/bin/env node
// @ts-check
/**
 * Bundles the demo pages with esbuild into examples/dist/assets/ (run by the root `prepare` script, so
 * `npm install` builds them, and again by `npm start`, so edits show up on restart).
 *
 *   node examples/build.js
 */
import { build } from 'esbuild'
import { rm } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const HERE = path.dirname(fileURLToPath(import.meta.url))
/** Where the bundles go; the demo server serves this directory at /demo/assets/. */
export const ASSETS_DIR = path.join(HERE, 'dist', 'assets')

/** Every bundle: name -> entry point. Each page loads `<name>.js` and `<name>.css`. */
const ENTRIES = {
  home: 'home/style.css',
  chat: 'chat/main.ts',
  editor: 'editor/main.ts',
  richtext: 'richtext/main.ts',
  whiteboard: 'whiteboard/main.ts',
}

/**
 * Builds every demo bundle (about a second). Throws with esbuild's message on a build error.
 * @param {{ logLevel?: import('esbuild').LogLevel }} [options]
 */
export async function buildDemos(options = {}) {
  await rm(ASSETS_DIR, { recursive: true, force: true })
  await build({
    absWorkingDir: HERE,
    entryPoints: ENTRIES,
    outdir: ASSETS_DIR,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    sourcemap: 'linked',
    legalComments: 'none',
    logLevel: options.logLevel ?? 'warning',
  })
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const started = performance.now()
  buildDemos().then(
    () => console.log(`demos built into ${path.relative(process.cwd(), ASSETS_DIR) || ASSETS_DIR} in ${Math.round(performance.now() - started)} ms`),
    (err) => {
      console.error('examples/build.js: the demo build failed:', err instanceof Error ? err.message : err)
      process.exit(1)
    },
  )
}
