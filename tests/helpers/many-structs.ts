import * as Y from 'yjs'
import { prng } from './prng.js'

/**
 * Four authors' 45-character inserts at random places in text `t`, seeded: over 1 MiB and about 40,000
 * structs encoded, so the server decodes it in one turn and applies it in several slices.
 */
export function manyStructDoc(seed: number): Y.Doc {
  const random = prng(seed)
  const doc = new Y.Doc()
  const text = doc.getText('t')
  for (let i = 0; i < 24_000; i++) {
    doc.clientID = 7_000 + Math.floor(random() * 4)
    text.insert(Math.floor(random() * (text.length + 1)), `${String(i).padStart(6, '0')} lorem ipsum dolor sit amet consec`)
  }
  doc.clientID = 6_999 // further edits of the caller's are its own
  return doc
}
