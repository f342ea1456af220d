/**
 * Seeded property-based durability suite against a real `tandem serve` child process on SQLite.
 *
 * fast-check draws a program of operations (local edits, reordered / duplicated / bit-flipped updates,
 * writes under another writer's clientID, SIGKILL + restart, room unloads that compact) that 2–4 writers
 * run over real multiplexed sockets, each with its own Y.Doc and its own `sub`. Every saved
 * acknowledgement (SyncStatus) is recorded with the bytes it acknowledged; at each restart and at the end
 * a fresh reader checks that what was acknowledged is there, and at the end the SQLite rows (read
 * read-only after the server stopped) replay to the document the reader saw.
 *
 * Shrinking is off (each run spawns real servers); a failure prints the seed, the fast-check path and the
 * trace of the failing run. Replay: TANDEM_FUZZ_SEED=<seed> TANDEM_FUZZ_RUNS=<n> npx vitest run <this file>.
 */
import { rm } from 'node:fs/promises'
import path from 'node:path'
import Database from 'better-sqlite3'
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { decodeMultiplexedFrame, encodeMultiplexedFrame, type Message } from '@tandem/client/protocol'
import { replayLog } from '#server/persistence/compaction'
import { spawnServer, tempDir, token, waitFor, type ChildServer } from '../helpers/server.js'
import { prng } from '../helpers/prng.js'

const RUNS = positiveInt(process.env.TANDEM_FUZZ_RUNS, 3)
// CI replays one known seed, so a run of .ci/run is repeatable; elsewhere every run explores a new one.
const IN_CI = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false' && process.env.CI !== '0'
const SEED = process.env.TANDEM_FUZZ_SEED !== undefined ? Number(process.env.TANDEM_FUZZ_SEED) : IN_CI ? 1 : Math.floor(Math.random() * 2 ** 31)
/** TANDEM_FUZZ_VERBOSE=1 prints every run's trace, failing or not. */
const VERBOSE = process.env.TANDEM_FUZZ_VERBOSE === '1'
/**
 * A writer locked out by another writer's relayed content (see connect() in runProgram) fails the run;
 * TANDEM_FUZZ_STRICT=0 only reports it, to look past it while investigating something else.
 */
const STRICT = process.env.TANDEM_FUZZ_STRICT !== '0'
const ROOMS = ['fz-a', 'fz-b'] as const
const REMOTE = Symbol('remote')
/** Short idle and quiet times so rooms unload (and compact) and live rooms compact within a run. */
const SERVER_ENV = { TANDEM_ROOM_IDLE_MS: '30', TANDEM_COMPACT_AFTER_ROWS: '3', TANDEM_COMPACT_QUIET_MS: '40', TANDEM_LOG_LEVEL: 'info' }

function positiveInt(raw: string | undefined, fallback: number): number {
  const n = raw === undefined ? NaN : Number(raw)
  return Number.isInteger(n) && n > 0 ? n : fallback
}

// ---------------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------------

type Kind = 'text' | 'map' | 'array'
type Op =
  | { t: 'edit'; w: number; room: number; kind: Kind; pos: number }
  /** Withhold an edit and send the next one first (it pends); `release` sends the withheld one right after. */
  | { t: 'reorder'; w: number; room: number; kind: Kind; pos: number; release: boolean }
  | { t: 'release'; w: number }
  | { t: 'dup'; w: number; room: number }
  | { t: 'flip'; w: number; pick: number; bits: number }
  | { t: 'forge'; w: number; victim: number; room: number }
  | { t: 'settle' }
  | { t: 'kill' }
  | { t: 'unload' }

interface Program {
  writers: number
  rooms: number
  ops: Op[]
}

const kindArb = fc.constantFrom<Kind>('text', 'map', 'array')
const posArb = fc.double({ min: 0, max: 1, noNaN: true })
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ t: fc.constant('edit' as const), w: fc.nat(3), room: fc.nat(1), kind: kindArb, pos: posArb }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('reorder' as const), w: fc.nat(3), room: fc.nat(1), kind: kindArb, pos: posArb, release: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('release' as const), w: fc.nat(3) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('dup' as const), w: fc.nat(3), room: fc.nat(1) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('flip' as const), w: fc.nat(3), pick: fc.nat(), bits: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('forge' as const), w: fc.nat(3), victim: fc.nat(3), room: fc.nat(1) }) },
  { weight: 2, arbitrary: fc.constant({ t: 'settle' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'kill' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'unload' as const }) },
)
const programArb: fc.Arbitrary<Program> = fc.record({
  writers: fc.integer({ min: 2, max: 4 }),
  rooms: fc.integer({ min: 1, max: 2 }),
  // At most two kills and two unloads per run keep a run's server restarts (the slow part) bounded.
  ops: fc.array(opArb, { minLength: 6, maxLength: 18 }).map((ops) => capOps(ops, { kill: 2, unload: 2 })),
})

