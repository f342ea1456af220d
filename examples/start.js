#!/usr/bin/env node
// @ts-check
/**
 * `npm start`: the Tandem server with every demo and the webhook bot, on http://localhost:4321/.
 *
 *   node examples/start.js [--port P] [--host H] [--data-dir D] [--no-bot]
 *
 * Configuration is read like `tandem serve` (TANDEM_* variables, flags win); defaults: port 4321, data in
 * ./data, listening on 127.0.0.1 (set TANDEM_HOST or --host to expose it). SIGINT/SIGTERM drain and exit.
 */
import { parseArgs } from 'node:util'
import { startDemos } from './demo-server.js'

async function main() {
  const { values } = parseArgs({
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      'data-dir': { type: 'string' },
      'no-bot': { type: 'boolean', default: false },
    },
    strict: true,
  })
  const demos = await startDemos({
    overrides: { host: values.host, port: values.port, dataDir: values['data-dir'] },
    bot: !values['no-bot'],
  })
  console.error(`\n  Tandem demos: ${demos.url}\n  (Ctrl+C to stop; the REST admin key is printed by \`npx tandem admin-key\`)\n`)

  let stopping = false
  /** @param {NodeJS.Signals} signal */
  const stop = (signal) => {
    if (stopping) process.exit(1) // second Ctrl+C: do not wait for the drain
    stopping = true
    const deadline = setTimeout(() => {
      console.error('examples/start.js: drain did not finish in time')
      process.exit(1)
    }, demos.config.shutdownTimeoutMs)
    deadline.unref()
    console.error(`\n  ${signal}: draining…`)
    demos.close().then(
      () => process.exit(0),
      (err) => {
        console.error('examples/start.js: drain failed', err)
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}

main().catch((err) => {
  const expected = err instanceof Error && (err.name === 'ConfigError' || err.name === 'UwsLoadError' || err.message.startsWith('could not listen'))
  const message = expected ? err.message : err
  console.error('examples/start.js: failed to start:', message)
  process.exit(1)
})
