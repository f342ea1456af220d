// Version history costs on the real server (in this process, SQLite store). A measurement script, not a test.
//
//   npx tsc -b && node bench/versions.js [--doc-kib 1024] [--versions 1000] [--typing-seconds 20]
//
// 1. take:    POST /v1/rooms/:room/versions on a loaded room holding a ~1 MiB document (prosemirror-like
//             XML: paragraphs of formatted text, written in many transactions), 5 times.
// 2. list:    1,000 versions of a room (small documents, saved through the store), paged over REST 200 at a time.
// 3. restore: POST …/versions/:id/restore of the 1 MiB document after a third of it was rewritten, 3 times.
// 4. storage: a client typing one character per update at 2 updates/s for --typing-seconds, with
//             TANDEM_VERSION_MAX_INTERVAL_MS shortened to 5 s, to show versions are full snapshots of the
//             document at the time; plus an offline replay of one hour of such typing (7,200 updates) to
//             size the versions the defaults would take (one per 30 min of continuous editing).
//
// For each of 1–3: wall time per call (median, max), process CPU per call (all threads: the event loop and
// the SQLite worker threads), and the longest event-loop stall seen during the calls (what fan-out waits).
// Prints one JSON object. Traffic goes to 127.0.0.1 only; every loop is bounded in count.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import pino from 'pino'
import * as Y from 'yjs'

const { values: args } = parseArgs({
  options: {
    'doc-kib': { type: 'string', default: '1024' },
    versions: { type: 'string', default: '1000' },
    'typing-seconds': { type: 'string', default: '20' },
  },
})
const DOC_BYTES = Number(args['doc-kib']) * 1024
const VERSIONS = Number(args.versions)
const TYPING_SECONDS = Number(args['typing-seconds'])

const dist = pathToFileURL(resolve(import.meta.dirname, '../server/dist/index.js')).href
const { createServer, loadConfig } = await import(dist)
const ADMIN_KEY = 'bench-admin-key-0123456789abcdef0123'

/** A prosemirror-like document of about `bytes` encoded, written in many transactions. */
function bigDoc(bytes) {
  const doc = new Y.Doc()
  const frag = doc.getXmlFragment('prosemirror')
  let n = 0
  while (Y.encodeStateAsUpdate(doc).byteLength < bytes) {
    doc.transact(() => {
      for (let i = 0; i < 50; i++, n++) {
        const p = new Y.XmlElement('paragraph')
        const t = new Y.XmlText()
        p.insert(0, [t])
        frag.insert(frag.length, [p])
        t.insert(0, `Paragraph ${n}: `, { strong: {} })
        t.insert(t.length, 'lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor '.repeat(4))
      }
    })
  }
  return doc
}

function stats(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const round = (x) => Math.round(x * 10) / 10
  return { median: round(sorted[Math.floor(sorted.length / 2)] ?? 0), max: round(sorted[sorted.length - 1] ?? 0) }
}

/**
 * Runs `fn` `times` times (after `prepare`, which is not measured); per call: wall ms, process CPU ms (all
 * threads); and the longest event-loop stall during the measured calls.
 */
async function measure(times, fn, prepare = async () => {}) {
  const wall = []
  const cpu = []
  let max = 0
  for (let i = 0; i < times; i++) {
    await prepare(i)
    const h = monitorEventLoopDelay({ resolution: 1 })
    h.enable()
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    await fn(i)
    wall.push(performance.now() - t0)
    const c = process.cpuUsage(c0)
    cpu.push((c.user + c.system) / 1000)
    h.disable()
    max = Math.max(max, h.max)
  }
  return { calls: times, wallMs: stats(wall), cpuMs: stats(cpu), maxEventLoopStallMs: Math.round(max / 1e5) / 10 }
}

const dataDir = await mkdtemp(join(tmpdir(), 'tandem-bench-versions-'))
const env = {
  TANDEM_HOST: '127.0.0.1',
  TANDEM_PORT: '0',
  TANDEM_DATA_DIR: dataDir,
  TANDEM_JWT_SECRET: 'bench-secret-that-is-at-least-32-bytes-long!!',
  TANDEM_ADMIN_KEY: ADMIN_KEY,
  TANDEM_MAX_BODY_BYTES: String(16 * 1024 * 1024),
  TANDEM_VERSION_MAX_INTERVAL_MS: '5000',
  TANDEM_LOG_LEVEL: 'silent',
}
const server = await createServer(loadConfig(env), { logger: pino({ level: 'silent' }) })
const { port } = await server.listen()
const api = `http://127.0.0.1:${port}`

