// Section numbers (§) refer to client-sdk/PROTOCOL.md.
import { describe, expect, test } from 'vitest'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import * as syncProtocol from 'y-protocols/sync'
import * as authProtocol from 'y-protocols/auth'
import * as awarenessProtocol from 'y-protocols/awareness'
import {
  AUTH_SUBPROTOCOL_PREFIX,
  MESSAGE_TYPE,
  PING_FRAME,
  PONG_FRAME,
  SUBPROTOCOL,
  decodeAwarenessUpdate,
  decodeMultiplexedFrame,
  decodeSingleFrame,
  encodeAwarenessUpdate,
  encodeMultiplexedFrame,
  encodeSingleFrame,
  parseAddress,
  varUintLength,
} from '../../client-sdk/src/protocol.js'
import type { AwarenessEntry, DecodeError, DecodeResult, Message, MultiplexedFrame } from '../../client-sdk/src/protocol.js'
import { prng } from '../helpers/prng.js'

// ---------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------

const utf8 = (s: string): number[] => Array.from(new TextEncoder().encode(s))
const str = (s: string): number[] => {
  const b = utf8(s)
  return [...lib0VarUint(b.length), ...b]
}
const lib0VarUint = (n: number): number[] => {
  const enc = encoding.createEncoder()
  encoding.writeVarUint(enc, n)
  return Array.from(encoding.toUint8Array(enc))
}
const lib0 = (write: (enc: encoding.Encoder) => void): Uint8Array => {
  const enc = encoding.createEncoder()
  write(enc)
  return encoding.toUint8Array(enc)
}
const u8 = (...bytes: number[]): Uint8Array => Uint8Array.from(bytes)

function ok<T>(r: DecodeResult<T>): T {
  if (!r.ok) throw new Error(`expected ok, got ${r.reason}`)
  return r.value
}

function expectError<T>(r: DecodeResult<T>, reason: DecodeError): void {
  expect(r).toEqual({ ok: false, reason })
}

/** The only allocation is the frame itself: no growing buffer left behind. */
function expectExactlySized(frame: Uint8Array): void {
  expect(frame.byteOffset).toBe(0)
  expect(frame.buffer.byteLength).toBe(frame.length)
}


function docWithText(text: string): Y.Doc {
  const doc = new Y.Doc()
  doc.getText('t').insert(0, text)
  return doc
}

const UPDATE = Y.encodeStateAsUpdate(docWithText('hello'))
const SV = Y.encodeStateVector(docWithText('hello'))
const AWARENESS = encodeAwarenessUpdate([{ clientId: 7, clock: 1, state: '{"user":"ana"}' }])

// ---------------------------------------------------------------------------------------------------
// §2 Common encodings
// ---------------------------------------------------------------------------------------------------

describe('§2.1 varUint', () => {
  const boundaries = [0, 1, 127, 128, 255, 16_383, 16_384, 2 ** 21 - 1, 2 ** 21, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 49, Number.MAX_SAFE_INTEGER]

  test.each(boundaries)('%d encodes exactly as lib0 writeVarUint and round-trips', (n) => {
    const entry: AwarenessEntry = { clientId: n, clock: n, state: 'null' }
    const ours = encodeAwarenessUpdate([entry])
    const theirs = lib0((enc) => {
      encoding.writeVarUint(enc, 1)
      encoding.writeVarUint(enc, n)
      encoding.writeVarUint(enc, n)
      encoding.writeVarString(enc, 'null')
    })
    expect(ours).toEqual(theirs)
    expect(varUintLength(n)).toBe(lib0VarUint(n).length)
    expect(ok(decodeAwarenessUpdate(ours))).toEqual([entry])
  })

  test('a non-canonical (overlong) varUint within 8 bytes is accepted, as lib0 does', () => {
    // type 0 written as [0x80 0x00]
    expect(ok(decodeSingleFrame(u8(0x80, 0x00, 0x02, 0x00)))).toEqual([{ type: 'update', update: new Uint8Array() }])
  })

  test('a varUint longer than 8 bytes is malformed even if its value is small', () => {
    expectError(decodeSingleFrame(u8(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00)), 'malformed')
  })

  test('a varUint above Number.MAX_SAFE_INTEGER is malformed', () => {
    // 2^53 = 7 × 0x80 then 0x10
    expectError(decodeSingleFrame(u8(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10)), 'malformed')
    // 2^53 - 1 is the largest accepted value (as an unknown type here, so it parsed)
    expectError(decodeSingleFrame(u8(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f)), 'unknown-type')
  })
})

