/** What every store has whatever it stores: readiness and shutdown (health checks, the composition root). */
export interface StoreLifecycle {
  /**
   * Resolves when the store can serve requests; rejects otherwise (readiness). Writes count: after a
   * commit failed (a full disk, an I/O error) it rejects until a write succeeds again, trying a tiny one.
   */
  ping(): Promise<void>
  /** Waits for in-flight commits, then releases the store. Later calls reject. */
  close(): Promise<void>
}
