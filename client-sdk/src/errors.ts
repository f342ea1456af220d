/**
 * Known values of {@link TandemError.code}.
 *
 * Codes that come from the server (`PermissionDenied` reasons, room close reasons, REST error bodies) keep
 * the server's spelling: `forbidden`, `room_not_found`, `token_missing`, `token_invalid`, `token_expired`,
 * `invalid_room_name`. The others are raised by the client itself:
 *
 * - `document_too_large`: the server refused the room's document because it would exceed the server's
 *   document-size limit (close 4413); the room stops, and reconnecting would not help.
 * - `message_too_big`: the server closed the connection (1009) because a message this room sent was over
 *   its message-size limit; the room stops instead of re-sending it on every reconnect.
 * - `update_refused`: the server refused a local change because the token is read-only for the room.
 * - `token_unavailable`: `getToken()` threw or rejected (the room retries with backoff).
 * - `room_already_open`: `client.room(name)` was called while a provider for `name` is still open.
 * - `destroyed`: the provider or client was destroyed while a `whenSynced()` / `whenSaved()` was pending.
 * - `no_websocket`: no `WebSocket` option and no global `WebSocket` (Node 20: pass the `ws` package).
 * - `invalid_options`: a constructor option is out of range.
 *
 * Any other string the server sends is passed through unchanged, so the type stays open.
 */
export type TandemErrorCode =
  | 'forbidden'
  | 'room_not_found'
  | 'token_missing'
  | 'token_invalid'
  | 'token_expired'
  | 'invalid_room_name'
  | 'document_too_large'
  | 'message_too_big'
  | 'update_refused'
  | 'token_unavailable'
  | 'room_already_open'
  | 'destroyed'
  | 'no_websocket'
  | 'invalid_options'
  | (string & {})

/** Options for {@link TandemError}: the standard `cause` plus an HTTP-style status. */
export interface TandemErrorOptions extends ErrorOptions {
  /** HTTP status the code corresponds to (403 for `forbidden`, 404 for `room_not_found`, …). */
  status?: number
}

/**
 * The one error type the SDK emits and rejects with. Switch on `code`, never on `message`.
 *
 * @example
 * provider.on('error', (err) => {
 *   if (err.code === 'forbidden') showAccessDenied()
 * })
 */
export class TandemError extends Error {
  /** Stable snake_case code; see {@link TandemErrorCode}. */
  readonly code: TandemErrorCode
  /** HTTP status equivalent, when there is one (401, 403, 404, …). */
  readonly status?: number

  constructor(code: TandemErrorCode, message: string = code, options: TandemErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'TandemError'
    this.code = code
    if (options.status !== undefined) this.status = options.status
  }
}

/** HTTP status for the server's error codes (the table in server/src/errors.ts). */
const STATUS_FOR_CODE: Readonly<Record<string, number>> = {
  token_missing: 401,
  token_invalid: 401,
  token_expired: 401,
  forbidden: 403,
  update_refused: 403,
  invalid_room_name: 400,
  room_not_found: 404,
  document_too_large: 413,
  message_too_big: 413,
}

/** A TandemError for a code the server sent (PermissionDenied reason, close reason). */
export function serverError(code: string, message: string): TandemError {
  const status = STATUS_FOR_CODE[code]
  return new TandemError(code, message, status === undefined ? {} : { status })
}
