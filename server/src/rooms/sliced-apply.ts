/**
 * Applying one large update as a series of smaller ones, one per event-loop turn, so a 30 MB upload
 * does not hold the server for the whole of `Y.applyUpdate` (its cost grows with the number of structs:
 * about 0.5 s for 257,000 on a 2-core VM, in slices of 8,192 about 20 ms each).
 *
 * A slice is a complete Yjs update: for each client a run of structs continuing where the previous
 * slice stopped, closed under dependencies (every origin, right origin and parent the update itself
 * provides is in this slice or an earlier one), so each slice integrates completely and in order. The
 * delete set travels with the last slice. Integration in YATA does not depend on the order structs
 * arrive in, as long as each arrives after what it depends on: the document ends the same.
 *
 * Slices are applied with Yjs's merging of neighbouring items turned off. At the end of every
 * transaction Yjs merges adjacent items of one client with consecutive clocks; between two slices the
 * pieces of a paragraph that a later slice's item splits are adjacent, so they would be merged and then
 * split again, each time splicing the client's struct array (three times the CPU of one apply). Applied
 * in one piece they are never adjacent, so the sliced document ends with exactly the structs the whole
 * update would have given. This relies on `Item.prototype.mergeWith`, which Yjs calls for every merge;
 * the unit test that compares the two ways catches a Yjs release that changes it.
 */
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import type { DecodedStruct, DecodedUpdate } from './update-check.js'

/** Structs per slice, the unit of integration cost (a string item costs about the same whatever its length). */
export const SLICE_STRUCTS = 8_192

type DeleteSet = DecodedUpdate['ds']

/** One client's run in a slice: `structs[from..to)` of its clock-ordered list. */
interface Run {
  readonly client: number
  readonly structs: readonly DecodedStruct[]
  readonly from: number
  readonly to: number
}

export interface SlicePlan {
  readonly slices: readonly (readonly Run[])[]
  readonly ds: DeleteSet
  readonly structCount: number
}

/**
 * Cuts the decoded update into dependency-closed slices of about SLICE_STRUCTS structs, or null when it
 * is too small to be worth it or holds gaps (Skip structs: content the sender left out, which would
 * leave what follows waiting).
 */
export function planSlices(decoded: DecodedUpdate): SlicePlan | null {
  const { structs } = decoded
  const sliceCount = Math.ceil(structs.length / SLICE_STRUCTS)
  if (sliceCount < 2) return null
  const clientIndex = new Map<number, number>()
  const lists: DecodedStruct[][] = []
  const clients: number[] = []
  for (const struct of structs) {
    if (struct instanceof Y.Skip) return null
    const { client } = struct.id
    let index = clientIndex.get(client)
    if (index === undefined) {
      index = lists.length
      clientIndex.set(client, index)
      lists.push([])
      clients.push(client)
    }
    ;(lists[index] as DecodedStruct[]).push(struct)
  }
  // cut[i]: how many of client i's structs the slices so far include; scanned[i]: how many of those had
  // their dependencies pulled in.
  const cut = lists.map(() => 0)
  const scanned = lists.map(() => 0)
  const require = (id: Y.ID | null): void => {
    if (id === null) return
    const index = clientIndex.get(id.client)
    if (index === undefined) return // held by the doc already
    // Below the update's first clock for that client: the doc holds it (a diff, e.g. a resync, starts
    // where the doc stops). Past its last: nobody sent it, and the room does not slice what would wait.
    const position = indexHolding(lists[index] as DecodedStruct[], id.clock)
    if (position >= (cut[index] as number)) cut[index] = position + 1
  }
  const slices: Run[][] = []
  for (let k = 1; k <= sliceCount; k++) {
    const before = cut.slice()
    for (let i = 0; i < lists.length; i++) cut[i] = Math.max(cut[i] as number, Math.ceil(((lists[i] as DecodedStruct[]).length * k) / sliceCount))
    for (let changed = true; changed; ) {
      changed = false
      for (let i = 0; i < lists.length; i++) {
        const list = lists[i] as DecodedStruct[]
        for (let at = scanned[i] as number; at < (cut[i] as number); at++) {
          const struct = list[at]
          if (!(struct instanceof Y.Item)) continue
          require(struct.origin)
          require(struct.rightOrigin)
          if (struct.parent instanceof Y.ID) require(struct.parent)
        }
        if (scanned[i] !== cut[i]) {
          scanned[i] = cut[i] as number
          changed = true
        }
      }
    }
    const runs: Run[] = []
    for (let i = 0; i < lists.length; i++) {
      const from = before[i] as number
      const to = cut[i] as number
      if (to > from) runs.push({ client: clients[i] as number, structs: lists[i] as DecodedStruct[], from, to })
    }
    if (runs.length > 0) slices.push(runs)
  }
  return { slices, ds: decoded.ds, structCount: structs.length }
}

/** Index of the struct covering `clock` in a clock-ordered, gapless list; -1 if none does. */
function indexHolding(list: readonly DecodedStruct[], clock: number): number {
  let lo = 0
  let hi = list.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const struct = list[mid] as DecodedStruct
    if (clock < struct.id.clock) hi = mid - 1
    else if (clock >= struct.id.clock + struct.length) lo = mid + 1
    else return mid
  }
  return -1
}

/** Slice `index` of the plan as a Yjs v1 update; the last one carries the delete set. */
export function encodeSlice(plan: SlicePlan, index: number): Uint8Array {
  const runs = plan.slices[index]
  if (runs === undefined) throw new RangeError(`no slice ${index}`)
  const encoder = new Y.UpdateEncoderV1()
  encoding.writeVarUint(encoder.restEncoder, runs.length)
  for (const { client, structs, from, to } of runs) {
    encoding.writeVarUint(encoder.restEncoder, to - from)
    encoder.writeClient(client)
    encoding.writeVarUint(encoder.restEncoder, (structs[from] as DecodedStruct).id.clock)
    for (let i = from; i < to; i++) (structs[i] as DecodedStruct).write(encoder, 0)
  }
  const deletions = index === plan.slices.length - 1 ? [...plan.ds.clients] : []
  encoding.writeVarUint(encoder.restEncoder, deletions.length)
  for (const [client, ranges] of deletions) {
    encoder.resetDsCurVal()
    encoding.writeVarUint(encoder.restEncoder, client)
    encoding.writeVarUint(encoder.restEncoder, ranges.length)
    for (const range of ranges) {
      encoder.writeDsClock(range.clock)
      encoder.writeDsLen(range.len)
    }
  }
  return encoder.toUint8Array()
}

/** The clock each client's run in slice `index` starts at: what the doc must hold for it to integrate in order. */
export function sliceStarts(plan: SlicePlan, index: number): Map<number, number> {
  const starts = new Map<number, number>()
  for (const { client, structs, from } of plan.slices[index] ?? []) starts.set(client, (structs[from] as DecodedStruct).id.clock)
  return starts
}

/** Runs `apply` (one synchronous Yjs transaction) with the merging of neighbouring items turned off. */
export function withoutMerging(apply: () => void): void {
  const proto = Y.Item.prototype
  const mergeWith = Object.getOwnPropertyDescriptor(proto, 'mergeWith')
  if (mergeWith === undefined) throw new Error('Y.Item.prototype.mergeWith is gone: this Yjs release needs sliced-apply.ts revisited')
  Object.defineProperty(proto, 'mergeWith', { ...mergeWith, value: () => false })
  try {
    apply()
  } finally {
    Object.defineProperty(proto, 'mergeWith', mergeWith)
  }
}