function capOps(ops: Op[], caps: Partial<Record<Op['t'], number>>): Op[] {
  const seen = new Map<string, number>()
  return ops.filter((op) => {
    const n = (seen.get(op.t) ?? 0) + 1
    seen.set(op.t, n)
    return n <= (caps[op.t] ?? Infinity)
  })
}

// ---------------------------------------------------------------------------------------------------
// Writers: raw multiplexed clients that record what every SyncStatus acknowledged
// ---------------------------------------------------------------------------------------------------

/** One local edit and the content it must leave in the document once saved. */
interface Edit {
  writer: number
  room: string
  seq: number
  update: Uint8Array
  kind: Kind
  marker: string
  /** The map key set (map edits): a fresh one, or one this writer set before (an overwrite). */
  key: string
}

/** A message that the server answers with one SyncStatus, in order. */
interface Sent {
  kind: 'update' | 'dup' | 'resync' | 'flip' | 'forge' | 'relay'
  room: string
  bytes: Uint8Array
  /** Edits whose content this message carries (for a resync: every edit of the room so far). */
  edits: Edit[]
}

interface Ack {
  writer: number
  sent: Sent
}

interface WriterRoom {
  doc: Y.Doc
  fifo: Sent[]
  authed: boolean
  synced: boolean
  edits: Edit[]
  withheld: Edit[]
  lastSent: Sent | null
  lastResync: Uint8Array | null
  /** Edits of docs dropped by reload(). */
  retired: Edit[]
}

class Writer {
  ws: WebSocket | null = null
  readonly rooms = new Map<string, WriterRoom>()
  readonly closes: number[] = []
  #seq = 0

  constructor(
    readonly index: number,
    readonly jwt: string,
    roomNames: readonly string[],
    private readonly onAck: (ack: Ack) => void,
    private readonly violation: (what: string) => void,
  ) {
    for (const room of roomNames) this.rooms.set(room, { doc: new Y.Doc(), fifo: [], authed: false, synced: false, edits: [], withheld: [], lastSent: null, lastResync: null, retired: [] })
  }

  get open(): boolean {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN
  }

  /** Connected, joined and every message answered. */
  get settled(): boolean {
    return this.open && [...this.rooms.values()].every((r) => r.authed && r.synced && r.fifo.length === 0)
  }