describe('§2.3 varString', () => {
  const strings = ['', 'plain', 'é', '日本語', '🦊 emoji', '\uFEFFbom-first', 'nul\0inside', 'x'.repeat(200), 'ü'.repeat(100)]

  test.each(strings)('%j is encoded exactly as lib0 writeVarString', (s) => {
    const ours = encodeMultiplexedFrame(s, { type: 'stateless', payload: s })
    const theirs = lib0((enc) => {
      encoding.writeVarString(enc, s)
      encoding.writeVarUint(enc, MESSAGE_TYPE.stateless)
      encoding.writeVarString(enc, s)
    })
    expect(ours).toEqual(theirs)
    expectExactlySized(ours)
    expect(ok(decodeMultiplexedFrame(ours))).toEqual({ kind: 'message', address: s, message: { type: 'stateless', payload: s } })
  })

  test('a lone surrogate is written as U+FFFD, like TextEncoder (and lib0)', () => {
    const ours = encodeMultiplexedFrame('a', { type: 'stateless', payload: 'x\uD800y' })
    const theirs = lib0((enc) => {
      encoding.writeVarString(enc, 'a')
      encoding.writeVarUint(enc, MESSAGE_TYPE.stateless)
      encoding.writeVarString(enc, 'x\uD800y')
    })
    expect(ours).toEqual(theirs)
    expect(ok(decodeMultiplexedFrame(ours))).toMatchObject({ message: { payload: 'x\uFFFDy' } })
  })
})

// ---------------------------------------------------------------------------------------------------
// §3 Single framing
// ---------------------------------------------------------------------------------------------------

describe('§3 single framing: one round trip per message kind', () => {
  const cases: Array<[string, Message, number[]]> = [
    ['§3.3 sync-step-1', { type: 'sync-step-1', stateVector: SV }, [0, 0, ...lib0VarUint(SV.length), ...SV]],
    ['§3.3 sync-step-2', { type: 'sync-step-2', update: UPDATE }, [0, 1, ...lib0VarUint(UPDATE.length), ...UPDATE]],
    ['§3.3 update', { type: 'update', update: UPDATE }, [0, 2, ...lib0VarUint(UPDATE.length), ...UPDATE]],
    ['§3.3 update (empty payload)', { type: 'update', update: new Uint8Array() }, [0, 2, 0]],
    ['§3.4 awareness', { type: 'awareness', update: AWARENESS }, [1, ...lib0VarUint(AWARENESS.length), ...AWARENESS]],
    ['§3.4 query-awareness', { type: 'query-awareness' }, [3]],
    ['§3.5 permission-denied', { type: 'permission-denied', reason: 'forbidden' }, [2, 0, ...str('forbidden')]],
  ]

  test.each(cases)('%s', (_name, message, bytes) => {
    const frame = encodeSingleFrame(message)
    expect(Array.from(frame)).toEqual(bytes)
    expectExactlySized(frame)
    expect(ok(decodeSingleFrame(frame))).toEqual([message])
  })

  test('§3.1 concatenated messages decode in order (y-websocket v4, y-redis)', () => {
    const messages: Message[] = cases.map(([, m]) => m)
    const parts = messages.map(encodeSingleFrame)
    const frame = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
    let pos = 0
    for (const p of parts) {
      frame.set(p, pos)
      pos += p.length
    }
    expect(ok(decodeSingleFrame(frame))).toEqual(messages)
  })

  const multiplexedOnly: Message[] = [
    { type: 'auth-token', token: 't', providerVersion: null },
    { type: 'auth-token-request' },
    { type: 'authenticated', scope: 'read-write' },
    { type: 'stateless', payload: '{}' },
    { type: 'close', reason: null },
    { type: 'sync-status', applied: true },
  ]
  test.each(multiplexedOnly)('§3.2 encodeSingleFrame throws for $type (multiplexed only)', (message) => {
    expect(() => encodeSingleFrame(message)).toThrow(/single framing/)
  })

  test('§7.3 decoded payloads are views into the input, not copies', () => {
    const frame = encodeSingleFrame({ type: 'update', update: UPDATE })
    const [m] = ok(decodeSingleFrame(frame))
    expect(m?.type).toBe('update')
    if (m?.type !== 'update') return
    expect(m.update.buffer).toBe(frame.buffer)
    expect(m.update.byteOffset).toBe(2 + varUintLength(UPDATE.length))
  })

  test('a 1 MiB update round-trips with a 4-byte header', () => {
    const big = new Uint8Array(1 << 20).map((_, i) => i & 0xff)
    const frame = encodeSingleFrame({ type: 'update', update: big })
    expect(frame.length).toBe(big.length + 2 + varUintLength(big.length))
    expect(ok(decodeSingleFrame(frame))).toEqual([{ type: 'update', update: big }])
  })
})

