#!/usr/bin/env node
/**
 * npm run bench:compare -- <scenario> [--servers tandem,y-websocket,hocuspocus,uws] [--repeat N] [options]
 *
 * Runs the same scenario against each server (each freshly started, one at a time; repeats interleave
 * the servers so machine noise spreads evenly), prints every figure with its ratio to Tandem, checks
 * Tandem's goals (bench/lib/goals.js), appends every run to bench/results/results.jsonl and writes an HTML chart.
 */
import { COMPARE_KINDS, SERVER_KINDS, SERVER_LABELS } from './lib/servers.js'
import { UsageError, makeContext, medianRecord, parseCli, runOnce, scenarioOptions, usage } from './lib/cli.js'
import { appendJsonl, table, writeChart } from './lib/report.js'
import { printDetails, summarizeProfiles } from './lib/details.js'
import { evaluateGoals } from './lib/goals.js'

async function main() {
  const { scenario, values } = parseCli(process.argv.slice(2), { compare: true })
  if (values.help || !scenario) {
    console.log(usage({ compare: true }))
    return values.help ? 0 : 2
  }
  /** @type {import('./lib/servers.js').ServerKind[]} */
  const kinds = values.servers ? values.servers.split(',').map((/** @type {string} */ s) => s.trim()) : /** @type {any} */ (scenario.compareServers ?? COMPARE_KINDS)
  for (const k of kinds) if (!SERVER_KINDS.includes(k)) throw new UsageError(`unknown server ${k}; one of ${SERVER_KINDS.join(', ')}`)
  if (scenario.servers) for (const k of kinds) if (!scenario.servers.includes(k)) throw new UsageError(`${scenario.name} runs against ${scenario.servers.join(', ')} only`)
  const repeat = Number(values.repeat)
  if (!Number.isSafeInteger(repeat) || repeat < 1 || repeat > 20) throw new UsageError('--repeat must be 1..20')
  const ctx = makeContext(values)
  const o = scenarioOptions(scenario, values)

  /** @type {Map<string, Record<string, any>[]>} */
  const runs = new Map(kinds.map((k) => [k, []]))
  /** @type {Map<string, string>} */
  const failures = new Map()
  for (let i = 0; i < repeat; i++) {
    for (const kind of kinds) {
      try {
        const record = await runOnce(scenario, kind, o, ctx, i)
        runs.get(kind)?.push(record)
        if (!values['no-save']) appendJsonl(record)
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err)
        failures.set(kind, message)
        ctx.progress.log(`${scenario.name} against ${SERVER_LABELS[kind]} failed: ${message}`)
      }
    }
  }
  const records = kinds.map((kind) => {
    const list = runs.get(kind) ?? []
    if (list.length === 0) return { server: kind, serverLabel: SERVER_LABELS[kind], serverDescription: 'failed', error: failures.get(kind) ?? 'no run' }
    return medianRecord(list, scenario, { quietOnly: values['quiet-runs'] })
  })
  const { goals, verdicts } = evaluateGoals(scenario.name, records)
  if (values.json) {
    console.log(JSON.stringify({ records, verdicts }, null, 2))
  } else {
    printDetails(scenario, records)
    console.log(table(scenario.metrics, records))
    console.log('\nRatios are to Tandem (×2.00 = twice Tandem\'s figure).')
    if (verdicts.length) console.log(`\nGoals:\n${verdicts.map((v) => `  ${v}`).join('\n')}`)
    for (const [kind, message] of failures) console.log(`\n${SERVER_LABELS[kind]} FAILED: ${message}`)
  }
  if (!values['no-save']) {
    const notes = [...verdicts, ...records.flatMap((r) => (r.warnings ?? []).map((/** @type {string} */ w) => `${r.serverLabel}: ${w}`))]
    const file = writeChart(scenario, records, { goals, notes, command: `npm run bench:compare -- ${process.argv.slice(2).join(' ')}` })
    console.log(`\nchart: ${file}\nresults: bench/results/results.jsonl`)
  }
  if (ctx.profile) summarizeProfiles([...runs.values()].flat())
  return failures.size > 0 ? 1 : 0
}

main().then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof UsageError) {
      console.error(`bench:compare: ${err.message}\n\n${usage({ compare: true })}`)
      process.exit(2)
    }
    console.error('bench:compare failed:', err)
    process.exit(1)
  },
)
