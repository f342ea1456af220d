/**
 * The storage contract every adapter (SQLite, memory, Postgres) implements, split by concern so each part
 * can be read, written and tested on its own (tests/contract has one suite per concern, run against every
 * adapter):
 *
 * - DocumentLog (document-log.ts): each room's Yjs updates, clientID owners, compaction.
 * - RoomRecords (room-records.ts): rooms by name with metadata; deleting a room.
 * - WebhookOutbox (webhook-outbox.ts): webhook endpoints, deliveries, recorded room changes.
 * - Versions (versions.ts): stored snapshots of rooms' documents (version history).
 * - StoreLifecycle (store-lifecycle.ts): readiness and close.
 *
 * The concerns are separate interfaces, not separate databases: an append also bumps the room's record
 * and records a room change in its commit, and deleteRoom erases the log with the record. So an adapter
 * implements the whole Store over one storage, and consumers ask only for the part they use.
 * Only adapters know SQL.
 */
import type { DocumentLog } from './document-log.js'
import type { RoomRecords } from './room-records.js'
import type { StoreLifecycle } from './store-lifecycle.js'
import type { Versions } from './versions.js'
import type { WebhookOutbox } from './webhook-outbox.js'

export type { ClientBinding, CompactionResult, DocumentLog, StoredDocument } from './document-log.js'
export type { ListRoomsOptions, RoomMetadata, RoomRecord, RoomRecords } from './room-records.js'
export type { StoreLifecycle } from './store-lifecycle.js'
export type { ListVersionsOptions, NewVersion, VersionInfo, VersionKind, Versions } from './versions.js'
export type {
  DeliveryOutcome,
  DeliveryStatus,
  ListDeliveriesOptions,
  NewWebhookDelivery,
  RecordedRoomEvent,
  RoomChange,
  SettledRoomChange,
  SettledRoomEvent,
  WebhookDelivery,
  WebhookEndpoint,
  WebhookOutbox,
} from './webhook-outbox.js'

export interface Store extends DocumentLog, RoomRecords, WebhookOutbox, Versions, StoreLifecycle {}
