/**
 * Worker threads inherit the parent's flags, and Node refuses to start a worker from a file under
 * `--input-type` (set by `node --input-type=module -e …`, which scripts and tests use). Drop only that one.
 */
export function workerExecArgv(parent: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < parent.length; i++) {
    const arg = parent[i] ?? ''
    if (arg === '--input-type') i++
    else if (!arg.startsWith('--input-type=')) out.push(arg)
  }
  return out
}
