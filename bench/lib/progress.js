/**
 * A progress bar on stderr (cli-progress) while a phase runs; plain phase lines when stderr is not a
 * terminal, so logs stay readable.
 */
import { performance } from 'node:perf_hooks'
import cliProgress from 'cli-progress'

export class Progress {
  /** @param {{ quiet?: boolean }} [opts] */
  constructor(opts = {}) {
    this.quiet = opts.quiet ?? false
    this.tty = Boolean(process.stderr.isTTY)
    /** @type {cliProgress.SingleBar | null} */
    this.bar = null
    this.prefix = ''
  }

  /** @param {string} prefix e.g. "fanout tandem" */
  setPrefix(prefix) {
    this.prefix = prefix
  }

  /**
   * Starts a phase of `total` units (seconds or connections).
   * @param {string} phase
   * @param {number} total
   * @param {string} [unit]
   */
  start(phase, total, unit = 's') {
    this.stop()
    if (this.quiet) return
    const label = `${this.prefix} ${phase}`.trim()
    if (!this.tty) {
      process.stderr.write(`[bench] ${label} (${total}${unit})\n`)
      return
    }
    this.bar = new cliProgress.SingleBar(
      {
        format: `${label.padEnd(28)} |{bar}| {value}/{total}${unit} {info}`,
        stream: process.stderr,
        hideCursor: true,
        clearOnComplete: true,
        barsize: 24,
        fps: 5,
      },
      cliProgress.Presets.shades_classic,
    )
    this.bar.start(Math.max(1, Math.round(total)), 0, { info: '' })
  }

  /** @param {number} value @param {string} [info] */
  update(value, info = '') {
    this.bar?.update(Math.round(value), { info })
  }

  stop() {
    if (this.bar) {
      this.bar.stop()
      this.bar = null
    }
  }

  /** A line that survives the bar (warnings, phase results). @param {string} text */
  log(text) {
    if (this.quiet) return
    const bar = this.bar
    if (bar) bar.stop()
    process.stderr.write(`${text}\n`)
    this.bar = null
  }
}

/**
 * Waits `seconds`, updating the bar every 500 ms with `info()`.
 * @param {Progress} progress
 * @param {string} phase
 * @param {number} seconds
 * @param {() => string} info
 */
export async function timedPhase(progress, phase, seconds, info) {
  progress.start(phase, seconds)
  const start = performance.now()
  const end = start + seconds * 1000
  while (performance.now() < end) {
    await new Promise((r) => setTimeout(r, Math.min(500, Math.max(1, end - performance.now()))))
    progress.update((performance.now() - start) / 1000, info())
  }
  progress.stop()
}