describe('§3 single framing: cross-check against y-protocols as y-websocket v3 uses it', () => {
  test('writeSyncStep1 frame decodes to sync-step-1 and matches our encoding byte for byte', () => {
    const doc = docWithText('abc')
    const theirs = lib0((enc) => {
      encoding.writeVarUint(enc, 0)
      syncProtocol.writeSyncStep1(enc, doc)
    })
    const stateVector = Y.encodeStateVector(doc)
    expect(ok(decodeSingleFrame(theirs))).toEqual([{ type: 'sync-step-1', stateVector }])
    expect(encodeSingleFrame({ type: 'sync-step-1', stateVector })).toEqual(theirs)
  })

  test('writeSyncStep2 frame decodes to sync-step-2 with the diff against the state vector', () => {
    const doc = docWithText('abc')
    const remote = new Y.Doc()
    const theirs = lib0((enc) => {
      encoding.writeVarUint(enc, 0)
      syncProtocol.writeSyncStep2(enc, doc, Y.encodeStateVector(remote))
    })
    const [m] = ok(decodeSingleFrame(theirs))
    expect(m?.type).toBe('sync-step-2')
    if (m?.type !== 'sync-step-2') return
    Y.applyUpdate(remote, m.update)
    expect(remote.getText('t').toString()).toBe('abc')
    expect(encodeSingleFrame(m)).toEqual(theirs)
  })

  test('writeUpdate frame from a doc update event decodes to update', () => {
    const doc = new Y.Doc()
    const frames: Uint8Array[] = []
    doc.on('update', (update: Uint8Array) => {
      frames.push(
        lib0((enc) => {
          encoding.writeVarUint(enc, 0)
          syncProtocol.writeUpdate(enc, update)
        }),
      )
    })
    doc.getText('t').insert(0, 'typed')
    expect(frames).toHaveLength(1)
    const frame = frames[0] as Uint8Array
    const [m] = ok(decodeSingleFrame(frame))
    expect(m?.type).toBe('update')
    expect(encodeSingleFrame(m as Message)).toEqual(frame)
  })

  test('awareness frame as y-websocket sends it decodes, and its payload decodes to entries', () => {
    const doc = new Y.Doc()
    const awareness = new awarenessProtocol.Awareness(doc)
    awareness.setLocalState({ user: { name: 'Zoë', color: '#f00' } })
    const payload = awarenessProtocol.encodeAwarenessUpdate(awareness, [doc.clientID])
    const theirs = lib0((enc) => {
      encoding.writeVarUint(enc, 1)
      encoding.writeVarUint8Array(enc, payload)
    })
    const [m] = ok(decodeSingleFrame(theirs))
    expect(m).toEqual({ type: 'awareness', update: payload })
    const entries = ok(decodeAwarenessUpdate(payload))
    expect(entries).toEqual([{ clientId: doc.clientID, clock: 1, state: JSON.stringify({ user: { name: 'Zoë', color: '#f00' } }) }])
    awareness.destroy()
  })

  test('y-protocols/auth writePermissionDenied frame decodes to permission-denied', () => {
    const theirs = lib0((enc) => {
      encoding.writeVarUint(enc, 2)
      authProtocol.writePermissionDenied(enc, 'no access')
    })
    expect(ok(decodeSingleFrame(theirs))).toEqual([{ type: 'permission-denied', reason: 'no access' }])
    expect(encodeSingleFrame({ type: 'permission-denied', reason: 'no access' })).toEqual(theirs)
  })

  test('our frames are read by y-protocols readSyncMessage: the handshake converges', () => {
    const server = docWithText('from server')
    const client = new Y.Doc()
    // Client sends step 1; "server" answers with our step 2; client applies it with y-protocols.
    const step2 = encodeSingleFrame({
      type: 'sync-step-2',
      update: Y.encodeStateAsUpdate(server, Y.encodeStateVector(client)),
    })
    const dec = decoding.createDecoder(step2)
    expect(decoding.readVarUint(dec)).toBe(0)
    const reply = encoding.createEncoder()
    expect(syncProtocol.readSyncMessage(dec, reply, client, 'server')).toBe(syncProtocol.messageYjsSyncStep2)
    expect(client.getText('t').toString()).toBe('from server')

    // Our step 1 makes y-protocols answer with a step 2 that we decode.
    const step1 = encodeSingleFrame({ type: 'sync-step-1', stateVector: Y.encodeStateVector(new Y.Doc()) })
    const dec1 = decoding.createDecoder(step1)
    decoding.readVarUint(dec1)
    const answer = encoding.createEncoder()
    encoding.writeVarUint(answer, 0)
    syncProtocol.readSyncMessage(dec1, answer, client, 'peer')
    expect(ok(decodeSingleFrame(encoding.toUint8Array(answer)))[0]?.type).toBe('sync-step-2')
  })
})

// ---------------------------------------------------------------------------------------------------
// §4 Multiplexed framing
// ---------------------------------------------------------------------------------------------------

