/**
 * `@tandem/client`: the browser and Node SDK for Tandem.
 *
 * - {@link TandemClient}: one multiplexed WebSocket for all rooms; `client.room(name)` returns a
 *   {@link RoomProvider} exposing the `doc` and `awareness` every Yjs editor binding takes, and
 *   `client.api` is a {@link TandemApi} for the same server.
 * - {@link TandemApi}: a typed client for the REST API (`/v1/…`), its types generated from the
 *   server's OpenAPI document (`npm run gen:api`).
 * - The wire codec shared with the server (`encodeMultiplexedFrame`, `decodeMultiplexedFrame`, …),
 *   also available alone as `@tandem/client/protocol`.
 */
export * from './protocol.js'
export { TandemClient, apiBaseUrl, type TandemClientOptions, type TandemClientApiOptions } from './client-api.js'
export { CLIENT_VERSION, type TandemClientEvents, type ConnectionStatus } from './client.js'
export { RoomProvider, type RoomOptions, type RoomStatus, type RoomProviderEvents, type StatusDetail } from './provider.js'
export {
  TandemApi,
  type TandemApiOptions,
  type RequestOptions,
  type FetchLike,
  type ApiErrorCode,
  type Room,
  type CreateRoomBody,
  type ListRoomsQuery,
  type RoomPage,
  type UpdateRoomBody,
  type RoomDocJson,
  type RoomUsers,
  type KickResult,
  type BroadcastBody,
  type BroadcastResult,
  type Version,
  type ListVersionsQuery,
  type VersionPage,
  type CreateVersionBody,
  type RestoreVersionBody,
  type RestoreResult,
  type MintTokenBody,
  type MintedToken,
  type CreateWebhookBody,
  type CreatedWebhookEndpoint,
  type RotateWebhookSecretBody,
  type RotatedWebhookEndpoint,
  type WebhookEndpointList,
  type WebhookEndpoint,
  type WebhookEventType,
  type ListWebhookDeliveriesQuery,
  type WebhookDeliveryPage,
  type WebhookDelivery,
  type HealthStatus,
  type ReadyStatus,
} from './api.js'
/**
 * The generated OpenAPI types of the REST API (`paths`, `operations`, `components` from openapi-typescript),
 * for callers who want to drive another OpenAPI client (e.g. openapi-fetch) with them.
 */
export type { paths as TandemApiPaths, operations as TandemApiOperations, components as TandemApiComponents } from './api-types.js'
export { TandemError, type TandemErrorCode, type TandemErrorOptions } from './errors.js'
export type { BackoffOptions } from './backoff.js'
export type { Emitter, EventMap, Listener } from './emitter.js'
export type { WebSocketLike, WebSocketConstructor } from './transport.js'
