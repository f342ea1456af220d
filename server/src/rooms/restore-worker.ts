/**
 * A worker thread that computes restore updates (restore.ts): building two scratch documents of a large
 * room and comparing them costs hundreds of milliseconds, which the event loop that serves fan-out must
 * not spend. Both documents come in as transferred buffers; the update goes back the same way.
 */
import { parentPort } from 'node:worker_threads'
import { restoreUpdate } from './restore.js'
import type { RestoreRequest, RestoreResponse } from './restore-thread.js'

const port = parentPort
if (port) {
  port.on('message', (req: RestoreRequest) => {
    let res: RestoreResponse
    try {
      const update = restoreUpdate(new Uint8Array(req.current), new Uint8Array(req.target))
      if (update === null) {
        port.postMessage({ id: req.id, ok: true, update: null } satisfies RestoreResponse)
        return
      }
      // A fresh buffer of exactly the update's bytes, transferred rather than copied.
      const copy = update.slice()
      res = { id: req.id, ok: true, update: copy.buffer }
      port.postMessage(res, [copy.buffer])
    } catch (err) {
      res = { id: req.id, ok: false, message: err instanceof Error ? err.message : String(err) }
      port.postMessage(res)
    }
  })
}
