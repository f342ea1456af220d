/**
 * The one module that loads uWebSockets.js at runtime; everything else imports its types only.
 *
 * No single npm build of uWS covers every machine (DESIGN.md §10): @btc-vision's has Node 20–25 binaries
 * that need glibc ≥ 2.38, @trufflesuite's has Node 16–20 binaries that load on glibc 2.36. We require
 * their native .node files directly, because @trufflesuite's own entry point silently falls back to a
 * slow pure-JS shim when its binary does not load — serving production traffic on that is worse than
 * refusing to start.
 */
import type * as uWS from 'uWebSockets.js'
import { createRequire } from 'node:module'
import path from 'node:path'

export type UWS = typeof uWS

const require = createRequire(import.meta.url)

interface Candidate {
  pkg: string
  /** Where the native binary sits, given the path of the package's (never executed) entry file. */
  binaryPath: (entryFile: string) => string
}

const binaryName = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`

const CANDIDATES: Candidate[] = [
  { pkg: '@btc-vision/uwebsockets.js', binaryPath: (entry) => path.join(path.dirname(entry), binaryName) },
  { pkg: 'uWebSockets.js', binaryPath: (entry) => path.join(path.dirname(entry), '..', 'binaries', binaryName) },
]

export class UwsLoadError extends Error {
  override name = 'UwsLoadError'
}

let loaded: UWS | null = null

export function loadUws(): UWS {
  if (loaded) return loaded
  const failures: string[] = []
  for (const candidate of CANDIDATES) {
    let entryFile: string
    try {
      entryFile = require.resolve(candidate.pkg)
    } catch {
      failures.push(`${candidate.pkg}: not installed`)
      continue
    }
    try {
      loaded = require(candidate.binaryPath(entryFile)) as UWS
      return loaded
    } catch (err) {
      failures.push(`${candidate.pkg}: ${firstLine(err)}`)
    }
  }
  throw new UwsLoadError(
    [
      'No native uWebSockets.js binary loads on this machine, and Tandem will not run on the slow JS fallback.',
      `Node ${process.version} (ABI ${process.versions.modules}), ${process.platform}/${process.arch}, glibc ${glibcVersion()}.`,
      ...failures.map((f) => `  - ${f}`),
      'Use Node 20 on glibc ≥ 2.36 (Debian 12), or Node 20–25 on glibc ≥ 2.38 (Debian 13, Ubuntu 24.04), then run `npm install` again.',
    ].join('\n'),
  )
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? 'unknown error'
}

function glibcVersion(): string {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined
  return report?.header?.glibcVersionRuntime ?? 'unknown'
}
