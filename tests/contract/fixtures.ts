/** Data builders and helpers the store contract suites share. */
import pino from 'pino'
import { onTestFinished } from 'vitest'
import * as Y from 'yjs'
import type { NewWebhookDelivery, Store, StoredDocument, WebhookEndpoint } from '#server/persistence/store'
import { waitFor } from '../helpers/server.js'
import type { AdapterFactory, OpenOptions } from './adapters.js'

export interface Fixture {
  store: Store
  /** Committed append transactions so far, when the adapter reports them (SQLite logs one line per batch). */
  transactions?: () => number
}

/** A debug logger that counts the store's one-per-transaction 'batch committed' lines. */
export function countingLogger(): { log: pino.Logger; count: () => number } {
  let n = 0
  const log = pino(
    { level: 'debug' },
    {
      write(line: string) {
        if ((JSON.parse(line) as { msg?: string }).msg === 'batch committed') n++
      },
    },
  )
  return { log, count: () => n }
}

/** Opens a fresh store from the adapter, closed when the test finishes. */
export async function openStore(adapter: AdapterFactory, opts: OpenOptions = {}): Promise<Fixture> {
  if (adapter.logsCommits && opts.log === undefined) {
    const { log, count } = countingLogger()
    const store = await adapter.open({ ...opts, log })
    onTestFinished(() => store.close())
    return { store, transactions: count }
  }
  const store = await adapter.open(opts)
  onTestFinished(() => store.close())
  return { store }
}

/** A new instance over `previous`'s data (previous closed first), closed when the test finishes. */
export async function reopenStore(adapter: AdapterFactory, previous: Store, opts: OpenOptions = {}): Promise<Store> {
  if (!adapter.reopen) throw new Error(`the ${adapter.name} adapter keeps nothing past close`)
  const store = await adapter.reopen(previous, opts)
  onTestFinished(() => store.close())
  return store
}

/** A clock the test moves by hand: stored times are exact. */
export class ManualClock {
  t = 1_000_000
  readonly now = (): number => this.t
}

/** Real Yjs updates: one per insert, so applying them in any grouping must rebuild `text`. */
export function textUpdates(n: number, tag = 'u'): { updates: Uint8Array[]; text: string } {
  const doc = new Y.Doc()
  const updates: Uint8Array[] = []
  doc.on('update', (u: Uint8Array) => updates.push(u))
  const t = doc.getText('t')
  for (let i = 0; i < n; i++) t.insert(t.length, `${tag}${i};`)
  const text = t.toString()
  doc.destroy()
  return { updates, text }
}

export function textOf(updates: readonly Uint8Array[]): string {
  const doc = new Y.Doc()
  for (const u of updates) Y.applyUpdate(doc, u)
  const text = doc.getText('t').toString()
  doc.destroy()
  return text
}

export function bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s)
}

export function decode(u: Uint8Array): string {
  return new TextDecoder().decode(u)
}

export function sumBytes(updates: readonly Uint8Array[]): number {
  return updates.reduce((n, u) => n + u.byteLength, 0)
}

export function endpoint(id: string, overrides: Partial<WebhookEndpoint> = {}): WebhookEndpoint {
  return {
    id,
    url: `https://receiver.example/${id}`,
    secret: 'whsec_c2VjcmV0LWtleS1mb3ItdGVzdHM=',
    events: null,
    createdAt: 1_000,
    disabledAt: null,
    previousSecret: null,
    previousSecretExpiresAt: null,
    ...overrides,
  }
}

export function newDelivery(id: string, overrides: Partial<NewWebhookDelivery> = {}): NewWebhookDelivery {
  return {
    id,
    endpointId: 'ep_1',
    eventType: 'room.changed',
    payload: JSON.stringify({ type: 'room.changed', id }),
    createdAt: 1_000,
    ...overrides,
  }
}

/** An encoded Yjs state vector from `{ clientId: clock }`. */
export function stateVector(clocks: Record<number, number>): Uint8Array {
  return Y.encodeStateVector(new Map(Object.entries(clocks).map(([client, clock]) => [Number(client), clock])))
}

export function tombstoneOf(doc: StoredDocument): Record<number, number> | null {
  return doc.tombstone ? Object.fromEntries(Y.decodeStateVector(doc.tombstone)) : null
}

/** Waits until the wall clock has moved past `ms`, so a later timestamp is observably later. */
export async function nextMillisecond(ms: number): Promise<void> {
  await waitFor(() => Date.now() > ms, `the clock to pass ${ms}`, 1_000)
}

/** What an unknown (or deleted) room loads as. */
export const EMPTY_DOC: StoredDocument = { updates: [], rowCount: 0, byteSize: 0, tombstone: null, clientOwners: new Map() }
