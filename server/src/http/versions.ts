/**
 * `/v1/rooms/:room/versions…`: version history, thin handlers over VersionService (rooms/versions.ts).
 */
import type * as z from 'zod'
import type { VersionInfo } from '../persistence/versions.js'
import type { VersionService } from '../rooms/versions.js'
import { bytesReply, defineRoute, jsonReply, noContent, type Caller, type Route } from './router.js'
import * as s from './schemas.js'

export function versionRoutes(versions: VersionService): Route[] {
  return [
    defineRoute({
      method: 'GET',
      path: '/v1/rooms/:room/versions',
      operationId: 'listVersions',
      summary: "List a room's versions, newest first, with cursor paging",
      tag: 'versions',
      auth: 'admin',
      params: s.roomParams,
      query: s.listVersionsQuery,
      responses: { 200: { description: 'One page of versions, newest first.', json: s.versionPage } },
      errors: ['room_not_found', 'invalid_room_name'],
      async handle({ params, query }) {
        const page = await versions.list(params.room, { limit: query.limit, ...(query.cursor !== undefined && { before: query.cursor }) })
        return jsonReply(200, { versions: page.versions.map(versionJson), nextCursor: page.nextCursor } satisfies z.input<typeof s.versionPage>)
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/v1/rooms/:room/versions',
      operationId: 'createVersion',
      summary: 'Save a named version of the document as it is now',
      tag: 'versions',
      auth: 'admin',
      params: s.roomParams,
      body: { kind: 'json', schema: s.createVersionBody, optional: true },
      responses: { 201: { description: 'The new version.', json: s.version } },
      errors: ['room_not_found', 'invalid_room_name'],
      async handle({ params, body, caller }) {
        const info = await versions.create(params.room, { label: body?.label ?? null, author: authorOf(caller, body?.author) })
        return jsonReply(201, versionJson(info), {
          location: `/v1/rooms/${encodeURIComponent(params.room)}/versions/${info.id}`,
        })
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/v1/rooms/:room/versions/:id',
      operationId: 'getVersion',
      summary: 'Get one version (without its document)',
      tag: 'versions',
      auth: 'admin',
      params: s.versionParams,
      responses: { 200: { description: 'The version.', json: s.version } },
      errors: ['room_not_found', 'version_not_found', 'invalid_room_name'],
      async handle({ params }) {
        return jsonReply(200, versionJson(await versions.get(params.room, params.id)))
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/v1/rooms/:room/versions/:id/doc',
      operationId: 'getVersionDoc',
      summary: "Read a version's document as one binary Yjs update, or as JSON",
      tag: 'versions',
      auth: 'admin',
      params: s.versionParams,
      query: s.docQuery,
      responses: {
        200: {
          description:
            '`format=binary` (default): application/octet-stream, apply with Y.applyUpdate to an empty Y.Doc for a read-only preview. `format=json`: application/json, shaped like `GET /v1/rooms/{room}/doc?format=json`.',
          content: { type: 'application/octet-stream', schema: { type: 'string', contentMediaType: 'application/octet-stream' } },
          json: s.docJson,
        },
      },
      errors: ['room_not_found', 'version_not_found', 'invalid_room_name'],
      async handle({ params, query }) {
        if (query.format === 'json') return jsonReply(200, await versions.readDocJson(params.room, params.id))
        return bytesReply(200, await versions.readDoc(params.room, params.id), 'application/octet-stream')
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: '/v1/rooms/:room/versions/:id',
      operationId: 'deleteVersion',
      summary: 'Delete a version',
      tag: 'versions',
      auth: 'admin',
      params: s.versionParams,
      responses: { 204: { description: 'Deleted.' } },
      errors: ['room_not_found', 'version_not_found', 'invalid_room_name'],
      async handle({ params }) {
        await versions.delete(params.room, params.id)
        return noContent()
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/v1/rooms/:room/versions/:id/restore',
      operationId: 'restoreVersion',
      summary: "Restore a version: the document changes to the version's content, live, for every client",
      description:
        'Moves forward, never rewrites history: first a `before-restore` version of the current document is saved (restore it to undo), then one ordinary Yjs update turns the document into the version\'s content. That update is broadcast to connected clients, stored and acknowledged like any edit; the answer comes once it is durably stored. Edits clients make meanwhile are kept, merged as Yjs merges concurrent edits. Emits the `room.restored` webhook and a stateless message `{"type":"room.restored",…}` to multiplexed clients.',
      tag: 'versions',
      auth: 'admin',
      params: s.versionParams,
      body: { kind: 'json', schema: s.restoreVersionBody, optional: true },
      responses: { 200: { description: 'Restored and stored.', json: s.restoreResult } },
      errors: ['room_not_found', 'version_not_found', 'invalid_room_name', 'document_too_large'],
      async handle({ params, body, caller }) {
        const result = await versions.restore(params.room, params.id, authorOf(caller, body?.author))
        return jsonReply(200, { restored: versionJson(result.restored), beforeRestore: versionJson(result.beforeRestore) } satisfies z.input<typeof s.restoreResult>)
      },
    }),
  ]
}

/** An admin token speaks for its own sub; the admin key may name the user it acts for. */
function authorOf(caller: Caller, named: string | undefined): string | null {
  if (caller.kind === 'token') return caller.principal.userId
  return named ?? null
}

export function versionJson(info: VersionInfo): z.input<typeof s.version> {
  return {
    id: info.id,
    createdAt: s.toTimestamp(info.createdAt),
    kind: info.kind,
    label: info.label,
    author: info.author,
    sizeBytes: info.sizeBytes,
  }
}
