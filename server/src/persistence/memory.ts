import * as Y from 'yjs'
import { GroupCommitter } from './group-commit.js'
import type { CompactionResult, Store, StoredDocument } from './store.js'

interface PendingAppend {
  room: string
  data: Uint8Array
}

/**
 * In-process store for tests and single-process demos. Appends go through the same group committer as
 * the SQLite adapter, so they resolve asynchronously and in call order, exactly as a real adapter would.
 */
export function createMemoryStore(): Store {
  const rows = new Map<string, Uint8Array[]>()
  const committer = new GroupCommitter<PendingAppend>({
    commit: async (items) => {
      for (const { room, data } of items) {
        const list = rows.get(room)
        if (list) list.push(data)
        else rows.set(room, [data])
      }
    },
    sizeOf: (item) => item.data.byteLength,
  })
  return new MemoryStore(rows, committer)
}

class MemoryStore implements Store {
  #closed = false
  #closing: Promise<void> | null = null

  constructor(
    private readonly rows: Map<string, Uint8Array[]>,
    private readonly committer: GroupCommitter<PendingAppend>,
  ) {}

  async loadUpdates(room: string): Promise<StoredDocument> {
    this.#assertOpen()
    // Copies, so a caller mutating what it loaded cannot change what is stored.
    const updates = (this.rows.get(room) ?? []).map((u) => u.slice())
    return { updates, rowCount: updates.length, byteSize: sumBytes(updates) }
  }

  appendUpdate(room: string, update: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(closedError())
    // Callers may reuse their buffer (uWS does) as soon as this returns.
    return this.committer.enqueue({ room, data: new Uint8Array(update) })
  }

  async compact(room: string): Promise<CompactionResult> {
    this.#assertOpen()
    const list = this.rows.get(room)
    if (!list || list.length < 2) return { rowsMerged: 0, bytesAfter: 0 }
    // Synchronous from here on: no append can land between reading the rows and replacing them.
    const merged = Y.mergeUpdates(list)
    this.rows.set(room, [merged])
    return { rowsMerged: list.length, bytesAfter: merged.byteLength }
  }

  async deleteRoom(room: string): Promise<void> {
    this.#assertOpen()
    // Appends issued before the delete must not reappear after it.
    await this.committer.flush()
    this.rows.delete(room)
  }

  async ping(): Promise<void> {
    this.#assertOpen()
  }

  close(): Promise<void> {
    this.#closed = true
    this.#closing ??= this.committer.close()
    return this.#closing
  }

  #assertOpen(): void {
    if (this.#closed) throw closedError()
  }
}

function closedError(): Error {
  return new Error('memory store is closed')
}

function sumBytes(updates: readonly Uint8Array[]): number {
  let n = 0
  for (const u of updates) n += u.byteLength
  return n
}
