/**
 * What every scenario gets besides its own options.
 * @typedef {object} Context
 * @property {import('./progress.js').Progress} progress
 * @property {number} workers        load-generator worker threads
 * @property {number} cpus           CPUs on this machine
 * @property {number} connectConcurrency  sockets opening at once during setup
 * @property {StoreKind} store  Tandem's store
 * @property {string} databaseUrl    the Postgres database for --store postgres
 * @property {boolean} profile       start Node servers with --cpu-prof
 * @property {number} waitQuietS     wait up to this long for a quiet machine before each run
 */
/** @typedef {'sqlite' | 'memory' | 'postgres'} StoreKind */
export {}
