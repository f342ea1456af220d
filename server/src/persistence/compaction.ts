/**
 * How every adapter compacts a room's log: a pure function from the rows read to the rows that replace
 * them. Runs wherever the adapter reads the rows (the SQLite writer thread, the memory store, later
 * Postgres), so it imports nothing but Yjs.
 *
 * `Y.mergeUpdates` is not used: it keeps the first struct it sees for an id, even one that can never
 * integrate (a struct under another client's next clock whose origin never arrives), so a merged log can
 * load a different document than the rows it replaced. Instead the rows are replayed, in order, into a
 * fresh doc, exactly as a room loads them, and the compacted log is what that doc holds:
 *
 * 1. the integrated state (`Y.encodeStateAsUpdate` with the pending content left out), then
 * 2. the content still waiting for its dependencies (pending structs, then pending deletions), each as
 *    its own row *after* the integrated one, and only the part beyond the integrated state vector. So
 *    pending content cannot shadow integrated content: no pending struct shares an id with an integrated
 *    one, and Yjs ignores what a later row repeats of ids the doc already holds.
 *
 * The candidate is then replayed itself and must give the same integrated state (byte for byte, so the
 * same state vector and content) and the same pending content as the original rows; when it does not, or
 * when a row does not replay at all, the original rows are kept.
 */
import * as Y from 'yjs'
import { integrateUnblockedPending } from '../pending-structs.js'
import type { CompactionResult } from './store.js'

export type CompactionOutcome = 'compacted' | 'nothing' | 'kept'

export interface CompactionPlan {
  /**
   * `compacted`: replace the rows read with `rows`. `nothing`: fewer than two rows, or the log already
   * is in compacted form. `kept`: the candidate would not rebuild the same document; leave the rows alone.
   */
  readonly outcome: CompactionOutcome
  /** The rows that replace the rows read, in order; empty unless `compacted`. */
  readonly rows: readonly Uint8Array[]
  /** Why the rows were kept (for the error log line); absent otherwise. */
  readonly reason?: string
}

/** What replaying a log gives: the integrated state and the content still pending, as stored rows (V1). */
export interface ReplayedLog {
  /** `Y.encodeStateAsUpdate` of the integrated content only. */
  readonly integrated: Uint8Array
  readonly stateVector: Uint8Array
  /** Pending structs (V1 update), or null. */
  readonly pendingStructs: Uint8Array | null
  /** Pending deletions (V1 update without structs), or null. */
  readonly pendingDeletes: Uint8Array | null
}

/** An update that holds nothing: no structs, an empty delete set. */
const EMPTY_UPDATE = Uint8Array.of(0, 0)

/**
 * Replays `rows` in order into a fresh `Y.Doc({ gc: true })`, the way a room loads its log (one
 * transaction, each row applied in turn). Throws when a row does not apply.
 */
export function replayLog(rows: readonly Uint8Array[]): ReplayedLog {
  const doc = new Y.Doc({ gc: true })
  try {
    doc.transact((tr) => {
      for (const row of rows) Y.applyUpdate(doc, row)
      integrateUnblockedPending(tr)
    })
    const { store } = doc
    const pendingStructs = store.pendingStructs?.update ?? null
    const pendingDs = store.pendingDs
    // encodeStateAsUpdate appends pending content with Y.mergeUpdates (which keeps the first struct it
    // sees for an id): leave it out here and keep it apart. The doc is ours and dies below.
    store.pendingStructs = null
    store.pendingDs = null
    const stateVector = Y.encodeStateVector(doc)
    return {
      integrated: Y.encodeStateAsUpdate(doc),
      stateVector,
      // Yjs keeps pending content in the V2 format; rows are V1. Pending structs under ids the doc already
      // holds can never integrate (Yjs drops them on its next retry, or keeps them waiting for an origin
      // that, once it comes, still finds the id taken), so only what lies beyond the state vector is kept:
      // how long Yjs happens to carry such dead structs around must not decide whether two logs match.
      pendingStructs: pendingStructs === null ? null : nonEmpty(Y.diffUpdate(Y.convertUpdateFormatV2ToV1(pendingStructs), stateVector)),
      pendingDeletes: pendingDs === null ? null : nonEmpty(Y.convertUpdateFormatV2ToV1(pendingDs)),
    }
  } finally {
    doc.destroy()
  }
}

