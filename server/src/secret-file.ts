/**
 * Secrets Tandem generates on first run and keeps in the data directory (the JWT signing secret, the
 * REST admin key): 32 random bytes as base64url text, mode 0600. Written to a temporary file and then
 * hard-linked into place, so concurrent first runs agree on one value and nobody reads a half-written
 * file; an existing file is refused when it is group/world-accessible, empty or not such a value.
 */
import { randomBytes } from 'node:crypto'
import { link, mkdir, open, rm } from 'node:fs/promises'
import { join } from 'node:path'

/** 32 random bytes as base64url (43 characters), or a longer operator-written value. */
const SECRET_TEXT_PATTERN = /^[A-Za-z0-9_-]{43,1024}$/

export interface SecretFileSpec {
  /** File name inside the data directory. */
  fileName: string
  /** What it is, for messages: "secret", "admin key". */
  noun: string
  /** What it protects, for the permission message: "the token signing secret". */
  holds: string
  /** The variable that replaces the file, for messages. */
  envVar: string
  /** What regenerating it breaks, for the empty-file message. */
  regenerateNote?: string
}

export interface SecretFile {
  text: string
  /** True when this call created it. */
  created: boolean
  /** Where it is kept: the file's path, or the database table that holds it. */
  path: string
}

/**
 * Where generated secrets are kept: the data directory (one process, SQLite), or the PostgreSQL schema,
 * so that every instance and every CLI run on one database agrees on them (persistence/postgres-secrets.ts).
 */
export interface SecretKeeper {
  /** The secret named by `spec.fileName`, created on first use. `path` says where it is kept, for messages. */
  loadOrCreate(spec: SecretFileSpec): Promise<SecretFile>
}

/** Keeps secrets as files in `dataDir` (see loadOrCreateSecretFile). */
export function dataDirSecrets(dataDir: string): SecretKeeper {
  return { loadOrCreate: (spec) => loadOrCreateSecretFile(dataDir, spec) }
}

/** A keeper as given: a data directory path, or a keeper. */
export function secretKeeper(from: string | SecretKeeper): SecretKeeper {
  return typeof from === 'string' ? dataDirSecrets(from) : from
}

/** True for text a generated secret may be (also checked for secrets read back from a database). */
export function isSecretText(text: string): boolean {
  return SECRET_TEXT_PATTERN.test(text)
}

/** A new secret: 32 random bytes as base64url text. */
export function newSecretText(): string {
  return randomBytes(32).toString('base64url')
}

/** Reads the secret file in `dataDir`, creating it (and the directory, mode 0700) on first run. */
export async function loadOrCreateSecretFile(dataDir: string, spec: SecretFileSpec): Promise<SecretFile> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const path = join(dataDir, spec.fileName)
  const created = await createSecretFile(path)
  if (created !== null) return { text: created, created: true, path }
  return { text: await readSecretFile(path, spec), created: false, path }
}

/** Writes a new secret unless the file exists. Returns the text, or null if another run made it first. */
async function createSecretFile(path: string): Promise<string | null> {
  const text = newSecretText()
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`
  await writeNewFile(tmp, text)
  try {
    // link() creates the name only if it is absent and exposes a complete file, so a concurrent first run
    // either wins or reads our finished secret; it never sees an empty file.
    await link(tmp, path)
    return text
  } catch (err) {
    if (errorCode(err) === 'EEXIST') return null
    if (!['EPERM', 'ENOTSUP', 'ENOSYS', 'EOPNOTSUPP'].includes(errorCode(err) ?? '')) throw err
    // Filesystem without hard links (FAT, some network mounts): exclusive create on the final path.
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

async function readSecretFile(path: string, spec: SecretFileSpec): Promise<string> {
  const fh = await open(path, 'r')
  try {
    const st = await fh.stat()
    if (!st.isFile()) throw new Error(`${path} is not a regular file; remove it or set ${spec.envVar}`)
    // Windows reports no meaningful permission bits.
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(3, '0')
      throw new Error(`${path} holds ${spec.holds} but is accessible to group or others (mode ${mode}); run: chmod 600 ${path}`)
    }
    const note = spec.regenerateNote === undefined ? '' : ` (${spec.regenerateNote})`
    if (st.size === 0) throw new Error(`${path} is empty; delete it to generate a new ${spec.noun}${note} or set ${spec.envVar}`)
    if (st.size > 2048) throw new Error(`${path} is not a generated ${spec.noun} (too large); delete it or set ${spec.envVar}`)
    const text = (await fh.readFile('utf8')).trim()
    if (!SECRET_TEXT_PATTERN.test(text)) {
      throw new Error(
        `${path} is not a generated ${spec.noun} (expected at least 43 base64url characters); delete it to generate a new one or set ${spec.envVar}`,
      )
    }
    return text
  } finally {
    await fh.close()
  }
}

export function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined
}
