/**
 * Output: a table on stdout, JSON lines appended to bench/results/results.jsonl, and a self-contained
 * HTML page with SVG bar charts comparing the servers.
 */
import fs from 'node:fs'
import path from 'node:path'
import { RESULTS_DIR } from './servers.js'

/**
 * @param {unknown} v
 * @param {string} [unit]
 */
export function fmt(v, unit = '') {
  if (v === null || v === undefined) return '-'
  if (typeof v === 'boolean') return v ? 'yes' : 'NO'
  if (typeof v !== 'number') return String(v)
  if (!Number.isFinite(v)) return '-'
  const abs = Math.abs(v)
  let s
  if (abs >= 100_000) s = `${(v / 1000).toFixed(0)}k`
  else if (abs >= 10_000) s = `${(v / 1000).toFixed(1)}k`
  else if (abs >= 100) s = v.toFixed(0)
  else if (abs >= 10) s = v.toFixed(1)
  else if (abs >= 1) s = v.toFixed(2)
  else s = v === 0 ? '0' : v.toFixed(3)
  return unit && unit !== '/s' && unit !== '' ? `${s} ${unit}` : unit === '/s' ? `${s}/s` : s
}

/**
 * Ratio of `v` to Tandem's `base`, phrased so it reads the same way for every metric: "×2.1" means
 * this server's number is 2.1 times Tandem's.
 * @param {unknown} v
 * @param {unknown} base
 */
function ratio(v, base) {
  if (typeof v !== 'number' || typeof base !== 'number' || !Number.isFinite(v) || !Number.isFinite(base) || base === 0) return ''
  const r = v / base
  return `×${r >= 10 ? r.toFixed(0) : r.toFixed(2)}`
}

/**
 * A plain-text table: one row per metric, one column per server (with its ratio to the first column).
 * @param {{ key: string, label: string, unit: string }[]} metrics
 * @param {Record<string, any>[]} records one per server, Tandem first
 */
