/**
 * What the server holds for a room, read directly from an in-process server: its live document (if the
 * room is loaded) and its stored rows, so tests can assert that something changed nothing.
 */
import * as Y from 'yjs'
import type { RunningServer } from './server.js'

export const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

/** The text `t` of the document an update produces. */
export function textOf(update: Uint8Array): string {
  const doc = new Y.Doc()
  Y.applyUpdate(doc, update)
  return doc.getText('t').toString()
}

export interface RoomState {
  loaded: boolean
  stateVector: string | null
  text: string | null
  rows: string[]
}

/** The room's live document (if loaded) and its stored rows, after pending commits. */
export async function roomState(running: RunningServer, room: string): Promise<RoomState> {
  const live = running.server.registry.get(room)
  if (live) await live.flush()
  const stored = await running.server.store.loadUpdates(room)
  return {
    loaded: live !== undefined,
    stateVector: live ? hex(Y.encodeStateVector(live.doc)) : null,
    text: live ? textOf(Y.encodeStateAsUpdate(live.doc)) : null,
    rows: stored.updates.map(hex),
  }
}
