/**
 * Runs tasks one at a time per key, in call order; tasks under different keys run concurrently. A task
 * that fails does not stop the ones queued after it. Keys with nothing queued hold no memory.
 */
export class KeyedQueue {
  readonly #tails = new Map<string, Promise<void>>()

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const run = (this.#tails.get(key) ?? Promise.resolve()).then(task)
    const tail = run.then(
      () => {},
      () => {},
    )
    this.#tails.set(key, tail)
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key)
    })
    return run
  }
}
