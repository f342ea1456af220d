import { describe, expect, it } from 'vitest'
import { Presence } from '../../server/src/rooms/presence.js'

const limits = { maxClientsPerOwner: 4, maxTombstones: 3 }
const entry = (clientId: number, clock: number, state: unknown) => ({ clientId, clock, state: JSON.stringify(state) })

describe('Presence', () => {
  it('accepts a new client and relays it', () => {
    const p = new Presence(limits)
    const a = {}
    const r = p.apply(a, [entry(1, 0, { name: 'a' })])
    expect(r).toEqual({ ok: true, accepted: [entry(1, 0, { name: 'a' })], all: true, corrections: [] })
    expect(p.snapshot()).toEqual([entry(1, 0, { name: 'a' })])
  })

  it('applies y-protocols clock rules: newer wins, stale ignored, removal at same clock accepted', () => {
    const p = new Presence(limits)
    const a = {}
    p.apply(a, [entry(1, 5, { x: 1 })])
    expect(p.apply(a, [entry(1, 4, { x: 0 })])).toMatchObject({ accepted: [] })
    expect(p.apply(a, [entry(1, 6, { x: 2 })])).toMatchObject({ accepted: [entry(1, 6, { x: 2 })] })
    expect(p.apply(a, [entry(1, 6, null)])).toMatchObject({ accepted: [entry(1, 6, null)] })
    expect(p.snapshot()).toEqual([])
  })

  it('never lets a connection set or remove a client id another connection owns', () => {
    const p = new Presence(limits)
    const a = {}
    const b = {}
    p.apply(a, [entry(1, 0, { who: 'a' })])
    const r = p.apply(b, [entry(1, 9, { who: 'b' }), entry(1, 10, null), entry(2, 0, { who: 'b' })])
    expect(r).toEqual({ ok: true, accepted: [entry(2, 0, { who: 'b' })], all: false, corrections: [] })
    expect(p.snapshot()).toEqual([entry(1, 0, { who: 'a' }), entry(2, 0, { who: 'b' })])
  })

  it('removes an owner\'s states with a bumped clock and keeps a tombstone against stale echoes', () => {
    const p = new Presence(limits)
    const a = {}
    const b = {}
    p.apply(a, [entry(1, 3, { who: 'a' })])
    expect(p.removeOwner(a)).toEqual([entry(1, 4, null)])
    expect(p.size).toBe(0)
    // b echoes a's last state (as y-websocket clients re-send what they hear): must not resurrect it,
    // and b is told the state was removed (a reconnecting `a` would bump its clock and re-send).
    expect(p.apply(b, [entry(1, 3, { who: 'a' })])).toMatchObject({ accepted: [], corrections: [entry(1, 4, null)] })
    // The same client reconnecting with a newer clock is accepted and owned by its new connection.
    expect(p.apply(b, [entry(1, 5, { who: 'a again' })])).toMatchObject({ accepted: [entry(1, 5, { who: 'a again' })] })
    expect(p.removeOwner(b)).toEqual([entry(1, 6, null)])
  })

  it('ignores removals of unknown clients', () => {
    const p = new Presence(limits)
    expect(p.apply({}, [entry(7, 1, null)])).toMatchObject({ accepted: [] })
    expect(p.size).toBe(0)
  })

  it('caps the client ids one connection may own', () => {
    const p = new Presence(limits)
    const a = {}
    const r = p.apply(a, [1, 2, 3, 4, 5, 6].map((id) => entry(id, 0, {})))
    expect(r.ok && r.accepted.length).toBe(4)
  })

  it('bounds tombstones', () => {
    const p = new Presence(limits)
    for (let i = 0; i < 10; i++) {
      const owner = {}
      p.apply(owner, [entry(i, 0, {})])
      p.removeOwner(owner)
    }
    expect(p.size).toBe(0)
    // Only the newest three tombstones remain: an old client id can be claimed again at clock 0.
    expect(p.apply({}, [entry(0, 0, { back: true })])).toMatchObject({ accepted: [entry(0, 0, { back: true })] })
    expect(p.apply({}, [entry(9, 0, { stale: true })])).toMatchObject({ accepted: [] })
  })

  it('refuses states that are not JSON', () => {
    const p = new Presence(limits)
    expect(p.apply({}, [{ clientId: 1, clock: 0, state: '{nope' }])).toEqual({ ok: false, reason: 'invalid-json' })
    expect(p.size).toBe(0)
  })
})

describe('Presence across instances', () => {
  const remote = (origin: string, userId: string) => ({ origin, userId })

  it('removeOwner without a bump removes at the state’s clock, so the client’s next renewal is accepted', () => {
    const p = new Presence(limits)
    const dead = remote('i1', 'alice')
    p.apply(dead, [entry(7, 3, { name: 'alice' })])
    expect(p.removeOwner(dead, { bump: false })).toEqual([{ clientId: 7, clock: 3, state: 'null' }])
    // Alice reconnects through this instance; y-protocols renews with clock + 1.
    const again = { userId: 'alice' }
    expect(p.apply(again, [entry(7, 4, { name: 'alice' })])).toMatchObject({ accepted: [entry(7, 4, { name: 'alice' })] })
  })

  it('disown frees a removed client id for its user’s next connection anywhere, and only that user', () => {
    const p = new Presence(limits)
    const there = remote('i1', 'alice')
    p.apply(there, [entry(7, 1, { name: 'alice' })])
    p.apply(there, [entry(7, 2, null)])
    expect(p.owns(there)).toBe(true)
    p.disown(there, [7])
    expect(p.owns(there)).toBe(false)
    expect(p.apply({ userId: 'mallory' }, [entry(7, 3, { name: 'mallory' })])).toMatchObject({ accepted: [] })
    expect(p.apply({ userId: 'alice' }, [entry(7, 3, { name: 'alice' })])).toMatchObject({ accepted: [entry(7, 3, { name: 'alice' })] })
  })

  it('disown leaves live states alone', () => {
    const p = new Presence(limits)
    const there = remote('i1', 'alice')
    p.apply(there, [entry(7, 1, { name: 'alice' })])
    p.disown(there, [7])
    expect(p.owns(there)).toBe(true)
    expect(p.snapshot()).toEqual([entry(7, 1, { name: 'alice' })])
  })

  it('entriesOf lists only the owner’s live states', () => {
    const p = new Presence(limits)
    const mine = { userId: 'bob' }
    const theirs = remote('i1', 'alice')
    p.apply(mine, [entry(1, 0, { n: 1 }), entry(2, 0, { n: 2 })])
    p.apply(mine, [entry(2, 1, null)])
    p.apply(theirs, [entry(3, 0, { n: 3 })])
    expect(p.entriesOf(mine)).toEqual([entry(1, 0, { n: 1 })])
    expect(p.entriesOf(theirs)).toEqual([entry(3, 0, { n: 3 })])
    expect(p.entriesOf({})).toEqual([])
  })
})