export function table(metrics, records) {
  const header = ['metric', ...records.map((r) => r.serverLabel + medianNote(r))]
  const rows = metrics.map((m) => {
    const base = getPath(records[0], m.key)
    return [
      `${m.label}${m.unit && m.unit !== '/s' ? ` (${m.unit})` : ''}`,
      ...records.map((r, i) => {
        const v = getPath(r, m.key)
        const cell = fmt(v, m.unit === '/s' ? '/s' : '')
        const rr = i > 0 ? ratio(v, base) : ''
        return rr ? `${cell}  ${rr}` : cell
      }),
    ]
  })
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
  const line = (/** @type {string[]} */ cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

/** @param {any} obj @param {string} path */
export function getPath(obj, path) {
  let v = obj
  for (const part of path.split('.')) v = v == null ? undefined : v[part]
  return v
}

/** " (median of 3)", or " (median of 2 quiet of 3)" when noisy runs were left out. @param {Record<string, any>} r */
export function medianNote(r) {
  if (!(r.runs > 1)) return ''
  if (r.medianRun) return ` (median run #${r.medianRun} of ${r.medianOf < r.runs ? `${r.medianOf} quiet of ` : ''}${r.runs})`
  return r.medianOf && r.medianOf < r.runs ? ` (median of ${r.medianOf} quiet of ${r.runs})` : ` (median of ${r.runs})`
}

/** @param {Record<string, any>} record */
export function appendJsonl(record) {
  fs.mkdirSync(RESULTS_DIR, { recursive: true })
  const file = path.join(RESULTS_DIR, 'results.jsonl')
  fs.appendFileSync(file, `${JSON.stringify(record)}\n`)
  return file
}

const COLORS = { tandem: '#2563eb', 'tandem-mux': '#60a5fa', 'y-websocket': '#f59e0b', hocuspocus: '#10b981', uws: '#6b7280' }

/** @param {string} s */
function esc(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c)
}

/**
 * One horizontal bar chart (SVG) for one metric across servers, with an optional goal line.
 * @param {{ key: string, label: string, unit: string, better: string }} metric
 * @param {Record<string, any>[]} records
 * @param {{ value: number, label: string } | undefined} goal
 */
function barChart(metric, records, goal) {
  const values = records.map((r) => getPath(r, metric.key))
  const numeric = values.map((v) => (typeof v === 'number' && Number.isFinite(v) ? v : null))
  const max = Math.max(1e-9, ...numeric.map((v) => v ?? 0), goal?.value ?? 0) * 1.1
  const rowH = 26
  const left = 130
  const width = 560
  const barW = width - left - 90
  const h = records.length * rowH + 34
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${h}" role="img" aria-label="${esc(metric.label)}">`]
  const better = metric.better === 'lower' ? 'lower is better' : metric.better === 'higher' ? 'higher is better' : ''
  parts.push(`<text x="0" y="14" font-size="13" font-weight="600">${esc(metric.label)}${metric.unit ? ` (${esc(metric.unit)})` : ''}</text>`)
  if (better) parts.push(`<text x="${width}" y="14" font-size="11" fill="#666" text-anchor="end">${better}</text>`)
  records.forEach((r, i) => {
    const y = 24 + i * rowH
    const v = numeric[i]
    const w = v === null ? 0 : Math.max(1, (v / max) * barW)
    parts.push(`<text x="${left - 8}" y="${y + 15}" font-size="12" text-anchor="end">${esc(r.serverLabel)}</text>`)
    parts.push(`<rect x="${left}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${COLORS[/** @type {keyof COLORS} */ (r.server)] ?? '#999'}" rx="2"/>`)
    const label = v === null ? fmt(values[i]) : fmt(v, metric.unit === '/s' ? '/s' : '')
    parts.push(`<text x="${left + w + 6}" y="${y + 15}" font-size="12">${esc(label)}</text>`)
  })
  if (goal && Number.isFinite(goal.value)) {
    const x = left + (goal.value / max) * barW
    parts.push(`<line x1="${x.toFixed(1)}" y1="20" x2="${x.toFixed(1)}" y2="${h - 4}" stroke="#dc2626" stroke-dasharray="4 3"/>`)
    parts.push(`<text x="${x.toFixed(1)}" y="${h}" font-size="10" fill="#dc2626" text-anchor="middle">${esc(goal.label)}</text>`)
  }
  parts.push('</svg>')
  return parts.join('')
}

/**
 * Latency percentiles per server on a log scale: one row per server, markers at p50, p95, p99 and max.
 * @param {Record<string, any>[]} records
 * @param {string} key e.g. 'latencyMs'
 * @param {string} title
 */
export function latencyProfileChart(records, key, title) {
  const rows = records.filter((r) => typeof getPath(r, `${key}.p50`) === 'number')
  if (rows.length === 0) return ''
  const pcts = /** @type {const} */ (['p50', 'p95', 'p99', 'max'])
  const all = rows.flatMap((r) => pcts.map((p) => getPath(r, `${key}.${p}`))).filter((v) => typeof v === 'number' && v > 0)
  const lo = 10 ** Math.floor(Math.log10(Math.max(0.01, Math.min(...all))))
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...all) * 1.01))
  const left = 130
  const width = 760
  const plotW = width - left - 30
  const rowH = 30
  const h = rows.length * rowH + 70
  const x = (/** @type {number} */ v) => left + ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotW
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${h}" role="img" aria-label="${esc(title)}">`]
  parts.push(`<text x="0" y="14" font-size="13" font-weight="600">${esc(title)} (ms, log scale)</text>`)
  parts.push(`<text x="${width}" y="14" font-size="11" fill="#666" text-anchor="end">● p50  ◆ p95  ▲ p99  ✕ max — further left is better</text>`)
  for (let d = lo; d <= hi * 1.0001; d *= 10) {
    const xx = x(d)
    parts.push(`<line x1="${xx.toFixed(1)}" y1="24" x2="${xx.toFixed(1)}" y2="${h - 30}" stroke="#e5e7eb"/>`)
    parts.push(`<text x="${xx.toFixed(1)}" y="${h - 16}" font-size="10" fill="#666" text-anchor="middle">${d >= 1 ? d : d.toPrecision(1)}</text>`)
  }
  const goal = 20
  if (key === 'latencyMs' && goal > lo && goal < hi) {
    parts.push(`<line x1="${x(goal).toFixed(1)}" y1="24" x2="${x(goal).toFixed(1)}" y2="${h - 30}" stroke="#dc2626" stroke-dasharray="4 3"/>`)
    parts.push(`<text x="${x(goal).toFixed(1)}" y="${h - 2}" font-size="10" fill="#dc2626" text-anchor="middle">goal p99 20 ms (at 4/s)</text>`)
  }
  const marks = { p50: '●', p95: '◆', p99: '▲', max: '✕' }
  rows.forEach((r, i) => {
    const y = 40 + i * rowH
    const color = COLORS[/** @type {keyof COLORS} */ (r.server)] ?? '#999'
    parts.push(`<text x="${left - 8}" y="${y + 4}" font-size="12" text-anchor="end">${esc(r.serverLabel)}</text>`)
    const xs = pcts.map((p) => getPath(r, `${key}.${p}`)).map((v) => (typeof v === 'number' ? x(v) : null))
    const valid = xs.filter((v) => v !== null)
    if (valid.length > 1) parts.push(`<line x1="${Math.min(...valid).toFixed(1)}" y1="${y}" x2="${Math.max(...valid).toFixed(1)}" y2="${y}" stroke="${color}" stroke-width="2"/>`)
    pcts.forEach((p, j) => {
      const xx = xs[j]
      if (xx === null) return
      parts.push(`<text x="${xx.toFixed(1)}" y="${y + 5}" font-size="14" fill="${color}" text-anchor="middle"><title>${p} ${getPath(r, `${key}.${p}`)} ms</title>${marks[p]}</text>`)
    })
  })
  parts.push('</svg>')
  return `<figure>${parts.join('')}</figure>`
}

