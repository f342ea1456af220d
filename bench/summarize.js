#!/usr/bin/env node
/**
 * node bench/summarize.js <scenario> [--since ISO-time] [--where key=value ...] [--servers a,b] [--chart]
 *
 * Rebuilds a comparison table (medians, ratios to Tandem, issue-6 verdicts) from the runs already stored
 * in bench/results/results.jsonl, e.g. to pool repeated `bench:compare` invocations made at different
 * times on a shared machine. `--where` matches the run's params (rate=4, connections=5000, ...).
 * Runs made with --profile are left out unless --include-profiled.
 */
import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { SCENARIOS, medianRecord } from './lib/cli.js'
import { COMPARE_KINDS, RESULTS_DIR, SERVER_LABELS } from './lib/servers.js'
import { table, writeChart } from './lib/report.js'
import { printDetails } from './lib/details.js'
import { evaluateGoals } from './lib/goals.js'

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    since: { type: 'string' },
    where: { type: 'string', multiple: true, default: [] },
    servers: { type: 'string' },
    chart: { type: 'boolean', default: false },
    store: { type: 'string', default: 'sqlite' },
    'quiet-runs': { type: 'boolean', default: false },
    'include-profiled': { type: 'boolean', default: false },
  },
})
const scenario = SCENARIOS[positionals[0] ?? '']
if (!scenario) {
  console.error(`usage: node bench/summarize.js <${Object.keys(SCENARIOS).join('|')}> [--since ISO] [--where key=value] [--servers a,b] [--chart]`)
  process.exit(2)
}
const file = path.join(RESULTS_DIR, 'results.jsonl')
if (!fs.existsSync(file)) {
  console.error(`no results yet at ${file}`)
  process.exit(1)
}
const where = values.where.map((w) => {
  const i = w.indexOf('=')
  return [w.slice(0, i), w.slice(i + 1)]
})
const runs = fs
  .readFileSync(file, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l))
  .filter((r) => r.scenario === scenario.name)
  .filter((r) => !values.since || r.startedAt >= values.since)
  .filter((r) => r.store === null || r.store === undefined || r.store === values.store)
  .filter((r) => where.every(([k, v]) => String(r.params?.[k]) === v))
  // Profiled runs carry the profiler's overhead.
  .filter((r) => values['include-profiled'] || !r.profileDir)
const kinds = values.servers ? values.servers.split(',') : (scenario.compareServers ?? COMPARE_KINDS)
const records = kinds
  .map((kind) => {
    const mine = runs.filter((r) => r.server === kind).map((r, i) => ({ ...r, run: i + 1 }))
    return mine.length ? medianRecord(mine, scenario, { quietOnly: values['quiet-runs'] }) : null
  })
  .filter((r) => r !== null)
if (records.length === 0) {
  console.error('no matching runs')
  process.exit(1)
}
printDetails(scenario, records)
console.log(table(scenario.metrics, records))
const { goals, verdicts } = evaluateGoals(scenario.name, records)
if (verdicts.length) console.log(`\nIssue 6 goals:\n${verdicts.map((v) => `  ${v}`).join('\n')}`)
const missing = kinds.filter((k) => !records.some((r) => r.server === k))
if (missing.length) console.log(`\nno runs for: ${missing.map((k) => SERVER_LABELS[/** @type {keyof typeof SERVER_LABELS} */ (k)] ?? k).join(', ')}`)
if (values.chart) console.log(`\nchart: ${writeChart(scenario, records, { goals, notes: verdicts, title: `Tandem bench: ${scenario.name} (from stored runs)` })}`)