describe('§4 multiplexed framing: one round trip per message kind', () => {
  const A = 'room-1'
  const a = str(A)
  const cases: Array<[string, Message, number[]]> = [
    ['§4.6 sync-step-1', { type: 'sync-step-1', stateVector: SV }, [...a, 0, 0, ...lib0VarUint(SV.length), ...SV]],
    ['§4.6 sync-step-2', { type: 'sync-step-2', update: UPDATE }, [...a, 0, 1, ...lib0VarUint(UPDATE.length), ...UPDATE]],
    ['§4.6 update', { type: 'update', update: UPDATE }, [...a, 0, 2, ...lib0VarUint(UPDATE.length), ...UPDATE]],
    ['§4.7 awareness', { type: 'awareness', update: AWARENESS }, [...a, 1, ...lib0VarUint(AWARENESS.length), ...AWARENESS]],
    ['§4.7 query-awareness', { type: 'query-awareness' }, [...a, 3]],
    ['§4.4 auth-token (v3 provider, no version)', { type: 'auth-token', token: 'jwt', providerVersion: null }, [...a, 2, 0, ...str('jwt')]],
    ['§4.4 auth-token (v4 provider, with version)', { type: 'auth-token', token: 'jwt', providerVersion: '4.8.0' }, [...a, 2, 0, ...str('jwt'), ...str('4.8.0')]],
    ['§4.4 auth-token (empty token)', { type: 'auth-token', token: '', providerVersion: null }, [...a, 2, 0, 0]],
    ['§4.4 auth-token-request', { type: 'auth-token-request' }, [...a, 2, 0]],
    ['§4.4 permission-denied', { type: 'permission-denied', reason: 'forbidden' }, [...a, 2, 1, ...str('forbidden')]],
    ['§4.4 authenticated read-write', { type: 'authenticated', scope: 'read-write' }, [...a, 2, 2, ...str('read-write')]],
    ['§4.4 authenticated readonly', { type: 'authenticated', scope: 'readonly' }, [...a, 2, 2, ...str('readonly')]],
    ['§4.7 stateless', { type: 'stateless', payload: '{"k":1}' }, [...a, 5, ...str('{"k":1}')]],
    ['§4.7 stateless (empty)', { type: 'stateless', payload: '' }, [...a, 5, 0]],
    ['§4.7 close, client -> server (no reason)', { type: 'close', reason: null }, [...a, 7]],
    ['§4.7 close, server -> client (reason)', { type: 'close', reason: 'room deleted' }, [...a, 7, ...str('room deleted')]],
    ['§4.6 sync-status applied', { type: 'sync-status', applied: true }, [...a, 8, 1]],
    ['§4.6 sync-status rejected', { type: 'sync-status', applied: false }, [...a, 8, 0]],
  ]

  test.each(cases)('%s', (_name, message, bytes) => {
    const frame = encodeMultiplexedFrame(A, message)
    expect(Array.from(frame)).toEqual(bytes)
    expectExactlySized(frame)
    expect(ok(decodeMultiplexedFrame(frame))).toEqual({ kind: 'message', address: A, message })
  })

  const addresses = ['', 'doc', 'org:team.doc-1_2', 'doc\0session-123', '文档', '\uFEFFdoc', 'a'.repeat(300)]
  test.each(addresses)('§4.2 address %j is kept verbatim', (address) => {
    const frame = encodeMultiplexedFrame(address, { type: 'query-awareness' })
    expect(Array.from(frame)).toEqual([...str(address), 3])
    expect(ok(decodeMultiplexedFrame(frame))).toEqual({ kind: 'message', address, message: { type: 'query-awareness' } })
  })

  test('§4.2 parseAddress splits at the first NUL', () => {
    expect(parseAddress('doc')).toEqual({ room: 'doc', sessionId: null })
    expect(parseAddress('doc\0abc')).toEqual({ room: 'doc', sessionId: 'abc' })
    expect(parseAddress('doc\0a\0b')).toEqual({ room: 'doc', sessionId: 'a\0b' })
    expect(parseAddress('')).toEqual({ room: '', sessionId: null })
  })

  test('§4.8 ping and pong are single unaddressed bytes', () => {
    expect(Array.from(PING_FRAME)).toEqual([0x09])
    expect(Array.from(PONG_FRAME)).toEqual([0x0a])
    expect(ok(decodeMultiplexedFrame(PING_FRAME))).toEqual({ kind: 'ping' })
    expect(ok(decodeMultiplexedFrame(PONG_FRAME))).toEqual({ kind: 'pong' })
    expect(ok(decodeMultiplexedFrame(u8(0x0a)))).toEqual({ kind: 'pong' })
  })

  test('§4.8 a 1-byte frame other than 9 or 10 is parsed as an address and is malformed', () => {
    expectError(decodeMultiplexedFrame(u8(0x00)), 'malformed')
    expectError(decodeMultiplexedFrame(u8(0x0b)), 'malformed')
  })

  test('§7.3 decoded payloads are views into the input', () => {
    const frame = encodeMultiplexedFrame('doc', { type: 'awareness', update: AWARENESS })
    const f = ok(decodeMultiplexedFrame(frame))
    if (f.kind !== 'message' || f.message.type !== 'awareness') throw new Error('expected awareness')
    expect(f.message.update.buffer).toBe(frame.buffer)
  })

  test('§4.4 encodeMultiplexedFrame rejects an invalid scope', () => {
    expect(() => encodeMultiplexedFrame('d', { type: 'authenticated', scope: 'admin' as 'readonly' })).toThrow(/scope/)
  })
})

