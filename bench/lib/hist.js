/**
 * HdrHistogram helpers. Latencies are recorded in microseconds; workers ship histograms to the main
 * thread in HdrHistogram's compressed base64 encoding and the main thread merges them.
 */
import hdr from 'hdr-histogram-js'

/** One hour in microseconds: anything slower is clamped. */
const HIGHEST_US = 3_600_000_000

export function newHistogram() {
  return hdr.build({ bitBucketSize: 32, autoResize: true, lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_US, numberOfSignificantValueDigits: 3 })
}

/** @param {import('hdr-histogram-js').Histogram} h @param {number} ms */
export function recordMs(h, ms) {
  let us = Math.round(ms * 1000)
  if (us < 1) us = 1
  else if (us > HIGHEST_US) us = HIGHEST_US
  h.recordValue(us)
}

/** @param {import('hdr-histogram-js').Histogram} h */
export function encodeHistogram(h) {
  return hdr.encodeIntoCompressedBase64(h)
}

/** @param {string[]} encoded */
export function mergeHistograms(encoded) {
  const total = newHistogram()
  for (const e of encoded) {
    if (!e) continue
    const h = hdr.decodeFromCompressedBase64(e, 32, false)
    total.add(h)
    h.destroy()
  }
  return total
}

/**
 * Percentiles in milliseconds (null when nothing was recorded).
 * @param {import('hdr-histogram-js').Histogram} h
 */
export function summarizeMs(h) {
  if (h.totalCount === 0) return { count: 0, p50: null, p95: null, p99: null, max: null, mean: null }
  const ms = (/** @type {number} */ us) => Math.round(us) / 1000
  return {
    count: h.totalCount,
    p50: ms(h.getValueAtPercentile(50)),
    p95: ms(h.getValueAtPercentile(95)),
    p99: ms(h.getValueAtPercentile(99)),
    max: ms(h.maxValue),
    mean: Math.round(h.mean) / 1000,
  }
}

/** Percentiles (ms) of a plain list of millisecond times. @param {number[]} times */
export function hdrFromTimes(times) {
  const h = newHistogram()
  for (const t of times) recordMs(h, t)
  const s = summarizeMs(h)
  h.destroy()
  return s
}
