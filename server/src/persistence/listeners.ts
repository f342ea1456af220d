import type { Logger } from 'pino'

/** Synchronous listeners; one that throws is logged and does not stop the others (nor fail the commit). */
export class Listeners {
  readonly #set = new Set<() => void>()

  constructor(private readonly log: Pick<Logger, 'error'> | null) {}

  add(listener: () => void): () => void {
    const wrapped = (): void => listener()
    this.#set.add(wrapped)
    return () => this.#set.delete(wrapped)
  }

  call(): void {
    for (const listener of this.#set) {
      try {
        listener()
      } catch (err) {
        this.log?.error({ err }, 'store listener threw')
      }
    }
  }
}