describe('§4 multiplexed framing: cross-check against the Hocuspocus layout (lib0)', () => {
  // Mirrors @hocuspocus/provider 4.x AuthenticationMessage: address, Auth, Token, token, version.
  test('v4 provider auth message decodes with providerVersion', () => {
    const theirs = lib0((enc) => {
      encoding.writeVarString(enc, 'doc\0sess')
      encoding.writeVarUint(enc, 2)
      encoding.writeVarUint(enc, 0)
      encoding.writeVarString(enc, 'tok')
      encoding.writeVarString(enc, '4.8.0')
    })
    expect(ok(decodeMultiplexedFrame(theirs))).toEqual({
      kind: 'message',
      address: 'doc\0sess',
      message: { type: 'auth-token', token: 'tok', providerVersion: '4.8.0' },
    })
  })

  test('v3 provider auth message (null token sent as "") decodes without providerVersion', () => {
    const theirs = lib0((enc) => {
      encoding.writeVarString(enc, 'doc')
      encoding.writeVarUint(enc, 2)
      encoding.writeVarUint(enc, 0)
      encoding.writeVarString(enc, '')
    })
    expect(ok(decodeMultiplexedFrame(theirs))).toEqual({
      kind: 'message',
      address: 'doc',
      message: { type: 'auth-token', token: '', providerVersion: null },
    })
  })

  test('provider SyncStep1 and Update messages decode', () => {
    const doc = docWithText('x')
    const step1 = lib0((enc) => {
      encoding.writeVarString(enc, 'doc')
      encoding.writeVarUint(enc, 0)
      syncProtocol.writeSyncStep1(enc, doc)
    })
    expect(ok(decodeMultiplexedFrame(step1))).toEqual({
      kind: 'message',
      address: 'doc',
      message: { type: 'sync-step-1', stateVector: Y.encodeStateVector(doc) },
    })
    const update = Y.encodeStateAsUpdate(doc)
    const upd = lib0((enc) => {
      encoding.writeVarString(enc, 'doc')
      encoding.writeVarUint(enc, 0)
      syncProtocol.writeUpdate(enc, update)
    })
    expect(encodeMultiplexedFrame('doc', { type: 'update', update })).toEqual(upd)
  })

  test('provider CloseMessage decodes to close with null reason', () => {
    const theirs = lib0((enc) => {
      encoding.writeVarString(enc, 'doc')
      encoding.writeVarUint(enc, 7)
    })
    expect(ok(decodeMultiplexedFrame(theirs))).toMatchObject({ message: { type: 'close', reason: null } })
  })

  test('server messages read back the way the provider reads them', () => {
    const read = (frame: Uint8Array): decoding.Decoder => {
      const dec = decoding.createDecoder(frame)
      expect(decoding.readVarString(dec)).toBe('doc')
      return dec
    }
    // SyncStatus: the provider reads the value with readVarInt.
    const status = read(encodeMultiplexedFrame('doc', { type: 'sync-status', applied: true }))
    expect(decoding.readVarUint(status)).toBe(8)
    expect(decoding.readVarInt(status)).toBe(1)
    const rejected = read(encodeMultiplexedFrame('doc', { type: 'sync-status', applied: false }))
    decoding.readVarUint(rejected)
    expect(decoding.readVarInt(rejected)).toBe(0)
    // Authenticated / PermissionDenied / token request: @hocuspocus/common readAuthMessage.
    const authd = read(encodeMultiplexedFrame('doc', { type: 'authenticated', scope: 'readonly' }))
    expect([decoding.readVarUint(authd), decoding.readVarUint(authd), decoding.readVarString(authd)]).toEqual([2, 2, 'readonly'])
    const denied = read(encodeMultiplexedFrame('doc', { type: 'permission-denied', reason: 'nope' }))
    expect([decoding.readVarUint(denied), decoding.readVarUint(denied), decoding.readVarString(denied)]).toEqual([2, 1, 'nope'])
    const req = read(encodeMultiplexedFrame('doc', { type: 'auth-token-request' }))
    expect([decoding.readVarUint(req), decoding.readVarUint(req), decoding.hasContent(req)]).toEqual([2, 0, false])
    // CLOSE: the provider reads the reason with readVarString.
    const close = read(encodeMultiplexedFrame('doc', { type: 'close', reason: 'bye' }))
    expect([decoding.readVarUint(close), decoding.readVarString(close)]).toEqual([7, 'bye'])
  })

  test('§5.2 subprotocol names', () => {
    expect(SUBPROTOCOL).toBe('tandem')
    expect(AUTH_SUBPROTOCOL_PREFIX).toBe('tandem-auth.')
  })
})

// ---------------------------------------------------------------------------------------------------
// §2.5 Awareness updates
// ---------------------------------------------------------------------------------------------------

