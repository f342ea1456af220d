/**
 * The REST admin key: TANDEM_ADMIN_KEY, or a key generated on first run and kept where the JWT secret is:
 * `<dataDir>/admin-key` (mode 0600), or on PostgreSQL in the schema, so every instance agrees on it
 * (see secret-file.ts).
 */
import { secretKeeper, type SecretKeeper } from '../secret-file.js'

/** Name of the generated key inside the data directory. */
export const ADMIN_KEY_FILE_NAME = 'admin-key'

export interface AdminKey {
  key: string
  /** Where it came from: the environment, created now, or kept from an earlier run. */
  source: 'config' | 'generated' | 'file'
  /** Where it is kept (a file path, or the database table) when source is not config. */
  path: string | null
}

/** The configured key, else the kept one (created when missing); `secrets` is a data directory or a keeper. */
export async function resolveAdminKey(configured: string | null, secrets: string | SecretKeeper): Promise<AdminKey> {
  if (configured !== null) return { key: configured, source: 'config', path: null }
  const file = await secretKeeper(secrets).loadOrCreate({
    fileName: ADMIN_KEY_FILE_NAME,
    noun: 'admin key',
    holds: 'the REST admin key',
    envVar: 'TANDEM_ADMIN_KEY',
  })
  return { key: file.text, source: file.created ? 'generated' : 'file', path: file.path }
}
