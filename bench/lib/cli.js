/**
 * Command-line plumbing shared by run.js and compare.js: options, the scenario registry, and running one
 * scenario against one freshly started server (repeated, with medians).
 */
import { parseArgs } from 'node:util'
import * as fanout from '../scenarios/fanout.js'
import * as ramp from '../scenarios/ramp.js'
import * as idle from '../scenarios/idle.js'
import * as join from '../scenarios/join.js'
import * as saved from '../scenarios/saved.js'
import * as upgrades from '../scenarios/upgrades.js'
import * as flood from '../scenarios/flood.js'
import * as cluster from '../scenarios/cluster.js'
import { SERVER_KINDS, SERVER_LABELS, startServer } from './servers.js'
import { Progress } from './progress.js'
import { execFileSync } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { cpuCount, machineInfo, machineTicks, median } from './proc.js'
import { getPath } from './report.js'
import { DEFAULT_DATABASE_URL, checkDatabaseUrl } from './postgres.js'

/**
 * @typedef {object} Scenario
 * @property {string} name
 * @property {string} summary
 * @property {Record<string, { default: string, help: string }>} options
 * @property {{ key: string, label: string, unit: string, better: string, chart?: boolean }[]} metrics
 * @property {(server: import('./servers.js').RunningServer, o: Record<string, string>, ctx: import('./context.js').Context) => Promise<Record<string, any>>} run
 * @property {string[]} [servers] servers it supports (all when absent)
 * @property {string} [medianBy] repeated runs: report the whole run whose value of this figure is the median
 * @property {string[]} [compareServers] what bench:compare runs (default COMPARE_KINDS)
 * @property {Record<string, string>} [serverEnv]
 * @property {(o: Record<string, string>) => Record<string, string>} [tandemEnv]
 * @property {(kind: import('./servers.js').ServerKind, o: Record<string, string>, ctx: import('./context.js').Context) => Promise<import('./servers.js').RunningServer>} [startServers]
 *   starts what the scenario measures itself (several instances of `kind`), instead of one server of `--server`
 */

/** @type {Record<string, Scenario>} */
export const SCENARIOS = /** @type {any} */ ({ fanout, ramp, idle, join, saved, upgrades, flood, cluster })

const COMMON = {
  server: { type: 'string', default: 'tandem', help: `server to measure: ${SERVER_KINDS.join(' | ')}` },
  workers: { type: 'string', default: '2', help: 'load-generator worker threads' },
  store: { type: 'string', default: 'sqlite', help: "Tandem's store: sqlite (its default) | memory | postgres (a fresh schema per run, dropped afterwards)" },
  'database-url': { type: 'string', default: DEFAULT_DATABASE_URL, help: 'the Postgres database for --store postgres (this machine only)' },
  profile: { type: 'boolean', default: false, help: 'start Node servers with --cpu-prof (profiles under bench/results/profiles) and print the top functions' },
  repeat: { type: 'string', default: '1', help: 'runs per server; tables show medians' },
  concurrency: { type: 'string', default: '100', help: 'sockets opening at once during setup' },
  'wait-quiet': { type: 'string', default: '0', help: 'before each run, wait up to this many seconds for the machine to be < 25% busy (shared machines)' },
  'no-save': { type: 'boolean', default: false, help: 'do not append to bench/results/results.jsonl or write charts' },
  json: { type: 'boolean', default: false, help: 'print the result objects as JSON on stdout instead of a table' },
  'quiet-runs': { type: 'boolean', default: false, help: 'with --repeat: take medians over runs where other processes used < 50% of a core, when there are any' },
  quiet: { type: 'boolean', default: false, help: 'no progress bar' },
  help: { type: 'boolean', short: 'h', default: false, help: 'this help' },
}

/**
 * @param {string[]} argv
 * @param {{ compare: boolean }} mode
 */
export function parseCli(argv, mode) {
  const scenarioName = argv[0] && !argv[0].startsWith('-') ? argv[0] : null
  const rest = scenarioName ? argv.slice(1) : argv
  const scenario = scenarioName ? SCENARIOS[scenarioName] : null
  if (scenarioName && !scenario) throw new UsageError(`unknown scenario ${JSON.stringify(scenarioName)}; one of ${Object.keys(SCENARIOS).join(', ')}`)
  /** @type {Record<string, any>} */
  const spec = {}
  for (const [k, v] of Object.entries(COMMON)) spec[k] = { type: v.type, default: v.default, ...('short' in v && { short: v.short }) }
  if (mode.compare) spec.servers = { type: 'string' }
  for (const [k, v] of Object.entries(scenario?.options ?? {})) spec[k] = { type: 'string', default: v.default }
  let parsed
  try {
    parsed = parseArgs({ args: rest, options: spec, strict: true, allowPositionals: false })
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err))
  }
  return { scenario, values: /** @type {Record<string, any>} */ (parsed.values) }
}

