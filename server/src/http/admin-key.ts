/**
 * The REST admin key: TANDEM_ADMIN_KEY, or a key generated on first run into `<dataDir>/admin-key`
 * (mode 0600). Created the same careful way as the JWT secret (auth/keys.ts): written to a temporary
 * file, then hard-linked into place, so concurrent first runs agree on one key and nobody reads a
 * half-written file.
 */
import { randomBytes } from 'node:crypto'
import { link, mkdir, open, rm } from 'node:fs/promises'
import { join } from 'node:path'

/** Name of the generated key inside the data directory. */
export const ADMIN_KEY_FILE_NAME = 'admin-key'

/** 32 random bytes as base64url text, or a longer operator-written value. */
const KEY_TEXT_PATTERN = /^[A-Za-z0-9_-]{43,1024}$/

export interface AdminKey {
  key: string
  /** Where it came from: the environment, a file created now, or a file from an earlier run. */
  source: 'config' | 'generated' | 'file'
  /** The file path when source is not config. */
  path: string | null
}

/** The configured key, else the one in the data directory (created when missing). */
export async function resolveAdminKey(configured: string | null, dataDir: string): Promise<AdminKey> {
  if (configured !== null) return { key: configured, source: 'config', path: null }
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const path = join(dataDir, ADMIN_KEY_FILE_NAME)
  const created = await createKeyFile(path)
  if (created !== null) return { key: created, source: 'generated', path }
  return { key: await readKeyFile(path), source: 'file', path }
}

/** Writes a new key unless the file exists. Returns the key, or null if another run made it first. */
async function createKeyFile(path: string): Promise<string | null> {
  const text = randomBytes(32).toString('base64url')
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`
  await writeNewFile(tmp, text)
  try {
    // link() creates the name only if absent and exposes a complete file.
    await link(tmp, path)
    return text
  } catch (err) {
    if (errorCode(err) === 'EEXIST') return null
    if (!['EPERM', 'ENOTSUP', 'ENOSYS', 'EOPNOTSUPP'].includes(errorCode(err) ?? '')) throw err
    // Filesystem without hard links: exclusive create on the final path.
    try {
      await writeNewFile(path, text)
      return text
    } catch (err2) {
      if (errorCode(err2) === 'EEXIST') return null
      throw err2
    }
  } finally {
    await rm(tmp, { force: true })
  }
}

async function writeNewFile(path: string, text: string): Promise<void> {
  const fh = await open(path, 'wx', 0o600)
  try {
    await fh.writeFile(`${text}\n`)
    await fh.sync()
  } finally {
    await fh.close()
  }
}

async function readKeyFile(path: string): Promise<string> {
  const fh = await open(path, 'r')
  try {
    const st = await fh.stat()
    if (!st.isFile()) throw new Error(`${path} is not a regular file; remove it or set TANDEM_ADMIN_KEY`)
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(3, '0')
      throw new Error(`${path} holds the REST admin key but is accessible to group or others (mode ${mode}); run: chmod 600 ${path}`)
    }
    if (st.size === 0) throw new Error(`${path} is empty; delete it to generate a new admin key or set TANDEM_ADMIN_KEY`)
    if (st.size > 2048) throw new Error(`${path} is not a generated admin key (too large); delete it or set TANDEM_ADMIN_KEY`)
    const text = (await fh.readFile('utf8')).trim()
    if (!KEY_TEXT_PATTERN.test(text)) {
      throw new Error(`${path} is not a generated admin key (expected at least 43 base64url characters); delete it or set TANDEM_ADMIN_KEY`)
    }
    return text
  } finally {
    await fh.close()
  }
}

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined
}