/** The rows a replayed log is stored as: integrated state first, then pending structs, then pending deletions. */
export function rowsOf(log: ReplayedLog): Uint8Array[] {
  const pending = [log.pendingStructs, log.pendingDeletes].filter((u): u is Uint8Array => u !== null)
  // A log that is all pending needs no empty integrated row in front of it.
  if (pending.length > 0 && bytesEqual(log.integrated, EMPTY_UPDATE)) return pending
  return [log.integrated, ...pending]
}

/** Decides how to compact `rows` (see the module comment). Never throws. */
export function planCompaction(rows: readonly Uint8Array[]): CompactionPlan {
  if (rows.length < 2) return NOTHING
  let original: ReplayedLog
  try {
    original = replayLog(rows)
  } catch (err) {
    return kept(`a stored row does not replay: ${messageOf(err)}`)
  }
  const candidate = rowsOf(original)
  if (candidate.length === rows.length && candidate.every((row, i) => bytesEqual(row, rows[i] as Uint8Array))) return NOTHING
  let difference = check(original, candidate)
  if (difference === null) return { outcome: 'compacted', rows: candidate }
  if (original.pendingStructs !== null) {
    // Yjs does not always re-derive the same pending set from pending content applied in one piece (its
    // dependency walk can drop structs of a chain that spans clients). The pending content as it arrived,
    // row by row, minus everything already integrated, reproduces how it came to be pending.
    const asArrived = [original.integrated]
    for (const row of rows) {
      const rest = nonEmpty(Y.diffUpdate(row, original.stateVector))
      if (rest !== null) asArrived.push(rest)
    }
    if (asArrived.length < rows.length) {
      difference = check(original, asArrived)
      if (difference === null) return { outcome: 'compacted', rows: asArrived }
    }
  }
  return kept(`the compacted rows would change the document: ${difference}`)
}

/** Null when `candidate` replays to the same document as `original`; else what differs. */
function check(original: ReplayedLog, candidate: readonly Uint8Array[]): string | null {
  try {
    return differenceOf(original, replayLog(candidate))
  } catch (err) {
    return `the compacted rows do not replay (${messageOf(err)})`
  }
}

/** Null when both logs hold the same document; else what differs. */
export function differenceOf(a: ReplayedLog, b: ReplayedLog): string | null {
  if (!bytesEqual(a.stateVector, b.stateVector)) return 'state vectors differ'
  if (!bytesEqual(a.integrated, b.integrated)) return 'integrated content differs'
  if (!nullableBytesEqual(a.pendingStructs, b.pendingStructs)) return 'pending structs differ'
  if (!nullableBytesEqual(a.pendingDeletes, b.pendingDeletes)) return 'pending deletions differ'
  return null
}

/** Null for an update that holds nothing. */
function nonEmpty(update: Uint8Array): Uint8Array | null {
  return bytesEqual(update, EMPTY_UPDATE) ? null : update
}

const NOTHING: CompactionPlan = { outcome: 'nothing', rows: [] }

function kept(reason: string): CompactionPlan {
  return { outcome: 'kept', rows: [], reason }
}

function nullableBytesEqual(a: Uint8Array | null, b: Uint8Array | null): boolean {
  return a === null || b === null ? a === b : bytesEqual(a, b)
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** The Store's answer for a plan over `rowsRead` rows. */
export function compactionResult(rowsRead: number, plan: CompactionPlan): CompactionResult {
  const compacted = plan.outcome === 'compacted'
  let bytesAfter = 0
  for (const row of plan.rows) bytesAfter += row.byteLength
  return {
    outcome: plan.outcome,
    rowsRead,
    rowsMerged: compacted ? rowsRead : 0,
    rowsWritten: compacted ? plan.rows.length : 0,
    bytesAfter,
    ...(plan.reason !== undefined && { reason: plan.reason }),
  }
}