export class UsageError extends Error {}

const STORE_KINDS = ['sqlite', 'memory', 'postgres']

/** @param {{ compare: boolean }} mode */
export function usage(mode) {
  const cmd = mode.compare ? 'npm run bench:compare -- <scenario>' : 'npm run bench -- <scenario>'
  const lines = [`Usage: ${cmd} [options]`, '', 'Scenarios:']
  for (const s of Object.values(SCENARIOS)) lines.push(`  ${s.name.padEnd(8)} ${s.summary}`)
  lines.push('', 'Common options:')
  for (const [k, v] of Object.entries(COMMON)) {
    if (mode.compare && k === 'server') continue
    lines.push(`  --${k.padEnd(12)} ${v.help}${v.type === 'string' ? ` (default ${v.default})` : ''}`)
  }
  if (mode.compare) lines.push(`  --servers      comma-separated list (default tandem,y-websocket,hocuspocus,uws; add tandem-mux for the multiplexed framing)`)
  for (const s of Object.values(SCENARIOS)) {
    lines.push('', `${s.name} options:`)
    for (const [k, v] of Object.entries(s.options)) lines.push(`  --${k.padEnd(16)} ${v.help} (default ${v.default})`)
  }
  return lines.join('\n')
}

/** @param {Record<string, any>} values */
export function makeContext(values) {
  const workers = Number(values.workers)
  if (!Number.isSafeInteger(workers) || workers < 1 || workers > 16) throw new UsageError('--workers must be 1..16')
  if (!STORE_KINDS.includes(values.store)) throw new UsageError(`--store must be one of ${STORE_KINDS.join(', ')}`)
  const databaseUrlProblem = values.store === 'postgres' ? checkDatabaseUrl(values['database-url']) : null
  if (databaseUrlProblem) throw new UsageError(databaseUrlProblem)
  const concurrency = Number(values.concurrency)
  if (!Number.isSafeInteger(concurrency) || concurrency < 1 || concurrency > 5000) throw new UsageError('--concurrency must be 1..5000')
  return {
    progress: new Progress({ quiet: values.quiet }),
    workers,
    cpus: cpuCount(),
    connectConcurrency: concurrency,
    store: /** @type {import('./context.js').StoreKind} */ (values.store),
    databaseUrl: String(values['database-url']),
    profile: Boolean(values.profile),
    waitQuietS: Math.max(0, Number(values['wait-quiet']) || 0),
  }
}

/**
 * Waits (up to `maxS`) until the whole machine is less than 25% busy for two seconds in a row.
 * Returns the last busy percentage seen.
 * @param {number} maxS
 * @param {import('./progress.js').Progress} progress
 */
async function waitForQuiet(maxS, progress) {
  const end = performance.now() + maxS * 1000
  let quietSeconds = 0
  let busy = NaN
  let prev = machineTicks()
  progress.start('waiting for a quiet machine', maxS)
  const start = performance.now()
  try {
    while (performance.now() < end) {
      await new Promise((r) => setTimeout(r, 1000))
      const now = machineTicks()
      busy = ((now.busy - prev.busy) / Math.max(1, now.total - prev.total)) * 100
      prev = now
      quietSeconds = busy < 25 ? quietSeconds + 1 : 0
      progress.update((performance.now() - start) / 1000, `machine ${Math.round(busy)}% busy`)
      if (quietSeconds >= 2) break
    }
  } finally {
    progress.stop()
  }
  return Math.round(busy)
}

/** The scenario's own options out of the parsed values. @param {Scenario} scenario @param {Record<string, any>} values */
export function scenarioOptions(scenario, values) {
  /** @type {Record<string, string>} */
  const o = {}
  for (const k of Object.keys(scenario.options)) o[k] = String(values[k])
  return o
}

/** A hard stop for one run, so a wedged server or socket can never keep the bench running. */
const RUN_DEADLINE_MS = 15 * 60_000

/**
 * Starts `kind`, runs the scenario, stops the server. Returns the result record.
 * @param {Scenario} scenario
 * @param {import('./servers.js').ServerKind} kind
 * @param {Record<string, string>} o
 * @param {import('./context.js').Context} ctx
 * @param {number} runIndex
 */
