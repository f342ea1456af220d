/**
 * The data directory `tandem token` and `tandem admin-key` use when none is given. The server uses
 * `./data` of the folder it is started in, normally the project's root; the CLI is often run from a
 * subfolder, where `./data` would be a new, empty directory and a freshly generated secret that the
 * server has never seen. So the CLI walks up from its working directory and stops at the first folder
 * that either holds a `data/` with Tandem's files in it, or is a project's root (a package.json with
 * workspaces, named `tandem`, or depending on `@tandem/server`); that folder's `data/` is the answer.
 * Finding neither, it returns null and the caller refuses to create secrets anywhere.
 */
import { readFileSync, statSync } from 'node:fs'
import path from 'node:path'

/** Files only a Tandem data directory holds (the lock, the SQLite store, generated secrets). */
const SERVER_FILES = ['tandem.lock', 'tandem.db', 'jwt-secret', 'admin-key']
const DATA_DIR_NAME = 'data'

export interface FoundDataDir {
  dir: string
  /** `existing`: a data/ with Tandem files; `project`: the data/ of a project root (may not exist yet). */
  why: 'existing' | 'project'
}

export function findDataDir(cwd: string): FoundDataDir | null {
  let level = path.resolve(cwd)
  for (;;) {
    const candidate = path.join(level, DATA_DIR_NAME)
    if (holdsTandemFiles(candidate)) return { dir: candidate, why: 'existing' }
    if (isProjectRoot(level)) return { dir: candidate, why: 'project' }
    const parent = path.dirname(level)
    if (parent === level) return null
    level = parent
  }
}

function holdsTandemFiles(dir: string): boolean {
  return SERVER_FILES.some((name) => isFile(path.join(dir, name)))
}

function isFile(file: string): boolean {
  try {
    return statSync(file).isFile()
  } catch {
    return false
  }
}

function isProjectRoot(dir: string): boolean {
  let pkg: unknown
  try {
    pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'))
  } catch {
    return false // no package.json, or one that is not JSON: not a root we can recognise
  }
  if (typeof pkg !== 'object' || pkg === null) return false
  const p = pkg as { name?: unknown; workspaces?: unknown; dependencies?: unknown; devDependencies?: unknown }
  if (p.workspaces !== undefined || p.name === 'tandem') return true
  return [p.dependencies, p.devDependencies].some((deps) => typeof deps === 'object' && deps !== null && '@tandem/server' in deps)
}
