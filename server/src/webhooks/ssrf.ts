/**
 * Server-side request forgery guard for webhook endpoints. Anyone holding the admin key can register a
 * URL, and the server then POSTs to it from inside the operator's network, so a registered URL must not
 * reach loopback, private, link-local or otherwise special addresses (cloud metadata at 169.254.169.254,
 * an admin port on 127.0.0.1, a database on 10.x).
 *
 * The check resolves the host once, refuses the destination if ANY resolved address is special, and
 * returns the vetted address; the transport then connects to exactly that address through a pinned
 * `lookup`, so a DNS answer that changes between check and connect (rebinding) cannot slip through.
 * It runs at registration and again before every delivery attempt.
 */
import { lookup as dnsLookup } from 'node:dns/promises'
import { isIP, type LookupFunction } from 'node:net'

export interface ResolvedAddress {
  readonly address: string
  readonly family: 4 | 6
}

/** Resolves a hostname (never an IP literal) to every address it has. Injected in tests. */
export type Resolver = (hostname: string) => Promise<readonly ResolvedAddress[]>

export const systemResolver: Resolver = async (hostname) => {
  const found = await dnsLookup(hostname, { all: true, verbatim: true })
  return found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }))
}

/** Why an address is not a public unicast destination. */
export type AddressClass =
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'unique-local'
  | 'cgnat'
  | 'multicast'
  | 'unspecified'
  | 'broadcast'
  | 'reserved'
  | 'invalid'

/** A URL or destination the guard refused; `reason` is safe to show to the API caller. */
export class DestinationError extends Error {
  constructor(readonly reason: string) {
    super(reason)
    this.name = 'DestinationError'
  }
}

/** Where one attempt connects: the URL as registered, plus the address that was checked. */
export interface Destination {
  readonly url: URL
  /** URL hostname without IPv6 brackets: the TLS server name and Host header. */
  readonly hostname: string
  readonly address: string
  readonly family: 4 | 6
}

export const MAX_URL_LENGTH = 2048

/**
 * Parses and checks the URL's shape: http(s) only, no credentials, a host. Numeric IPv4 forms such as
 * `http://2130706433/` or `http://0x7f.1/` come out of the WHATWG parser as dotted quads, so the address
 * check sees `127.0.0.1`. Throws DestinationError.
 */
export function parseEndpointUrl(raw: string): URL {
  if (raw.length > MAX_URL_LENGTH) throw new DestinationError(`url is longer than ${MAX_URL_LENGTH} characters`)
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new DestinationError('url is not a valid absolute URL')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new DestinationError(`url scheme ${url.protocol} is not allowed (use http or https)`)
  if (url.username !== '' || url.password !== '') throw new DestinationError('url must not contain credentials')
  if (url.hostname === '') throw new DestinationError('url has no host')
  return url
}

/**
 * Resolves the URL's host once and returns the address to connect to. With `checkAddresses`, every
 * resolved address must be public unicast; one special address refuses the whole destination (a
 * hostname with a public and a private A record would otherwise be a coin toss).
 */
export async function resolveDestination(
  url: URL,
  opts: { checkAddresses: boolean; resolver: Resolver; signal?: AbortSignal },
): Promise<Destination> {
  const hostname = stripBrackets(url.hostname)
  const literal = isIP(hostname)
  let addresses: readonly ResolvedAddress[]
  if (literal !== 0) {
    addresses = [{ address: hostname, family: literal === 6 ? 6 : 4 }]
  } else {
    try {
      addresses = await abortable(opts.resolver(hostname), opts.signal)
    } catch (err) {
      if (opts.signal?.aborted) throw err
      throw new DestinationError(`could not resolve ${hostname}: ${errorCode(err)}`)
    }
  }
  const first = addresses[0]
  if (first === undefined) throw new DestinationError(`${hostname} resolved to no address`)
  if (opts.checkAddresses) {
    for (const { address } of addresses) {
      const cls = classifyAddress(address)
      if (cls !== null) throw new DestinationError(`${hostname} resolves to ${address}, a ${cls} address; webhooks only go to public addresses`)
    }
  }
  return { url, hostname, address: first.address, family: first.family }
}

/**
 * A `lookup` for http.request/net.connect that answers with the vetted address only, whatever the
 * hostname. Node 20 asks with `all: true` when it races address families (autoSelectFamily).
 */
export function pinnedLookup(address: string, family: 4 | 6): LookupFunction {
  return (_hostname, options, callback) => {
    if (options.all === true) {
      ;(callback as (err: null, addresses: { address: string; family: number }[]) => void)(null, [{ address, family }])
    } else {
      callback(null, address, family)
    }
  }
}

/** null for a public unicast address; otherwise the class that makes it off limits. */
export function classifyAddress(address: string): AddressClass | null {
  const text = stripBrackets(address)
  const v4 = parseIPv4(text)
  if (v4 !== null) return classifyIPv4(v4)
  const v6 = parseIPv6(text)
  if (v6 !== null) return classifyIPv6(v6)
  return 'invalid'
}

// ---- IPv4 -------------------------------------------------------------------------------------------

type V4Range = readonly [base: string, prefix: number, cls: AddressClass]

