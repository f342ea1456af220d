/**
 * The store cannot be reached right now: the connection, not the data, is the problem, and the same call
 * may succeed later. Adapters throw it (or a subclass) so that callers above persistence, which know no
 * driver, can answer "retry later" (503, close 1013) instead of "internal error" (500, 1011).
 */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'StoreUnavailableError'
  }
}
