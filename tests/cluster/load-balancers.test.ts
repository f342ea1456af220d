/**
 * docs/cluster.md as written: HAProxy, then nginx, in front of two real Tandem instances (one Postgres
 * schema, one Redis prefix), y-websocket clients connecting through the proxy. (a) Two clients of one
 * room land on the same instance and sync; (b) clients of many rooms spread over both instances; (c) a
 * client connected directly to the other instance still converges with one routed by the proxy.
 *
 * Which instance holds a connection is read from each instance's own `GET /v1/rooms/:room` stats, which
 * count that instance's connections only.
 *
 * Substitutions (the only changes to the documents' text): `bind :80` / `listen 80` become a free port
 * on 127.0.0.1 (found by binding port 0); `10.0.0.1:4321` and `10.0.0.2:4321` become the instances'
 * ports; nginx gets a main configuration with every path in a temp directory around the snippet.
 *
 * haproxy and nginx are looked up on PATH; a missing one skips its suite with a message (a failure under
 * CI=true).
 */
import { spawn, spawnSync } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { snippet } from '../docs/markdown.js'
import { startInstance, useClusterFile, yWebsocketClient } from '../helpers/cluster.js'
import { describePostgres } from '../helpers/postgres.js'
import { tempDir, waitFor, type ChildServer } from '../helpers/server.js'

const FILE = 'tests/cluster/load-balancers.test.ts'
const ADMIN_KEY = 'cluster-lb-test-admin-key-0123456789'
const inCI = process.env.CI === 'true'

const cluster = useClusterFile(FILE, ADMIN_KEY)

function tool(name: string): boolean {
  const found = spawnSync('sh', ['-c', `command -v ${name}`]).status === 0
  if (!found && !inCI) console.warn(`[skip] ${FILE}: ${name} is missing: its suite is SKIPPED (apt-get install -y ${name}). Under CI=true this is a failure.`)
  return found || inCI
}

async function freePort(): Promise<number> {
  const srv = net.createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const { port } = srv.address() as net.AddressInfo
  await new Promise<void>((resolve) => srv.close(() => resolve()))
  return port
}

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy()
      resolve(true)
    })
    s.on('error', () => resolve(false))
  })
}

/** Starts a proxy in the foreground, stopped (by its pid) when `stop` is called. */
async function proxy(cmd: string, args: string[], port: number, log: () => Promise<string> = async () => ''): Promise<() => Promise<void>> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()))
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()))
  // A binary missing under CI=true is a spawn error: reported as this test's failure, not an uncaught one.
  let spawnError: Error | undefined
  const exited = new Promise<void>((resolve) => {
    child.on('exit', () => resolve())
    child.on('error', (err) => {
      spawnError = err
      resolve()
    })
  })
  const stop = async (): Promise<void> => {
    if (spawnError === undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    await exited
  }
  try {
    await waitFor(async () => {
      if (spawnError) throw new Error(`${cmd} could not be started: ${spawnError.message}`)
      if (child.exitCode !== null) throw new Error(`${cmd} exited (${child.exitCode}):\n${out}\n${await log()}`)
      return accepts(port)
    }, `${cmd} to listen`)
  } catch (err) {
    await stop()
    throw err
  }
  return stop
}

/**
 * This instance's open connections in the room (0 when it has none or never loaded it). From the room
 * list, whose stats count the answering instance only (`GET /v1/rooms/:room` counts the whole cluster).
 */
async function connectionsOn(server: ChildServer, room: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${server.port}/v1/rooms?prefix=${encodeURIComponent(room)}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
  expect(res.status).toBe(200)
  const body = (await res.json()) as { rooms: { name: string; stats?: { connections?: number } }[] }
  return body.rooms.find((r) => r.name === room)?.stats?.connections ?? 0
}

/** The instance index (0 or 1) holding exactly `count` connections of the room while the other holds none. */
async function holder(instances: ChildServer[], room: string, count: number): Promise<number> {
  let found = -1
  await waitFor(async () => {
    const counts = await Promise.all(instances.map((s) => connectionsOn(s, room)))
    found = counts[0] === count && counts[1] === 0 ? 0 : counts[1] === count && counts[0] === 0 ? 1 : -1
    return found >= 0
  }, `${room}'s ${count} connection(s) to be counted on one instance`)
  return found
}