describe('§2.5 awareness update', () => {
  /** Three clients as a server would see them: its own state, a remote state, and a removed (null) one. */
  function awarenessFixture(): { update: Uint8Array; awareness: awarenessProtocol.Awareness; ids: number[] } {
    const main = new awarenessProtocol.Awareness(new Y.Doc())
    main.setLocalState({ user: { name: 'Ana', cursor: { anchor: 3, head: 9 } } })
    const r1 = new awarenessProtocol.Awareness(new Y.Doc())
    const r2 = new awarenessProtocol.Awareness(new Y.Doc())
    r1.setLocalState({ user: { name: '李雷 🦊' } })
    r2.setLocalState({ user: 'leaving' })
    const relay = (from: awarenessProtocol.Awareness): void =>
      awarenessProtocol.applyAwarenessUpdate(main, awarenessProtocol.encodeAwarenessUpdate(from, [from.clientID]), 'remote')
    relay(r1)
    relay(r2)
    r2.setLocalState(null)
    relay(r2)
    const ids = [main.clientID, r1.clientID, r2.clientID]
    r1.destroy()
    r2.destroy()
    // r2 is gone from states but still in meta, so encodeAwarenessUpdate writes "null" for it.
    return { update: awarenessProtocol.encodeAwarenessUpdate(main, ids), awareness: main, ids }
  }

  test('y-protocols encodeAwarenessUpdate output decodes and re-encodes byte-identically', () => {
    const { update, awareness, ids } = awarenessFixture()
    const entries = ok(decodeAwarenessUpdate(update))
    expect(entries.map((e) => e.clientId)).toEqual(ids)
    expect(entries[2]?.state).toBe('null')
    expect(JSON.parse(entries[1]?.state ?? '')).toEqual({ user: { name: '李雷 🦊' } })
    const again = encodeAwarenessUpdate(entries)
    expect(again).toEqual(update)
    expectExactlySized(again)
    awareness.destroy()
  })

  test('our encoding is applied by y-protocols applyAwarenessUpdate', () => {
    const doc = new Y.Doc()
    const awareness = new awarenessProtocol.Awareness(doc)
    const update = encodeAwarenessUpdate([
      { clientId: 1001, clock: 4, state: JSON.stringify({ user: 'a' }) },
      { clientId: 4_294_967_295, clock: 1, state: JSON.stringify({ user: 'ü' }) },
    ])
    awarenessProtocol.applyAwarenessUpdate(awareness, update, 'test')
    expect(awareness.getStates().get(1001)).toEqual({ user: 'a' })
    expect(awareness.getStates().get(4_294_967_295)).toEqual({ user: 'ü' })
    awareness.destroy()
  })

  test('zero entries round-trips', () => {
    expect(Array.from(encodeAwarenessUpdate([]))).toEqual([0])
    expect(ok(decodeAwarenessUpdate(u8(0)))).toEqual([])
  })

  test('the decoder validates structure only: state text is not parsed', () => {
    expect(ok(decodeAwarenessUpdate(encodeAwarenessUpdate([{ clientId: 1, clock: 1, state: 'not json' }])))).toEqual([
      { clientId: 1, clock: 1, state: 'not json' },
    ])
  })

  test.each([
    ['empty input', [], 'empty'],
    ['truncated count', [0x80], 'malformed'],
    ['count larger than the entries present', [2, 1, 1, 0], 'malformed'],
    ['huge count', [0xff, 0xff, 0xff, 0x7f, 1, 1, 0], 'malformed'],
    ['truncated entry', [1, 1], 'malformed'],
    ['state length past the end', [1, 1, 1, 9, 0x7b], 'malformed'],
    ['clock over 53 bits', [1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0], 'malformed'],
    ['invalid UTF-8 state', [1, 1, 1, 2, 0xc3, 0x28], 'malformed'],
    ['trailing bytes', [1, 1, 1, 0, 0xaa], 'trailing-bytes'],
  ] satisfies Array<[string, number[], DecodeError]>)('malformed: %s %j -> %s', (_name, bytes, reason) => {
    expectError(decodeAwarenessUpdate(Uint8Array.from(bytes)), reason)
  })

  test.each([-1, 1.5, Number.MAX_SAFE_INTEGER + 1, Number.NaN])('encoder throws for clientId %d', (clientId) => {
    expect(() => encodeAwarenessUpdate([{ clientId, clock: 0, state: 'null' }])).toThrow(RangeError)
  })
})

// ---------------------------------------------------------------------------------------------------
// §7 Malformed input
// ---------------------------------------------------------------------------------------------------

const OVER_53_BITS = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]
const text = (s: string): number[] => utf8(s)

