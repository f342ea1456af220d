/**
 * `@tandem/client`: the browser and Node SDK for Tandem.
 *
 * - {@link TandemClient}: one multiplexed WebSocket for all rooms; `client.room(name)` returns a
 *   {@link RoomProvider} exposing the `doc` and `awareness` every Yjs editor binding takes.
 * - The wire codec shared with the server (`encodeMultiplexedFrame`, `decodeMultiplexedFrame`, …),
 *   also available alone as `@tandem/client/protocol`.
 */
export * from './protocol.js'
export { TandemClient, CLIENT_VERSION, type TandemClientOptions, type TandemClientEvents, type ConnectionStatus } from './client.js'
export { RoomProvider, type RoomOptions, type RoomStatus, type RoomProviderEvents, type StatusDetail } from './provider.js'
export { TandemError, type TandemErrorCode, type TandemErrorOptions } from './errors.js'
export type { BackoffOptions } from './backoff.js'
export type { Emitter, EventMap, Listener } from './emitter.js'
export type { WebSocketLike, WebSocketConstructor } from './transport.js'
