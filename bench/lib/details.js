/**
 * The human-readable parts of a report that are not the table: what ran, on what, and every warning.
 */
import { formatProfile, profileFiles, summarizeProfile } from './profile.js'
import { medianNote } from './report.js'

/**
 * @param {{ name: string, details?: (rec: Record<string, any>) => string[] }} scenario
 * @param {Record<string, any>[]} records
 */
export function printDetails(scenario, records) {
  const m = records[0]?.machine
  if (m) console.log(`machine: ${m.cpus} CPUs (${m.cpuModel}), ${m.memTotalGB} GB, Node ${m.node}, Linux ${m.kernel}`)
  for (const r of records) {
    console.log(`\n${r.serverLabel}: ${r.serverDescription}${medianNote(r) ? ` —${medianNote(r).replace(/[()]/g, '')}` : ''}`)
    if (r.perRun) console.log(`  runs: ${r.perRun.map((/** @type {any} */ p) => `others ${p.othersCpuPct ?? '?'}%${p.quiet ? '' : ' (noisy)'}`).join(', ')}`)
    if (r.params) console.log(`  params: ${Object.entries(r.params).map(([k, v]) => `${k}=${v}`).join(' ')}`)
    if (r.ackMeaning && r.ackMeaning !== 'none') console.log(`  own-update ack means: ${r.ackMeaning}`)
    for (const line of scenario.details?.(r) ?? []) console.log(`  ${line}`)
    if (r.errorKinds && Object.keys(r.errorKinds).length) console.log(`  errors: ${JSON.stringify(r.errorKinds)}`)
    if (r.convergence && !r.convergence.converged) console.log(`  CONVERGENCE FAILED: ${r.convergence.problems.join('; ')}`)
    if (r.missingDeliveries) console.log(`  ${r.missingDeliveries} deliveries never arrived (after a drain of up to 10 s)`)
    for (const w of r.warnings ?? []) console.log(`  WARNING: ${w}`)
  }
  console.log('')
}

/** @param {Record<string, any>[]} runs */
export function summarizeProfiles(runs) {
  for (const r of runs) {
    if (!r.profileDir) continue
    const files = profileFiles(r.profileDir)
    if (files.length === 0) {
      console.log(`\nno CPU profile was written under ${r.profileDir} (the server must exit cleanly on SIGTERM)`)
      continue
    }
    console.log(`\nCPU profiles of ${r.serverLabel} (run ${r.run}):`)
    for (const f of files) console.log(formatProfile(summarizeProfile(f, 20)))
  }
}
