/**
 * One server per data directory. Two servers on one directory would serve different documents for one
 * room and rewrite each other's settings (the configured webhook endpoint, generated secrets), so the
 * server takes an exclusive lock on the directory before it reads or changes anything in it.
 *
 * The lock is SQLite's own: a small database file held in an exclusive transaction for the life of the
 * server. SQLite locks with POSIX advisory locks, which the kernel drops when the process dies, so a
 * crashed server (SIGKILL, OOM, power loss) never leaves a stale lock behind, whatever PID the next one
 * gets. A plain-text `tandem.pid` beside it only names the holder in the error message.
 */
import { mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { ConfigError } from './config.js'

const LOCK_FILE = 'tandem.lock'
const PID_FILE = 'tandem.pid'

export interface DataDirLock {
  /** Releases the lock (idempotent). */
  release(): void
}

/**
 * Creates the directory if needed and locks it; throws a ConfigError naming `setting` when the directory
 * cannot be used or another server holds it.
 */
export function lockDataDir(dir: string, setting = 'TANDEM_DATA_DIR'): DataDirLock {
  try {
    mkdirSync(dir, { recursive: true })
  } catch (err) {
    throw new ConfigError(setting, `cannot use ${dir} as the data directory: ${describe(err)}`)
  }
  let db: Database.Database
  try {
    db = new Database(path.join(dir, LOCK_FILE), { timeout: 0 })
  } catch (err) {
    throw new ConfigError(setting, `cannot use ${dir} as the data directory: ${describe(err)}`)
  }
  try {
    db.pragma('locking_mode = EXCLUSIVE')
    db.exec('BEGIN EXCLUSIVE')
  } catch (err) {
    db.close()
    if (isBusy(err)) {
      const holder = holderPid(dir)
      throw new ConfigError(setting, `${dir} is in use by another Tandem server${holder === null ? '' : ` (pid ${holder})`}; stop it, or give this one its own data directory`)
    }
    throw new ConfigError(setting, `cannot lock the data directory ${dir}: ${describe(err)}`)
  }
  const pidFile = path.join(dir, PID_FILE)
  try {
    writeFileSync(pidFile, `${process.pid}\n`)
  } catch {
    // Only the error message of a second server would miss it.
  }
  let held = true
  return {
    release() {
      if (!held) return
      held = false
      rmSync(pidFile, { force: true })
      try {
        db.exec('ROLLBACK')
      } finally {
        db.close()
      }
    },
  }
}

function holderPid(dir: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(path.join(dir, PID_FILE), 'utf8'), 10)
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null
  } catch {
    return null
  }
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown }).code
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED'
}

function describe(err: unknown): string {
  const code = (err as { code?: unknown }).code
  if (code === 'EEXIST' || code === 'ENOTDIR') return 'it is a file, not a directory'
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied'
  if (code === 'EROFS') return 'the file system is read-only'
  if (code === 'SQLITE_CANTOPEN') return 'cannot create files in it (permission denied, or not a directory)'
  return err instanceof Error ? err.message : String(err)
}