async function call(method, path, body) {
  const headers = { authorization: `Bearer ${ADMIN_KEY}` }
  let payload
  if (body instanceof Uint8Array) {
    headers['content-type'] = 'application/octet-stream'
    payload = body
  } else if (body !== undefined) {
    headers['content-type'] = 'application/json'
    payload = JSON.stringify(body)
  }
  const res = await fetch(api + path, { method, headers, body: payload })
  const bytes = new Uint8Array(await res.arrayBuffer())
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${new TextDecoder().decode(bytes)}`)
  const type = res.headers.get('content-type') ?? ''
  return type.startsWith('application/json') ? JSON.parse(new TextDecoder().decode(bytes)) : bytes
}

const out = {}
try {
  // ---- 1. take a version of a 1 MiB document -------------------------------------------------------
  const local = bigDoc(DOC_BYTES)
  await call('POST', '/v1/rooms', { name: 'big' })
  await call('POST', '/v1/rooms/big/doc', Y.encodeStateAsUpdate(local))
  await call('GET', '/v1/rooms/big') // loaded
  const take = await measure(5, () => call('POST', '/v1/rooms/big/versions', { label: 'bench' }))
  const [first] = (await call('GET', '/v1/rooms/big/versions?limit=1')).versions
  out.take = { docBytes: first.sizeBytes, ...take }

  // ---- 2. list 1,000 versions ------------------------------------------------------------------------
  await call('POST', '/v1/rooms', { name: 'many' })
  const small = new Y.Doc()
  small.getText('t').insert(0, 'a small document')
  const update = Y.encodeStateAsUpdate(small)
  const fingerprint = Y.encodeSnapshot(Y.snapshot(small))
  for (let i = 0; i < VERSIONS; i++) {
    await server.store.saveVersion({
      id: `ver_${String(i).padStart(22, '0')}`,
      room: 'many',
      createdAt: Date.now(),
      kind: i % 10 === 0 ? 'named' : 'auto',
      label: null,
      author: null,
      update,
      fingerprint,
    })
  }
  let listed = 0
  const list = await measure(3, async () => {
    listed = 0
    let cursor = null
    do {
      const page = await call('GET', `/v1/rooms/many/versions?limit=200${cursor ? `&cursor=${cursor}` : ''}`)
      listed += page.versions.length
      cursor = page.nextCursor
    } while (cursor !== null)
  })
  out.list = { versions: listed, pagesOf: 200, ...list }

  // ---- 3. restore the 1 MiB document -----------------------------------------------------------------
  const restoreSizes = []
  const restore = await measure(3, async () => {
    const result = await call('POST', `/v1/rooms/big/versions/${first.id}/restore`)
    restoreSizes.push({ beforeRestoreBytes: result.beforeRestore.sizeBytes })
  }, async () => {
    // Not measured: bring the local copy up to date and rewrite a third of the paragraphs.
    Y.applyUpdate(local, await call('GET', '/v1/rooms/big/doc'))
    const sv = Y.encodeStateVector(local)
    const frag = local.getXmlFragment('prosemirror')
    local.transact(() => {
      frag.delete(0, Math.floor(frag.length / 3))
      const p = new Y.XmlElement('paragraph')
      p.insert(0, [new Y.XmlText('rewritten')])
      frag.insert(0, [p])
    })
    await call('POST', '/v1/rooms/big/doc', Y.encodeStateAsUpdate(local, sv))
    await new Promise((r) => setTimeout(r, 200)) // let GC and the commit settle outside the measurement
  })
  out.restore = { ...restore, note: 'before each call a third of the document was rewritten (not measured)', calls_: restoreSizes }
  const loaded = server.registry.get('big')
  out.restore.docBytesAfter = loaded ? Y.encodeStateAsUpdate(loaded.doc).byteLength : null

  // ---- 4. storage per automatic version ----------------------------------------------------------------
  await call('POST', '/v1/rooms', { name: 'typing' })
  const typist = new Y.Doc()
  const text = typist.getText('t')
  const updates = Math.round(TYPING_SECONDS * 2)
  for (let i = 0; i < updates; i++) {
    const sv = Y.encodeStateVector(typist)
    text.insert(text.length, i % 60 === 59 ? '\n' : String.fromCharCode(97 + (i % 26)))
    await call('POST', '/v1/rooms/typing/doc', Y.encodeStateAsUpdate(typist, sv))
    await new Promise((r) => setTimeout(r, 500))
  }
  const typed = (await call('GET', '/v1/rooms/typing/versions?limit=200')).versions
  // Offline: one hour of the same typing, sized at the times the defaults take versions (30 and 60 min).
  const hour = new Y.Doc()
  const hourText = hour.getText('t')
  const sizesAt = {}
  for (let i = 1; i <= 7200; i++) {
    hourText.insert(hourText.length, i % 60 === 0 ? '\n' : String.fromCharCode(97 + (i % 26)))
    if (i === 3600 || i === 7200) sizesAt[`${i / 120}min`] = Y.encodeStateAsUpdate(hour).byteLength
  }
  out.storage = {
    shortRun: { seconds: TYPING_SECONDS, updates, maxIntervalMs: 5000, versions: typed.map((v) => ({ kind: v.kind, sizeBytes: v.sizeBytes })) },
    oneHourAt2PerSecond: { versionsAtDefaults: 2, versionBytesAt: sizesAt, totalBytes: Object.values(sizesAt).reduce((a, b) => a + b, 0) },
  }
} finally {
  await server.close()
  await rm(dataDir, { recursive: true, force: true })
}
console.log(JSON.stringify(out, null, 2))
