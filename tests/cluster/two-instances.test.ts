/**
 * Two real Tandem processes (the built CLI) on one Postgres schema and one Redis prefix. An unmodified
 * y-websocket client on each: their edits converge, presence crosses, and when one instance is killed
 * with SIGKILL its client's presence disappears on the other within 15 s (liveness TTL 5 s, checked
 * every 2 s), while the surviving instance keeps serving the document, edits included. And every kind
 * of client at once — y-websocket (single framing), Hocuspocus's provider and the SDK (multiplexed) —
 * spread over both instances: one document and one presence for all, the SDK's saved acks included.
 */
import { expect, onTestFinished, test } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import type { Awareness } from 'y-protocols/awareness'
import { sdkClient, spawnInstance, useClusterFile, usersIn, yWebsocketClient } from '../helpers/cluster.js'
import { describePostgres } from '../helpers/postgres.js'
import { token, waitFor, type ChildServer } from '../helpers/server.js'

const FILE = 'tests/cluster/two-instances.test.ts'
const ADMIN_KEY = 'cluster-test-admin-key-0123456789'

const cluster = useClusterFile(FILE, ADMIN_KEY)

/** An unmodified Hocuspocus provider (multiplexed framing on `/ws`). */
async function hocuspocusClient(server: ChildServer, room: string, name: string): Promise<{ doc: Y.Doc; awareness: Awareness }> {
  const socket = new HocuspocusProviderWebsocket({ url: `ws://127.0.0.1:${server.port}/ws`, WebSocketPolyfill: WebSocket })
  const doc = new Y.Doc()
  const provider = new HocuspocusProvider({ websocketProvider: socket, name: room, document: doc, token: await token({ sub: name, rooms: { [room]: 'write' } }) })
  onTestFinished(() => {
    provider.destroy()
    ;(socket.webSocket as unknown as WebSocket | null)?.on('error', () => {})
    socket.destroy()
    doc.destroy()
  })
  provider.setAwarenessField('user', name)
  provider.attach()
  await waitFor(() => provider.isSynced, `${name} (Hocuspocus) to sync`, 15_000)
  const awareness = provider.awareness
  if (!awareness) throw new Error('the Hocuspocus provider has no awareness')
  return { doc, awareness }
}

describePostgres('two instances on one Postgres schema and one Redis', () => {
  test('clients on different instances converge and see each other; a SIGKILLed instance’s presence goes within 15 s', async (ctx) => {
    if (cluster.redisSkipped) return ctx.skip()
    const one = await spawnInstance(cluster, 'one')
    const two = await spawnInstance(cluster, 'two')
    expect(one.output()).toMatch(/"instanceId":"one","port":\d+,"msg":"listening"/)
    const room = `cluster-${Date.now().toString(36)}`
    const alice = await yWebsocketClient(one.port, room, 'alice')
    const bob = await yWebsocketClient(two.port, room, 'bob')

    alice.doc.getText('t').insert(0, 'hello')
    await waitFor(() => bob.doc.getText('t').toString() === 'hello', 'bob (instance two) to see alice’s edit')
    bob.doc.getText('t').insert(5, ' world')
    await waitFor(() => alice.doc.getText('t').toString() === 'hello world', 'alice (instance one) to see bob’s edit')

    await waitFor(() => usersIn(bob.awareness) === 'alice,bob', 'bob to see alice’s presence')
    await waitFor(() => usersIn(alice.awareness) === 'alice,bob', 'alice to see bob’s presence')

    one.child.kill('SIGKILL')
    expect(await one.exited).toBe('SIGKILL')
    await waitFor(() => usersIn(bob.awareness) === 'bob', 'alice’s presence to disappear on instance two', 15_000)

    // The survivor still serves the room, from the shared store.
    bob.doc.getText('t').insert(0, '> ')
    const carol = await yWebsocketClient(two.port, room, 'carol')
    await waitFor(() => carol.doc.getText('t').toString() === '> hello world', 'a new client on instance two to get the whole document')
  })

  test('y-websocket, Hocuspocus and SDK clients spread over both instances share one document and one presence', async (ctx) => {
    if (cluster.redisSkipped) return ctx.skip()
    const one = await spawnInstance(cluster, 'mixed-one')
    const two = await spawnInstance(cluster, 'mixed-two')
    const room = `mixed-${Date.now().toString(36)}`
    const yws = await yWebsocketClient(one.port, room, 'yws')
    const hocus = await hocuspocusClient(two, room, 'hocus')
    const sdkOne = await sdkClient(one.port, room, 'sdk-one')
    const sdkTwo = await sdkClient(two.port, room, 'sdk-two')
    const docs = { yws: yws.doc, hocus: hocus.doc, sdkOne: sdkOne.doc, sdkTwo: sdkTwo.doc }

    // Each client writes its own key; the SDK's writes are acknowledged as saved by its own instance.
    yws.doc.getMap('m').set('yws', 1)
    hocus.doc.getMap('m').set('hocus', 2)
    sdkOne.doc.getMap('m').set('sdkOne', 3)
    sdkTwo.doc.getMap('m').set('sdkTwo', 4)
    await Promise.all([sdkOne.whenSaved(), sdkTwo.whenSaved()])
    const expected = { yws: 1, hocus: 2, sdkOne: 3, sdkTwo: 4 }
    for (const [name, doc] of Object.entries(docs)) {
      await waitFor(() => JSON.stringify(doc.getMap('m').toJSON(), Object.keys(expected).sort()) === JSON.stringify(expected, Object.keys(expected).sort()), `${name} to hold every client's edit`)
    }

    // Concurrent text edits from both framings on both instances end in one text everywhere.
    yws.doc.getText('t').insert(0, 'a')
    hocus.doc.getText('t').insert(0, 'b')
    sdkTwo.doc.getText('t').insert(0, 'c')
    await sdkTwo.whenSaved()
    await waitFor(() => new Set(Object.values(docs).map((d) => d.getText('t').toString())).size === 1 && yws.doc.getText('t').length === 3, 'the texts to converge')

    // Presence: every client sees all four users, whichever framing and instance they came through.
    const everyone = 'hocus,sdk-one,sdk-two,yws'
    for (const [name, awareness] of [['yws', yws.awareness], ['hocus', hocus.awareness], ['sdkOne', sdkOne.awareness], ['sdkTwo', sdkTwo.awareness]] as const) {
      await waitFor(() => usersIn(awareness) === everyone, `${name} to see every user's presence`)
    }
  })
})

