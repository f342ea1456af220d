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