const LOAD_BALANCERS = [
  {
    name: 'haproxy',
    async start(dir: string, port: number, upstreams: number[]): Promise<() => Promise<void>> {
      const cfg = snippet('haproxy-cluster')
        .code.replace('bind :80', `bind 127.0.0.1:${port}`)
        .replace('10.0.0.1:4321', `127.0.0.1:${upstreams[0]}`)
        .replace('10.0.0.2:4321', `127.0.0.1:${upstreams[1]}`)
      const file = path.join(dir, 'haproxy.cfg')
      await writeFile(file, cfg)
      // -db: foreground, no daemon; -W is not used, so SIGTERM stops it at once.
      return proxy('haproxy', ['-db', '-f', file], port)
    },
  },
  {
    name: 'nginx',
    async start(dir: string, port: number, upstreams: number[]): Promise<() => Promise<void>> {
      const site = snippet('nginx-cluster')
        .code.replace('listen 80;', `listen 127.0.0.1:${port};`)
        .replace('10.0.0.1:4321', `127.0.0.1:${upstreams[0]}`)
        .replace('10.0.0.2:4321', `127.0.0.1:${upstreams[1]}`)
      await writeFile(path.join(dir, 'site.conf'), site)
      // The main configuration Debian's /etc/nginx/nginx.conf would be, with every path in the temp directory.
      const main = `daemon off; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/error.log warn;
events { worker_connections 256; }
http { access_log off; client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi; include ${dir}/site.conf; }
`
      await writeFile(path.join(dir, 'nginx.conf'), main)
      return proxy('nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')], port, () =>
        readFile(path.join(dir, 'error.log'), 'utf8').catch(() => ''),
      )
    },
  },
]

describePostgres('load balancers from docs/cluster.md in front of two instances', () => {
  // Both instances serve every load balancer's tests; they stop before the file drops the schema.
  const instances: ChildServer[] = []
  const stops: Array<() => Promise<void>> = []

  beforeAll(async () => {
    if (cluster.redisSkipped) return
    for (const id of ['one', 'two']) {
      const { server, stop } = await startInstance(cluster, id, { TANDEM_TRUSTED_PROXIES: '127.0.0.1' })
      stops.push(stop)
      instances.push(server)
    }
  }, 60_000)

  afterAll(async () => {
    for (const stop of stops) await stop()
  })

  for (const lb of LOAD_BALANCERS) {
    describe.skipIf(!tool(lb.name))(lb.name, () => {
      let port = 0
      let stop: (() => Promise<void>) | undefined
      let dir: { dir: string; remove: () => Promise<void> } | undefined

      beforeAll(async () => {
        if (cluster.redisSkipped) return
        dir = await tempDir()
        port = await freePort()
        stop = await lb.start(dir.dir, port, instances.map((s) => s.port))
      })
      afterAll(async () => {
        await stop?.()
        await dir?.remove()
      })

      test('two clients of one room land on the same instance and sync', async (ctx) => {
        if (cluster.redisSkipped) return ctx.skip()
        const room = `${lb.name}-same-${Date.now().toString(36)}`
        const alice = await yWebsocketClient(port, room, 'alice')
        const bob = await yWebsocketClient(port, room, 'bob')
        await holder(instances, room, 2)
        alice.doc.getText('t').insert(0, 'hello')
        await waitFor(() => bob.doc.getText('t').toString() === 'hello', 'bob to see alice’s edit')
        bob.doc.getText('t').insert(5, ' world')
        await waitFor(() => alice.doc.getText('t').toString() === 'hello world', 'alice to see bob’s edit')
      })

      test('clients of many rooms spread over both instances', async (ctx) => {
        if (cluster.redisSkipped) return ctx.skip()
        // 24 rooms: with consistent hashing over two instances, all of them on one would be a broken hash.
        const rooms = Array.from({ length: 24 }, (_, i) => `${lb.name}-spread-${i}-${Date.now().toString(36)}`)
        const clients = await Promise.all(rooms.map((room, i) => yWebsocketClient(port, room, `user-${i}`)))
        const holders = []
        for (const room of rooms) holders.push(await holder(instances, room, 1))
        const onOne = holders.filter((h) => h === 0).length
        console.info(`[${FILE}] ${lb.name}: ${onOne} of ${rooms.length} rooms on instance one, ${rooms.length - onOne} on two`)
        expect(onOne).toBeGreaterThan(0)
        expect(onOne).toBeLessThan(rooms.length)
        expect(clients).toHaveLength(rooms.length)
      })

      test('a client routed by the proxy and one connected directly to the other instance converge', async (ctx) => {
        if (cluster.redisSkipped) return ctx.skip()
        const room = `${lb.name}-direct-${Date.now().toString(36)}`
        const routed = await yWebsocketClient(port, room, 'routed')
        const routedOn = await holder(instances, room, 1)
        const other = instances[1 - routedOn] as ChildServer
        const direct = await yWebsocketClient(other.port, room, 'direct')
        await waitFor(async () => (await connectionsOn(other, room)) === 1, 'the direct client to be counted on the other instance')
        routed.doc.getText('t').insert(0, 'via proxy')
        await waitFor(() => direct.doc.getText('t').toString() === 'via proxy', 'the direct client to see the routed client’s edit')
        direct.doc.getText('t').insert(0, 'direct, ')
        await waitFor(() => routed.doc.getText('t').toString() === 'direct, via proxy', 'the routed client to see the direct client’s edit')
      })
    })
  }
})
