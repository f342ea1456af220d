import { afterEach, expect, test } from 'vitest'
import { pino } from 'pino'
import { createServer, loadConfig } from '@tandem/server'
import { startServer, tempDir, TEST_SECRET, type RunningServer } from '../helpers/server.js'

let first: RunningServer | null = null
afterEach(async () => {
  await first?.stop()
  first = null
})

test('a second server cannot listen on a port Tandem already holds (no silent SO_REUSEPORT sharing)', async () => {
  first = await startServer({ TANDEM_STORE: 'memory' })
  const { dir, remove } = await tempDir()
  const second = await createServer(
    loadConfig({
      TANDEM_HOST: '127.0.0.1',
      TANDEM_PORT: String(first.port),
      TANDEM_DATA_DIR: dir,
      TANDEM_JWT_SECRET: TEST_SECRET,
      TANDEM_STORE: 'memory',
    }),
    { logger: pino({ level: 'silent' }) },
  )
  try {
    await expect(second.listen()).rejects.toThrow(/could not listen/)
  } finally {
    await second.close()
    await remove()
  }
})
