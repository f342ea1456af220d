/**
 * IP addresses and CIDR ranges as plain bytes: parse, match, and turn a client address into the key its
 * connections are counted under. Pure (no node: imports), so config.ts can validate with it.
 *
 * Every address is held as 16 bytes; IPv4 as its IPv4-mapped IPv6 form (::ffff:a.b.c.d), so one
 * listener on `::` and one on `0.0.0.0` count the same client alike.
 */

export interface CidrRange {
  /** 16 bytes, host bits cleared. */
  readonly bytes: Uint8Array
  /** Prefix length over the 16-byte form (an IPv4 /24 is 96 + 24). */
  readonly prefix: number
}

const V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]

/** The 16-byte form of an IPv4 or IPv6 address in text, or null when it is not one. */
export function parseIp(text: string): Uint8Array | null {
  const value = text.trim()
  if (value.includes(':')) return parseIpv6(value)
  const v4 = parseIpv4(value)
  return v4 === null ? null : mapV4(v4)
}

/** An address (`10.0.0.1`) or range (`10.0.0.0/8`, `fd00::/8`); null when malformed. */
export function parseCidr(text: string): CidrRange | null {
  const [addressText, prefixText, extra] = text.trim().split('/')
  if (addressText === undefined || extra !== undefined) return null
  const bytes = parseIp(addressText)
  if (bytes === null) return null
  const isV4 = !addressText.includes(':')
  const max = isV4 ? 32 : 128
  let prefix = max
  if (prefixText !== undefined) {
    if (!/^\d{1,3}$/.test(prefixText)) return null
    prefix = Number(prefixText)
    if (prefix > max) return null
  }
  const full = isV4 ? 96 + prefix : prefix
  return { bytes: maskTo(bytes, full), prefix: full }
}

export function inRange(address: Uint8Array, range: CidrRange): boolean {
  const whole = range.prefix >> 3
  for (let i = 0; i < whole; i++) if (address[i] !== range.bytes[i]) return false
  const rest = range.prefix & 7
  if (rest === 0) return true
  const mask = (0xff << (8 - rest)) & 0xff
  return ((address[whole] ?? 0) & mask) === range.bytes[whole]
}

export function inAnyRange(address: Uint8Array, ranges: readonly CidrRange[]): boolean {
  for (const range of ranges) if (inRange(address, range)) return true
  return false
}

/**
 * The 16-byte form of the raw address uWS reports (4 bytes for IPv4 sockets, 16 for IPv6 ones, empty
 * for anything else), or null.
 */
export function fromRaw(raw: ArrayBuffer): Uint8Array | null {
  const bytes = new Uint8Array(raw)
  if (bytes.length === 4) return mapV4(bytes)
  if (bytes.length === 16) return new Uint8Array(bytes)
  return null
}

/**
 * The key a client's connections are counted under: its IPv4 address, or its IPv6 /64 (one site or
 * household usually holds a whole /64, so counting single IPv6 addresses would cap nothing).
 */
export function addressKey(address: Uint8Array): string {
  if (isV4Mapped(address)) return `${address[12]}.${address[13]}.${address[14]}.${address[15]}`
  const groups: string[] = []
  for (let i = 0; i < 8; i += 2) groups.push((((address[i] ?? 0) << 8) | (address[i + 1] ?? 0)).toString(16))
  return `${groups.join(':')}::/64`
}

function isV4Mapped(address: Uint8Array): boolean {
  for (let i = 0; i < 12; i++) if (address[i] !== V4_MAPPED_PREFIX[i]) return false
  return true
}

function mapV4(v4: Uint8Array): Uint8Array {
  const out = new Uint8Array(16)
  out.set(V4_MAPPED_PREFIX)
  out.set(v4, 12)
  return out
}

function maskTo(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = new Uint8Array(16)
  for (let i = 0; i < 16; i++) {
    const bits = Math.max(0, Math.min(8, prefix - i * 8))
    out[i] = (bytes[i] ?? 0) & ((0xff << (8 - bits)) & 0xff)
  }
  return out
}

function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split('.')
  if (parts.length !== 4) return null
  const out = new Uint8Array(4)
  for (let i = 0; i < 4; i++) {
    const part = parts[i] ?? ''
    // No leading zeros: `010` is octal to some parsers and decimal to others.
    if (!/^(0|[1-9]\d{0,2})$/.test(part)) return null
    const n = Number(part)
    if (n > 255) return null
    out[i] = n
  }
  return out
}

function parseIpv6(text: string): Uint8Array | null {
  // A zone (`fe80::1%eth0`) names an interface of this host; it is not part of the address.
  const value = text.split('%')[0] ?? ''
  if (value.length > 45) return null
  const halves = value.split('::')
  if (halves.length > 2) return null
  const head = halves[0] === '' ? [] : (halves[0] ?? '').split(':')
  const tail = halves.length === 2 ? (halves[1] === '' ? [] : (halves[1] ?? '').split(':')) : []
  const groups: number[] = []
  const pushGroups = (parts: string[], into: number[]): boolean => {
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] ?? ''
      if (i === parts.length - 1 && part.includes('.')) {
        const v4 = parseIpv4(part)
        if (v4 === null) return false
        into.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0))
        continue
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return false
      into.push(parseInt(part, 16))
    }
    return true
  }
  const tailGroups: number[] = []
  if (!pushGroups(head, groups) || !pushGroups(tail, tailGroups)) return null
  // An embedded IPv4 part is only allowed last.
  if (head.slice(0, -1).some((p) => p.includes('.')) || (halves.length === 2 && head.some((p) => p.includes('.')))) return null
  const missing = 8 - groups.length - tailGroups.length
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null
  const all = [...groups, ...new Array<number>(missing).fill(0), ...tailGroups]
  const out = new Uint8Array(16)
  all.forEach((g, i) => {
    out[i * 2] = g >> 8
    out[i * 2 + 1] = g & 0xff
  })
  return out
}
