/**
 * `@tandem/client/react`: React bindings for the SDK (React 18 or 19, an optional peer dependency).
 *
 * ```tsx
 * <TandemProvider options={{ url: 'wss://collab.example.com/ws', getToken }}>
 *   <Editor />
 * </TandemProvider>
 *
 * function Editor() {
 *   const room = useRoom('notes-42')   // joined on mount, left when the last user unmounts
 *   const status = useStatus(room)     // 'connecting' | 'syncing' | 'synced' | …
 *   const saved = useSaved(room)       // false while a local edit is not yet durably stored
 *   const others = useOthers(room)     // [{ clientId, state }] of everyone else
 *   …
 * }
 * ```
 *
 * Every hook reads through `useSyncExternalStore` with snapshots that keep their identity until the value
 * changes, so a component re-renders only when what it reads changed.
 */
import { createContext, createElement, useCallback, useContext, useEffect, useReducer, useRef, useState, useSyncExternalStore } from 'react'
import type { ReactElement, ReactNode } from 'react'
import type { Awareness } from 'y-protocols/awareness'
import { TandemClient, type TandemClientOptions } from './client-api.js'
import type { RoomOptions, RoomProvider, RoomStatus } from './provider.js'
import { TandemError } from './errors.js'

const ClientContext = createContext<TandemClient | null>(null)

/** Props of {@link TandemProvider}: a client you own, or the options of one the provider owns. */
export type TandemProviderProps = { children?: ReactNode } & (
  | { client: TandemClient; options?: undefined }
  | { options: TandemClientOptions; client?: undefined }
)

/**
 * Makes a {@link TandemClient} available to the hooks below it. With `client`, you own it (create it
 * once, outside render, and destroy it yourself). With `options`, the provider creates the client on
 * first render and destroys it on unmount; later changes to `options` are ignored.
 */
export function TandemProvider(props: TandemProviderProps): ReactElement {
  const [owned] = useState(() => (props.client === undefined ? new TandemClient(props.options) : null))
  const client = props.client ?? owned
  if (client === null) throw new TandemError('invalid_options', 'TandemProvider: pass `client` or `options`')
  const pendingDestroy = useRef<ReturnType<typeof setTimeout> | null>(null)
  useEffect(() => {
    if (owned === null) return
    if (pendingDestroy.current !== null) clearTimeout(pendingDestroy.current)
    pendingDestroy.current = null
    // Deferred: StrictMode (and a remount in the same commit) runs this cleanup and then the effects
    // again, children first; a client destroyed synchronously here would refuse their room() calls.
    return () => {
      pendingDestroy.current = setTimeout(() => owned.destroy(), 0)
    }
  }, [owned])
  return createElement(ClientContext.Provider, { value: client }, props.children)
}

/** The {@link TandemClient} of the nearest {@link TandemProvider}; throws outside one. */
export function useTandemClient(): TandemClient {
  const client = useContext(ClientContext)
  if (client === null) throw new TandemError('invalid_options', 'Tandem hooks must be used inside a <TandemProvider>')
  return client
}

// ---------------------------------------------------------------------------------------------------
// Rooms: one provider per name and client, shared by every component that uses it
// ---------------------------------------------------------------------------------------------------

/** A provider opened during a render that never committed is destroyed after this long. */
const UNCLAIMED_MS = 5_000

interface Entry {
  readonly provider: RoomProvider
  /** Mounted components using it. */
  refs: number
  timer: ReturnType<typeof setTimeout> | null
}

/**
 * Reference-counts providers so components share one per room name (`client.room()` refuses a second
 * one). Rendering may open a provider, since the hook must return it at once; only mounted effects
 * keep it, so a render React throws away does not leak a joined room.
 */
class RoomCache {
  readonly #entries = new Map<string, Entry>()

  constructor(readonly client: TandemClient) {}

  /** During render: the shared provider, opened if needed (and destroyed later if nobody claims it). */
  peek(name: string, options: RoomOptions | undefined): RoomProvider {
    const existing = this.#entries.get(name)
    if (existing !== undefined) return existing.provider
    const entry = this.#open(name, options)
    this.#destroyLater(name, entry, UNCLAIMED_MS)
    return entry.provider
  }

  /** In an effect: claims the provider for a mounted component. */
  retain(name: string, options: RoomOptions | undefined): RoomProvider {
    const entry = this.#entries.get(name) ?? this.#open(name, options)
    if (entry.timer !== null) clearTimeout(entry.timer)
    entry.timer = null
    entry.refs += 1
    return entry.provider
  }

  /** In the effect's cleanup. The last release destroys the provider after the current task. */
  release(name: string, provider: RoomProvider): void {
    const entry = this.#entries.get(name)
    if (entry === undefined || entry.provider !== provider) return
    entry.refs -= 1
    // Not synchronously: StrictMode's re-run and a remount in the same commit claim it again first.
    if (entry.refs === 0) this.#destroyLater(name, entry, 0)
  }

  #open(name: string, options: RoomOptions | undefined): Entry {
    const entry: Entry = { provider: this.client.room(name, options), refs: 0, timer: null }
    this.#entries.set(name, entry)
    return entry
  }

  #destroyLater(name: string, entry: Entry, ms: number): void {
    if (entry.timer !== null) clearTimeout(entry.timer)
    entry.timer = setTimeout(() => {
      entry.timer = null
      if (entry.refs > 0 || this.#entries.get(name) !== entry) return
      this.#entries.delete(name)
      entry.provider.destroy()
    }, ms)
  }
}

const caches = new WeakMap<TandemClient, RoomCache>()

function cacheFor(client: TandemClient): RoomCache {
  let cache = caches.get(client)
  if (cache === undefined) {
    cache = new RoomCache(client)
    caches.set(client, cache)
  }
  return cache
}

