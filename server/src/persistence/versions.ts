/**
 * Versions: stored, immutable snapshots of a room's document (version history). rooms/versions.ts takes
 * them (automatically, on request, before a restore) and REST lists, reads, deletes and restores them.
 * An adapter implements this over the same storage as the rest of the store, because deleteRoom removes
 * a room's versions with its log, and a version is only saved for a room whose record exists.
 */

/** `auto`: taken when the room went quiet (or after a long stretch of edits); `named`: asked for (REST);
 * `before-restore`: the document as it was right before a restore replaced it. */
export type VersionKind = 'auto' | 'named' | 'before-restore'

export const VERSION_KINDS: readonly VersionKind[] = ['auto', 'named', 'before-restore']

/** A version without its document. */
export interface VersionInfo {
  /**
   * `ver_…`: sortable, newer versions have greater ids (see rooms/versions.ts), so "newest first" is
   * "id descending" and the id is the paging cursor.
   */
  readonly id: string
  readonly room: string
  /** Milliseconds since the Unix epoch. */
  readonly createdAt: number
  readonly kind: VersionKind
  readonly label: string | null
  /** The JWT `sub` of who asked for it; null for automatic versions (and for callers with no sub). */
  readonly author: string | null
  /** Byte length of the stored document. */
  readonly sizeBytes: number
  /**
   * Encoded Yjs snapshot (state vector and delete set) of the document: equal for equal documents, so
   * an automatic version is skipped when nothing changed since the last one (deletions included).
   */
  readonly fingerprint: Uint8Array
}

export interface NewVersion {
  readonly id: string
  readonly room: string
  readonly createdAt: number
  readonly kind: VersionKind
  readonly label: string | null
  readonly author: string | null
  /** The document as one Yjs update (integrated content only). */
  readonly update: Uint8Array
  readonly fingerprint: Uint8Array
}

export interface ListVersionsOptions {
  /** Only versions whose id sorts before this (exclusive): the paging cursor. */
  readonly before?: string
  /** At most this many, newest (greatest id) first. */
  readonly limit: number
}

export interface Versions {
  /**
   * Stores a version, and when `keepAuto` is given and the version is automatic, deletes the room's
   * automatic versions beyond the newest `keepAuto`, in the same transaction (named and before-restore
   * versions are never pruned). Null, storing nothing, when the room has no record (it was deleted).
   */
  saveVersion(version: NewVersion, keepAuto?: number): Promise<VersionInfo | null>
  listVersions(room: string, opts: ListVersionsOptions): Promise<VersionInfo[]>
  getVersion(room: string, id: string): Promise<VersionInfo | null>
  /** The version's document (one Yjs update), or null when there is no such version of the room. */
  getVersionUpdate(room: string, id: string): Promise<Uint8Array | null>
  /** False when there was no such version. */
  deleteVersion(room: string, id: string): Promise<boolean>
  /**
   * Runs `restore` while no other restore of the room runs on this store, from any process: two restores
   * computed from the same state would both apply (the document would hold both versions). `shared` tells
   * `restore` whether other processes write to this store, so the room must first read what they committed
   * (their restore may not have reached it yet). A store one process owns (SQLite) has no one to wait for.
   */
  exclusiveRestore<T>(room: string, restore: (opts: { shared: boolean }) => Promise<T>): Promise<T>
}
