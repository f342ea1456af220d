/**
 * A tiny typed event emitter: `on` returns its own unsubscribe function. A listener that throws does
 * not stop the others; its error is rethrown asynchronously so it still surfaces.
 */

/** Maps each event name to the tuple of arguments its listeners receive. */
export type EventMap = { [event: string]: unknown[] }

/** A listener for event `K` of map `E`. */
export type Listener<E extends EventMap, K extends keyof E> = (...args: E[K]) => void

/** Base class of {@link TandemClient} and {@link RoomProvider}: `on` / `off` with typed arguments. */
export class Emitter<E extends EventMap> {
  // Listeners of different events have different signatures; each is cast back to its own on emit.
  readonly #listeners = new Map<keyof E, Set<unknown>>()

  /**
   * Adds a listener; returns a function that removes it.
   *
   * @example
   * const stop = provider.on('status', (status) => render(status))
   * stop()
   */
  on<K extends keyof E>(event: K, listener: Listener<E, K>): () => void {
    let set = this.#listeners.get(event)
    if (!set) {
      set = new Set()
      this.#listeners.set(event, set)
    }
    set.add(listener)
    return () => this.off(event, listener)
  }

  /** Removes a listener added with {@link Emitter.on}. */
  off<K extends keyof E>(event: K, listener: Listener<E, K>): void {
    const set = this.#listeners.get(event)
    if (!set) return
    set.delete(listener)
    if (set.size === 0) this.#listeners.delete(event)
  }

  /** Number of listeners for `event`. */
  protected listenerCount(event: keyof E): number {
    return this.#listeners.get(event)?.size ?? 0
  }

  /** Calls every listener of `event` with `args`, in the order they were added. */
  protected emit<K extends keyof E>(event: K, ...args: E[K]): void {
    const set = this.#listeners.get(event)
    if (!set) return
    for (const listener of [...set]) {
      try {
        ;(listener as Listener<E, K>)(...args)
      } catch (err) {
        // One faulty listener must not break the provider's state machine or starve the others.
        queueMicrotask(() => {
          throw err
        })
      }
    }
  }

  /** Drops every listener (used by `destroy()`). */
  protected removeAllListeners(): void {
    this.#listeners.clear()
  }
}