  async connect(port: number): Promise<void> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`)
    this.ws = ws
    ws.binaryType = 'nodebuffer'
    ws.on('error', () => {}) // the server is killed under it; surfaced through 'close'
    ws.on('message', (data: Buffer) => {
      if (this.ws === ws) this.#onFrame(new Uint8Array(data))
    })
    ws.on('close', (code: number) => {
      if (this.ws !== ws) return
      this.closes.push(code)
      this.ws = null
      // Whatever was not answered stays unacknowledged: the doc still holds it and the next join resends it.
      for (const r of this.rooms.values()) {
        r.fifo = []
        r.authed = false
        r.synced = false
      }
    })
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    })
    for (const [room, r] of this.rooms) {
      this.#send(room, { type: 'auth-token', token: this.jwt, providerVersion: null })
      this.#send(room, { type: 'sync-step-1', stateVector: Y.encodeStateVector(r.doc) })
    }
    await waitFor(() => {
      if (this.ws !== ws) throw new Error(`writer ${this.index} closed (${this.closes.at(-1)}) while joining`)
      return this.settled
    }, `writer ${this.index} to join and settle`)
  }

  /**
   * True when the last close was the known relay bug: a 1008 while joining, for a resync that carries
   * content under another writer's clientID (an edit relayed to us whose commit the kill lost).
   */
  get hitRelayedContentBug(): boolean {
    if (this.closes.at(-1) !== 1008) return false
    return [...this.rooms.values()].some((r) => r.lastResync !== null && Y.decodeUpdate(r.lastResync).structs.some((s) => !(s instanceof Y.Skip) && s.id.client !== r.doc.clientID))
  }

  /** What a stuck client's user does: reload the page. Unsaved edits go; saved ones are on the server. */
  reload(): void {
    for (const r of this.rooms.values()) {
      r.retired.push(...r.edits)
      Object.assign(r, { doc: new Y.Doc(), fifo: [], edits: [], withheld: [], lastSent: null, lastResync: null })
    }
  }

  disconnect(): void {
    this.ws?.terminate()
  }

  /** Makes a local edit; returns it without sending. */
  edit(room: string, kind: Kind, pos: number): Edit {
    const r = this.#room(room)
    const seq = ++this.#seq
    const marker = `<w${this.index}.${seq}>`
    let key = marker
    let update: Uint8Array | null = null
    const capture = (u: Uint8Array, origin: unknown): void => {
      if (origin !== REMOTE) update = u
    }
    r.doc.on('update', capture)
    if (kind === 'text') {
      const text = r.doc.getText('t')
      const s = text.toString()
      // Only between markers, so no marker is ever split by another and each must appear whole.
      const boundaries = [0, ...[...s.matchAll(/>/g)].map((m) => (m.index ?? 0) + 1)]
      text.insert(boundaries[Math.min(boundaries.length - 1, Math.floor(pos * boundaries.length))] ?? 0, marker)
    } else if (kind === 'map') {
      // Now and then overwrite one of our own keys: its repeat then encodes neither parent nor key.
      const own = r.edits.filter((e) => e.kind === 'map')
      key = pos < 0.3 && own.length > 0 ? (own[Math.floor((pos / 0.3) * own.length)] ?? (own[0] as Edit)).key : marker
      r.doc.getMap('m').set(key, `value of ${marker}`)
    } else {
      r.doc.getArray('a').push([marker])
    }
    r.doc.off('update', capture)
    if (update === null) throw new Error('an edit changed nothing')
    const made: Edit = { writer: this.index, room, seq, update, kind, marker, key }
    r.edits.push(made)
    return made
  }

  /** Sends a message that the server answers with a SyncStatus. False if the socket is not open. */
  sendUpdate(sent: Sent): boolean {
    if (!this.open) return false
    this.#send(sent.room, { type: 'update', update: sent.bytes })
    const r = this.#room(sent.room)
    r.fifo.push(sent)
    if (sent.kind === 'update' || sent.kind === 'dup') r.lastSent = sent
    return true
  }

  withhold(e: Edit): void {
    this.#room(e.room).withheld.push(e)
  }

  /** Sends withheld edits, oldest first. */
  release(): void {
    for (const [room, r] of this.rooms) {
      for (const e of r.withheld.splice(0)) this.sendUpdate({ kind: 'update', room, bytes: e.update, edits: [e] })
    }
  }

  #room(room: string): WriterRoom {
    const r = this.rooms.get(room)
    if (!r) throw new Error(`writer ${this.index} is not in ${room}`)
    return r
  }

  #send(room: string, message: Message): void {
    this.ws?.send(encodeMultiplexedFrame(room, message))
  }

  #onFrame(bytes: Uint8Array): void {
    const decoded = decodeMultiplexedFrame(bytes)
    if (!decoded.ok) return this.violation(`writer ${this.index} got an undecodable frame (${decoded.reason})`)
    if (decoded.value.kind !== 'message') return
    const { address: room, message } = decoded.value
    const r = this.rooms.get(room)
    if (!r) return
    switch (message.type) {
      case 'authenticated':
        r.authed = true
        return
      case 'permission-denied':
        return this.violation(`writer ${this.index} denied in ${room}: ${message.reason}`)
      case 'sync-step-1': {
        // Our answer carries the whole doc beyond the server's state, withheld edits included.
        const update = Y.encodeStateAsUpdate(r.doc, message.stateVector)
        r.withheld = []
        r.lastResync = update
        this.#send(room, { type: 'sync-step-2', update })
        r.fifo.push({ kind: 'resync', room, bytes: update, edits: [...r.edits] })
        return
      }
      case 'sync-step-2':
        Y.applyUpdate(r.doc, message.update, REMOTE)
        r.synced = true
        return
      case 'update':
        Y.applyUpdate(r.doc, message.update, REMOTE)
        return
      case 'sync-status': {
        const sent = r.fifo.shift()
        if (sent === undefined) return this.violation(`writer ${this.index} got a SyncStatus in ${room} for nothing it sent`)
        if (message.applied) this.onAck({ writer: this.index, sent })
        return
      }
      default:
        return
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Bit flips: corrupt an acknowledged update so that the server must notice
// ---------------------------------------------------------------------------------------------------

type Flip = { bytes: Uint8Array; expect: 'undecodable' | 'conflicting' }


/** What a decoded update says, as comparable text (ids, neighbours, parent, key, content). */
function describeStructs(update: Uint8Array): string[] {
  return Y.decodeUpdate(update).structs.map((s) => {
    if (!(s instanceof Y.Item)) return `${s.constructor.name} ${s.id.client}:${s.id.clock}+${s.length}`
    const parent = s.parent instanceof Y.ID ? `${s.parent.client}:${s.parent.clock}` : String(s.parent)
    const id = (x: Y.ID | null): string => (x === null ? '-' : `${x.client}:${x.clock}`)
    return `${s.id.client}:${s.id.clock}+${s.length} o=${id(s.origin)} r=${id(s.rightOrigin)} p=${parent} k=${s.parentSub ?? '-'} ${s.content.constructor.name} ${JSON.stringify(s.content.getContent())}`
  })
}

/**
 * Flips one bit of `update` (positions drawn from `seed`) until the result either does not decode, or
 * decodes to the same ids with other content (a repeat the server must refuse, not acknowledge). Flips
 * that give new ids (a different, valid edit) or change nothing are skipped. Null if none found.
 */
function flipBit(update: Uint8Array, seed: number): Flip | null {
  const random = prng(seed)
  const original = describeStructs(update)
  const ranges = Y.decodeUpdate(update).structs.map((s) => [s.id.client, s.id.clock, s.id.clock + s.length] as const)
  for (let attempt = 0; attempt < 64; attempt++) {
    const bytes = update.slice()
    const at = Math.floor(random() * bytes.length)
    bytes[at] = (bytes[at] ?? 0) ^ (1 << Math.floor(random() * 8))
    let decoded: ReturnType<typeof Y.decodeUpdate>
    try {
      decoded = Y.decodeUpdate(bytes)
    } catch {
      return { bytes, expect: 'undecodable' }
    }
    if (decoded.ds.clients.size > 0) continue
    const within = decoded.structs.every((s) => ranges.some(([client, from, to]) => s.id.client === client && s.id.clock >= from && s.id.clock + s.length <= to))
    if (!within) continue
    let described: string[]
    try {
      described = describeStructs(bytes)
    } catch {
      continue
    }
    if (JSON.stringify(described) === JSON.stringify(original)) continue
    return { bytes, expect: 'conflicting' }
  }
  return null
}

// ---------------------------------------------------------------------------------------------------
// Reading the server's document
// ---------------------------------------------------------------------------------------------------

/** A fresh read-only client's copy of each room, read over a multiplexed socket. */
async function readRooms(port: number, rooms: readonly string[]): Promise<Map<string, Y.Doc>> {
  const jwt = await token({ sub: 'fuzz-reader', rooms: { 'fz-*': 'read' } })
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`)
  ws.binaryType = 'nodebuffer'
  ws.on('error', () => {})
  const docs = new Map(rooms.map((room) => [room, new Y.Doc()]))
  const synced = new Set<string>()
  let closed: number | null = null
  ws.on('close', (code: number) => (closed = code))
  ws.on('message', (data: Buffer) => {
    const decoded = decodeMultiplexedFrame(new Uint8Array(data))
    if (!decoded.ok || decoded.value.kind !== 'message') return
    const { address, message } = decoded.value
    const doc = docs.get(address)
    if (doc === undefined) return
    if (message.type === 'sync-step-2' || message.type === 'update') Y.applyUpdate(doc, message.update)
    if (message.type === 'sync-step-2') synced.add(address)
  })
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  try {
    for (const room of rooms) {
      ws.send(encodeMultiplexedFrame(room, { type: 'auth-token', token: jwt, providerVersion: null }))
      ws.send(encodeMultiplexedFrame(room, { type: 'sync-step-1', stateVector: Uint8Array.of(0) }))
    }
    await waitFor(() => {
      if (closed !== null) throw new Error(`the reader was closed (${closed}) before every room loaded`)
      return synced.size === rooms.length
    }, 'every room to load for a fresh reader')
    return docs
  } finally {
    ws.terminate()
  }
}

