/**
 * `/v1/rooms…`: thin handlers over RoomService. Validation happens in the router (schemas.ts); errors
 * are the service's AppErrors.
 */
import type * as z from 'zod'
import { AppError } from '../errors.js'
import type { RoomInfo, RoomService } from '../rooms/service.js'
import { bytesReply, defineRoute, jsonReply, noContent, type Route } from './router.js'
import * as s from './schemas.js'

export function roomRoutes(rooms: RoomService): Route[] {
  return [
    defineRoute({
      method: 'POST',
      path: '/v1/rooms',
      operationId: 'createRoom',
      summary: 'Create a room',
      tag: 'rooms',
      auth: 'admin',
      body: { kind: 'json', schema: s.createRoomBody },
      responses: { 201: { description: 'The new room.', json: s.room } },
      errors: ['room_exists', 'invalid_room_name'],
      async handle({ body }) {
        const info = await rooms.create(body.name, body.metadata ?? {})
        return jsonReply(201, roomJson(info), { location: `/v1/rooms/${encodeURIComponent(info.name)}` })
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/v1/rooms',
      operationId: 'listRooms',
      summary: 'List rooms by name, with cursor paging and a prefix filter',
      tag: 'rooms',
      auth: 'admin',
      query: s.listRoomsQuery,
      responses: { 200: { description: 'One page of rooms, ordered by name.', json: s.roomPage } },
      async handle({ query }) {
        const page = await rooms.list({
          limit: query.limit,
          ...(query.prefix !== undefined && { prefix: query.prefix }),
          ...(query.cursor !== undefined && { after: query.cursor }),
        })
        return jsonReply(200, { rooms: page.rooms.map(roomJson), nextCursor: page.nextCursor } satisfies z.input<typeof s.roomPage>)
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/v1/rooms/:room',
      operationId: 'getRoom',
      summary: 'Get a room: metadata, size and live stats',
      tag: 'rooms',
      auth: 'admin',
      params: s.roomParams,
      responses: { 200: { description: 'The room.', json: s.room } },
      errors: ['room_not_found', 'invalid_room_name'],
      async handle({ params }) {
        return jsonReply(200, roomJson(await rooms.get(params.room)))
      },
    }),
    defineRoute({
      method: 'PATCH',
      path: '/v1/rooms/:room',
      operationId: 'updateRoom',
      summary: "Replace a room's metadata",
      tag: 'rooms',
      auth: 'admin',
      params: s.roomParams,
      body: { kind: 'json', schema: s.updateRoomBody },
      responses: { 200: { description: 'The updated room.', json: s.room } },
      errors: ['room_not_found', 'invalid_room_name'],
      async handle({ params, body }) {
        return jsonReply(200, roomJson(await rooms.updateMetadata(params.room, body.metadata)))
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: '/v1/rooms/:room',
      operationId: 'deleteRoom',
      summary: 'Delete a room and its document; connected clients are closed with 4404',
      description:
        'The stored document is removed. Clients holding old content cannot bring it back: the server remembers what the deleted room contained and drops those updates if the room is created again.',
      tag: 'rooms',
      auth: 'admin',
      params: s.roomParams,
      responses: { 204: { description: 'Deleted.' } },
      errors: ['room_not_found', 'invalid_room_name'],
      async handle({ params }) {
        await rooms.delete(params.room)
        return noContent()
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/v1/rooms/:room/doc',
      operationId: 'getRoomDoc',
      summary: 'Read the document as one binary Yjs update, or as JSON',
      tag: 'documents',
      auth: 'admin',
      params: s.roomParams,
      query: s.docQuery,
      responses: {
        200: {
          description: '`format=binary` (default): application/octet-stream, apply with Y.applyUpdate. `format=json`: application/json.',
          content: { type: 'application/octet-stream', schema: { type: 'string', contentMediaType: 'application/octet-stream' } },
          json: s.docJson,
        },
      },
      errors: ['room_not_found', 'invalid_room_name', 'unavailable'],
      async handle({ params, query }) {
        if (query.format === 'json') return jsonReply(200, await rooms.readDocJson(params.room))
        return bytesReply(200, await rooms.readDoc(params.room), 'application/octet-stream')
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/v1/rooms/:room/doc',
      operationId: 'applyRoomUpdate',
      summary: 'Apply a binary Yjs update; answers after it is durably stored',
      description: 'The update is broadcast to connected clients like any edit. Content of a deleted earlier incarnation of the room is dropped.',
      tag: 'documents',
      auth: 'admin',
      params: s.roomParams,
      body: { kind: 'binary', contentType: 'application/octet-stream', description: 'One Yjs update (Y.encodeStateAsUpdate or an update event payload).' },
      responses: { 204: { description: 'Applied and committed to storage.' } },
      errors: ['room_not_found', 'invalid_room_name', 'unavailable'],
      async handle({ params, body }) {
        if (body.byteLength === 0) throw badRequest('request body is empty; expected a binary Yjs update')
        await rooms.applyUpdate(params.room, body)
        return noContent()
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/v1/rooms/:room/users',
      operationId: 'listRoomUsers',
      summary: 'Users connected to the room, on every instance of a cluster',
      tag: 'rooms',
      auth: 'admin',
      params: s.roomParams,
      responses: { 200: { description: 'Active users, one entry per user (not per connection).', json: s.activeUsers } },
      errors: ['room_not_found', 'invalid_room_name'],
      async handle({ params }) {
        return jsonReply(200, { users: await rooms.users(params.room) } satisfies z.input<typeof s.activeUsers>)
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: '/v1/rooms/:room/users/:userId',
      operationId: 'kickRoomUser',
      summary: "Disconnect a user's connections in the room, on every instance, with 4403",
      description:
        "Every connection of the user in the room is closed with 4403 (forbidden), which clients treat as final: the Tandem SDK and Hocuspocus providers do not reconnect, and the SDK reports `forbidden`. The user stays out of the room, on every instance and across restarts, until it connects with a token issued after the removal (`iat` in a later second, or the same one); a token without `iat` is refused until the longest token lifetime (TANDEM_JWT_MAX_LIFETIME_SEC) has passed. To let the user back in, issue it a new token; to keep it out, stop issuing it tokens for the room. Answers 200 with 0 connections when the user is not connected.",
      tag: 'rooms',
      auth: 'admin',
      params: s.roomUserParams,
      responses: { 200: { description: 'Disconnected.', json: s.kickResult } },
      errors: ['room_not_found', 'invalid_room_name'],
      async handle({ params }) {
        const connections = await rooms.kickUser(params.room, params.userId)
        return jsonReply(200, { connections } satisfies z.input<typeof s.kickResult>)
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/v1/rooms/:room/broadcast',
      operationId: 'broadcastToRoom',
      summary: "Send a message to the room's clients",
      description:
        'Delivered as a Hocuspocus stateless message to clients on the multiplexed framing (`/ws`: the Tandem SDK, @hocuspocus/provider). y-websocket clients have no such message and do not receive it.',
      tag: 'rooms',
      auth: 'admin',
      params: s.roomParams,
      body: { kind: 'json', schema: s.broadcastBody },
      responses: { 200: { description: 'Sent.', json: s.broadcastResult } },
      errors: ['room_not_found', 'invalid_room_name'],
      async handle({ params, body }) {
        const connections = await rooms.broadcast(params.room, body.message)
        return jsonReply(200, { connections } satisfies z.input<typeof s.broadcastResult>)
      },
    }),
  ]
}

function roomJson(info: RoomInfo): z.input<typeof s.room> {
  return {
    name: info.name,
    metadata: info.metadata,
    createdAt: s.toTimestamp(info.createdAt),
    updatedAt: s.toTimestamp(info.updatedAt),
    sizeBytes: info.sizeBytes,
    stats: { connections: info.stats.connections, users: info.stats.users, loaded: info.stats.loaded },
  }
}

function badRequest(message: string): AppError {
  return new AppError('bad_request', message)
}
