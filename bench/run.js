#!/usr/bin/env node
/**
 * npm run bench -- <scenario> [--server tandem|tandem-mux|y-websocket|hocuspocus|uws] [options]
 *
 * Runs one scenario against one freshly started server on 127.0.0.1 and prints a table; appends the
 * result to bench/results/results.jsonl and writes an HTML chart next to it. See bench/README.md.
 */
import { SERVER_KINDS } from './lib/servers.js'
import { UsageError, makeContext, medianRecord, parseCli, runOnce, scenarioOptions, usage } from './lib/cli.js'
import { appendJsonl, table, writeChart } from './lib/report.js'
import { printDetails, summarizeProfiles } from './lib/details.js'
import { evaluateGoals } from './lib/goals.js'

async function main() {
  const { scenario, values } = parseCli(process.argv.slice(2), { compare: false })
  if (values.help || !scenario) {
    console.log(usage({ compare: false }))
    return values.help ? 0 : 2
  }
  const kind = values.server
  if (!SERVER_KINDS.includes(kind)) throw new UsageError(`--server must be one of ${SERVER_KINDS.join(', ')}`)
  if (scenario.servers && !scenario.servers.includes(kind)) throw new UsageError(`${scenario.name} runs against ${scenario.servers.join(' or ')} only`)
  const repeat = Number(values.repeat)
  if (!Number.isSafeInteger(repeat) || repeat < 1 || repeat > 20) throw new UsageError('--repeat must be 1..20')
  const ctx = makeContext(values)
  const o = scenarioOptions(scenario, values)

  const runs = []
  for (let i = 0; i < repeat; i++) {
    const record = await runOnce(scenario, kind, o, ctx, i)
    runs.push(record)
    if (!values['no-save']) appendJsonl(record)
  }
  const rec = medianRecord(runs, scenario, { quietOnly: values['quiet-runs'] })
  if (values.json) {
    console.log(JSON.stringify(rec, null, 2))
  } else {
    printDetails(scenario, [rec])
    console.log(table(scenario.metrics, [rec]))
    // Goals relative to a peer (e.g. the bare relay) need bench:compare; the absolute ones show here.
    const { verdicts } = evaluateGoals(scenario.name, [rec])
    if (verdicts.length) console.log(`\nGoals:\n${verdicts.map((v) => `  ${v}`).join('\n')}`)
  }
  if (!values['no-save']) {
    const file = writeChart(scenario, [rec], { command: `npm run bench -- ${process.argv.slice(2).join(' ')}` })
    console.log(`\nchart: ${file}\nresults: bench/results/results.jsonl`)
  }
  if (ctx.profile) summarizeProfiles(runs)
  return 0
}

main().then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof UsageError) {
      console.error(`bench: ${err.message}\n\n${usage({ compare: false })}`)
      process.exit(2)
    }
    console.error('bench failed:', err)
    process.exit(1)
  },
)
