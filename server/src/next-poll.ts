/**
 * Yielding to I/O between two halves of a long piece of work. Socket messages arrive in the event
 * loop's poll phase, and an immediate queued there still runs before the next poll; one queued from an
 * immediate waits for the next loop iteration. Two hops let other sockets, requests and timers (the
 * event-loop monitor among them) have their turn first.
 */
export function afterNextPoll(fn: () => void): void {
  setImmediate(() => setImmediate(fn))
}

export function nextPoll(): Promise<void> {
  return new Promise((resolve) => afterNextPoll(resolve))
}
