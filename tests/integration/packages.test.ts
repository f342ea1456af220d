/**
 * The published packages as a user gets them: `npm pack` both workspaces, install the tarballs into a
 * fresh project outside the workspace (with yjs, y-protocols, lib0, ws, y-websocket and react), start the
 * server with the installed `tandem` bin on port 0, and sync the installed SDK (Node, `ws` as its
 * WebSocket) with a y-websocket peer. One Yjs in the app: the SDK and the server resolve the app's copy;
 * `@tandem/client/react` renders with the app's React.
 *
 * The install is `npm ci --prefer-offline --ignore-scripts` against a lock derived from the workspace's
 * (tests/helpers/app-lockfile.ts), so it reads the npm cache that the workspace's `npm ci` filled. With
 * scripts off, better-sqlite3's native addon is not compiled (minutes): the workspace's build of the
 * same version is copied in instead.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { appLockfile } from '../helpers/app-lockfile.js'
import { TEST_SECRET, waitFor } from '../helpers/server.js'

const run = promisify(execFile)
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const PEERS = ['yjs', 'y-protocols', 'lib0', 'ws', 'y-websocket', 'react', 'react-dom']

/** npm settings vitest inherited from `npm run`/`npx` would point npm back at the workspace. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')))
}

interface PackResult {
  name: string
  filename: string
  files: Array<{ path: string }>
}

describe('installable packages', () => {
  let dir: string
  let app: string
  let packed: PackResult[] = []
  let child: ChildProcess | null = null

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'tandem-packages-'))
    app = path.join(dir, 'app')
    await mkdir(app)
    const { stdout } = await run(NPM, ['pack', '-w', 'client-sdk', '-w', 'server', '--json', '--pack-destination', app], {
      cwd: ROOT,
      env: cleanEnv(),
      timeout: 60_000,
      maxBuffer: 32 * 1024 * 1024,
    })
    packed = JSON.parse(stdout) as PackResult[]
    const folderOf: Record<string, string> = { '@tandem/client': 'client-sdk', '@tandem/server': 'server' }
    const tarballs = packed.map((p) => ({ name: p.name, folder: folderOf[p.name] ?? '', file: p.filename }))
    const { packageJson, lock } = await appLockfile(ROOT, app, tarballs, PEERS)
    await writeFile(path.join(app, 'package.json'), JSON.stringify(packageJson, null, 2))
    await writeFile(path.join(app, 'package-lock.json'), JSON.stringify(lock, null, 2))
    await run(NPM, ['ci', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], {
      cwd: app,
      env: cleanEnv(),
      timeout: 120_000,
      maxBuffer: 32 * 1024 * 1024,
    })
    // The addon an install script would have compiled: the workspace's build of the same version.
    const addon = 'node_modules/better-sqlite3/build/Release/better_sqlite3.node'
    const versionOf = async (base: string): Promise<string> =>
      (JSON.parse(await readFile(path.join(base, 'node_modules/better-sqlite3/package.json'), 'utf8')) as { version: string }).version
    expect(await versionOf(app)).toBe(await versionOf(ROOT))
    await mkdir(path.dirname(path.join(app, addon)), { recursive: true })
    await copyFile(path.join(ROOT, addon), path.join(app, addon))
    await copyFile(path.join(ROOT, 'tests/integration/fixtures/packages-app.mjs'), path.join(app, 'app.mjs'))
  }, 240_000)

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child?.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    }
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  test('the tarballs hold the built code, the docs and the bin, and no tests or sources of the server', () => {
    const files = (name: string): string[] => packed.find((p) => p.name === name)?.files.map((f) => f.path) ?? []
    const client = files('@tandem/client')
    expect(client).toEqual(expect.arrayContaining(['package.json', 'README.md', 'PROTOCOL.md', 'dist/index.js', 'dist/index.d.ts', 'dist/react.js', 'dist/protocol.js']))
    const server = files('@tandem/server')
    expect(server).toEqual(expect.arrayContaining(['package.json', 'bin/tandem.js', 'dist/index.js', 'dist/index.d.ts', 'dist/main.js']))
    expect(server.filter((f) => f.startsWith('src/') || f.includes('test'))).toEqual([])
  })

  test('the installed bin serves, and the installed SDK syncs with a y-websocket peer on one Yjs', async () => {
    // One Yjs for the app: npm placed no private copy under either package.
    for (const pkg of ['@tandem/client', '@tandem/server']) {
      for (const dep of ['yjs', 'y-protocols', 'lib0']) expect(existsSync(path.join(app, 'node_modules', pkg, 'node_modules', dep))).toBe(false)
    }

    const bin = path.join(app, 'node_modules/.bin/tandem')
    child = spawn(bin, ['serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', path.join(dir, 'data')], {
      cwd: app,
      env: { ...cleanEnv(), TANDEM_JWT_SECRET: TEST_SECRET, TANDEM_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()))
    child.stderr?.on('data', (chunk: Buffer) => (out += chunk.toString()))
    let port = 0
    await waitFor(() => {
      if (child?.exitCode !== null) throw new Error(`the installed tandem exited (${child?.exitCode}):\n${out}`)
      port = Number(/"port":(\d+),"msg":"listening"/.exec(out)?.[1] ?? 0)
      return port > 0
    }, 'the installed tandem bin to listen', 20_000)

    const room = `pkg-${Date.now().toString(36)}`
    const { stdout } = await run(process.execPath, ['app.mjs', `ws://127.0.0.1:${port}/ws`, TEST_SECRET, room], {
      cwd: app,
      env: cleanEnv(),
      timeout: 30_000,
    })
    const result = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as {
      serverExports: string[]
      exportsRefused: string[]
      yjs: Record<string, string>
      sdkEntry: string
      serverEntry: string
      sdkSawOnJoin: string
      peerSees: string
      sdkDocIsAppYjs: boolean
      reactExports: string[]
      reactEntry: string
      reactOfSdk: string
      reactOfApp: string
      rendered: string
    }

    // Imported from the installed packages, not the workspace.
    expect(result.sdkEntry).toBe(path.join(app, 'node_modules/@tandem/client/dist/index.js'))
    expect(result.serverEntry).toBe(path.join(app, 'node_modules/@tandem/server/dist/index.js'))
    // The SDK and the server use the app's yjs and y-protocols.
    expect(result.yjs.app).toBe(path.join(app, 'node_modules/yjs/dist/yjs.cjs'))
    expect(result.yjs.sdk).toBe(result.yjs.app)
    expect(result.yjs.server).toBe(result.yjs.app)
    expect(result.yjs.sdkYProtocols).toBe(result.yjs.appYProtocols)
    expect(result.sdkDocIsAppYjs).toBe(true)
    // The room's content reached the SDK's doc, and the SDK's edit reached the peer.
    expect(result.sdkSawOnJoin).toBe('from y-websocket')
    expect(result.peerSees).toBe('from y-websocket + from the SDK')

    // The React entry comes from the tarball, uses the app's one React, and its hooks see the provider's client.
    expect(result.reactEntry).toBe(path.join(app, 'node_modules/@tandem/client/dist/react.js'))
    expect(result.reactOfSdk).toBe(result.reactOfApp)
    expect(result.reactExports).toEqual(expect.arrayContaining(['TandemProvider', 'useOthers', 'usePresence', 'useRoom', 'useSaved', 'useStatus', 'useTandemClient']))
    expect(result.rendered).toBe('<span>same client</span>')

    expect(result.serverExports).toEqual(['ConfigError', 'createLogger', 'createServer', 'loadConfig', 'mintToken'])
    expect(result.exportsRefused).toEqual(['@tandem/server/config', '@tandem/server/persistence/memory', '@tandem/client/client'])

    // The CLI's other commands work from the install too.
    const token = await run(bin, ['token', '--room', room], { cwd: app, env: { ...cleanEnv(), TANDEM_JWT_SECRET: TEST_SECRET }, timeout: 20_000 })
    expect(token.stdout.trim()).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/)
  })
})
