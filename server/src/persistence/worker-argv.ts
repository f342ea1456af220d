/**
 * The `execArgv` for the server's worker threads. Left to itself, a worker inherits the parent's flags
 * minus those Node refuses in workers (V8 options such as `--max-old-space-size`, per-process ones such
 * as `--title`): that is what the server wants, so the default is `undefined`. The one inherited flag
 * that breaks a worker is `--input-type` (set by `node --input-type=module -e …`, which scripts and
 * tests use): Node then refuses to start a worker from a file. Only then is an explicit list passed,
 * without it (Node checks an explicit list strictly: a V8 option in it still refuses the worker).
 */
export function workerExecArgv(parent: readonly string[]): string[] | undefined {
  if (!parent.some((arg) => arg === '--input-type' || arg.startsWith('--input-type='))) return undefined
  const out: string[] = []
  for (let i = 0; i < parent.length; i++) {
    const arg = parent[i] ?? ''
    if (arg === '--input-type') i++
    else if (!arg.startsWith('--input-type=')) out.push(arg)
  }
  return out
}

