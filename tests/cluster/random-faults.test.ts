/**
 * A seeded random walk of faults over a real three-instance cluster (the built CLI, one Postgres schema,
 * one Redis prefix). Each instance reaches Redis and Postgres through TCP proxies of its own, so a fault
 * can hit one instance or all of them. One raw single-framing writer per instance types markers into a
 * shared array and records every saved acknowledgement (the echo of its update). For a bounded time and
 * op count the generator mixes edits with: SIGKILL of an instance and its restart, up to two of the three
 * down at once (their writers move to a live instance), Redis cut for a few seconds, Postgres cut or
 * stalled for a few seconds. Then everything is healed and the run checks: every writer's document is
 * equal, every acknowledged marker is in each of them, in what a fresh reader on each instance gets, and
 * in the rows Postgres holds (replayed the way a room loads them), and Postgres holds exactly the
 * writers' markers.
 *
 * Seed: TANDEM_FUZZ_SEED, else random; printed on failure with the fault journal. Skipped with a message
 * when Redis or Postgres is unreachable outside CI; fails under CI=true.
 */
import { afterEach, expect, test } from 'vitest'
import * as Y from 'yjs'
import { replayLog } from '#server/persistence/compaction'
import { testScope } from '../helpers/cleanup.js'
import { instanceEnv, stopServer, useClusterFile } from '../helpers/cluster.js'
import { describePostgres, POSTGRES_HOST, POSTGRES_PORT, pgQuery, postgresUrlVia, quoteSchema } from '../helpers/postgres.js'
import { closeOpenConns, single, type Conn } from '../helpers/raw-client.js'
import { prng } from '../helpers/prng.js'
import { REDIS_PORT, redisUrlVia } from '../helpers/redis.js'
import { spawnServer, tempDir, token, waitFor, type ChildServer } from '../helpers/server.js'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js'

const FILE = 'tests/cluster/random-faults.test.ts'
// CI replays one known seed, so a run of .ci/run is repeatable; elsewhere every run explores a new one.
const IN_CI = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false' && process.env.CI !== '0'
const SEED = process.env.TANDEM_FUZZ_SEED !== undefined ? Number(process.env.TANDEM_FUZZ_SEED) : IN_CI ? 719976592 : Math.floor(Math.random() * 2 ** 31)
/** The random phase: at most this long and this many steps (an edit per step, sometimes a fault too). */
const PHASE_MS = 22_000
const MAX_STEPS = 600
const ADMIN_KEY = 'cluster-fault-admin-key-0123456789'

const cluster = useClusterFile(FILE, ADMIN_KEY)
const { cleanups } = testScope('rf')
// Registered after testScope, so it runs first: after-hooks run last registered first.
afterEach(closeOpenConns)

/** The generator's pacing between steps (not a wait for a condition: nothing is expected to happen). */
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** One instance's place in the cluster: its proxies and data directory outlive the process on restart. */
interface Slot {
  readonly index: number
  readonly redis: TcpProxy
  readonly pg: TcpProxy
  readonly dataDir: string
  server: ChildServer | null
  /** Set while a restart is under way (the process is not yet listening). */
  booting: boolean
  generation: number
  redisCutUntil: number
  pgFault: { kind: 'cut' | 'stall'; until: number } | null
  /** When the killed instance comes back (0: alive). */
  restartAt: number
  /** Every process this slot ran, the killed ones too, for the warnings printed when the run fails. */
  readonly generations: ChildServer[]
}

const alive = (s: Slot): boolean => s.server !== null && !s.booting && !exitedOnItsOwn(s)

/** The test only ever ends an instance with SIGKILL (and then drops `server`): any other exit is a crash. */
const exitedOnItsOwn = (s: Slot): boolean => s.server !== null && (s.server.child.exitCode !== null || s.server.child.signalCode !== null)

