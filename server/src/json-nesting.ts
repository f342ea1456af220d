/**
 * How deeply JSON text nests, found by scanning it: bodies and awareness states are checked before
 * anything parses or walks them recursively, so a 200,000-deep input costs one linear pass.
 */

/** True when the JSON text opens more than `limit` arrays/objects at once; brackets inside strings do not count. */
export function nestingExceeds(text: string, limit: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++ // backslash: skip the escaped character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) {
      inString = true
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return true
    } else if (c === 0x7d || c === 0x5d) {
      depth--
    }
  }
  return false
}
