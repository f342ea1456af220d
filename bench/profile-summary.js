#!/usr/bin/env node
/**
 * node bench/profile-summary.js <dir-or-.cpuprofile> [--top N]
 *
 * Prints the functions with the most self time in V8 CPU profiles written by `npm run bench -- … --profile`
 * (under bench/results/profiles/<server>-<time>/; one file per thread: the main thread and, for Tandem,
 * the SQLite worker).
 */
import { parseArgs } from 'node:util'
import { formatProfile, profileFiles, summarizeProfile } from './lib/profile.js'

const { positionals, values } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' } } })
if (positionals.length === 0) {
  console.error('usage: node bench/profile-summary.js <dir-or-.cpuprofile> [--top N]')
  process.exit(2)
}
for (const target of positionals) {
  const files = profileFiles(target)
  if (files.length === 0) console.error(`no .cpuprofile files at ${target}`)
  for (const file of files) console.log(`${formatProfile(summarizeProfile(file, Number(values.top)))}\n`)
}
