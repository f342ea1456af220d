/**
 * Pools of real Yjs updates, made ahead of time so the load loop only sends bytes.
 *
 * Each simulated client owns a Y.Doc for the time it takes to generate its pool: it types `K` runs of
 * `L` ASCII characters at the end of a shared Y.Text, and we keep the `update` event's bytes, already
 * framed for the wire. The doc is then dropped; the load loop holds one Buffer per client.
 *
 * Because every insert has the same length, update number `seq` of a client starts at clock `seq * L`:
 * a receiver identifies an update (sender and sequence number) from the first struct's client and clock,
 * which survive the server re-encoding the update (the bytes themselves might not).
 */
import * as Y from 'yjs'
import { updateFrame } from './protocol.js'

/** Y.Doc client ids of simulated clients are CLIENT_BASE + their global index. */
export const CLIENT_BASE = 1_000_000
export const TEXT_NAME = 'bench'

/**
 * @typedef {{ frames: Buffer, offsets: Uint32Array, count: number, updateBytes: number }} Pool
 */

/**
 * @param {number} globalIndex
 * @param {number} count K: number of updates
 * @param {number} length L: characters per insert
 * @param {Uint8Array | null} prefix multiplexed address prefix, or null for the single framing
 * @returns {Pool}
 */
export function generatePool(globalIndex, count, length, prefix) {
  const doc = new Y.Doc({ gc: true })
  doc.clientID = CLIENT_BASE + globalIndex
  const text = doc.getText(TEXT_NAME)
  /** @type {Uint8Array | null} */
  let last = null
  doc.on('update', (update) => {
    last = update
  })
  const offsets = new Uint32Array(count + 1)
  let buf = Buffer.allocUnsafe(Math.max(64, count * (length + 32)))
  let pos = 0
  let updateBytes = 0
  const tag = String.fromCharCode(97 + (globalIndex % 26))
  for (let seq = 0; seq < count; seq++) {
    const body = (seq.toString(36) + tag).padStart(length, tag).slice(-length)
    text.insert(text.length, body)
    const update = /** @type {Uint8Array | null} */ (last)
    if (update === null) throw new Error('Y.Doc emitted no update')
    last = null
    const frame = updateFrame(prefix, update)
    if (pos + frame.length > buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(buf.length * 2, pos + frame.length))
      buf.copy(bigger, 0, 0, pos)
      buf = bigger
    }
    offsets[seq] = pos
    buf.set(frame, pos)
    pos += frame.length
    updateBytes += update.length
  }
  offsets[count] = pos
  doc.destroy()
  buf = buf.subarray(0, pos)
  return { frames: buf, offsets, count, updateBytes: count > 0 ? updateBytes / count : 0 }
}

/**
 * A document of about `bytes` encoded bytes for the join scenario: `authors` simulated authors insert
 * paragraphs at random positions (so structs do not all merge into one), like a long-edited document.
 * @param {number} bytes
 * @param {{ authors?: number, chunk?: number, seed?: number }} [opts]
 */
export function generateLargeDoc(bytes, opts = {}) {
  const authors = opts.authors ?? 8
  const chunk = opts.chunk ?? 200
  let seed = opts.seed ?? 42
  const rand = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed / 0x7fffffff
  }
  const words = ['lorem', 'ipsum', 'dolor', 'sit', 'amet', 'consectetur', 'adipiscing', 'elit', 'sed', 'do', 'eiusmod', 'tempor']
  const doc = new Y.Doc({ gc: true })
  const text = doc.getText(TEXT_NAME)
  // Switching the doc's client id between inserts is how several authors' edits interleave in one doc.
  let size = 0
  let round = 0
  while (size < bytes && round < 100_000) {
    for (let i = 0; i < 50; i++) {
      doc.clientID = 900_000 + Math.floor(rand() * authors)
      let para = ''
      while (para.length < chunk) para += words[Math.floor(rand() * words.length)] + ' '
      text.insert(Math.floor(rand() * (text.length + 1)), para)
    }
    round++
    if (round % 5 === 0) size = Y.encodeStateAsUpdate(doc).length
  }
  const update = Y.encodeStateAsUpdate(doc)
  let structs = 0
  for (const list of doc.store.clients.values()) structs += list.length
  const result = { update, textLength: text.length, structs }
  doc.destroy()
  return result
}