export async function runOnce(scenario, kind, o, ctx, runIndex) {
  ctx.progress.setPrefix(`${scenario.name} ${SERVER_LABELS[kind]}${runIndex > 0 ? ` #${runIndex + 1}` : ''}`)
  const busyBefore = ctx.waitQuietS > 0 ? await waitForQuiet(ctx.waitQuietS, ctx.progress) : null
  const env = kind.startsWith('tandem') && scenario.tandemEnv ? scenario.tandemEnv(o) : {}
  const server = scenario.startServers
    ? await scenario.startServers(kind, o, ctx)
    : await startServer(kind, { store: ctx.store, databaseUrl: ctx.databaseUrl, profile: ctx.profile, env })
  const startedAt = new Date().toISOString()
  /** @type {NodeJS.Timeout | undefined} */
  let deadline
  try {
    const result = await Promise.race([
      scenario.run(server, o, ctx),
      new Promise((_, reject) => {
        deadline = setTimeout(() => reject(new Error(`run exceeded ${RUN_DEADLINE_MS / 60_000} minutes`)), RUN_DEADLINE_MS)
        deadline.unref()
      }),
    ])
    if (server.exited) result.warnings = [...(result.warnings ?? []), `server exited during the run:\n${server.logTail()}`]
    return {
      scenario: scenario.name,
      server: kind,
      serverLabel: SERVER_LABELS[kind],
      serverDescription: server.description,
      store: scenario.startServers ? 'postgres' : kind.startsWith('tandem') ? ctx.store : null,
      run: runIndex + 1,
      startedAt,
      machine: machineInfo(),
      git: gitState(),
      ...(busyBefore !== null && { machineBusyBeforePct: busyBefore }),
      ...result,
      profileDir: server.profileDir,
    }
  } finally {
    clearTimeout(deadline)
    ctx.progress.stop()
    await server.stop()
  }
}

/**
 * Medians over repeated runs, metric by metric (numbers only; the rest comes from the last run).
 * @param {Record<string, any>[]} runs
 * @param {Scenario} scenario
 * @param {{ quietOnly?: boolean }} [opts]
 */
export function medianRecord(runs, scenario, opts = {}) {
  if (runs.length === 1) return { ...runs[0], runs: 1, quietRuns: isQuiet(runs[0]) ? 1 : 0 }
  // On a shared machine, runs during which other processes took a lot of CPU measure the neighbours as
  // much as the server. With `quietOnly`, the medians use only quiet runs when there are some (and say
  // so); off by default, because filtering servers unevenly biases the comparison.
  const quiet = runs.filter(isQuiet)
  const use = opts.quietOnly && quiet.length > 0 ? quiet : runs
  if (scenario.medianBy) {
    // A whole run, not a mix: the run whose headline figure is the (conservative) median.
    const key = scenario.medianBy
    const target = observedMedian(use.map((r) => getPath(r, key)), 'higher')
    const pick = use.find((r) => getPath(r, key) === target) ?? use[0]
    return {
      ...structuredClone(pick),
      runs: runs.length,
      quietRuns: quiet.length,
      medianOf: use.length,
      medianRun: pick.run,
      perRun: runs.map((r) => ({ othersCpuPct: r.othersCpuPct, quiet: isQuiet(r), ...Object.fromEntries(scenario.metrics.map((m) => [m.key, getPath(r, m.key)])) })),
      warnings: [...new Set(runs.flatMap((r) => r.warnings ?? []))],
    }
  }
  const out = structuredClone(use[use.length - 1])
  for (const m of scenario.metrics) {
    const values = use.map((r) => getPath(r, m.key))
    if (values.every((v) => typeof v === 'number')) setPath(out, m.key, observedMedian(values, m.better))
    else if (values.every((v) => typeof v === 'boolean')) setPath(out, m.key, values.every(Boolean))
  }
  out.runs = runs.length
  out.quietRuns = quiet.length
  out.medianOf = use.length
  out.perRun = runs.map((r) => ({ othersCpuPct: r.othersCpuPct, quiet: isQuiet(r), ...Object.fromEntries(scenario.metrics.map((m) => [m.key, getPath(r, m.key)])) }))
  out.warnings = [...new Set(runs.flatMap((r) => r.warnings ?? []))]
  return out
}

/**
 * The median as an observed value: with an even number of runs, the more conservative of the two middle
 * values (the lower one where higher is better, the higher one where lower is better).
 * @param {number[]} values
 * @param {string} better
 */
function observedMedian(values, better) {
  const s = [...values].sort((a, b) => a - b)
  if (s.length % 2 === 1) return s[(s.length - 1) / 2]
  const lo = s[s.length / 2 - 1]
  const hi = s[s.length / 2]
  if (better === 'higher') return lo
  if (better === 'lower') return hi
  return median(values)
}

/** Other processes used less than half a core while this run measured. */
export const QUIET_OTHERS_PCT = 50

/** @param {Record<string, any>} r */
export function isQuiet(r) {
  return typeof r.othersCpuPct === 'number' && r.othersCpuPct < QUIET_OTHERS_PCT
}

/** @param {any} obj @param {string} path @param {any} value */
function setPath(obj, path, value) {
  const parts = path.split('.')
  let v = obj
  for (const part of parts.slice(0, -1)) v = v[part] ??= {}
  v[parts[parts.length - 1]] = value
}

/** The commit and whether server code differs from it (others may be editing the tree while we measure). */
function gitState() {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'server', 'client-sdk'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).length
    return { head, dirtyServerFiles: dirty }
  } catch {
    return null
  }
}
