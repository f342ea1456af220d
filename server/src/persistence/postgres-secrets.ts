/**
 * Generated secrets (the JWT signing secret, the REST admin key) kept in the PostgreSQL schema instead of
 * the data directory, so every instance and every `tandem token` / `tandem admin-key` run with the same
 * TANDEM_DATABASE_URL and TANDEM_DATABASE_SCHEMA agrees on them. Anyone who can read the schema (or a dump
 * of it) can read them, exactly as anyone who can read the data directory can read the files.
 *
 * The first reader creates a secret with INSERT … ON CONFLICT DO NOTHING and everyone then reads the row
 * back, so instances starting together all end up with the one value that committed first.
 */
import pg from 'pg'
import { isSecretText, newSecretText, type SecretFile, type SecretFileSpec, type SecretKeeper } from '../secret-file.js'
import { PostgresOpenError, clientConfig, describePgError, migrate, quoteSchema, redactUrl, type ConnectOptions } from './postgres-schema.js'

/**
 * A secret keeper over one schema, the spec's fileName naming the row. Each call opens one
 * connection, applies missing migrations (under the migration lock, as a server start does), creates the
 * secret if missing, reads it and closes the connection. Errors are PostgresOpenError naming the setting.
 */
export function postgresSecrets(opts: ConnectOptions & { schema: string }): SecretKeeper {
  return { loadOrCreate: (spec) => loadOrCreatePostgresSecret(opts, spec) }
}

export async function loadOrCreatePostgresSecret(opts: ConnectOptions & { schema: string }, spec: SecretFileSpec): Promise<SecretFile> {
  const s = quoteSchema(opts.schema)
  const where = `table ${opts.schema}.tandem_secrets (name '${spec.fileName}') at ${redactUrl(opts.url)}`
  const client = new pg.Client(clientConfig(opts))
  // An idle client whose socket dies emits 'error'; without a listener that would end the process.
  client.on('error', () => undefined)
  try {
    await client.connect()
  } catch (err) {
    throw new PostgresOpenError('TANDEM_DATABASE_URL', `cannot connect to ${redactUrl(opts.url)}: ${describePgError(err)}`, { cause: err })
  }
  try {
    try {
      await migrate(client, opts.schema)
    } catch (err) {
      if (err instanceof PostgresOpenError) throw err
      throw new PostgresOpenError('TANDEM_DATABASE_SCHEMA', `migrating schema "${opts.schema}" failed: ${describePgError(err)}`, { cause: err })
    }
    let created: boolean
    let text: string | undefined
    try {
      const inserted = await client.query(
        `INSERT INTO ${s}.tandem_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`,
        [spec.fileName, newSecretText(), Date.now()],
      )
      created = inserted.rowCount === 1
      const row = await client.query<{ value: string }>(`SELECT value FROM ${s}.tandem_secrets WHERE name = $1`, [spec.fileName])
      text = row.rows[0]?.value
    } catch (err) {
      throw new PostgresOpenError('TANDEM_DATABASE_URL', `cannot read the ${spec.noun} from ${where}: ${describePgError(err)}`, { cause: err })
    }
    if (text === undefined || !isSecretText(text.trim())) {
      throw new PostgresOpenError(
        'TANDEM_DATABASE_SCHEMA',
        `${where} is not a generated ${spec.noun} (expected at least 43 base64url characters); delete the row to generate a new one or set ${spec.envVar}`,
      )
    }
    return { text: text.trim(), created, path: where }
  } finally {
    await client.end().catch(() => undefined)
  }
}
