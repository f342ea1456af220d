/**
 * A worker thread that runs the CPU-heavy part of compaction (replaying a room's rows, compaction.ts) for
 * adapters whose driver is asynchronous (Postgres): the rows come in packed into one buffer, the plan
 * goes back the same way, and the event loop that serves fan-out never replays a document.
 */
import { parentPort } from 'node:worker_threads'
import { planCompaction } from './compaction.js'
import type { PlanRequest, PlanResponse } from './compaction-thread.js'

function unpack(packed: ArrayBuffer, lengths: readonly number[]): Uint8Array[] {
  const rows: Uint8Array[] = []
  let offset = 0
  for (const len of lengths) {
    rows.push(new Uint8Array(packed, offset, len))
    offset += len
  }
  return rows
}

function pack(rows: readonly Uint8Array[]): { packed: ArrayBuffer; lengths: number[] } {
  let total = 0
  for (const row of rows) total += row.byteLength
  const out = new Uint8Array(total)
  const lengths: number[] = []
  let offset = 0
  for (const row of rows) {
    out.set(row, offset)
    offset += row.byteLength
    lengths.push(row.byteLength)
  }
  return { packed: out.buffer, lengths }
}

const port = parentPort
if (port) {
  port.on('message', (req: PlanRequest) => {
    let res: PlanResponse
    try {
      const plan = planCompaction(unpack(req.packed, req.lengths))
      const { packed, lengths } = pack(plan.rows)
      res = { id: req.id, ok: true, outcome: plan.outcome, packed, lengths, ...(plan.reason !== undefined && { reason: plan.reason }) }
      port.postMessage(res, [packed])
    } catch (err) {
      res = { id: req.id, ok: false, message: err instanceof Error ? err.message : String(err) }
      port.postMessage(res)
    }
  })
}
