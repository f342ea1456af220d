/**
 * Which data directory `tandem token` / `tandem admin-key` pick without --data-dir: the nearest folder,
 * from the working directory up, that holds a data/ with Tandem's files or is a project root.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, test } from 'vitest'
import { findDataDir } from '#server/find-data-dir'
import { tempDir } from '../helpers/server.js'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const clean of cleanups.splice(0)) await clean()
})

async function tree(files: Record<string, string>): Promise<string> {
  const { dir, remove } = await tempDir()
  cleanups.push(remove)
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true })
    writeFileSync(path.join(dir, file), text)
  }
  return dir
}

describe('findDataDir', () => {
  test('a data/ holding Tandem files, found from a nested subfolder', async () => {
    const root = await tree({ 'data/jwt-secret': 'x', 'a/b/c/.keep': '' })
    expect(findDataDir(path.join(root, 'a/b/c'))).toEqual({ dir: path.join(root, 'data'), why: 'existing' })
  })

  test('a data/ without Tandem files does not count; the project root above does', async () => {
    const root = await tree({ 'package.json': JSON.stringify({ name: 'app', dependencies: { '@tandem/server': '^0.1.0' } }), 'web/data/other.txt': 'x' })
    expect(findDataDir(path.join(root, 'web'))).toEqual({ dir: path.join(root, 'data'), why: 'project' })
  })

  test('a package.json of a workspace member is passed over for the workspace root', async () => {
    const root = await tree({
      'package.json': JSON.stringify({ name: 'tandem', private: true, workspaces: ['server'] }),
      'server/package.json': JSON.stringify({ name: '@tandem/server' }),
      'server/src/.keep': '',
    })
    expect(findDataDir(path.join(root, 'server/src'))).toEqual({ dir: path.join(root, 'data'), why: 'project' })
  })

  test('the nearest wins: a project root before a data/ further up', async () => {
    const root = await tree({ 'data/admin-key': 'x', 'app/package.json': JSON.stringify({ devDependencies: { '@tandem/server': '*' } }), 'app/src/.keep': '' })
    expect(findDataDir(path.join(root, 'app/src'))).toEqual({ dir: path.join(root, 'app/data'), why: 'project' })
  })

  test('nothing found: null (an unreadable or non-JSON package.json is no root)', async () => {
    const root = await tree({ 'package.json': '{ not json', 'sub/.keep': '' })
    // Only meaningful if no folder above the temporary directory is a project or holds Tandem data.
    if (findDataDir(path.dirname(root)) !== null) throw new Error(`a folder above ${root} looks like a Tandem project; cannot test the empty case here`)
    expect(findDataDir(path.join(root, 'sub'))).toBeNull()
  })
})