/** The shared types the writers edit, as comparable JSON. */
function contentOf(doc: Y.Doc): string {
  // Map keys sorted: toJSON lists them in the order this replica learnt them.
  const m = Object.fromEntries(Object.entries(doc.getMap('m').toJSON()).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  return JSON.stringify({ t: doc.getText('t').toString(), m, a: doc.getArray('a').toJSON() })
}

/** Ranges ([from, to) per client) the doc holds, integrated or pending (what the server said it holds). */
function heldRanges(doc: Y.Doc): (client: number, from: number, to: number) => boolean {
  const sv = Y.decodeStateVector(Y.encodeStateVector(doc))
  const pending: [number, number, number][] = []
  const ps = doc.store.pendingStructs
  if (ps) for (const s of Y.decodeUpdateV2(ps.update).structs) if (!(s instanceof Y.Skip)) pending.push([s.id.client, s.id.clock, s.id.clock + s.length])
  return (client, from, to) => to <= (sv.get(client) ?? 0) || pending.some(([c, f, t]) => c === client && f <= from && to <= t)
}

/** Pending content in `doc` under a clientID outside `allowed`. */
function pendingOutside(doc: Y.Doc, allowed: ReadonlySet<number>): boolean {
  if (doc.store.pendingDs !== null) return true
  const ps = doc.store.pendingStructs
  return ps !== null && Y.decodeUpdateV2(ps.update).structs.some((st) => !(st instanceof Y.Skip) && !allowed.has(st.id.client))
}

function isIntegrated(doc: Y.Doc, update: Uint8Array): boolean {
  const sv = Y.decodeStateVector(Y.encodeStateVector(doc))
  return Y.decodeUpdate(update).structs.every((s) => s instanceof Y.Skip || s.id.clock + s.length <= (sv.get(s.id.client) ?? 0))
}

/** `edits`: every edit of the run, for map keys overwritten later by the same writer. */
function hasMarker(doc: Y.Doc, e: Edit, edits: readonly Edit[]): boolean {
  if (e.kind === 'text') return doc.getText('t').toString().includes(e.marker)
  if (e.kind === 'map') {
    const value = doc.getMap('m').get(e.key)
    if (value === `value of ${e.marker}`) return true
    // Only one writer sets a key, so only its later overwrite may have replaced this value.
    return edits.some((later) => later.writer === e.writer && later.room === e.room && later.key === e.key && later.seq > e.seq && value === `value of ${later.marker}`)
  }
  return doc.getArray('a').toArray().includes(e.marker)
}

/**
 * Every acknowledged message's structs are held (integrated, or pending while `final` is false), and
 * the content of every acknowledged edit that is integrated is present with the value it was saved with.
 */
function checkAcked(acks: readonly Ack[], docs: ReadonlyMap<string, Y.Doc>, final: boolean, edits: readonly Edit[], lenient: ReadonlySet<number> = new Set()): string[] {
  const problems: string[] = []
  for (const { writer, sent } of acks) {
    const doc = docs.get(sent.room)
    if (doc === undefined) continue
    if (sent.kind === 'relay') continue // its only structs were another writer's: left out, nothing to hold
    if (sent.kind === 'flip' || sent.kind === 'forge') {
      problems.push(`writer ${writer}: a ${sent.kind} message in ${sent.room} was acknowledged as saved`)
      continue
    }
    const held = heldRanges(doc)
    // Content of a doc dropped by reload() may wait forever for the withheld edit that went with it.
    const holds = final ? (client: number, from: number, to: number) => to <= (Y.decodeStateVector(Y.encodeStateVector(doc)).get(client) ?? 0) || (lenient.has(client) && held(client, from, to)) : held
    for (const s of Y.decodeUpdate(sent.bytes).structs) {
      if (s instanceof Y.Skip) continue
      if (!holds(s.id.client, s.id.clock, s.id.clock + s.length)) {
        problems.push(`writer ${writer}: acked ${sent.kind} in ${sent.room} holds ${s.id.client}:${s.id.clock}+${s.length}, missing on the server`)
        break
      }
    }
    for (const e of sent.edits) {
      const waits = !isIntegrated(doc, e.update)
      if (waits && (!final || Y.decodeUpdate(e.update).structs.some((st) => lenient.has(st.id.client)))) continue // acknowledged while waiting for a withheld edit
      if (!hasMarker(doc, e, edits)) problems.push(`writer ${writer}: acked ${sent.kind} in ${sent.room} covers ${e.kind} ${e.marker}, absent from the server`)
    }
  }
  return problems
}

/** The rows of each room in the SQLite file, read-only, in log order. */
function storedRows(dataDir: string, rooms: readonly string[]): Map<string, Uint8Array[]> {
  const db = new Database(path.join(dataDir, 'tandem.db'), { readonly: true, fileMustExist: true })
  try {
    const select = db.prepare<[string], { data: Buffer }>('SELECT data FROM updates WHERE room = ? ORDER BY id')
    return new Map(rooms.map((room) => [room, select.all(room).map((row) => new Uint8Array(row.data))]))
  } finally {
    db.close()
  }
}

async function metric(port: number, name: string): Promise<number | null> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`)
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(await res.text())
  return match?.[1] === undefined ? null : Number(match[1])
}

// ---------------------------------------------------------------------------------------------------
// One run
// ---------------------------------------------------------------------------------------------------

async function runProgram(program: Program): Promise<void> {
  const rooms = ROOMS.slice(0, program.rooms)
  const trace: string[] = [`writers=${program.writers} rooms=${rooms.join(',')}`]
  const problems: string[] = []
  const knownBugHits: string[] = []
  /** clientIDs of docs dropped by reload() (known bug only). */
  const reloadedClients = new Set<number>()
  const acks: Ack[] = []
  /** Content sent under another writer's clientID, continuing its history: must never be stored. */
  const forgedMarkers: { room: string; marker: string }[] = []
  const { dir, remove } = await tempDir()
  let server: ChildServer | null = null
  const writers: Writer[] = []
  const fail = (what: string): void => void problems.push(what)
  const allEdits = (): Edit[] => writers.flatMap((w) => [...w.rooms.values()].flatMap((r) => [...r.retired, ...r.edits]))
  /**
   * Connects a writer. A writer closed with 1008 for a resync carrying another writer's lost edit (a
   * lockout the server must not cause) fails the run; with TANDEM_FUZZ_STRICT=0 it is only reported and
   * the writer reloads, so the run goes on checking everything else.
   */
  const connect = async (w: Writer): Promise<void> => {
    try {
      await w.connect(live().port)
    } catch (err) {
      if (STRICT || !w.hitRelayedContentBug) throw err
      knownBugHits.push(`writer ${w.index}`)
      trace.push(`  KNOWN BUG: writer ${w.index} closed with 1008 for a resync carrying another writer's lost edit; it reloads`)
      for (const r of w.rooms.values()) reloadedClients.add(r.doc.clientID)
      w.reload()
      await w.connect(live().port)
    }
  }

  const start = async (): Promise<ChildServer> => {
    const s = await spawnServer(dir, SERVER_ENV)
    server = s
    return s
  }
  const stop = async (signal: 'SIGKILL' | 'SIGTERM'): Promise<void> => {
    const s = server
    if (s === null) return
    server = null
    s.child.kill(signal)
    await s.exited
  }
  const live = (): ChildServer => {
    if (server === null) throw new Error('no server running')
    return server
  }
  const settleAll = async (what: string): Promise<void> => {
    for (const w of writers) if (!w.open) await connect(w)
    await waitFor(() => writers.every((w) => w.settled), `every writer to settle (${what})`, 15_000).catch((err: unknown) => {
      const state = writers.map((w) => `w${w.index}: open=${w.open} closes=${w.closes.join(",")} ${[...w.rooms].map(([room, r]) => `${room}{authed=${r.authed} synced=${r.synced} waiting=${r.fifo.map((f) => f.kind).join(',')}}`).join(' ')}`)
      throw new Error(`${err instanceof Error ? err.message : String(err)}\n  ${state.join('\n  ')}`)
    })
  }
  /** A reader checks what was acknowledged so far, before any writer reconnects and resends it. */
  const restartAndCheck = async (label: string): Promise<Map<string, Y.Doc>> => {
    const s = await start()
    const docs = await readRooms(s.port, rooms)
    problems.push(...checkAcked(acks, docs, false, allEdits()).map((p) => `${label}: ${p}`))
    return docs
  }
  const expectClose = async (w: Writer, before: number, codes: readonly number[], what: string): Promise<void> => {
    try {
      await waitFor(() => w.closes.length > before, `writer ${w.index} to be closed after ${what}`, 5_000)
    } catch {
      fail(`${what}: the server kept writer ${w.index}'s socket open (expected close ${codes.join('/')})`)
      w.disconnect()
      return
    }
    const code = w.closes.at(-1) as number
    if (!codes.includes(code)) fail(`${what}: writer ${w.index} closed with ${code}, expected ${codes.join('/')}`)
  }

  try {
    await start()
    for (let i = 0; i < program.writers; i++) {
      const jwt = await token({ sub: `fuzz-writer-${i}`, rooms: { 'fz-*': 'write' } })
      writers.push(new Writer(i, jwt, rooms, (ack) => acks.push(ack), fail))
    }
    for (const w of writers) await connect(w)

    for (const op of program.ops) {
      trace.push(JSON.stringify(op))
      switch (op.t) {
        case 'edit': {
          const w = writers[op.w % writers.length] as Writer
          if (!w.open) await connect(w)
          const e = w.edit(rooms[op.room % rooms.length] as string, op.kind, op.pos)
          w.sendUpdate({ kind: 'update', room: e.room, bytes: e.update, edits: [e] })
          break
        }
        case 'reorder': {
          const w = writers[op.w % writers.length] as Writer
          if (!w.open) await connect(w)
          const room = rooms[op.room % rooms.length] as string
          const first = w.edit(room, op.kind, op.pos)
          w.withhold(first)
          const second = w.edit(room, op.kind, 1 - op.pos)
          w.sendUpdate({ kind: 'update', room, bytes: second.update, edits: [second] })
          if (op.release) {
            await waitFor(() => !w.open || (w.rooms.get(room)?.fifo.length ?? 0) === 0, 'the pending update to be answered')
            w.release()
          }
          break
        }
        case 'release':
          ;(writers[op.w % writers.length] as Writer).release()
          break
        case 'dup': {
          const w = writers[op.w % writers.length] as Writer
          const last = w.rooms.get(rooms[op.room % rooms.length] as string)?.lastSent
          if (last) w.sendUpdate({ ...last, kind: 'dup' })
          break
        }
        case 'flip': {
          const w = writers[op.w % writers.length] as Writer
          const acked = acks.filter((a) => a.writer === w.index && a.sent.kind === 'update' && a.sent.edits.length === 1)
          const target = acked[op.pick % Math.max(1, acked.length)]
          if (target === undefined) break
          // Content deleted since (a map key overwritten) is garbage-collected on the server: a changed
          // copy of it cannot be told from a repeat, and Yjs would drop it as deleted anyway. Not a conflict.
          const doc = w.rooms.get(target.sent.room)?.doc
          const deleted = doc !== undefined && Y.decodeUpdate(target.sent.bytes).structs.some((st) => Y.isDeleted(Y.createDeleteSetFromStructStore(doc.store), st.id))
          if (deleted) break
          const flip = flipBit(target.sent.bytes, op.bits)
          if (flip === null) break
          if (!w.open) await connect(w)
          const edit = target.sent.edits[0] as Edit
          trace.push(`  flip of ${edit.kind} ${edit.marker}: ${flip.expect} ${Buffer.from(flip.bytes).toString('hex')}`)
          const before = w.closes.length
          w.sendUpdate({ kind: 'flip', room: target.sent.room, bytes: flip.bytes, edits: [] })
          await expectClose(w, before, flip.expect === 'undecodable' ? [1007] : [1008, 1007], `a bit-flipped (${flip.expect}) update`)
          await connect(w)
          break
        }
        case 'forge': {
          const w = writers[op.w % writers.length] as Writer
          const victim = writers[op.victim % writers.length] as Writer
          const room = rooms[op.room % rooms.length] as string
          const victimDoc = victim.rooms.get(room)?.doc as Y.Doc
          // Only a clientID its owner has written under (and had acknowledged) in this room is bound.
          const owned = acks.some((a) => a.writer === victim.index && a.sent.room === room && a.sent.edits.some((e) => e.writer === victim.index))
          if (victim === w || !owned) break
          if (!w.open) await connect(w)
          const forged = new Y.Doc()
          Y.applyUpdate(forged, Y.encodeStateAsUpdate(victimDoc))
          forged.clientID = victimDoc.clientID
          // Half the forgeries jump ahead of the victim's clock (closed, 1008); the others continue its
          // history, as a client holding the victim's unsaved edit would: left out, never stored.
          // A continuation is one only if the server holds all of the victim's history: nothing of it in
          // flight, and nothing pending behind an edit some writer still withholds. Otherwise it is a gap.
          const serverHasHistory = (victim.rooms.get(room)?.fifo.length ?? 1) === 0 && writers.every((x) => (x.rooms.get(room)?.withheld.length ?? 0) === 0)
          const jump = (op.w + op.victim) % 2 === 0 || !serverHasHistory
          // The padding is never sent: what is sent starts past clocks the server has not seen (a gap).
          if (jump) forged.getText('pad').insert(0, 'x'.repeat(64))
          const sv = Y.encodeStateVector(forged)
          const marker = `<forged by w${w.index}>`
          forged.getText('t').insert(0, marker)
          const before = w.closes.length
          if (jump) {
            w.sendUpdate({ kind: 'forge', room, bytes: Y.encodeStateAsUpdate(forged, sv), edits: [] })
            await expectClose(w, before, [1008], `an update under writer ${victim.index}'s clientID`)
            await connect(w)
          } else {
            forgedMarkers.push({ room, marker })
            w.sendUpdate({ kind: 'relay', room, bytes: Y.encodeStateAsUpdate(forged, sv), edits: [] })
          }
          break
        }
        case 'settle':
          await settleAll('settle')
          break
        case 'kill': {
          await stop('SIGKILL')
          await waitFor(() => writers.every((w) => !w.open), 'every writer to see the kill')
          await restartAndCheck('after SIGKILL')
          for (const w of writers) await connect(w)
          break
        }
        case 'unload': {
          await settleAll('before unload')
          for (const w of writers) w.disconnect()
          const port = live().port
          await waitFor(async () => (await metric(port, 'tandem_rooms_loaded')) === 0, 'every room to unload (flush + compact)')
          for (const w of writers) await connect(w)
          break
        }
      }
      if (problems.length > 0) break
    }

    // Final: everything released and answered, then a kill, a restart and a fresh reader.
    for (const w of writers) {
      if (!w.open) await connect(w)
      w.release()
    }
    await settleAll('final')
    // Every ack is in; what others relayed may still be on its way to a writer.
    const agree = (): boolean => rooms.every((room) => new Set(writers.map((w) => contentOf(w.rooms.get(room)?.doc as Y.Doc))).size === 1)
    await waitFor(agree, 'the writers to converge').catch(() => {})
    const converged = new Map(rooms.map((room) => [room, contentOf(writers[0]?.rooms.get(room)?.doc as Y.Doc)]))
    for (const w of writers) w.disconnect()
    await stop('SIGKILL')
    const docs = await restartAndCheck('final')
    problems.push(...checkAcked(acks, docs, true, allEdits(), reloadedClients).map((p) => `final (integrated): ${p}`))
    for (const { room, marker } of forgedMarkers) if (JSON.stringify(docs.get(room)?.toJSON() ?? {}).includes(marker)) fail(`${room}: ${marker} (another writer's clientID) was stored`)
    for (const room of rooms) {
      const doc = docs.get(room) as Y.Doc
      if (pendingOutside(doc, reloadedClients)) fail(`${room}: content still pending after every writer synced`)
      for (const w of writers) {
        const mine = contentOf(w.rooms.get(room)?.doc as Y.Doc)
        if (mine !== converged.get(room)) fail(`${room}: writer ${w.index} did not converge with writer 0:\n    ${mine}\n    ${converged.get(room)}`)
      }
      if (contentOf(doc) !== converged.get(room)) fail(`${room}: the server's document differs from the writers' converged one`)
    }

    // Let the rooms unload (compacting on the way out), stop, and replay the rows the compaction left.
    const port = live().port
    await waitFor(async () => (await metric(port, 'tandem_rooms_loaded')) === 0, 'every room to unload after the reader left')
    await stop('SIGTERM')
    const rows = storedRows(dir, rooms)
    for (const room of rooms) {
      const wire = docs.get(room) as Y.Doc
      const roomRows = rows.get(room) ?? []
      const replayed = replayLog(roomRows)
      const fromReplay = new Y.Doc()
      Y.applyUpdate(fromReplay, replayed.integrated)
      const oneByOne = new Y.Doc()
      for (const row of roomRows) Y.applyUpdate(oneByOne, row)
      if (Buffer.compare(Buffer.from(replayed.stateVector), Buffer.from(Y.encodeStateVector(wire))) !== 0) fail(`${room}: the stored rows replay to another state vector than the reader saw`)
      if (contentOf(fromReplay) !== contentOf(wire)) fail(`${room}: the stored rows (${roomRows.length}) replay to other content than the reader saw`)
      if (contentOf(oneByOne) !== contentOf(wire)) fail(`${room}: the stored rows applied one by one give other content than the reader saw`)
      if (replayed.pendingDeletes !== null || (replayed.pendingStructs !== null && Y.decodeUpdate(replayed.pendingStructs).structs.some((st) => !(st instanceof Y.Skip) && !reloadedClients.has(st.id.client)))) {
        fail(`${room}: the stored rows hold pending content`)
      }
    }
    // And the compacted log loads again to the same document.
    const again = await start()
    const reloaded = await readRooms(again.port, rooms)
    for (const room of rooms) {
      if (contentOf(reloaded.get(room) as Y.Doc) !== contentOf(docs.get(room) as Y.Doc)) fail(`${room}: reloading the compacted log gave another document`)
    }
    trace.push(`acks=${acks.length} closes=${writers.map((w) => w.closes.join('/')).join(' ')}`)
  } catch (err) {
    problems.push(`error: ${err instanceof Error ? err.message : String(err)}`)
  } finally {
    for (const w of writers) w.disconnect()
    await stop('SIGKILL')
    await remove().catch(() => rm(dir, { recursive: true, force: true }))
  }
  if (problems.length > 0) throw new Error(`${problems.join('\n')}\ntrace:\n  ${trace.join('\n  ')}`)
  if (knownBugHits.length > 0) console.warn(`fuzz-durability (seed ${SEED}): KNOWN BUG hit (${knownBugHits.join(', ')}), tolerated because TANDEM_FUZZ_STRICT=0:\n  ${trace.join('\n  ')}`)
  else if (VERBOSE) console.log(`fuzz run:\n  ${trace.join('\n  ')}`)
}

describe('durability under a seeded stream of edits and faults (child process, SQLite)', () => {
  test(`${RUNS} run(s) keep every saved acknowledgement (seed ${SEED})`, { timeout: 40_000 + RUNS * 20_000 }, async () => {
    try {
      await fc.assert(fc.asyncProperty(programArb, runProgram), { seed: SEED, numRuns: RUNS, endOnFailure: true })
    } catch (err) {
      console.error(`fuzz-durability failed with seed ${SEED}; replay: TANDEM_FUZZ_SEED=${SEED} TANDEM_FUZZ_RUNS=${RUNS} npx vitest run tests/integration/fuzz-durability.test.ts`)
      throw err
    }
    expect(true).toBe(true)
  })
})