/**
 * Writes a self-contained HTML page comparing the servers and returns its path.
 * @param {{ name: string, metrics: { key: string, label: string, unit: string, better: string, chart?: boolean }[] }} scenario
 * @param {Record<string, any>[]} records
 * @param {{ title?: string, goals?: Record<string, { value: number, label: string }>, notes?: string[], command?: string, extraHtml?: string }} [opts]
 */
export function writeChart(scenario, records, opts = {}) {
  fs.mkdirSync(RESULTS_DIR, { recursive: true })
  const machine = records[0]?.machine
  const charts = scenario.metrics
    .filter((m) => m.better === 'lower' || m.better === 'higher')
    .filter((m) => records.some((r) => typeof getPath(r, m.key) === 'number'))
    .map((m) => `<figure>${barChart(m, records, opts.goals?.[m.key])}</figure>`)
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(opts.title ?? `Tandem bench: ${scenario.name}`)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#111;max-width:1200px}
.grid{display:flex;flex-wrap:wrap;gap:18px}figure{margin:0;padding:10px;border:1px solid #e5e7eb;border-radius:6px}
pre{background:#f6f8fa;padding:10px;overflow:auto;font-size:12px}small{color:#555}
</style></head><body>
<h1>${esc(opts.title ?? `Tandem bench: ${scenario.name}`)}</h1>
<p><small>${esc(new Date().toISOString())} · ${esc(machine ? `${machine.cpus} CPUs (${machine.cpuModel}), Node ${machine.node}` : '')}
${records[0]?.runs > 1 ? (records[0].medianRun ? ` · the median run of ${records[0].runs} per server` : ` · medians of ${records[0].runs} runs per server`) : ''}</small></p>
${opts.command ? `<p><code>${esc(opts.command)}</code></p>` : ''}
<p><small>Each chart compares one figure across servers. Bars are the measured values; the dashed red line is Tandem's goal from issue 6 where one exists. Read the "better" note at the top right of each chart.</small></p>
${['latencyMs', 'ackMs', 'syncedMs', 'connectMs'].map((k) => latencyProfileChart(records, k, { latencyMs: 'Delivery latency to other clients', ackMs: 'Own-update acknowledgement latency', syncedMs: 'Time to synced', connectMs: 'Connect to synced' }[k] ?? k)).join('\n')}
${rampChart(records)}
<div class="grid">${charts.join('\n')}</div>
${opts.extraHtml ?? ''}
${opts.notes?.length ? `<h2>Notes</h2><ul>${opts.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}
<h2>Table</h2><pre>${esc(table(scenario.metrics, records))}</pre>
<h2>Servers</h2><ul>${records.map((r) => `<li>${esc(r.serverLabel)}: ${esc(r.serverDescription)}</li>`).join('')}</ul>
</body></html>
`
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  const file = path.join(RESULTS_DIR, `${scenario.name}-${stamp}.html`)
  fs.writeFileSync(file, html)
  fs.writeFileSync(path.join(RESULTS_DIR, `${scenario.name}-latest.html`), html)
  return file
}

/**
 * Ramp: delivery p99 (log scale) against delivered/s for every step, one line per server, with the bound.
 * @param {Record<string, any>[]} records
 */
export function rampChart(records) {
  const rows = records.filter((r) => Array.isArray(r.steps) && r.steps.length > 0)
  if (rows.length === 0) return ''
  const pts = rows.flatMap((r) => r.steps.map((/** @type {any} */ s) => ({ x: s.deliveredPerS, y: s.latencyMs?.p99 })))
  const ys = pts.map((p) => p.y).filter((v) => typeof v === 'number' && v > 0)
  const bound = rows[0].params?.p99Bound ?? 50
  const lo = 10 ** Math.floor(Math.log10(Math.max(0.1, Math.min(...ys, bound))))
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...ys, bound) * 1.01))
  const xmax = Math.max(...pts.map((p) => p.x)) * 1.05
  const left = 60
  const width = 760
  const top = 30
  const plotW = width - left - 20
  const plotH = 260
  const h = top + plotH + 60
  const X = (/** @type {number} */ v) => left + (v / xmax) * plotW
  const Y = (/** @type {number} */ v) => top + plotH - ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotH
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${h}" role="img" aria-label="ramp">`]
  parts.push(`<text x="0" y="14" font-size="13" font-weight="600">Ramp: delivery p99 (ms, log) against delivered/s, one point per step</text>`)
  for (let d = lo; d <= hi * 1.0001; d *= 10) {
    parts.push(`<line x1="${left}" y1="${Y(d).toFixed(1)}" x2="${left + plotW}" y2="${Y(d).toFixed(1)}" stroke="#e5e7eb"/>`)
    parts.push(`<text x="${left - 6}" y="${(Y(d) + 4).toFixed(1)}" font-size="10" fill="#666" text-anchor="end">${d >= 1 ? d : d.toPrecision(1)}</text>`)
  }
  const step = 10 ** Math.floor(Math.log10(xmax / 2))
  for (let v = 0; v <= xmax; v += step) {
    parts.push(`<text x="${X(v).toFixed(1)}" y="${top + plotH + 16}" font-size="10" fill="#666" text-anchor="middle">${v >= 1000 ? `${Math.round(v / 1000)}k` : v}</text>`)
  }
  parts.push(`<text x="${left + plotW / 2}" y="${top + plotH + 32}" font-size="11" fill="#444" text-anchor="middle">delivered/s</text>`)
  parts.push(`<line x1="${left}" y1="${Y(bound).toFixed(1)}" x2="${left + plotW}" y2="${Y(bound).toFixed(1)}" stroke="#dc2626" stroke-dasharray="4 3"/>`)
  parts.push(`<text x="${left + plotW}" y="${(Y(bound) - 4).toFixed(1)}" font-size="10" fill="#dc2626" text-anchor="end">p99 bound ${bound} ms</text>`)
  rows.forEach((r, i) => {
    const color = COLORS[/** @type {keyof COLORS} */ (r.server)] ?? '#999'
    const coords = r.steps.filter((/** @type {any} */ s) => typeof s.latencyMs?.p99 === 'number').map((/** @type {any} */ s) => [X(s.deliveredPerS), Y(s.latencyMs.p99), s])
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${coords.map((/** @type {any} */ c) => `${c[0].toFixed(1)},${c[1].toFixed(1)}`).join(' ')}"/>`)
    for (const [x, y, s] of coords) parts.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="3.5" fill="${s.pass ? color : '#fff'}" stroke="${color}"><title>${esc(r.serverLabel)} @${s.rate}/s: ${Math.round(s.deliveredPerS)}/s, p99 ${s.latencyMs.p99} ms${s.pass ? '' : ' (failed)'}</title></circle>`)
    parts.push(`<text x="${left + 10 + i * 150}" y="${h - 6}" font-size="12" fill="${color}">■ ${esc(r.serverLabel)}</text>`)
  })
  parts.push('</svg>')
  return `<figure>${parts.join('')}<figcaption><small>Filled dots passed the step; hollow dots failed it.</small></figcaption></figure>`
}