describe('§7.1 malformed matrix: single framing', () => {
  test.each([
    ['empty frame', [], 'empty'],
    ['truncated type varint', [0x80], 'malformed'],
    ['type varint over 53 bits', OVER_53_BITS, 'malformed'],
    ['sync without sub-type', [0], 'malformed'],
    ['sync sub-type truncated', [0, 0x80], 'malformed'],
    ['sync without payload length', [0, 0], 'malformed'],
    ['length prefix longer than the frame', [0, 2, 5, 1, 2], 'malformed'],
    ['length varint over 53 bits', [0, 2, ...OVER_53_BITS], 'malformed'],
    ['awareness length past the end', [1, 3, 0], 'malformed'],
    ['unknown sync sub-type', [0, 3, 0], 'unknown-type'],
    ['unknown top-level type 4', [4], 'unknown-type'],
    ['unknown top-level type 9 (no ping in single framing)', [9], 'unknown-type'],
    ['unknown top-level type 10', [10], 'unknown-type'],
    ['unknown auth sub-type', [2, 1, 0], 'unknown-type'],
    ['auth without sub-type', [2], 'malformed'],
    ['permission-denied without reason', [2, 0], 'malformed'],
    ['permission-denied with invalid UTF-8', [2, 0, 2, 0xc3, 0x28], 'malformed'],
    ['trailing partial varint after a message', [3, 0x80], 'malformed'],
    ['trailing unknown type after a message', [0, 2, 0, 7], 'unknown-type'],
    ['trailing truncated message after a message', [3, 0, 2], 'malformed'],
    ['text-ish garbage: JSON', text('{"type":"sync"}'), 'unknown-type'],
    ['text-ish garbage: word', text('hello'), 'unknown-type'],
    ['text-ish garbage: control char first', text('\u0001abc'), 'malformed'],
  ] satisfies Array<[string, number[], DecodeError]>)('%s %j -> %s', (_name, bytes, reason) => {
    expectError(decodeSingleFrame(Uint8Array.from(bytes)), reason)
  })
})

describe('§7.1 malformed matrix: multiplexed framing', () => {
  const a = str('doc')
  test.each([
    ['empty frame', [], 'empty'],
    ['truncated address length varint', [0x80], 'malformed'],
    ['address length over 53 bits', OVER_53_BITS, 'malformed'],
    ['address length longer than the frame', [5, 0x61, 0x62], 'malformed'],
    ['invalid UTF-8 in address', [2, 0xc3, 0x28, 0, 2, 0], 'malformed'],
    ['overlong UTF-8 in address', [2, 0xc0, 0xaf, 3], 'malformed'],
    ['UTF-8-encoded surrogate in address', [3, 0xed, 0xa0, 0x80, 3], 'malformed'],
    ['address without type', [...a], 'malformed'],
    ['truncated type varint', [...a, 0x80], 'malformed'],
    ['type varint over 53 bits', [...a, ...OVER_53_BITS], 'malformed'],
    ['type 4 SyncReply', [...a, 4], 'unknown-type'],
    ['type 6 BroadcastStateless', [...a, 6, 0], 'unknown-type'],
    ['type 9 with an address', [...a, 9], 'unknown-type'],
    ['type 10 with an address', [...a, 10], 'unknown-type'],
    ['type 11', [...a, 11], 'unknown-type'],
    ['type 128 (two-byte varint)', [...a, 0x80, 0x01], 'unknown-type'],
    ['unknown sync sub-type', [...a, 0, 3, 0], 'unknown-type'],
    ['sync payload length past the end', [...a, 0, 2, 4, 1], 'malformed'],
    ['awareness payload length past the end', [...a, 1, 9], 'malformed'],
    ['unknown auth sub-type', [...a, 2, 3], 'unknown-type'],
    ['auth without sub-type', [...a, 2], 'malformed'],
    ['auth token truncated', [...a, 2, 0, 5, 0x61], 'malformed'],
    ['auth providerVersion truncated', [...a, 2, 0, 0, 3, 0x34], 'malformed'],
    ['auth token with invalid UTF-8', [...a, 2, 0, 1, 0xff], 'malformed'],
    ['bytes after providerVersion', [...a, 2, 0, 0, 1, 0x34, 0], 'trailing-bytes'],
    ['authenticated with unknown scope', [...a, 2, 2, ...str('admin')], 'malformed'],
    ['authenticated without scope', [...a, 2, 2], 'malformed'],
    ['permission-denied without reason', [...a, 2, 1], 'malformed'],
    ['stateless without payload', [...a, 5], 'malformed'],
    ['stateless with invalid UTF-8', [...a, 5, 1, 0x80], 'malformed'],
    ['close with truncated reason', [...a, 7, 4, 0x61], 'malformed'],
    ['sync-status without value', [...a, 8], 'malformed'],
    ['sync-status value 2', [...a, 8, 2], 'malformed'],
    ['trailing bytes after sync', [...a, 0, 2, 1, 0xaa, 0xbb], 'trailing-bytes'],
    ['trailing bytes after query-awareness', [...a, 3, 0], 'trailing-bytes'],
    ['trailing bytes after close reason', [...a, 7, 0, 0], 'trailing-bytes'],
    ['trailing bytes after sync-status', [...a, 8, 1, 1], 'trailing-bytes'],
    ['trailing bytes after authenticated', [...a, 2, 2, ...str('readonly'), 0], 'trailing-bytes'],
    ['ping byte followed by more bytes', [9, 0], 'malformed'],
    ['pong byte followed by more bytes', [10, 0x61], 'malformed'],
    ['text-ish garbage: JSON', text('{"type":"sync"}'), 'malformed'],
    ['text-ish garbage: word', text('hello'), 'malformed'],
  ] satisfies Array<[string, number[], DecodeError]>)('%s %j -> %s', (_name, bytes, reason) => {
    expectError(decodeMultiplexedFrame(Uint8Array.from(bytes)), reason)
  })
})

