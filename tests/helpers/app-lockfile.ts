/**
 * A package-lock.json for a fresh app that installs the packed @tandem tarballs plus a few packages,
 * derived from the workspace's own lock: same versions as CI tested, and `npm ci` needs only what
 * `npm ci` of the workspace already put in the npm cache (npm's `install` would ask the registry for
 * full packuments, which that cache lacks).
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import path from 'node:path'

interface LockEntry {
  version?: string
  resolved?: string
  integrity?: string
  link?: boolean
  optional?: boolean
  dependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
  peerDependenciesMeta?: Record<string, { optional?: boolean }>
  [key: string]: unknown
}

export interface AppTarball {
  /** Package name, e.g. `@tandem/server`. */
  name: string
  /** Workspace folder, e.g. `server`. */
  folder: string
  /** File name in the app directory. */
  file: string
}

/** The workspace package at `location` (lock path) that `name` resolves to from there, as Node would. */
function resolveFrom(packages: Record<string, LockEntry>, location: string, name: string): string | null {
  let dir = location
  for (;;) {
    const candidate = dir === '' ? `node_modules/${name}` : `${dir}/node_modules/${name}`
    if (packages[candidate] !== undefined) return candidate
    if (dir === '') return null
    const cut = dir.lastIndexOf('/node_modules/')
    dir = cut === -1 ? '' : dir.slice(0, cut)
  }
}

async function sha512(file: string): Promise<string> {
  return `sha512-${createHash('sha512').update(await readFile(file)).digest('base64')}`
}

/**
 * Builds the lock of an app depending on `tarballs` and on `extra` (names of workspace packages, at
 * the versions the workspace lock has). Returns the app's package.json and package-lock.json objects.
 */
export async function appLockfile(
  root: string,
  appDir: string,
  tarballs: AppTarball[],
  extra: string[],
): Promise<{ packageJson: object; lock: object }> {
  const workspaceLock = JSON.parse(await readFile(path.join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }
  const ws = workspaceLock.packages
  const byName = new Map(tarballs.map((t) => [t.name, t]))
  const out: Record<string, LockEntry> = {}
  const rootDeps: Record<string, string> = {}

  /** Maps a workspace lock path to the app's: a workspace folder becomes node_modules/<its name>. */
  const appPath = (location: string): string => {
    for (const t of tarballs) {
      if (location === t.folder || location.startsWith(`${t.folder}/`)) return `node_modules/${t.name}${location.slice(t.folder.length)}`
    }
    return location
  }

  const queue: string[] = []
  const add = (location: string): void => {
    const target = appPath(location)
    if (out[target] !== undefined) return
    const entry = ws[location]
    if (entry === undefined) throw new Error(`${location} is not in the workspace lock`)
    // Flags describe the workspace's tree (dev, peer); npm recomputes them for the app. `name` stays: it
    // is what an alias (uWebSockets.js -> @trufflesuite/uws-js-unofficial) installs.
    const { dev: _dev, devOptional: _devOptional, peer: _peer, ...rest } = entry
    out[target] = rest
    queue.push(location)
  }

  for (const t of tarballs) {
    const file = path.join(appDir, t.file)
    const entry = ws[t.folder]
    if (entry === undefined) throw new Error(`workspace ${t.folder} is not in the lock`)
    rootDeps[t.name] = `file:${t.file}`
    const { name: _name, ...rest } = entry
    out[`node_modules/${t.name}`] = { ...rest, resolved: `file:${t.file}`, integrity: await sha512(file) }
    queue.push(t.folder)
  }
  for (const name of extra) {
    const version = ws[`node_modules/${name}`]?.version
    if (version === undefined) throw new Error(`${name} is not a top-level package of the workspace lock`)
    rootDeps[name] = version
    add(`node_modules/${name}`)
  }

  while (queue.length > 0) {
    const location = queue.shift() as string
    const entry = ws[location] as LockEntry
    const wanted: Array<[string, boolean]> = [
      ...Object.keys(entry.dependencies ?? {}).map((n) => [n, false] as [string, boolean]),
      ...Object.keys(entry.optionalDependencies ?? {}).map((n) => [n, true] as [string, boolean]),
      ...Object.keys(entry.peerDependencies ?? {})
        .filter((n) => entry.peerDependenciesMeta?.[n]?.optional !== true)
        .map((n) => [n, false] as [string, boolean]),
    ]
    for (const [name, optional] of wanted) {
      if (byName.has(name)) continue // another tarball: already at node_modules/<name>
      const found = resolveFrom(ws, location, name)
      if (found === null) {
        if (optional) continue // an optional dependency npm skipped on this platform
        throw new Error(`${location} needs ${name}, which the workspace lock does not have`)
      }
      if (ws[found]?.link === true) throw new Error(`${location} needs ${name}, a workspace link the app has no tarball for`)
      add(found)
    }
  }

  const packageJson = { name: 'tandem-package-check', version: '1.0.0', private: true, type: 'module', dependencies: rootDeps }
  const lock = {
    name: packageJson.name,
    version: packageJson.version,
    lockfileVersion: 3,
    requires: true,
    packages: { '': { name: packageJson.name, version: packageJson.version, dependencies: rootDeps }, ...out },
  }
  return { packageJson, lock }
}
