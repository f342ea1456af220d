/**
 * Reads V8 .cpuprofile files (from `node --cpu-prof`) and ranks functions by self time.
 */
import fs from 'node:fs'
import path from 'node:path'

/**
 * @param {string} file
 * @returns {{ file: string, totalMs: number, idleMs: number, top: { name: string, where: string, selfMs: number, pct: number }[],
 *   byModule: { module: string, selfMs: number, pct: number }[] }}
 */
export function summarizeProfile(file, topN = 25) {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8'))
  /** @type {Map<number, any>} */
  const nodes = new Map(profile.nodes.map((/** @type {any} */ n) => [n.id, n]))
  /** @type {Map<number, number>} */
  const self = new Map()
  const samples = profile.samples ?? []
  const deltas = profile.timeDeltas ?? []
  for (let i = 0; i < samples.length; i++) {
    const dt = (deltas[i + 1] ?? 0) / 1000 // µs -> ms, the time until the next sample
    self.set(samples[i], (self.get(samples[i]) ?? 0) + dt)
  }
  /** @type {Map<string, { name: string, where: string, selfMs: number }>} */
  const byFn = new Map()
  /** @type {Map<string, number>} */
  const byModule = new Map()
  let total = 0
  let idle = 0
  for (const [id, ms] of self) {
    const cf = nodes.get(id)?.callFrame ?? {}
    const name = cf.functionName || '(anonymous)'
    if (name === '(idle)') {
      idle += ms
      continue
    }
    total += ms
    const where = cf.url ? `${shortUrl(cf.url)}:${(cf.lineNumber ?? 0) + 1}` : ''
    const key = `${name}@${where}`
    const entry = byFn.get(key) ?? { name, where, selfMs: 0 }
    entry.selfMs += ms
    byFn.set(key, entry)
    const mod = moduleOf(cf.url, name)
    byModule.set(mod, (byModule.get(mod) ?? 0) + ms)
  }
  const pct = (/** @type {number} */ ms) => Math.round((ms / Math.max(1e-9, total)) * 1000) / 10
  return {
    file,
    totalMs: Math.round(total),
    idleMs: Math.round(idle),
    top: [...byFn.values()]
      .sort((a, b) => b.selfMs - a.selfMs)
      .slice(0, topN)
      .map((e) => ({ ...e, selfMs: Math.round(e.selfMs), pct: pct(e.selfMs) })),
    byModule: [...byModule.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 15)
      .map(([module, ms]) => ({ module, selfMs: Math.round(ms), pct: pct(ms) })),
  }
}

/** @param {string} url */
function shortUrl(url) {
  const s = url.replace(/^file:\/\//, '')
  const i = s.lastIndexOf('node_modules/')
  if (i >= 0) return s.slice(i + 'node_modules/'.length)
  const j = s.indexOf('/server/dist/')
  if (j >= 0) return s.slice(j + 1)
  return s.startsWith('node:') ? s : path.basename(s)
}

/** @param {string | undefined} url @param {string} name */
function moduleOf(url, name) {
  if (!url) return name.startsWith('(') ? name : '(native)'
  const s = url.replace(/^file:\/\//, '')
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(s)
  if (m) return m[1]
  if (s.includes('/server/dist/')) return `tandem:${s.slice(s.indexOf('/server/dist/') + '/server/dist/'.length)}`
  if (s.includes('/client-sdk/')) return 'tandem client-sdk'
  if (s.startsWith('node:')) return 'node internals'
  return path.basename(s)
}

/** All .cpuprofile files under a directory (or the file itself), biggest first. @param {string} target */
export function profileFiles(target) {
  if (!fs.existsSync(target)) return []
  if (fs.statSync(target).isFile()) return [target]
  return fs
    .readdirSync(target)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => path.join(target, f))
    .sort((a, b) => fs.statSync(b).size - fs.statSync(a).size)
}

/** @param {ReturnType<typeof summarizeProfile>} s */
export function formatProfile(s) {
  const lines = [
    `${s.file}`,
    `  busy ${(s.totalMs / 1000).toFixed(2)} s (idle ${(s.idleMs / 1000).toFixed(2)} s). Top self time:`,
    ...s.top.map((e) => `  ${String(e.pct).padStart(5)}%  ${String(e.selfMs).padStart(7)} ms  ${e.name}  ${e.where}`),
    '  By module:',
    ...s.byModule.map((e) => `  ${String(e.pct).padStart(5)}%  ${String(e.selfMs).padStart(7)} ms  ${e.module}`),
  ]
  return lines.join('\n')
}
