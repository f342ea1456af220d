/**
 * Stable error codes shared by REST bodies, upgrade rejections and the client SDK's TandemError.
 * One table maps each code to its HTTP status; `Record<ErrorCode, …>` makes a missing mapping a compile error.
 */
export type ErrorCode =
  | 'token_missing'
  | 'token_invalid'
  | 'token_expired'
  | 'forbidden'
  | 'invalid_room_name'
  | 'room_not_found'
  | 'room_exists'
  | 'bad_request'
  | 'not_found'
  | 'payload_too_large'
  | 'unavailable'
  | 'internal'
  | 'method_not_allowed'
  | 'unsupported_media_type'
  | 'minting_disabled'
  | 'webhook_not_found'
  | 'webhook_managed_by_config'
  | 'delivery_not_found'
  | 'document_too_large'
  | 'request_timeout'
  | 'header_fields_too_large'
  | 'too_many_connections'
  | 'rate_limited'
  | 'version_not_found'

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string = code,
    options?: ErrorOptions,
  ) {
    super(message, options)
    this.name = 'AppError'
  }
}

export const HTTP_STATUS: Record<ErrorCode, string> = {
  token_missing: '401 Unauthorized',
  token_invalid: '401 Unauthorized',
  token_expired: '401 Unauthorized',
  forbidden: '403 Forbidden',
  invalid_room_name: '400 Bad Request',
  room_not_found: '404 Not Found',
  room_exists: '409 Conflict',
  bad_request: '400 Bad Request',
  not_found: '404 Not Found',
  payload_too_large: '413 Payload Too Large',
  unavailable: '503 Service Unavailable',
  internal: '500 Internal Server Error',
  /** The path exists but not with this method; the response carries `Allow`. */
  method_not_allowed: '405 Method Not Allowed',
  /** The request body's Content-Type is not the one the route accepts. */
  unsupported_media_type: '415 Unsupported Media Type',
  /** POST /v1/tokens on a server that verifies tokens signed elsewhere (public key or JWKS): it holds no signing key. */
  minting_disabled: '501 Not Implemented',
  webhook_not_found: '404 Not Found',
  /** ep_config's secrets come from TANDEM_WEBHOOK_SECRET and TANDEM_WEBHOOK_PREVIOUS_SECRET, not from REST. */
  webhook_managed_by_config: '409 Conflict',
  delivery_not_found: '404 Not Found',
  /** The room's document would grow past TANDEM_MAX_DOC_BYTES. */
  document_too_large: '413 Payload Too Large',
  /** The request body did not arrive in time. */
  request_timeout: '408 Request Timeout',
  header_fields_too_large: '431 Request Header Fields Too Large',
  /** Per-address connection cap (TANDEM_MAX_CONNECTIONS_PER_ADDRESS). */
  too_many_connections: '429 Too Many Requests',
  /** An upgrade from an address whose connection was just closed with 4429, before its penalty ran out. */
  rate_limited: '429 Too Many Requests',
  /** The room exists but has no version with this id. */
  version_not_found: '404 Not Found',
}

/** WebSocket close codes: RFC 6455 where one fits, else 4000 + the HTTP analogue. Documented in PROTOCOL.md. */
export const CLOSE_CODE = {
  normal: 1000,
  going_away: 1001,
  bad_frame: 1002, // malformed or unknown binary frame (the envelope: message type, address)
  unsupported_data: 1003, // text frame
  invalid_payload: 1007, // a well-framed message whose payload does not decode (Yjs update, awareness JSON)
  policy: 1008, // pre-auth queue overflow; an update under another user's Yjs clientID
  too_big: 1009, // message over TANDEM_MAX_MESSAGE_BYTES
  internal: 1011, // the server could not persist or load the room
  restarting: 1012, // SIGTERM drain: reconnect soon
  slow_consumer: 1013, // backpressure limit: reconnect and resync
  storage_unavailable: 1013, // the store cannot commit right now: reconnect later, unsaved edits are re-sent
  pending_overflow: 4409, // too much content waiting for updates the server never received; resync failed
  document_too_large: 4413, // the document would exceed TANDEM_MAX_DOC_BYTES: permanent, do not retry
  rate_limited: 4429, // per-connection message or byte rate exceeded: reconnect after a pause
  token_expired: 4401, // fetch a new token, then reconnect
  forbidden: 4403, // do not retry
  room_not_found: 4404, // room deleted via REST; do not retry
  auth_timeout: 4408, // multiplexed socket authorised no room in time
} as const

export type CloseCode = (typeof CLOSE_CODE)[keyof typeof CLOSE_CODE]

export function toAppError(err: unknown): AppError {
  return err instanceof AppError ? err : new AppError('internal', 'internal error', { cause: err })
}

/** Room names are the same grammar everywhere: WebSocket path, multiplexed address, REST. */
export const ROOM_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/

export function isValidRoomName(name: string): boolean {
  return ROOM_NAME_PATTERN.test(name)
}

export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`)
}
