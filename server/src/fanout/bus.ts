/**
 * Cross-instance fan-out. A single process uses the local bus (nothing to forward); the Redis bus
 * (scale-out issue) implements the same interface without rooms changing.
 */
export type BusHandler = (update: Uint8Array) => void

export interface Bus {
  /** Publish a document update made by one of this instance's peers. */
  publish(roomId: string, update: Uint8Array): void
  /** Receive updates other instances published for the room; returns the unsubscribe function. */
  subscribe(roomId: string, handler: BusHandler): () => void
  close(): Promise<void>
}

/** One instance, no peers to tell: publishing is a no-op and nothing ever arrives. */
export function createLocalBus(): Bus {
  return {
    publish() {},
    subscribe() {
      return () => {}
    },
    async close() {},
  }
}
