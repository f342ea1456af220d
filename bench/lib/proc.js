/**
 * Process and machine figures from /proc (Linux): CPU time and RSS of the server's process (all its
 * threads), the load generator's own CPU, and how busy the whole machine is.
 */
import { performance } from 'node:perf_hooks'
import fs from 'node:fs'
import os from 'node:os'
import { execFileSync } from 'node:child_process'

let clockTicks = 100
try {
  clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
} catch {
  // 100 is the value on every Linux we care about
}

/** CPU seconds (user + system) used so far by `pid`, all threads included. */
export function cpuSeconds(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (Number(fields[11]) + Number(fields[12])) / clockTicks
  } catch {
    return NaN
  }
}

/**
 * CPU seconds used so far by every process whose name (`/proc/<pid>/comm`) is `comm`, e.g. `redis-server`
 * or `postgres`, whoever runs them (on a shared machine other users' work is in it too). Each process counts
 * its own CPU and that of the children it has reaped (cutime + cstime), so a Postgres backend that exits
 * between two readings moves its CPU into the postmaster's instead of out of the sum: the difference of
 * two readings is what the group used in between. `pids` are the processes found.
 * @param {string} comm
 * @returns {{ seconds: number, pids: number[] }}
 */
export function processGroupCpuSeconds(comm) {
  let seconds = 0
  /** @type {number[]} */
  const pids = []
  let entries
  try {
    entries = fs.readdirSync('/proc')
  } catch {
    return { seconds: NaN, pids }
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (fs.readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== comm) continue
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      // utime, stime, cutime, cstime are fields 14..17.
      seconds += (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / clockTicks
      pids.push(Number(entry))
    } catch {
      // exited while we looked
    }
  }
  return { seconds, pids }
}

/**
 * CPU seconds of the process's main thread (tid = pid: the event loop) and of all its other threads
 * together (worker threads such as Tandem's SQLite writer, V8 GC helpers, libuv's pool).
 */
export function threadCpuSeconds(pid) {
  let main = NaN
  let others = 0
  try {
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      const sec = cpuSecondsOf(`/proc/${pid}/task/${tid}/stat`)
      if (Number(tid) === pid) main = sec
      else if (Number.isFinite(sec)) others += sec
    }
  } catch {
    return { main: NaN, others: NaN }
  }
  return { main, others }
}

/** @param {string} file */
function cpuSecondsOf(file) {
  try {
    const stat = fs.readFileSync(file, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / clockTicks
  } catch {
    return NaN
  }
}

/** Resident set size of `pid` in bytes (VmRSS), and its peak (VmHWM). */
export function memory(pid) {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (/** @type {string} */ key) => {
      const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)
      return m ? Number(m[1]) * 1024 : NaN
    }
    return { rss: kb('VmRSS'), hwm: kb('VmHWM'), threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? NaN) }
  } catch {
    return { rss: NaN, hwm: NaN, threads: NaN }
  }
}

/** Jiffies the whole machine spent busy and in total, summed over all CPUs. */
export function machineTicks() {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]
    const v = line.trim().split(/\s+/).slice(1).map(Number)
    const idle = (v[3] ?? 0) + (v[4] ?? 0)
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0)
    return { busy: total - idle, total, steal: v[7] ?? 0 }
  } catch {
    return { busy: NaN, total: NaN, steal: NaN }
  }
}

export function cpuCount() {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length
}

/** The machine, for reports. */
export function machineInfo() {
  let model = os.cpus()[0]?.model ?? 'unknown'
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))
    if (m) model = m[1].trim()
  } catch {
    // keep os.cpus()
  }
  return { cpus: cpuCount(), node: process.version, cpuModel: model, memTotalGB: Math.round(os.totalmem() / 2 ** 30), kernel: os.release() }
}

/**
 * Measures a time window: server CPU %, generator CPU %, machine busy %, and RSS sampled every 250 ms.
 * CPU percentages are of one core (200% = two cores busy).
 */
export class Window {
  /** @param {number} serverPid */
  constructor(serverPid) {
    this.pid = serverPid
    this.t0 = performance.now()
    this.server0 = cpuSeconds(serverPid)
    this.threads0 = threadCpuSeconds(serverPid)
    this.self0 = process.cpuUsage()
    this.machine0 = machineTicks()
    this.rssMax = 0
    /** @type {number[]} */
    this.rssSamples = []
    this.sample()
    this.timer = setInterval(() => this.sample(), 250)
    this.timer.unref()
  }

  sample() {
    const { rss } = memory(this.pid)
    if (Number.isFinite(rss)) {
      this.rssSamples.push(rss)
      if (rss > this.rssMax) this.rssMax = rss
    }
  }

  stop() {
    clearInterval(this.timer)
    this.sample()
    const seconds = (performance.now() - this.t0) / 1000
    const serverCpuS = cpuSeconds(this.pid) - this.server0
    const threads1 = threadCpuSeconds(this.pid)
    const self = process.cpuUsage(this.self0)
    const m1 = machineTicks()
    const machineBusy = (m1.busy - this.machine0.busy) / Math.max(1, m1.total - this.machine0.total)
    const serverCpuPct = (serverCpuS / seconds) * 100
    const clientCpuPct = ((self.user + self.system) / 1e6 / seconds) * 100
    return {
      seconds,
      serverCpuSeconds: serverCpuS,
      // CPU that neither the server nor the generator used: other processes on a shared machine.
      othersCpuPct: Math.max(0, machineBusy * 100 * cpuCount() - serverCpuPct - clientCpuPct),
      serverCpuPct,
      // Threads that exited during the window are missing from the split; the total above has them.
      serverMainThreadCpuPct: ((threads1.main - this.threads0.main) / seconds) * 100,
      serverOtherThreadsCpuPct: ((threads1.others - this.threads0.others) / seconds) * 100,
      clientCpuPct,
      machineBusyPct: machineBusy * 100,
      stealPct: ((m1.steal - this.machine0.steal) / Math.max(1, m1.total - this.machine0.total)) * 100,
      serverRss: this.rssSamples[this.rssSamples.length - 1] ?? NaN,
      serverRssMax: this.rssMax,
    }
  }
}

/** Median of RSS samples over `ms`, to smooth out allocator and GC noise. */
export async function settledRss(pid, ms = 2000, every = 200) {
  /** @type {number[]} */
  const samples = []
  const end = performance.now() + ms
  while (performance.now() < end) {
    samples.push(memory(pid).rss)
    await new Promise((r) => setTimeout(r, every))
  }
  return median(samples.filter(Number.isFinite))
}

/** @param {number[]} values */
export function median(values) {
  if (values.length === 0) return NaN
  const s = [...values].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}
