// generated — do not edit; run npm run gen:api
//
// Types of the Tandem REST API, from the OpenAPI 3.1 document the server serves at GET /v1/openapi.json
// (itself generated from the zod schemas the handlers validate with). Made by openapi-typescript through
// client-sdk/scripts/gen-api.mjs; tests/unit/sdk-api-types.test.ts fails when this file is stale.

export interface paths {
    "/v1/rooms": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List rooms by name, with cursor paging and a prefix filter */
        get: operations["listRooms"];
        put?: never;
        /** Create a room */
        post: operations["createRoom"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/rooms/{room}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Get a room: metadata, size and live stats */
        get: operations["getRoom"];
        put?: never;
        post?: never;
        /**
         * Delete a room and its document; connected clients are closed with 4404
         * @description The stored document is removed. Clients holding old content cannot bring it back: the server remembers what the deleted room contained and drops those updates if the room is created again.
         */
        delete: operations["deleteRoom"];
        options?: never;
        head?: never;
        /** Replace a room's metadata */
        patch: operations["updateRoom"];
        trace?: never;
    };
    "/v1/rooms/{room}/doc": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Read the document as one binary Yjs update, or as JSON */
        get: operations["getRoomDoc"];
        put?: never;
        /**
         * Apply a binary Yjs update; answers after it is durably stored
         * @description The update is broadcast to connected clients like any edit. Content of a deleted earlier incarnation of the room is dropped.
         */
        post: operations["applyRoomUpdate"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/rooms/{room}/users": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Users connected to the room, on every instance of a cluster */
        get: operations["listRoomUsers"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/rooms/{room}/users/{userId}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        /**
         * Disconnect a user's connections in the room, on every instance, with 4403
         * @description Every connection of the user in the room is closed with 4403 (forbidden), which clients treat as final: the Tandem SDK and Hocuspocus providers do not reconnect, and the SDK reports `forbidden`. The user stays out of the room, on every instance and across restarts, until it connects with a token issued after the removal (`iat` in a later second, or the same one); a token without `iat` is refused until the longest token lifetime (TANDEM_JWT_MAX_LIFETIME_SEC) has passed. To let the user back in, issue it a new token; to keep it out, stop issuing it tokens for the room. Answers 200 with 0 connections when the user is not connected.
         */
        delete: operations["kickRoomUser"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/rooms/{room}/broadcast": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Send a message to the room's clients
         * @description Delivered as a Hocuspocus stateless message to clients on the multiplexed framing (`/ws`: the Tandem SDK, @hocuspocus/provider). y-websocket clients have no such message and do not receive it.
         */
        post: operations["broadcastToRoom"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/tokens": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Mint a client token (HS256, signed with the server secret)
         * @description Only the admin key may mint tokens with `admin: true` (an admin token cannot mint a longer-lived one). A `ttl` above the server's maximum token lifetime (TANDEM_JWT_MAX_LIFETIME_SEC) is refused with 400 `bad_request`. Servers that verify tokens with TANDEM_JWT_PUBLIC_KEY or TANDEM_JWKS_URL answer 501 `minting_disabled`.
         */
        post: operations["mintToken"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/healthz": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Liveness: the process is up */
        get: operations["health"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/readyz": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Readiness: the store answers and accepts writes, and the server is not draining */
        get: operations["ready"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/metrics": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Prometheus metrics (text exposition format)
         * @description Unauthenticated; keep it behind your proxy or firewall on public interfaces.
         */
        get: operations["metrics"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/openapi.json": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** This API as an OpenAPI 3.1 document */
        get: operations["openapi"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/rooms/{room}/versions": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List a room's versions, newest first, with cursor paging */
        get: operations["listVersions"];
        put?: never;
        /** Save a named version of the document as it is now */
        post: operations["createVersion"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/rooms/{room}/versions/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Get one version (without its document) */
        get: operations["getVersion"];
        put?: never;
        post?: never;
        /** Delete a version */
        delete: operations["deleteVersion"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/rooms/{room}/versions/{id}/doc": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Read a version's document as one binary Yjs update, or as JSON */
        get: operations["getVersionDoc"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/rooms/{room}/versions/{id}/restore": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Restore a version: the document changes to the version's content, live, for every client
         * @description Moves forward, never rewrites history: first a `before-restore` version of the current document is saved (restore it to undo), then one ordinary Yjs update turns the document into the version's content. That update is broadcast to connected clients, stored and acknowledged like any edit; the answer comes once it is durably stored. Edits clients make meanwhile are kept, merged as Yjs merges concurrent edits. Emits the `room.restored` webhook and a stateless message `{"type":"room.restored",…}` to multiplexed clients.
         */
        post: operations["restoreVersion"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/webhooks": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List webhook endpoints (secrets are never shown again) */
        get: operations["listWebhooks"];
        put?: never;
        /**
         * Register a webhook endpoint; the response carries its signing secret, once
         * @description Deliveries follow the Standard Webhooks spec: `webhook-id`, `webhook-timestamp` and `webhook-signature` (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body` keyed with the secret). A receiver answering 410 Gone disables its endpoint.
         */
        post: operations["createWebhook"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/webhooks/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        /**
         * Delete a webhook endpoint and its pending deliveries
         * @description Delivered and failed deliveries stay listable. `ep_config` comes from TANDEM_WEBHOOK_URL and cannot be deleted here.
         */
        delete: operations["deleteWebhook"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/webhooks/{id}/rotate-secret": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Give an endpoint a new signing secret; the old one keeps signing during an overlap
         * @description The response carries the new secret, shown only here. Until `previousSecretExpiresAt` every attempt (retries and replays included) carries two `v1,` signatures in `webhook-signature`, the new secret's first, so a receiver verifying with either secret accepts it: update the receiver, and the old secret stops signing at expiry. Rotating again during an overlap replaces the previous secret with the current one (only one previous secret is kept). `ep_config` takes its secrets from TANDEM_WEBHOOK_SECRET and TANDEM_WEBHOOK_PREVIOUS_SECRET instead.
         */
        post: operations["rotateWebhookSecret"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/webhooks/deliveries": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List webhook deliveries, oldest first, by status, with cursor paging */
        get: operations["listWebhookDeliveries"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/webhooks/deliveries/{id}/replay": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Send a delivery again from attempt 1, with the same webhook-id
         * @description Works for failed, delivered and pending deliveries. Refused when the endpoint was deleted or disabled by a 410.
         */
        post: operations["replayWebhookDelivery"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        /** @description Every error response has this body. */
        Error: {
            error: {
                /**
                 * @description Stable snake_case code.
                 * @enum {string}
                 */
                code: "token_missing" | "token_invalid" | "token_expired" | "forbidden" | "invalid_room_name" | "room_not_found" | "room_exists" | "bad_request" | "not_found" | "payload_too_large" | "unavailable" | "internal" | "method_not_allowed" | "unsupported_media_type" | "minting_disabled" | "webhook_not_found" | "webhook_managed_by_config" | "delivery_not_found" | "document_too_large" | "request_timeout" | "header_fields_too_large" | "too_many_connections" | "rate_limited" | "version_not_found";
                /** @description Human-readable detail; may change between releases. */
                message: string;
            };
        };
    };
    responses: never;
    parameters: never;
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
    listRooms: {
        parameters: {
            query?: {
                /** @description Page size, 1–200. */
                limit?: number;
                /** @description Only rooms whose name starts with this. */
                prefix?: string;
                /** @description The `nextCursor` of the previous page. */
                cursor?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description One page of rooms, ordered by name. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        rooms: {
                            name: string;
                            metadata: {
                                [key: string]: unknown;
                            };
                            /**
                             * Format: date-time
                             * @description ISO 8601 UTC timestamp
                             * @example 2026-01-31T12:00:00.000Z
                             */
                            createdAt: string;
                            /**
                             * Format: date-time
                             * @description Last stored update or metadata change.
                             * @example 2026-01-31T12:00:00.000Z
                             */
                            updatedAt: string;
                            /** @description Bytes of the room's stored update log. */
                            sizeBytes: number;
                            stats: {
                                /** @description Open connections to the room: on every instance of a cluster for `GET /v1/rooms/:room`, on the answering instance in lists and other answers. */
                                connections: number;
                                /** @description Distinct users among them. */
                                users: number;
                                /** @description Whether the room is loaded in memory on the answering instance now. */
                                loaded: boolean;
                            };
                        }[];
                        /** @description Pass as `cursor` for the next page; null on the last page. */
                        nextCursor: string | null;
                    };
                };
            };
            /** @description Error: `bad_request`. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "bad_request";
                        };
                    };
                };
            };
            /** @description Error: `token_missing`, `token_invalid`, `token_expired`. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "token_missing" | "token_invalid" | "token_expired";
                        };
                    };
                };
            };
            /** @description Error: `forbidden`. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "forbidden";
                        };
                    };
                };
            };
            /** @description Error: `internal`. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "internal";
                        };
                    };
                };
            };
            /** @description Error: `unavailable`. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unavailable";
                        };
                    };
                };
            };
        };
    };
    createRoom: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    /**
                     * @description Room name: 1–128 characters, letters, digits and . _ : - (not starting with a symbol). The same grammar as WebSocket URLs.
                     * @example team-42:notes
                     */
                    name: string;
                    /**
                     * @description Free-form JSON object stored with the room: at most 64 top-level keys, 16384 bytes as JSON, nested at most 4 levels (the object itself is level 1).
                     * @example {
                     *       "title": "Q3 planning",
                     *       "owner": "alice"
                     *     }
                     */
                    metadata?: {
                        [key: string]: unknown;
                    };
                };
            };
        };
        responses: {
            /** @description The new room. */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        name: string;
                        metadata: {
                            [key: string]: unknown;
                        };
                        /**
                         * Format: date-time
                         * @description ISO 8601 UTC timestamp
                         * @example 2026-01-31T12:00:00.000Z
                         */
                        createdAt: string;
                        /**
                         * Format: date-time
                         * @description Last stored update or metadata change.
                         * @example 2026-01-31T12:00:00.000Z
                         */
                        updatedAt: string;
                        /** @description Bytes of the room's stored update log. */
                        sizeBytes: number;
                        stats: {
                            /** @description Open connections to the room: on every instance of a cluster for `GET /v1/rooms/:room`, on the answering instance in lists and other answers. */
                            connections: number;
                            /** @description Distinct users among them. */
                            users: number;
                            /** @description Whether the room is loaded in memory on the answering instance now. */
                            loaded: boolean;
                        };
                    };
                };
            };
            /** @description Error: `bad_request`, `invalid_room_name`. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "bad_request" | "invalid_room_name";
                        };
                    };
                };
            };
            /** @description Error: `token_missing`, `token_invalid`, `token_expired`. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "token_missing" | "token_invalid" | "token_expired";
                        };
                    };
                };
            };
            /** @description Error: `forbidden`. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "forbidden";
                        };
                    };
                };
            };
            /** @description Error: `request_timeout`. */
            408: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "request_timeout";
                        };
                    };
                };
            };
            /** @description Error: `room_exists`. */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "room_exists";
                        };
                    };
                };
            };
            /** @description Error: `payload_too_large`. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "payload_too_large";
                        };
                    };
                };
            };
            /** @description Error: `unsupported_media_type`. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unsupported_media_type";
                        };
                    };
                };
            };
            /** @description Error: `internal`. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "internal";
                        };
                    };
                };
            };
            /** @description Error: `unavailable`. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unavailable";
                        };
                    };
                };
            };
        };
    };
    getRoom: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Room name: 1–128 characters, letters, digits and . _ : - (not starting with a symbol). The same grammar as WebSocket URLs. */
                room: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The room. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        name: string;
                        metadata: {
                            [key: string]: unknown;
                        };
                        /**
                         * Format: date-time
                         * @description ISO 8601 UTC timestamp
                         * @example 2026-01-31T12:00:00.000Z
                         */
                        createdAt: string;
                        /**
                         * Format: date-time
                         * @description Last stored update or metadata change.
                         * @example 2026-01-31T12:00:00.000Z
                         */
                        updatedAt: string;
                        /** @description Bytes of the room's stored update log. */
                        sizeBytes: number;
                        stats: {
                            /** @description Open connections to the room: on every instance of a cluster for `GET /v1/rooms/:room`, on the answering instance in lists and other answers. */
                            connections: number;
                            /** @description Distinct users among them. */
                            users: number;
                            /** @description Whether the room is loaded in memory on the answering instance now. */
                            loaded: boolean;
                        };
                    };
                };
            };
            /** @description Error: `bad_request`, `invalid_room_name`. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "bad_request" | "invalid_room_name";
                        };
                    };
                };
            };
            /** @description Error: `token_missing`, `token_invalid`, `token_expired`. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "token_missing" | "token_invalid" | "token_expired";
                        };
                    };
                };
            };
            /** @description Error: `forbidden`. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "forbidden";
                        };
                    };
                };
            };
            /** @description Error: `room_not_found`. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "room_not_found";
                        };
                    };
                };
            };
            /** @description Error: `internal`. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "internal";
                        };
                    };
                };
            };
            /** @description Error: `unavailable`. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unavailable";
                        };
                    };
                };
            };
        };
    };
    deleteRoom: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Room name: 1–128 characters, letters, digits and . _ : - (not starting with a symbol). The same grammar as WebSocket URLs. */
                room: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted. */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Error: `bad_request`, `invalid_room_name`. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "bad_request" | "invalid_room_name";
                        };
                    };
                };
            };
            /** @description Error: `token_missing`, `token_invalid`, `token_expired`. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "token_missing" | "token_invalid" | "token_expired";
                        };
                    };
                };
            };
            /** @description Error: `forbidden`. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "forbidden";
                        };
                    };
                };
            };
            /** @description Error: `room_not_found`. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "room_not_found";
                        };
                    };
                };
            };
            /** @description Error: `internal`. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "internal";
                        };
                    };
                };
            };
            /** @description Error: `unavailable`. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unavailable";
                        };
                    };
                };
            };
        };
    };
    updateRoom: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Room name: 1–128 characters, letters, digits and . _ : - (not starting with a symbol). The same grammar as WebSocket URLs. */
                room: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    /**
                     * @description Replaces the whole metadata object.
                     * @example {
                     *       "title": "Q3 planning",
                     *       "owner": "alice"
                     *     }
                     */
                    metadata: {
                        [key: string]: unknown;
                    };
                };
            };
        };
        responses: {
            /** @description The updated room. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        name: string;
                        metadata: {
                            [key: string]: unknown;
                        };
                        /**
                         * Format: date-time
                         * @description ISO 8601 UTC timestamp
                         * @example 2026-01-31T12:00:00.000Z
                         */
                        createdAt: string;
                        /**
                         * Format: date-time
                         * @description Last stored update or metadata change.
                         * @example 2026-01-31T12:00:00.000Z
                         */
                        updatedAt: string;
                        /** @description Bytes of the room's stored update log. */
                        sizeBytes: number;
                        stats: {
                            /** @description Open connections to the room: on every instance of a cluster for `GET /v1/rooms/:room`, on the answering instance in lists and other answers. */
                            connections: number;
                            /** @description Distinct users among them. */
                            users: number;
                            /** @description Whether the room is loaded in memory on the answering instance now. */
                            loaded: boolean;
                        };
                    };
                };
            };
            /** @description Error: `bad_request`, `invalid_room_name`. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "bad_request" | "invalid_room_name";
                        };
                    };
                };
            };
            /** @description Error: `token_missing`, `token_invalid`, `token_expired`. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "token_missing" | "token_invalid" | "token_expired";
                        };
                    };
                };
            };
            /** @description Error: `forbidden`. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "forbidden";
                        };
                    };
                };
            };
            /** @description Error: `room_not_found`. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "room_not_found";
                        };
                    };
                };
            };
            /** @description Error: `request_timeout`. */
            408: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "request_timeout";
                        };
                    };
                };
            };
            /** @description Error: `payload_too_large`. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "payload_too_large";
                        };
                    };
                };
            };
            /** @description Error: `unsupported_media_type`. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unsupported_media_type";
                        };
                    };
                };
            };
            /** @description Error: `internal`. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "internal";
                        };
                    };
                };
            };
            /** @description Error: `unavailable`. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unavailable";
                        };
                    };
                };
            };
        };
    };
    getRoomDoc: {
        parameters: {
            query?: {
                /** @description `binary`: one Yjs update; `json`: every top-level shared type as JSON. */
                format?: "binary" | "json";
            };
            header?: never;
            path: {
                /** @description Room name: 1–128 characters, letters, digits and . _ : - (not starting with a symbol). The same grammar as WebSocket URLs. */
                room: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description `format=binary` (default): application/octet-stream, apply with Y.applyUpdate. `format=json`: application/json. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/octet-stream": string;
                    "application/json": {
                        [key: string]: unknown;
                    };
                };
            };
            /** @description Error: `bad_request`, `invalid_room_name`. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "bad_request" | "invalid_room_name";
                        };
                    };
                };
            };
            /** @description Error: `token_missing`, `token_invalid`, `token_expired`. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "token_missing" | "token_invalid" | "token_expired";
                        };
                    };
                };
            };
            /** @description Error: `forbidden`. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "forbidden";
                        };
                    };
                };
            };
            /** @description Error: `room_not_found`. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "room_not_found";
                        };
                    };
                };
            };
            /** @description Error: `internal`. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "internal";
                        };
                    };
                };
            };
            /** @description Error: `unavailable`. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unavailable";
                        };
                    };
                };
            };
        };
    };
    applyRoomUpdate: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Room name: 1–128 characters, letters, digits and . _ : - (not starting with a symbol). The same grammar as WebSocket URLs. */
                room: string;
            };
            cookie?: never;
        };
        /** @description One Yjs update (Y.encodeStateAsUpdate or an update event payload). */
        requestBody: {
            content: {
                "application/octet-stream": string;
            };
        };
        responses: {
            /** @description Applied and committed to storage. */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Error: `bad_request`, `invalid_room_name`. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "bad_request" | "invalid_room_name";
                        };
                    };
                };
            };
            /** @description Error: `token_missing`, `token_invalid`, `token_expired`. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "token_missing" | "token_invalid" | "token_expired";
                        };
                    };
                };
            };
            /** @description Error: `forbidden`. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "forbidden";
                        };
                    };
                };
            };
            /** @description Error: `room_not_found`. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "room_not_found";
                        };
                    };
                };
            };
            /** @description Error: `request_timeout`. */
            408: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "request_timeout";
                        };
                    };
                };
            };
            /** @description Error: `payload_too_large`. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "payload_too_large";
                        };
                    };
                };
            };
            /** @description Error: `unsupported_media_type`. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unsupported_media_type";
                        };
                    };
                };
            };
            /** @description Error: `internal`. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "internal";
                        };
                    };
                };
            };
            /** @description Error: `unavailable`. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unavailable";
                        };
                    };
                };
            };
        };
    };
    listRoomUsers: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Room name: 1–128 characters, letters, digits and . _ : - (not starting with a symbol). The same grammar as WebSocket URLs. */
                room: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Active users, one entry per user (not per connection). */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        users: {
                            userId: string;
                            name: string | null;
                            connections: number;
                        }[];
                    };
                };
            };
            /** @description Error: `bad_request`, `invalid_room_name`. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "bad_request" | "invalid_room_name";
                        };
                    };
                };
            };
            /** @description Error: `token_missing`, `token_invalid`, `token_expired`. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "token_missing" | "token_invalid" | "token_expired";
                        };
                    };
                };
            };
            /** @description Error: `forbidden`. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "forbidden";
                        };
                    };
                };
            };
            /** @description Error: `room_not_found`. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "room_not_found";
                        };
                    };
                };
            };
            /** @description Error: `internal`. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "internal";
                        };
                    };
                };
            };
            /** @description Error: `unavailable`. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unavailable";
                        };
                    };
                };
            };
        };
    };
    kickRoomUser: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Room name: 1–128 characters, letters, digits and . _ : - (not starting with a symbol). The same grammar as WebSocket URLs. */
                room: string;
                /** @description The user's id (the `sub` of its tokens). */
                userId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Disconnected. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @description Connections of the user closed on the instance that answered; the other instances close theirs as the request reaches them. */
                        connections: number;
                    };
                };
            };
            /** @description Error: `bad_request`, `invalid_room_name`. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "bad_request" | "invalid_room_name";
                        };
                    };
                };
            };
            /** @description Error: `token_missing`, `token_invalid`, `token_expired`. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "token_missing" | "token_invalid" | "token_expired";
                        };
                    };
                };
            };
            /** @description Error: `forbidden`. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "forbidden";
                        };
                    };
                };
            };
            /** @description Error: `room_not_found`. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "room_not_found";
                        };
                    };
                };
            };
            /** @description Error: `internal`. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "internal";
                        };
                    };
                };
            };
            /** @description Error: `unavailable`. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unavailable";
                        };
                    };
                };
            };
        };
    };
    broadcastToRoom: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Room name: 1–128 characters, letters, digits and . _ : - (not starting with a symbol). The same grammar as WebSocket URLs. */
                room: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    /** @description Delivered to the room's multiplexed (Hocuspocus-protocol) clients as a stateless message; at most 65536 bytes. */
                    message: string;
                };
            };
        };
        responses: {
            /** @description Sent. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @description Connections in the room when the message was sent. */
                        connections: number;
                    };
                };
            };
            /** @description Error: `bad_request`, `invalid_room_name`. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "bad_request" | "invalid_room_name";
                        };
                    };
                };
            };
            /** @description Error: `token_missing`, `token_invalid`, `token_expired`. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "token_missing" | "token_invalid" | "token_expired";
                        };
                    };
                };
            };
            /** @description Error: `forbidden`. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "forbidden";
                        };
                    };
                };
            };
            /** @description Error: `room_not_found`. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "room_not_found";
                        };
                    };
                };
            };
            /** @description Error: `request_timeout`. */
            408: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "request_timeout";
                        };
                    };
                };
            };
            /** @description Error: `payload_too_large`. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "payload_too_large";
                        };
                    };
                };
            };
            /** @description Error: `unsupported_media_type`. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unsupported_media_type";
                        };
                    };
                };
            };
            /** @description Error: `internal`. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "internal";
                        };
                    };
                };
            };
            /** @description Error: `unavailable`. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unavailable";
                        };
                    };
                };
            };
        };
    };
    mintToken: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    /** @description User id. */
                    sub: string;
                    /** @description Display name. */
                    name?: string;
                    /**
                     * @description Room name, prefix ending in `*`, or `*` → access.
                     * @example {
                     *       "team-42:*": "write"
                     *     }
                     */
                    rooms: {
                        [key: string]: "read" | "write";
                    };
                    /** @description Lifetime: seconds, or a number followed by s, m, h or d ("90s", "15m", "1h", "7d"). At most the server's maximum token lifetime (TANDEM_JWT_MAX_LIFETIME_SEC, 24 h by default; 365 days when that is 0): a longer one is refused with 400, since the server would refuse the token. Default: 1 h, or the maximum lifetime when that is shorter. */
                    ttl?: number | string;
                    /** @description Grants REST admin access. Only the admin key may mint admin tokens. */
                    admin?: boolean;
                };
            };
        };
        responses: {
            /** @description The token and when it expires. */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        token: string;
                        /**
                         * Format: date-time
                         * @description ISO 8601 UTC timestamp
                         * @example 2026-01-31T12:00:00.000Z
                         */
                        expiresAt: string;
                    };
                };
            };
            /** @description Error: `bad_request`. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "bad_request";
                        };
                    };
                };
            };
            /** @description Error: `token_missing`, `token_invalid`, `token_expired`. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "token_missing" | "token_invalid" | "token_expired";
                        };
                    };
                };
            };
            /** @description Error: `forbidden`. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "forbidden";
                        };
                    };
                };
            };
            /** @description Error: `request_timeout`. */
            408: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "request_timeout";
                        };
                    };
                };
            };
            /** @description Error: `payload_too_large`. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "payload_too_large";
                        };
                    };
                };
            };
            /** @description Error: `unsupported_media_type`. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unsupported_media_type";
                        };
                    };
                };
            };
            /** @description Error: `internal`. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "internal";
                        };
                    };
                };
            };
            /** @description Error: `minting_disabled`. */
            501: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "minting_disabled";
                        };
                    };
                };
            };
            /** @description Error: `unavailable`. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unavailable";
                        };
                    };
                };
            };
        };
    };
    health: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Up. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @constant */
                        status: "ok";
                    };
                };
            };
            /** @description Error: `internal`. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "internal";
                        };
                    };
                };
            };
        };
    };
    ready: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Ready for traffic. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @constant */
                        status: "ready";
                    };
                };
            };
            /** @description Error: `internal`. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "internal";
                        };
                    };
                };
            };
            /** @description Error: `unavailable`. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unavailable";
                        };
                    };
                };
            };
        };
    };
    metrics: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Metrics. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "text/plain": string;
                };
            };
            /** @description Error: `internal`. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "internal";
                        };
                    };
                };
            };
        };
    };
    openapi: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The document. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        [key: string]: unknown;
                    };
                };
            };
            /** @description Error: `internal`. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "internal";
                        };
                    };
                };
            };
        };
    };
    listVersions: {
        parameters: {
            query?: {
                /** @description Page size, 1–200. */
                limit?: number;
                /** @description The `nextCursor` of the previous page. */
                cursor?: string;
            };
            header?: never;
            path: {
                /** @description Room name: 1–128 characters, letters, digits and . _ : - (not starting with a symbol). The same grammar as WebSocket URLs. */
                room: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description One page of versions, newest first. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @description Newest first. */
                        versions: {
                            /** @description Version id (`ver_…`); newer versions have greater ids. */
                            id: string;
                            /**
                             * Format: date-time
                             * @description ISO 8601 UTC timestamp
                             * @example 2026-01-31T12:00:00.000Z
                             */
                            createdAt: string;
                            /**
                             * @description `auto`: taken after the room went quiet or during long editing; `named`: saved on request; `before-restore`: the document right before a restore replaced it.
                             * @enum {string}
                             */
                            kind: "auto" | "named" | "before-restore";
                            label: string | null;
                            /** @description The `sub` of who asked for it; null for automatic versions and for the admin key. */
                            author: string | null;
                            /** @description Bytes of the version's document (one Yjs update). */
                            sizeBytes: number;
                        }[];
                        /** @description Pass as `cursor` for the next (older) page; null on the last page. */
                        nextCursor: string | null;
                    };
                };
            };
            /** @description Error: `bad_request`, `invalid_room_name`. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "bad_request" | "invalid_room_name";
                        };
                    };
                };
            };
            /** @description Error: `token_missing`, `token_invalid`, `token_expired`. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "token_missing" | "token_invalid" | "token_expired";
                        };
                    };
                };
            };
            /** @description Error: `forbidden`. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "forbidden";
                        };
                    };
                };
            };
            /** @description Error: `room_not_found`. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "room_not_found";
                        };
                    };
                };
            };
            /** @description Error: `internal`. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "internal";
                        };
                    };
                };
            };
            /** @description Error: `unavailable`. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unavailable";
                        };
                    };
                };
            };
        };
    };
    createVersion: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Room name: 1–128 characters, letters, digits and . _ : - (not starting with a symbol). The same grammar as WebSocket URLs. */
                room: string;
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": {
                    /** @description Shown in the history; at most 200 characters. */
                    label?: string;
                    /** @description Who the version is recorded for, when the admin key calls on a user's behalf. An admin token's own `sub` is used otherwise (and overrides this). */
                    author?: string;
                };
            };
        };
        responses: {
            /** @description The new version. */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @description Version id (`ver_…`); newer versions have greater ids. */
                        id: string;
                        /**
                         * Format: date-time
                         * @description ISO 8601 UTC timestamp
                         * @example 2026-01-31T12:00:00.000Z
                         */
                        createdAt: string;
                        /**
                         * @description `auto`: taken after the room went quiet or during long editing; `named`: saved on request; `before-restore`: the document right before a restore replaced it.
                         * @enum {string}
                         */
                        kind: "auto" | "named" | "before-restore";
                        label: string | null;
                        /** @description The `sub` of who asked for it; null for automatic versions and for the admin key. */
                        author: string | null;
                        /** @description Bytes of the version's document (one Yjs update). */
                        sizeBytes: number;
                    };
                };
            };
            /** @description Error: `bad_request`, `invalid_room_name`. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "bad_request" | "invalid_room_name";
                        };
                    };
                };
            };
            /** @description Error: `token_missing`, `token_invalid`, `token_expired`. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "token_missing" | "token_invalid" | "token_expired";
                        };
                    };
                };
            };
            /** @description Error: `forbidden`. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "forbidden";
                        };
                    };
                };
            };
            /** @description Error: `room_not_found`. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "room_not_found";
                        };
                    };
                };
            };
            /** @description Error: `request_timeout`. */
            408: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "request_timeout";
                        };
                    };
                };
            };
            /** @description Error: `payload_too_large`. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "payload_too_large";
                        };
                    };
                };
            };
            /** @description Error: `unsupported_media_type`. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unsupported_media_type";
                        };
                    };
                };
            };
            /** @description Error: `internal`. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "internal";
                        };
                    };
                };
            };
            /** @description Error: `unavailable`. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unavailable";
                        };
                    };
                };
            };
        };
    };
    getVersion: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Room name: 1–128 characters, letters, digits and . _ : - (not starting with a symbol). The same grammar as WebSocket URLs. */
                room: string;
                /** @description Version id (`ver_…`). */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The version. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @description Version id (`ver_…`); newer versions have greater ids. */
                        id: string;
                        /**
                         * Format: date-time
                         * @description ISO 8601 UTC timestamp
                         * @example 2026-01-31T12:00:00.000Z
                         */
                        createdAt: string;
                        /**
                         * @description `auto`: taken after the room went quiet or during long editing; `named`: saved on request; `before-restore`: the document right before a restore replaced it.
                         * @enum {string}
                         */
                        kind: "auto" | "named" | "before-restore";
                        label: string | null;
                        /** @description The `sub` of who asked for it; null for automatic versions and for the admin key. */
                        author: string | null;
                        /** @description Bytes of the version's document (one Yjs update). */
                        sizeBytes: number;
                    };
                };
            };
            /** @description Error: `bad_request`, `invalid_room_name`. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "bad_request" | "invalid_room_name";
                        };
                    };
                };
            };
            /** @description Error: `token_missing`, `token_invalid`, `token_expired`. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "token_missing" | "token_invalid" | "token_expired";
                        };
                    };
                };
            };
            /** @description Error: `forbidden`. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "forbidden";
                        };
                    };
                };
            };
            /** @description Error: `room_not_found`, `version_not_found`. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "room_not_found" | "version_not_found";
                        };
                    };
                };
            };
            /** @description Error: `internal`. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "internal";
                        };
                    };
                };
            };
            /** @description Error: `unavailable`. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unavailable";
                        };
                    };
                };
            };
        };
    };
    deleteVersion: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Room name: 1–128 characters, letters, digits and . _ : - (not starting with a symbol). The same grammar as WebSocket URLs. */
                room: string;
                /** @description Version id (`ver_…`). */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted. */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Error: `bad_request`, `invalid_room_name`. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "bad_request" | "invalid_room_name";
                        };
                    };
                };
            };
            /** @description Error: `token_missing`, `token_invalid`, `token_expired`. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "token_missing" | "token_invalid" | "token_expired";
                        };
                    };
                };
            };
            /** @description Error: `forbidden`. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "forbidden";
                        };
                    };
                };
            };
            /** @description Error: `room_not_found`, `version_not_found`. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "room_not_found" | "version_not_found";
                        };
                    };
                };
            };
            /** @description Error: `internal`. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "internal";
                        };
                    };
                };
            };
            /** @description Error: `unavailable`. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unavailable";
                        };
                    };
                };
            };
        };
    };
    getVersionDoc: {
        parameters: {
            query?: {
                /** @description `binary`: one Yjs update; `json`: every top-level shared type as JSON. */
                format?: "binary" | "json";
            };
            header?: never;
            path: {
                /** @description Room name: 1–128 characters, letters, digits and . _ : - (not starting with a symbol). The same grammar as WebSocket URLs. */
                room: string;
                /** @description Version id (`ver_…`). */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description `format=binary` (default): application/octet-stream, apply with Y.applyUpdate to an empty Y.Doc for a read-only preview. `format=json`: application/json, shaped like `GET /v1/rooms/{room}/doc?format=json`. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/octet-stream": string;
                    "application/json": {
                        [key: string]: unknown;
                    };
                };
            };
            /** @description Error: `bad_request`, `invalid_room_name`. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "bad_request" | "invalid_room_name";
                        };
                    };
                };
            };
            /** @description Error: `token_missing`, `token_invalid`, `token_expired`. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "token_missing" | "token_invalid" | "token_expired";
                        };
                    };
                };
            };
            /** @description Error: `forbidden`. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "forbidden";
                        };
                    };
                };
            };
            /** @description Error: `room_not_found`, `version_not_found`. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "room_not_found" | "version_not_found";
                        };
                    };
                };
            };
            /** @description Error: `internal`. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "internal";
                        };
                    };
                };
            };
            /** @description Error: `unavailable`. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unavailable";
                        };
                    };
                };
            };
        };
    };
    restoreVersion: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Room name: 1–128 characters, letters, digits and . _ : - (not starting with a symbol). The same grammar as WebSocket URLs. */
                room: string;
                /** @description Version id (`ver_…`). */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": {
                    /** @description Who restored, when the admin key calls on a user's behalf (as for creating a version). */
                    author?: string;
                };
            };
        };
        responses: {
            /** @description Restored and stored. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @description The version whose content the document now holds. */
                        restored: {
                            /** @description Version id (`ver_…`); newer versions have greater ids. */
                            id: string;
                            /**
                             * Format: date-time
                             * @description ISO 8601 UTC timestamp
                             * @example 2026-01-31T12:00:00.000Z
                             */
                            createdAt: string;
                            /**
                             * @description `auto`: taken after the room went quiet or during long editing; `named`: saved on request; `before-restore`: the document right before a restore replaced it.
                             * @enum {string}
                             */
                            kind: "auto" | "named" | "before-restore";
                            label: string | null;
                            /** @description The `sub` of who asked for it; null for automatic versions and for the admin key. */
                            author: string | null;
                            /** @description Bytes of the version's document (one Yjs update). */
                            sizeBytes: number;
                        };
                        /** @description The document as it was right before the restore; restore it to undo. */
                        beforeRestore: {
                            /** @description Version id (`ver_…`); newer versions have greater ids. */
                            id: string;
                            /**
                             * Format: date-time
                             * @description ISO 8601 UTC timestamp
                             * @example 2026-01-31T12:00:00.000Z
                             */
                            createdAt: string;
                            /**
                             * @description `auto`: taken after the room went quiet or during long editing; `named`: saved on request; `before-restore`: the document right before a restore replaced it.
                             * @enum {string}
                             */
                            kind: "auto" | "named" | "before-restore";
                            label: string | null;
                            /** @description The `sub` of who asked for it; null for automatic versions and for the admin key. */
                            author: string | null;
                            /** @description Bytes of the version's document (one Yjs update). */
                            sizeBytes: number;
                        };
                    };
                };
            };
            /** @description Error: `bad_request`, `invalid_room_name`. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "bad_request" | "invalid_room_name";
                        };
                    };
                };
            };
            /** @description Error: `token_missing`, `token_invalid`, `token_expired`. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "token_missing" | "token_invalid" | "token_expired";
                        };
                    };
                };
            };
            /** @description Error: `forbidden`. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "forbidden";
                        };
                    };
                };
            };
            /** @description Error: `room_not_found`, `version_not_found`. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "room_not_found" | "version_not_found";
                        };
                    };
                };
            };
            /** @description Error: `request_timeout`. */
            408: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "request_timeout";
                        };
                    };
                };
            };
            /** @description Error: `payload_too_large`, `document_too_large`. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "payload_too_large" | "document_too_large";
                        };
                    };
                };
            };
            /** @description Error: `unsupported_media_type`. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unsupported_media_type";
                        };
                    };
                };
            };
            /** @description Error: `internal`. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "internal";
                        };
                    };
                };
            };
            /** @description Error: `unavailable`. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unavailable";
                        };
                    };
                };
            };
        };
    };
    listWebhooks: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Every endpoint, oldest first. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        webhooks: {
                            /** @description `ep_…`; `ep_config` is the endpoint configured through TANDEM_WEBHOOK_URL. */
                            id: string;
                            url: string;
                            /** @description Delivered event types; null means all. */
                            events: ("room.created" | "room.deleted" | "room.changed" | "room.restored" | "user.entered" | "user.left")[] | null;
                            /**
                             * Format: date-time
                             * @description ISO 8601 UTC timestamp
                             * @example 2026-01-31T12:00:00.000Z
                             */
                            createdAt: string;
                            /** @description Set when the receiver answered 410 Gone; a disabled endpoint gets no deliveries. */
                            disabledAt: string | null;
                            /** @description True for the endpoint configured through TANDEM_WEBHOOK_URL. */
                            fromConfig: boolean;
                            /** @description Until when the secret replaced by the last rotation still signs deliveries (as a second `v1,` signature); a past time means the overlap is over. Null when no rotation overlap applies (for `ep_config`, TANDEM_WEBHOOK_PREVIOUS_SECRET signs while it is set). */
                            previousSecretExpiresAt: string | null;
                        }[];
                    };
                };
            };
            /** @description Error: `token_missing`, `token_invalid`, `token_expired`. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "token_missing" | "token_invalid" | "token_expired";
                        };
                    };
                };
            };
            /** @description Error: `forbidden`. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "forbidden";
                        };
                    };
                };
            };
            /** @description Error: `internal`. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "internal";
                        };
                    };
                };
            };
            /** @description Error: `unavailable`. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unavailable";
                        };
                    };
                };
            };
        };
    };
    createWebhook: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    /**
                     * @description http(s) URL of the receiver, without credentials. Every address its host resolves to must be public (no loopback, private, link-local, CGNAT, multicast or reserved ranges) unless TANDEM_WEBHOOK_ALLOW_PRIVATE is set; checked again before every delivery.
                     * @example https://example.com/hooks/tandem
                     */
                    url: string;
                    /**
                     * @description Event types to deliver; omitted or null means every event.
                     * @example [
                     *       "room.changed",
                     *       "user.entered"
                     *     ]
                     */
                    events?: ("room.created" | "room.deleted" | "room.changed" | "room.restored" | "user.entered" | "user.left")[] | null;
                };
            };
        };
        responses: {
            /** @description The new endpoint, with its secret. */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @description `ep_…`; `ep_config` is the endpoint configured through TANDEM_WEBHOOK_URL. */
                        id: string;
                        url: string;
                        /** @description Delivered event types; null means all. */
                        events: ("room.created" | "room.deleted" | "room.changed" | "room.restored" | "user.entered" | "user.left")[] | null;
                        /**
                         * Format: date-time
                         * @description ISO 8601 UTC timestamp
                         * @example 2026-01-31T12:00:00.000Z
                         */
                        createdAt: string;
                        /** @description Set when the receiver answered 410 Gone; a disabled endpoint gets no deliveries. */
                        disabledAt: string | null;
                        /** @description True for the endpoint configured through TANDEM_WEBHOOK_URL. */
                        fromConfig: boolean;
                        /** @description Until when the secret replaced by the last rotation still signs deliveries (as a second `v1,` signature); a past time means the overlap is over. Null when no rotation overlap applies (for `ep_config`, TANDEM_WEBHOOK_PREVIOUS_SECRET signs while it is set). */
                        previousSecretExpiresAt: string | null;
                        /** @description Standard Webhooks signing secret (`whsec_…`). Shown only in this response: store it to verify `webhook-signature`. */
                        secret: string;
                    };
                };
            };
            /** @description Error: `bad_request`. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "bad_request";
                        };
                    };
                };
            };
            /** @description Error: `token_missing`, `token_invalid`, `token_expired`. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "token_missing" | "token_invalid" | "token_expired";
                        };
                    };
                };
            };
            /** @description Error: `forbidden`. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "forbidden";
                        };
                    };
                };
            };
            /** @description Error: `request_timeout`. */
            408: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "request_timeout";
                        };
                    };
                };
            };
            /** @description Error: `payload_too_large`. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "payload_too_large";
                        };
                    };
                };
            };
            /** @description Error: `unsupported_media_type`. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unsupported_media_type";
                        };
                    };
                };
            };
            /** @description Error: `internal`. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "internal";
                        };
                    };
                };
            };
            /** @description Error: `unavailable`. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unavailable";
                        };
                    };
                };
            };
        };
    };
    deleteWebhook: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted. */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Error: `bad_request`. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "bad_request";
                        };
                    };
                };
            };
            /** @description Error: `token_missing`, `token_invalid`, `token_expired`. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "token_missing" | "token_invalid" | "token_expired";
                        };
                    };
                };
            };
            /** @description Error: `forbidden`. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "forbidden";
                        };
                    };
                };
            };
            /** @description Error: `webhook_not_found`. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "webhook_not_found";
                        };
                    };
                };
            };
            /** @description Error: `internal`. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "internal";
                        };
                    };
                };
            };
            /** @description Error: `unavailable`. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unavailable";
                        };
                    };
                };
            };
        };
    };
    rotateWebhookSecret: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": {
                    /**
                     * @description How long the current secret keeps signing beside the new one, 0–2592000 seconds; 0 drops it at once. Default: TANDEM_WEBHOOK_SECRET_OVERLAP_SEC.
                     * @example 86400
                     */
                    overlapSeconds?: number;
                };
            };
        };
        responses: {
            /** @description The endpoint, with its new secret. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @description `ep_…`; `ep_config` is the endpoint configured through TANDEM_WEBHOOK_URL. */
                        id: string;
                        url: string;
                        /** @description Delivered event types; null means all. */
                        events: ("room.created" | "room.deleted" | "room.changed" | "room.restored" | "user.entered" | "user.left")[] | null;
                        /**
                         * Format: date-time
                         * @description ISO 8601 UTC timestamp
                         * @example 2026-01-31T12:00:00.000Z
                         */
                        createdAt: string;
                        /** @description Set when the receiver answered 410 Gone; a disabled endpoint gets no deliveries. */
                        disabledAt: string | null;
                        /** @description True for the endpoint configured through TANDEM_WEBHOOK_URL. */
                        fromConfig: boolean;
                        /** @description Until when the secret replaced by the last rotation still signs deliveries (as a second `v1,` signature); a past time means the overlap is over. Null when no rotation overlap applies (for `ep_config`, TANDEM_WEBHOOK_PREVIOUS_SECRET signs while it is set). */
                        previousSecretExpiresAt: string | null;
                        /** @description Standard Webhooks signing secret (`whsec_…`). Shown only in this response: store it to verify `webhook-signature`. */
                        secret: string;
                    };
                };
            };
            /** @description Error: `bad_request`. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "bad_request";
                        };
                    };
                };
            };
            /** @description Error: `token_missing`, `token_invalid`, `token_expired`. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "token_missing" | "token_invalid" | "token_expired";
                        };
                    };
                };
            };
            /** @description Error: `forbidden`. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "forbidden";
                        };
                    };
                };
            };
            /** @description Error: `webhook_not_found`. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "webhook_not_found";
                        };
                    };
                };
            };
            /** @description Error: `request_timeout`. */
            408: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "request_timeout";
                        };
                    };
                };
            };
            /** @description Error: `webhook_managed_by_config`. */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "webhook_managed_by_config";
                        };
                    };
                };
            };
            /** @description Error: `payload_too_large`. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "payload_too_large";
                        };
                    };
                };
            };
            /** @description Error: `unsupported_media_type`. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unsupported_media_type";
                        };
                    };
                };
            };
            /** @description Error: `internal`. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "internal";
                        };
                    };
                };
            };
            /** @description Error: `unavailable`. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unavailable";
                        };
                    };
                };
            };
        };
    };
    listWebhookDeliveries: {
        parameters: {
            query?: {
                /** @description Only deliveries in this state. */
                status?: "pending" | "delivered" | "failed";
                /** @description The `nextCursor` of the previous page. */
                cursor?: string;
                /** @description Page size, 1–200. */
                limit?: number;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description One page of deliveries. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        deliveries: {
                            /** @description The `webhook-id` header: the same on every attempt, so receivers can deduplicate. */
                            id: string;
                            endpointId: string;
                            eventType: string;
                            /**
                             * @description `failed`: attempts exhausted or the receiver answered 410; replayable.
                             * @enum {string}
                             */
                            status: "pending" | "delivered" | "failed";
                            attempts: number;
                            /** @description When the next attempt is due (pending only). */
                            nextAttemptAt: string | null;
                            lastError: string | null;
                            lastStatusCode: number | null;
                            /**
                             * Format: date-time
                             * @description ISO 8601 UTC timestamp
                             * @example 2026-01-31T12:00:00.000Z
                             */
                            createdAt: string;
                            /**
                             * Format: date-time
                             * @description ISO 8601 UTC timestamp
                             * @example 2026-01-31T12:00:00.000Z
                             */
                            updatedAt: string;
                            /** @description The JSON body sent: `{ type, timestamp, data }`. */
                            payload: unknown;
                        }[];
                        /** @description Pass as `cursor` for the next page; null on the last page. */
                        nextCursor: string | null;
                    };
                };
            };
            /** @description Error: `bad_request`. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "bad_request";
                        };
                    };
                };
            };
            /** @description Error: `token_missing`, `token_invalid`, `token_expired`. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "token_missing" | "token_invalid" | "token_expired";
                        };
                    };
                };
            };
            /** @description Error: `forbidden`. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "forbidden";
                        };
                    };
                };
            };
            /** @description Error: `internal`. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "internal";
                        };
                    };
                };
            };
            /** @description Error: `unavailable`. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unavailable";
                        };
                    };
                };
            };
        };
    };
    replayWebhookDelivery: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Queued; it is delivered in the background. */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @description The `webhook-id` header: the same on every attempt, so receivers can deduplicate. */
                        id: string;
                        endpointId: string;
                        eventType: string;
                        /**
                         * @description `failed`: attempts exhausted or the receiver answered 410; replayable.
                         * @enum {string}
                         */
                        status: "pending" | "delivered" | "failed";
                        attempts: number;
                        /** @description When the next attempt is due (pending only). */
                        nextAttemptAt: string | null;
                        lastError: string | null;
                        lastStatusCode: number | null;
                        /**
                         * Format: date-time
                         * @description ISO 8601 UTC timestamp
                         * @example 2026-01-31T12:00:00.000Z
                         */
                        createdAt: string;
                        /**
                         * Format: date-time
                         * @description ISO 8601 UTC timestamp
                         * @example 2026-01-31T12:00:00.000Z
                         */
                        updatedAt: string;
                        /** @description The JSON body sent: `{ type, timestamp, data }`. */
                        payload: unknown;
                    };
                };
            };
            /** @description Error: `bad_request`. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "bad_request";
                        };
                    };
                };
            };
            /** @description Error: `token_missing`, `token_invalid`, `token_expired`. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "token_missing" | "token_invalid" | "token_expired";
                        };
                    };
                };
            };
            /** @description Error: `forbidden`. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "forbidden";
                        };
                    };
                };
            };
            /** @description Error: `delivery_not_found`, `webhook_not_found`. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "delivery_not_found" | "webhook_not_found";
                        };
                    };
                };
            };
            /** @description Error: `internal`. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "internal";
                        };
                    };
                };
            };
            /** @description Error: `unavailable`. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {string} */
                            code?: "unavailable";
                        };
                    };
                };
            };
        };
    };
}