/** Fails the run with the last lines an instance printed, once it has exited without being killed. */
function failIfCrashed(slots: readonly Slot[]): void {
  for (const s of slots) {
    if (!exitedOnItsOwn(s)) continue
    const child = (s.server as ChildServer).child
    const tail = (s.server as ChildServer).output().trimEnd().split('\n').slice(-40).join('\n')
    throw new Error(`instance ${s.index} exited by itself (${child.exitCode ?? child.signalCode}); its last output:\n${tail}`)
  }
}

/** Per writer, which of its clocks the stored rows hold and how far they integrate: where a hole is. */
async function clocksInRows(room: string, writers: readonly Writer[]): Promise<string> {
  const { rows } = await pgQuery<{ id: string; data: Buffer }>(`SELECT id, data FROM ${quoteSchema(cluster.schema)}.updates WHERE room = $1 ORDER BY id`, [room])
  const integrated = Y.decodeStateVector(replayLog(rows.map((r) => new Uint8Array(r.data))).stateVector)
  return writers
    .map((w) => {
      const client = w.doc.clientID
      const ranges: string[] = []
      for (const row of rows) {
        for (const struct of Y.decodeUpdate(new Uint8Array(row.data)).structs) {
          if (struct.id.client === client) ranges.push(`${struct.id.clock}+${struct.length}@${row.id}`)
        }
      }
      return `${w.name} (client ${client}): integrated to clock ${integrated.get(client) ?? 0}; rows hold ${ranges.join(' ')}`
    })
    .join('\n')
}

/** The warnings and errors every process of every slot logged (pino levels 40 and up), for a failure report. */
function warnings(slots: readonly Slot[]): string {
  const lines: string[] = []
  for (const s of slots) {
    for (const [generation, server] of s.generations.entries()) {
      for (const line of server.output().split('\n')) {
        if (/"level":(4|5|6)\d/.test(line)) lines.push(`instance ${s.index}.${generation + 1}: ${line.slice(0, 400)}`)
      }
    }
  }
  return lines.slice(-120).join('\n')
}

/**
 * One writer: types `<name>-<n>` markers into the array `log` of its document and reconnects (with the
 * same document, so whatever the server lacks is sent again in the sync) whenever its socket closes.
 */
class Writer {
  readonly sent = new Map<string, string>() // update (base64) -> marker
  readonly markers: string[] = []
  readonly acked = new Set<string>()
  readonly doc = new Y.Doc()
  conn: Conn | null = null
  connecting = false
  reconnects = 0
  readonly #scanned = new Map<Conn, number>()

  constructor(
    readonly name: string,
    readonly room: string,
  ) {}

  get connected(): boolean {
    return this.conn !== null && this.conn.closeInfo === null
  }

  /** Connects to `slot` in the background; a failed attempt leaves the writer disconnected. */
  connect(slot: Slot): Promise<void> {
    if (this.connecting || slot.server === null) return Promise.resolve()
    this.connecting = true
    const port = slot.server.port
    return (async () => {
      try {
        const jwt = await token({ sub: this.name, rooms: { [this.room]: 'write' } })
        const conn = await single(`ws://127.0.0.1:${port}`, this.room, { token: jwt }, this.doc)
        this.#scanned.set(conn, 0)
        this.conn = conn
      } catch {
        // The instance died or could not load the room in time: the generator tries again later.
      } finally {
        this.connecting = false
      }
    })()
  }

  type(): void {
    const marker = `${this.name}-${this.markers.length}`
    let update: Uint8Array | null = null
    const capture = (u: Uint8Array, origin: unknown): void => {
      if (origin === this) update = u
    }
    this.doc.on('update', capture)
    this.doc.transact(() => this.doc.getArray<string>('log').push([marker]), this)
    this.doc.off('update', capture)
    if (update === null) throw new Error('typing changed nothing')
    this.markers.push(marker)
    this.sent.set(Buffer.from(update).toString('base64'), marker)
  }