// ---------------------------------------------------------------------------------------------------
// §7 Fuzz: decoders are total, and whatever decodes re-encodes to something that decodes the same
// ---------------------------------------------------------------------------------------------------

describe('§7.2 fuzz: decoders never throw', () => {
  const SEED = 0x7a4d3e
  const RANDOM_FRAMES = 4000
  const MUTATIONS = 3000

  /** Small byte values dominate so random frames get past the type byte and exercise deeper paths. */
  function randomFrame(rand: () => number): Uint8Array {
    const len = Math.floor(rand() * (rand() < 0.5 ? 8 : 48))
    const out = new Uint8Array(len)
    for (let i = 0; i < len; i++) out[i] = rand() < 0.7 ? Math.floor(rand() * 11) : Math.floor(rand() * 256)
    return out
  }

  const seeds: Uint8Array[] = [
    ...[
      { type: 'sync-step-1', stateVector: SV },
      { type: 'update', update: UPDATE },
      { type: 'awareness', update: AWARENESS },
      { type: 'permission-denied', reason: 'no' },
      { type: 'query-awareness' },
    ].map((m) => encodeSingleFrame(m as Message)),
    ...[
      { type: 'auth-token', token: 'jwt', providerVersion: '4.8.0' },
      { type: 'authenticated', scope: 'readonly' },
      { type: 'close', reason: 'x' },
      { type: 'sync-status', applied: true },
      { type: 'stateless', payload: 'é' },
    ].map((m) => encodeMultiplexedFrame('doc\0s', m as Message)),
    AWARENESS,
  ]

  function mutate(rand: () => number, base: Uint8Array): Uint8Array {
    const op = Math.floor(rand() * 4)
    if (op === 0) return base.slice(0, Math.floor(rand() * base.length)) // truncate
    const out = Uint8Array.from(base)
    if (op === 1 || op === 2) {
      const flips = 1 + Math.floor(rand() * 3)
      for (let i = 0; i < flips && out.length > 0; i++) {
        const at = Math.floor(rand() * out.length)
        out[at] = op === 1 ? (out[at] as number) ^ (1 << Math.floor(rand() * 8)) : Math.floor(rand() * 256)
      }
      return out
    }
    const extra = randomFrame(rand).subarray(0, 1 + Math.floor(rand() * 4)) // append
    const grown = new Uint8Array(out.length + extra.length)
    grown.set(out)
    grown.set(extra, out.length)
    return grown
  }

  function checkSingle(frame: Uint8Array): void {
    const r = decodeSingleFrame(frame)
    if (!r.ok) return
    const again = r.value.map((m) => Array.from(encodeSingleFrame(m))).flat()
    expect(decodeSingleFrame(Uint8Array.from(again))).toEqual(r)
  }

  function checkMultiplexed(frame: Uint8Array): void {
    const r = decodeMultiplexedFrame(frame)
    if (!r.ok) return
    const f: MultiplexedFrame = r.value
    const again = f.kind === 'ping' ? PING_FRAME : f.kind === 'pong' ? PONG_FRAME : encodeMultiplexedFrame(f.address, f.message)
    expect(decodeMultiplexedFrame(again)).toEqual(r)
  }

  function checkAwareness(update: Uint8Array): void {
    const r = decodeAwarenessUpdate(update)
    if (!r.ok) return
    expect(decodeAwarenessUpdate(encodeAwarenessUpdate(r.value))).toEqual(r)
  }

  test(`${RANDOM_FRAMES} seeded random frames`, () => {
    const rand = prng(SEED)
    let decoded = 0
    for (let i = 0; i < RANDOM_FRAMES; i++) {
      const frame = randomFrame(rand)
      checkSingle(frame)
      checkMultiplexed(frame)
      checkAwareness(frame)
      if (decodeSingleFrame(frame).ok || decodeMultiplexedFrame(frame).ok) decoded++
    }
    // The generator must reach the success paths too, or the round-trip property tests nothing.
    expect(decoded).toBeGreaterThan(RANDOM_FRAMES / 100)
  })

  test(`${MUTATIONS} seeded mutations of valid frames`, () => {
    const rand = prng(SEED + 1)
    for (let i = 0; i < MUTATIONS; i++) {
      const frame = mutate(rand, seeds[i % seeds.length] as Uint8Array)
      checkSingle(frame)
      checkMultiplexed(frame)
      checkAwareness(frame)
    }
  })
})
