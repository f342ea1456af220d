/**
 * The REST admin key: TANDEM_ADMIN_KEY, or a key generated on first run into `<dataDir>/admin-key`
 * (mode 0600), created and checked the same careful way as the JWT secret (see secret-file.ts).
 */
import { loadOrCreateSecretFile } from '../secret-file.js'

/** Name of the generated key inside the data directory. */
export const ADMIN_KEY_FILE_NAME = 'admin-key'

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
  const file = await loadOrCreateSecretFile(dataDir, {
    fileName: ADMIN_KEY_FILE_NAME,
    noun: 'admin key',
    holds: 'the REST admin key',
    envVar: 'TANDEM_ADMIN_KEY',
  })
  return { key: file.text, source: file.created ? 'generated' : 'file', path: file.path }
}