// Order matters: the first match wins (broadcast before 240/4).
const V4_RANGES: readonly V4Range[] = [
  ['255.255.255.255', 32, 'broadcast'],
  ['0.0.0.0', 8, 'unspecified'], // "this network"; 0.0.0.0 itself reaches the local host on Linux
  ['127.0.0.0', 8, 'loopback'],
  ['10.0.0.0', 8, 'private'],
  ['172.16.0.0', 12, 'private'],
  ['192.168.0.0', 16, 'private'],
  ['100.64.0.0', 10, 'cgnat'],
  ['169.254.0.0', 16, 'link-local'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
  ['192.0.0.0', 24, 'reserved'], // IETF protocol assignments
  ['192.0.2.0', 24, 'reserved'], // TEST-NET-1
  ['192.88.99.0', 24, 'reserved'], // 6to4 relay anycast (deprecated)
  ['198.18.0.0', 15, 'reserved'], // benchmarking
  ['198.51.100.0', 24, 'reserved'], // TEST-NET-2
  ['203.0.113.0', 24, 'reserved'], // TEST-NET-3
]

const V4_TABLE = V4_RANGES.map(([base, prefix, cls]) => {
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
  return { net: (parseIPv4(base)! & mask) >>> 0, mask, cls }
})

function classifyIPv4(value: number): AddressClass | null {
  for (const { net, mask, cls } of V4_TABLE) if (((value & mask) >>> 0) === net) return cls
  return null
}

/** Strict dotted-quad decimal (what resolvers and the URL parser produce); null otherwise. */
function parseIPv4(text: string): number | null {
  const parts = text.split('.')
  if (parts.length !== 4) return null
  let value = 0
  for (const part of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(part)) return null
    const n = Number(part)
    if (n > 255) return null
    value = value * 256 + n
  }
  return value
}

// ---- IPv6 -------------------------------------------------------------------------------------------

/** Eight 16-bit groups, or null. Accepts `::` compression and a trailing dotted quad; refuses zone ids. */
function parseIPv6(text: string): number[] | null {
  if (text.includes('%') || !text.includes(':')) return null
  let tail: number[] = []
  let head = text
  const lastColon = text.lastIndexOf(':')
  const lastPart = text.slice(lastColon + 1)
  if (lastPart.includes('.')) {
    const v4 = parseIPv4(lastPart)
    if (v4 === null) return null
    tail = [Math.floor(v4 / 65536), v4 % 65536]
    head = text.slice(0, lastColon + 1)
    // "::1.2.3.4" leaves "::", "ffff::1.2.3.4" leaves "ffff::", "a:b:c:d:e:f:1.2.3.4" leaves "a:…:f:".
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1)
  }
  const halves = head.split('::')
  if (halves.length > 2) return null
  const parseGroups = (s: string): number[] | null => {
    if (s === '') return []
    const groups: number[] = []
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null
      groups.push(parseInt(g, 16))
    }
    return groups
  }
  const left = parseGroups(halves[0] ?? '')
  const right = halves.length === 2 ? parseGroups(halves[1] ?? '') : []
  if (left === null || right === null) return null
  const explicit = left.length + right.length + tail.length
  if (halves.length === 2) {
    if (explicit > 7) return null
    return [...left, ...new Array<number>(8 - explicit).fill(0), ...right, ...tail]
  }
  if (explicit !== 8) return null
  return [...left, ...tail]
}

function classifyIPv6(g: number[]): AddressClass | null {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g
  const embedded = (g6 * 65536 + g7) >>> 0
  const upperZero = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0
  if (upperZero && g4 === 0 && g5 === 0) {
    if (g6 === 0 && g7 === 0) return 'unspecified'
    if (g6 === 0 && g7 === 1) return 'loopback'
    // IPv4-compatible (::a.b.c.d), deprecated: never a legitimate destination.
    return classifyIPv4(embedded) ?? 'reserved'
  }
  // IPv4-mapped (::ffff:a.b.c.d): the socket really talks IPv4 to the embedded address.
  if (upperZero && g4 === 0 && g5 === 0xffff) return classifyIPv4(embedded)
  // IPv4-translated (::ffff:0:a.b.c.d, SIIT).
  if (upperZero && g4 === 0xffff && g5 === 0) return classifyIPv4(embedded) ?? 'reserved'
  // NAT64 well-known prefix 64:ff9b::/96: a translator forwards to the embedded IPv4 address.
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return classifyIPv4(embedded)
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 1) return 'reserved' // local-use NAT64 (64:ff9b:1::/48)
  if (g0 === 0x100 && g1 === 0 && g2 === 0 && g3 === 0) return 'reserved' // discard-only 100::/64
  if ((g0 & 0xff00) === 0xff00) return 'multicast'
  if ((g0 & 0xffc0) === 0xfe80) return 'link-local'
  if ((g0 & 0xffc0) === 0xfec0) return 'reserved' // site-local, deprecated
  if ((g0 & 0xfe00) === 0xfc00) return 'unique-local'
  // 6to4 (2002:a.b.c.d::/48) routes to the embedded IPv4 address.
  if (g0 === 0x2002) return classifyIPv4((g1 * 65536 + g2) >>> 0)
  if (g0 === 0x2001 && g1 < 0x0200) return 'reserved' // IETF protocol assignments: Teredo, ORCHID, …
  if (g0 === 0x2001 && g1 === 0x0db8) return 'reserved' // documentation
  if (g0 === 0x3fff && g1 < 0x1000) return 'reserved' // documentation (3fff::/20)
  // Everything outside global unicast 2000::/3 is unassigned or special.
  if ((g0 & 0xe000) !== 0x2000) return 'reserved'
  return null
}

// ---- helpers ----------------------------------------------------------------------------------------

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
}

function errorCode(err: unknown): string {
  if (err !== null && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code
  return err instanceof Error ? err.message : String(err)
}

/** Stops waiting for `promise` when `signal` aborts (the work itself may continue in the background). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(err)
      },
    )
  })
}