  /** Records the saved acknowledgements received so far: an update frame byte-equal to one we sent. */
  poll(): void {
    for (const [conn, from] of this.#scanned) {
      let i = from
      for (; i < conn.received.length; i++) {
        const { message } = conn.received[i] as (typeof conn.received)[number]
        if (message.type !== 'update') continue
        const marker = this.sent.get(Buffer.from(message.update).toString('base64'))
        if (marker !== undefined) this.acked.add(marker)
      }
      this.#scanned.set(conn, i)
    }
  }

  log(): string[] {
    return this.doc.getArray<string>('log').toArray()
  }
}

describePostgres('a three-instance cluster under a seeded random walk of kills, Redis and Postgres faults', () => {
  test(`every saved edit survives and every copy converges (seed ${SEED})`, { timeout: 90_000 }, async (ctx) => {
    if (cluster.redisSkipped) return ctx.skip()
    const random = prng(SEED)
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T
    const between = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo))
    const journal: string[] = []
    const t0 = Date.now()
    const note = (what: string): void => void journal.push(`${String(Date.now() - t0).padStart(6)} ms  ${what}`)
    const faults = { kills: 0, redisCuts: 0, pgCuts: 0, pgStalls: 0, mostDown: 0 }

    const start = async (slot: Slot): Promise<void> => {
      slot.generation++
      // The slot's data directory, not a fresh one: a restarted instance finds what the killed one left.
      const server = await spawnServer(
        slot.dataDir,
        instanceEnv(cluster, `rf-${slot.index}-${slot.generation}`, {
          TANDEM_DATABASE_URL: postgresUrlVia(slot.pg),
          // A stalled connection is given up after 1 s instead of 10 s, so a stall is an outage soon.
          TANDEM_DATABASE_TIMEOUT_MS: '1000',
          TANDEM_REDIS_URL: redisUrlVia(slot.redis),
        }),
      )
      slot.server = server
      slot.generations.push(server)
    }

    const slots: Slot[] = []
    for (let index = 0; index < 3; index++) {
      const redis = await startTcpProxy({ targetPort: REDIS_PORT })
      const pg = await startTcpProxy({ targetHost: POSTGRES_HOST, targetPort: POSTGRES_PORT })
      const data = await tempDir()
      const slot: Slot = { index, redis, pg, dataDir: data.dir, server: null, booting: false, generation: 0, redisCutUntil: 0, pgFault: null, restartAt: 0, generations: [] }
      cleanups.push(async () => {
        if (slot.server) await stopServer(slot.server, 'SIGKILL')
        await redis.close()
        await pg.close()
        await data.remove()
      })
      slots.push(slot)
    }
    for (const slot of slots) await start(slot)

    const room = `rf-${SEED.toString(36)}-${Date.now().toString(36)}`
    const writers = slots.map((s) => new Writer(`w${s.index}`, room))
    for (const [i, w] of writers.entries()) {
      await w.connect(slots[i] as Slot)
      if (!w.connected) throw new Error(`${w.name} could not connect`)
    }

    const restore = (slot: Slot): void => {
      if (slot.redisCutUntil !== 0) {
        slot.redis.restore()
        slot.redisCutUntil = 0
        note(`redis restored for ${slot.index}`)
      }
      if (slot.pgFault !== null) {
        if (slot.pgFault.kind === 'cut') slot.pg.restore()
        else slot.pg.resume()
        note(`postgres ${slot.pgFault.kind} ended for ${slot.index}`)
        slot.pgFault = null
      }
    }
    const healthy = (s: Slot): boolean => s.redisCutUntil === 0 && s.pgFault === null
    const restarts: Promise<void>[] = []
    const restart = (slot: Slot): void => {
      slot.booting = true
      slot.restartAt = 0
      note(`restarting ${slot.index}`)
      restarts.push(
        start(slot)
          .then(() => note(`${slot.index} listening again`))
          .catch((err: unknown) => {
            // A boot can fail on a fault that began meanwhile; try again at a later step.
            slot.server = null
            slot.restartAt = Date.now() + 500
            note(`restart of ${slot.index} failed: ${String(err).split('\n')[0]}`)
          })
          .finally(() => (slot.booting = false)),
      )
    }

    try {
      // The random phase.
      const phaseEnd = Date.now() + PHASE_MS
      let steps = 0
      for (; steps < MAX_STEPS && Date.now() < phaseEnd; steps++) {
        failIfCrashed(slots)
        const now = Date.now()
        for (const slot of slots) {
          if (slot.redisCutUntil !== 0 && now >= slot.redisCutUntil) {
            slot.redis.restore()
            slot.redisCutUntil = 0
            note(`redis restored for ${slot.index}`)
          }
          if (slot.pgFault !== null && now >= slot.pgFault.until) {
            if (slot.pgFault.kind === 'cut') slot.pg.restore()
            else slot.pg.resume()
            note(`postgres ${slot.pgFault.kind} ended for ${slot.index}`)
            slot.pgFault = null
          }
          if (slot.server === null && !slot.booting && slot.restartAt !== 0 && now >= slot.restartAt && healthy(slot)) restart(slot)
        }

        // Writers whose socket closed go to a live instance (their own, if it is back, or another).
        for (const w of writers) {
          w.poll()
          if (!w.connected && !w.connecting) {
            const live = slots.filter(alive)
            if (live.length > 0) {
              w.reconnects++
              void w.connect(pick(live))
            }
          }
        }

        pick(writers).type()

        const roll = random()
        const live = slots.filter(alive)
        // Never the last live instance: its writers would have nowhere to go until a restart.
        if (roll < 0.012 && live.length >= 2) {
          const victim = pick(live)
          victim.server?.child.kill('SIGKILL')
          await victim.server?.exited
          victim.server = null
          victim.restartAt = Date.now() + between(500, 3_000)
          faults.kills++
          faults.mostDown = Math.max(faults.mostDown, slots.length - live.length + 1)
          note(`SIGKILL ${victim.index}`)
        } else if (roll < 0.027) {
          const targets = random() < 0.3 ? slots : [pick(slots)]
          const until = Date.now() + between(1_000, 4_000)
          for (const s of targets.filter((t) => t.redisCutUntil === 0 && !t.booting)) {
            s.redis.cut()
            s.redisCutUntil = until
            faults.redisCuts++
            note(`redis cut for ${s.index}`)
          }
        } else if (roll < 0.042) {
          const targets = random() < 0.3 ? slots : [pick(slots)]
          const kind = random() < 0.5 ? 'cut' : 'stall'
          const until = Date.now() + between(1_000, 3_500)
          for (const s of targets.filter((t) => t.pgFault === null && !t.booting)) {
            if (kind === 'cut') s.pg.cut()
            else s.pg.stall()
            s.pgFault = { kind, until }
            if (kind === 'cut') faults.pgCuts++
            else faults.pgStalls++
            note(`postgres ${kind} for ${s.index}`)
          }
        }
        await pause(between(10, 60))
      }
      note(`random phase over after ${steps} steps`)

      // Heal: every proxy forwards again, every instance runs, every writer is connected.
      for (const slot of slots) restore(slot)
      await Promise.all(restarts)
      for (const slot of slots) if (slot.server === null && !slot.booting) restart(slot)
      await Promise.all(restarts)
      await waitFor(
        () => {
          failIfCrashed(slots)
          return slots.every(alive)
        },
        'every instance to run again',
        20_000,
      )
      await waitFor(
        () => {
          failIfCrashed(slots)
          for (const w of writers) {
            if (!w.connected && !w.connecting) {
              w.reconnects++
              void w.connect(pick(slots))
            }
          }
          return writers.every((w) => w.connected)
        },
        'every writer to be connected',
        15_000,
      )
      failIfCrashed(slots)
      note('healed')

      const summary = (): string => writers.map((w) => `${w.name}: ${w.log().length} markers`).join(', ')
      await waitFor(
        () => {
          const [first, ...rest] = writers.map((w) => w.log().join())
          return rest.every((l) => l === first)
        },
        `every writer's document to be equal (${summary()})`,
        20_000,
      )
      for (const w of writers) w.poll()
      const acked = writers.flatMap((w) => [...w.acked])
      const all = writers.flatMap((w) => w.markers)
      const final = new Set((writers[0] as Writer).log())

      // Every marker typed reached every writer (each writer holds its own, and all are equal).
      for (const m of all) expect(final.has(m), `marker ${m} in the converged document`).toBe(true)
      for (const w of writers) expect(w.log()).toEqual((writers[0] as Writer).log())
      for (const m of acked) expect(final.has(m), `acknowledged ${m} in every writer's document`).toBe(true)

      // Postgres: the rows replayed as a room loads them hold every marker, and nothing else.
      const stored = async (): Promise<string[]> => {
        const { rows } = await pgQuery<{ data: Buffer }>(`SELECT data FROM ${quoteSchema(cluster.schema)}.updates WHERE room = $1 ORDER BY id`, [room])
        const doc = new Y.Doc()
        Y.applyUpdate(doc, replayLog(rows.map((r) => new Uint8Array(r.data))).integrated)
        return doc.getArray<string>('log').toArray()
      }
      let inPg: string[] = []
      await waitFor(
        async () => {
          inPg = await stored()
          return inPg.length === final.size && inPg.every((m) => final.has(m))
        },
        'Postgres to hold exactly the converged markers',
        15_000,
      ).catch(async (err: unknown) => {
        const held = new Set(inPg)
        const missing = [...final].filter((m) => !held.has(m)).map((m) => (acked.includes(m) ? `${m} (acknowledged)` : m))
        const extra = inPg.filter((m) => !final.has(m))
        throw new Error(
          `${String(err)}: Postgres holds ${inPg.length} of ${final.size}; missing ${missing.join(' ')}; extra ${extra.join(' ')}\n` +
            `${await clocksInRows(room, writers)}\n${warnings(slots)}`,
        )
      })
      const pgSet = new Set(inPg)
      for (const m of acked) expect(pgSet.has(m), `acknowledged ${m} in Postgres`).toBe(true)

      // A fresh reader on each instance gets the same document.
      failIfCrashed(slots)
      for (const slot of slots) {
        const conn = await single(`ws://127.0.0.1:${(slot.server as ChildServer).port}`, room, { token: await token({ sub: 'reader', rooms: { [room]: 'read' } }) })
        const read = (conn.docs.get(room) as Y.Doc).getArray<string>('log').toArray()
        conn.close()
        expect(new Set(read), `a fresh reader on instance ${slot.index}`).toEqual(final)
      }

      console.log(
        `random-faults seed ${SEED}: ${steps} steps, ${all.length} edits typed, ${acked.length} acknowledged and checked; ` +
          `faults: ${faults.kills} SIGKILL (at most ${faults.mostDown} instances down at once), ${faults.redisCuts} Redis cuts, ${faults.pgCuts} Postgres cuts, ${faults.pgStalls} Postgres stalls; ` +
          `writer reconnects: ${writers.map((w) => w.reconnects).join('/')}`,
      )
    } catch (err) {
      console.error(
        `random-faults failed with seed ${SEED}; replay: TANDEM_FUZZ_SEED=${SEED} npx vitest run ${FILE}\n` +
          `faults: ${JSON.stringify(faults)}; writers: ${writers.map((w) => `${w.name} typed ${w.markers.length}, acked ${w.acked.size}, holds ${w.log().length}, connected ${w.connected}`).join('; ')}\n  ` +
          journal.join('\n  '),
      )
      throw err
    }
  })
})