/**
 * The room's {@link RoomProvider}, joined when the first component using `name` mounts and destroyed
 * (presence cleared, room left) when the last one unmounts. Components using the same name share one
 * provider; `options` (a `doc` or `awareness` to sync) apply only when the provider is created. The
 * client refuses a second provider for a room opened outside the hooks with `client.room(name)`.
 */
export function useRoom(name: string, options?: RoomOptions): RoomProvider {
  const cache = cacheFor(useTandemClient())
  const rendered = cache.peek(name, options)
  const [, rerender] = useReducer((n: number) => n + 1, 0)
  const optionsRef = useRef(options)
  optionsRef.current = options
  useEffect(() => {
    const provider = cache.retain(name, optionsRef.current)
    // The provider this render saw was destroyed unclaimed (a render that took very long to commit).
    if (provider !== rendered) rerender()
    return () => cache.release(name, provider)
  }, [cache, name, rendered])
  return rendered
}

// ---------------------------------------------------------------------------------------------------
// Room state
// ---------------------------------------------------------------------------------------------------

/** The room's status (`connecting`, `syncing`, `synced`, `reconnecting`, `offline`, `closed`). */
export function useStatus(room: RoomProvider): RoomStatus {
  const subscribe = useCallback((onChange: () => void) => room.on('status', onChange), [room])
  const snapshot = (): RoomStatus => room.status
  return useSyncExternalStore(subscribe, snapshot, snapshot)
}

/**
 * True when every local edit is durably stored on the server (`!room.hasUnsavedChanges`): it turns false
 * with a local edit and true again at the `saved` event. Edits the server refused (read-only token)
 * also end the wait; the room's `error` event reports them.
 */
export function useSaved(room: RoomProvider): boolean {
  const subscribe = useCallback(
    (onChange: () => void) => {
      // The provider's own update listener was added first, so it has counted the edit when this runs.
      room.doc.on('update', onChange)
      const offSaved = room.on('saved', onChange)
      const offStatus = room.on('status', onChange)
      return () => {
        room.doc.off('update', onChange)
        offSaved()
        offStatus()
      }
    },
    [room],
  )
  const snapshot = (): boolean => !room.hasUnsavedChanges
  return useSyncExternalStore(subscribe, snapshot, snapshot)
}

/** A presence state: any JSON object. */
export type PresenceState = Record<string, unknown>

/** Sets the local presence state: a new state, `null` (appear offline), or a function of the current one. */
export type SetPresence<T extends object> = (next: T | null | ((current: T | null) => T | null)) => void

/**
 * This client's presence in the room and a setter, like `useState`: `[state, setState]`. The state is
 * what the room's `awareness.getLocalState()` holds (null before anything is set).
 *
 * ```ts
 * const [me, setMe] = usePresence<{ name: string; cursor?: number }>(room)
 * setMe((s) => ({ ...s, name: 'Ada' }))
 * ```
 */
export function usePresence<T extends object = PresenceState>(room: RoomProvider): [T | null, SetPresence<T>] {
  const awareness = room.awareness
  const subscribe = useCallback(
    (onChange: () => void) => {
      // 'update' also fires for the periodic renewal, which keeps the same object: no re-render.
      awareness.on('update', onChange)
      return () => awareness.off('update', onChange)
    },
    [awareness],
  )
  const snapshot = (): T | null => awareness.getLocalState() as T | null
  const state = useSyncExternalStore(subscribe, snapshot, snapshot)
  const setState = useCallback<SetPresence<T>>(
    (next) => {
      const value = typeof next === 'function' ? next(awareness.getLocalState() as T | null) : next
      awareness.setLocalState(value)
    },
    [awareness],
  )
  return [state, setState]
}

/** Another client in the room, as {@link useOthers} lists it. */
export interface Other<T extends object = PresenceState> {
  /** The other client's Yjs client id (its `doc.clientID`). */
  readonly clientId: number
  readonly state: T
}

/**
 * The list of other clients' presence, one cached snapshot per Awareness. It changes identity only on
 * an awareness `change` that involves another client: renewals with equal content and this client's own
 * presence edits keep it.
 */
class OthersStore {
  #snapshot: readonly Other[] | null = null
  readonly #listeners = new Set<() => void>()

  constructor(private readonly awareness: Awareness) {
    // Attached for the Awareness's lifetime, so the cached snapshot is right even with no subscriber.
    awareness.on('change', this.#onChange)
  }

  readonly subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  readonly getSnapshot = (): readonly Other[] => {
    if (this.#snapshot === null) {
      const self = this.awareness.clientID
      const others: Other[] = []
      for (const [clientId, state] of this.awareness.getStates()) {
        if (clientId !== self) others.push({ clientId, state: state as PresenceState })
      }
      this.#snapshot = others
    }
    return this.#snapshot
  }

  readonly #onChange = ({ added, updated, removed }: { added: number[]; updated: number[]; removed: number[] }): void => {
    const self = this.awareness.clientID
    const aboutOthers = [added, updated, removed].some((ids) => ids.some((id) => id !== self))
    if (!aboutOthers) return
    this.#snapshot = null
    for (const listener of [...this.#listeners]) listener()
  }
}

const othersStores = new WeakMap<Awareness, OthersStore>()

/**
 * The presence states of everyone else in the room, as `[{ clientId, state }]` (clients that set no state
 * are not listed). Re-renders when another client's state changes, not on this client's own edits.
 */
export function useOthers<T extends object = PresenceState>(room: RoomProvider): ReadonlyArray<Other<T>> {
  let store = othersStores.get(room.awareness)
  if (store === undefined) {
    store = new OthersStore(room.awareness)
    othersStores.set(room.awareness, store)
  }
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot) as ReadonlyArray<Other<T>>
}
