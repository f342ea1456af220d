import { describe, expect, test } from 'vitest'
import {
  classifyAddress,
  DestinationError,
  parseEndpointUrl,
  pinnedLookup,
  resolveDestination,
  type ResolvedAddress,
  type Resolver,
} from '#server/webhooks/ssrf'

/** A resolver that answers from a table and records every name it was asked for. */
function fakeResolver(table: Record<string, readonly ResolvedAddress[]>): Resolver & { asked: string[] } {
  const asked: string[] = []
  const resolver = async (hostname: string): Promise<readonly ResolvedAddress[]> => {
    asked.push(hostname)
    const found = table[hostname]
    if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' })
    return found
  }
  return Object.assign(resolver, { asked })
}

const v4 = (address: string): ResolvedAddress => ({ address, family: 4 })
const v6 = (address: string): ResolvedAddress => ({ address, family: 6 })

describe('classifyAddress', () => {
  test.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['::1', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['febf:ffff::1', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456:789a::1', 'unique-local'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'],
    ['ff05::1:3', 'multicast'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['::', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.0.8', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['198.51.100.7', 'reserved'],
    ['203.0.113.9', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['2001::1', 'reserved'], // Teredo
    ['100::1', 'reserved'], // discard-only
    ['fec0::1', 'reserved'], // site-local
    ['3fff::1', 'reserved'],
    ['64:ff9b:1::a00:1', 'reserved'], // local-use NAT64
    ['4000::1', 'reserved'], // outside 2000::/3
  ])('%s is %s', (address, cls) => {
    expect(classifyAddress(address)).toBe(cls)
  })

  test.each([
    // IPv4-mapped, in both spellings the WHATWG parser and resolvers produce
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['0:0:0:0:0:ffff:7f00:1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:a9fe:a9fe', 'link-local'],
    ['::ffff:192.168.0.1', 'private'],
    // IPv4-compatible (deprecated): refused even when public
    ['::127.0.0.1', 'loopback'],
    ['::7f00:1', 'loopback'],
    ['::8.8.8.8', 'reserved'],
    // IPv4-translated
    ['::ffff:0:127.0.0.1', 'loopback'],
    // NAT64 of private addresses
    ['64:ff9b::127.0.0.1', 'loopback'],
    ['64:ff9b::a00:1', 'private'],
    ['64:ff9b::169.254.169.254', 'link-local'],
    // 6to4 of private addresses
    ['2002:7f00:1::1', 'loopback'],
    ['2002:c0a8:101::', 'private'],
    ['[::1]', 'loopback'],
  ])('embedded IPv4 %s is %s', (address, cls) => {
    expect(classifyAddress(address)).toBe(cls)
  })

  test.each(['8.8.8.8', '1.1.1.1', '93.184.216.34', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '2a00:1450:4001:81b::200e', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1'])(
    '%s is public',
    (address) => {
      expect(classifyAddress(address)).toBeNull()
    },
  )

  test.each(['', 'localhost', '1.2.3', '1.2.3.4.5', '01.2.3.4', '256.1.1.1', 'fe80::1%eth0', '1:2:3:4:5:6:7:8:9', 'g::1', '::1::'])('%s is invalid', (address) => {
    expect(classifyAddress(address)).toBe('invalid')
  })
})

describe('parseEndpointUrl', () => {
  test.each(['ftp://example.com/', 'file:///etc/passwd', 'gopher://example.com/', 'javascript:alert(1)', 'data:text/plain,hi', 'ws://example.com/'])('refuses the scheme of %s', (url) => {
    expect(() => parseEndpointUrl(url)).toThrow(/scheme/)
  })

  test.each(['https://user:pass@example.com/', 'https://user@example.com/', 'http://:pw@example.com/'])('refuses credentials in %s', (url) => {
    expect(() => parseEndpointUrl(url)).toThrow(/credentials/)
  })

  test('refuses relative, malformed and overlong URLs', () => {
    expect(() => parseEndpointUrl('/hooks')).toThrow(DestinationError)
    expect(() => parseEndpointUrl('http://')).toThrow(DestinationError)
    expect(() => parseEndpointUrl(`https://example.com/${'a'.repeat(3000)}`)).toThrow(/longer/)
  })

  test.each([
    ['http://2130706433/', '127.0.0.1'],
    ['http://0x7f000001/', '127.0.0.1'],
    ['http://017700000001/', '127.0.0.1'],
    ['http://0177.0.0.1/', '127.0.0.1'],
    ['http://0x7f.0.0.1/', '127.0.0.1'],
    ['http://127.1/', '127.0.0.1'],
    ['http://0/', '0.0.0.0'],
    ['http://[::ffff:127.0.0.1]/', '[::ffff:7f00:1]'],
    ['http://0xa9.0xfe.0xa9.0xfe/', '169.254.169.254'],
  ])('normalises the numeric host of %s to %s, which the address check sees', (url, host) => {
    const parsed = parseEndpointUrl(url)
    expect(parsed.hostname).toBe(host)
    expect(classifyAddress(parsed.hostname)).not.toBeNull()
  })
})

describe('resolveDestination', () => {
  const check = (url: string, resolver: Resolver) => resolveDestination(parseEndpointUrl(url), { checkAddresses: true, resolver })

  test('a public hostname resolves to the address to connect to', async () => {
    const resolver = fakeResolver({ 'hooks.example.com': [v4('93.184.216.34'), v6('2606:2800:220:1:248:1893:25c8:1946')] })
    const dest = await check('https://hooks.example.com/in', resolver)
    expect(dest).toMatchObject({ hostname: 'hooks.example.com', address: '93.184.216.34', family: 4 })
    expect(resolver.asked).toEqual(['hooks.example.com'])
  })

  test('one private address among several refuses the destination', async () => {
    const resolver = fakeResolver({ 'mixed.example.com': [v4('93.184.216.34'), v4('10.0.0.5'), v4('1.1.1.1')] })
    await expect(check('https://mixed.example.com/', resolver)).rejects.toThrow(/10\.0\.0\.5, a private address/)
  })

  test('a private IPv6 answer behind a public IPv4 one refuses the destination', async () => {
    const resolver = fakeResolver({ 'dual.example.com': [v4('8.8.8.8'), v6('::ffff:127.0.0.1')] })
    await expect(check('https://dual.example.com/', resolver)).rejects.toThrow(/loopback/)
  })

  test.each([
    ['localhost', [v4('127.0.0.1'), v6('::1')]],
    ['metadata.internal', [v4('169.254.169.254')]],
    ['nat64.example.com', [v6('64:ff9b::a00:1')]],
    ['cgnat.example.com', [v4('100.100.100.100')]],
  ])('%s resolving to a special address is refused', async (name, addresses) => {
    await expect(check(`http://${name}/`, fakeResolver({ [name]: addresses }))).rejects.toThrow(DestinationError)
  })

  test('IP literals are checked without asking DNS', async () => {
    const resolver = fakeResolver({})
    for (const url of ['http://127.0.0.1:8080/', 'http://2130706433/', 'http://[::1]/', 'http://[::ffff:7f00:1]/', 'http://[64:ff9b::7f00:1]/', 'http://[fd00::1]/']) {
      await expect(check(url, resolver), url).rejects.toThrow(DestinationError)
    }
    expect(resolver.asked).toEqual([])
    await expect(check('http://8.8.8.8/', resolver)).resolves.toMatchObject({ address: '8.8.8.8', family: 4 })
    await expect(check('http://[2606:4700:4700::1111]/', resolver)).resolves.toMatchObject({ address: '2606:4700:4700::1111', family: 6 })
  })

  test('unresolvable names and empty answers are refused', async () => {
    await expect(check('https://nowhere.invalid/', fakeResolver({}))).rejects.toThrow(/could not resolve nowhere\.invalid: ENOTFOUND/)
    await expect(check('https://empty.example/', fakeResolver({ 'empty.example': [] }))).rejects.toThrow(/no address/)
  })

  test('without the address check (allowPrivate, or the configured endpoint) private addresses pass, still pinned', async () => {
    const dest = await resolveDestination(parseEndpointUrl('http://localhost:9/'), {
      checkAddresses: false,
      resolver: fakeResolver({ localhost: [v4('127.0.0.1')] }),
    })
    expect(dest.address).toBe('127.0.0.1')
  })

  test('an aborted signal stops waiting for a hanging resolver', async () => {
    const controller = new AbortController()
    const hanging: Resolver = () => new Promise(() => {})
    const pending = resolveDestination(parseEndpointUrl('https://slow.example/'), { checkAddresses: true, resolver: hanging, signal: controller.signal })
    controller.abort(new Error('deadline'))
    await expect(pending).rejects.toThrow('deadline')
  })
})

describe('pinnedLookup', () => {
  test('answers with the vetted address whatever the name, in both callback shapes', () => {
    const lookup = pinnedLookup('93.184.216.34', 4)
    let single: unknown[] = []
    lookup('evil.example', {}, (...args: unknown[]) => {
      single = args
    })
    expect(single).toEqual([null, '93.184.216.34', 4])
    let all: unknown[] = []
    lookup('evil.example', { all: true }, (...args: unknown[]) => {
      all = args
    })
    expect(all).toEqual([null, [{ address: '93.184.216.34', family: 4 }]])
  })
})
