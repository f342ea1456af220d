/**
 * Every REST request and response schema, in one place: the router validates with them and the OpenAPI
 * document is generated from them, so the two cannot drift.
 *
 * Conventions: timestamps are ISO 8601 UTC strings with milliseconds (`2026-01-31T12:00:00.000Z`);
 * request bodies reject unknown fields (a typo is a 400, not a silently ignored setting).
 */
import * as z from 'zod'
import { ROOM_NAME_PATTERN } from '../errors.js'
import type { ErrorCode } from '../errors.js'
import { HTTP_STATUS } from '../errors.js'
import { MAX_ROOM_ENTRIES, isRoomKey } from '../auth/verify.js'
import { MAX_TTL_SEC, parseTtl } from '../auth/mint.js'
import { withErrorCode } from './router.js'

// ---- shared pieces -----------------------------------------------------------------------------------

export const roomName = withErrorCode(
  z.string().regex(ROOM_NAME_PATTERN, `room names match ${ROOM_NAME_PATTERN.source}`).meta({
    description: 'Room name: 1–128 characters, letters, digits and . _ : - (not starting with a symbol). The same grammar as WebSocket URLs.',
    examples: ['team-42:notes'],
  }),
  'invalid_room_name',
)

export const roomParams = z.object({ room: roomName })

/** An ISO 8601 UTC timestamp with milliseconds. */
export const timestamp = z.iso.datetime().meta({ description: 'ISO 8601 UTC timestamp', examples: ['2026-01-31T12:00:00.000Z'] })

/** Epoch milliseconds to the API's timestamp form. */
export function toTimestamp(ms: number): string {
  return new Date(ms).toISOString()
}

/** Room metadata bounds (documented in the README). */
export const METADATA_LIMITS = Object.freeze({ maxBytes: 16 * 1024, maxKeys: 64, maxDepth: 4 })

export const metadata = z
  .record(z.string(), z.unknown())
  .superRefine((value, ctx) => {
    const keys = Object.keys(value).length
    if (keys > METADATA_LIMITS.maxKeys) ctx.addIssue({ code: 'custom', message: `at most ${METADATA_LIMITS.maxKeys} keys, got ${keys}` })
    const depth = jsonDepth(value)
    if (depth > METADATA_LIMITS.maxDepth) {
      ctx.addIssue({ code: 'custom', message: `nested at most ${METADATA_LIMITS.maxDepth} levels deep (the object itself is level 1), got ${depth}` })
    }
    const bytes = Buffer.byteLength(JSON.stringify(value), 'utf8')
    if (bytes > METADATA_LIMITS.maxBytes) ctx.addIssue({ code: 'custom', message: `at most ${METADATA_LIMITS.maxBytes} bytes as JSON, got ${bytes}` })
  })
  .meta({
    description: `Free-form JSON object stored with the room: at most ${METADATA_LIMITS.maxKeys} top-level keys, ${METADATA_LIMITS.maxBytes} bytes as JSON, nested at most ${METADATA_LIMITS.maxDepth} levels (the object itself is level 1).`,
    examples: [{ title: 'Q3 planning', owner: 'alice' }],
  })

/** Containers nested in `value`, counting `value` itself (a scalar is 0). */
function jsonDepth(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0
  let deepest = 0
  for (const child of Object.values(value)) {
    const d = jsonDepth(child)
    if (d > deepest) deepest = d
    if (deepest > METADATA_LIMITS.maxDepth) break // deep enough to refuse; stop walking
  }
  return deepest + 1
}

// ---- rooms -------------------------------------------------------------------------------------------

export const roomStats = z.object({
  connections: z.int().nonnegative().meta({
    description: 'Open connections to the room: on every instance of a cluster for `GET /v1/rooms/:room`, on the answering instance in lists and other answers.',
  }),
  users: z.int().nonnegative().meta({ description: 'Distinct users among them.' }),
  loaded: z.boolean().meta({ description: 'Whether the room is loaded in memory on the answering instance now.' }),
})

export const room = z.object({
  name: z.string(),
  metadata: z.record(z.string(), z.unknown()),
  createdAt: timestamp,
  updatedAt: timestamp.meta({ description: 'Last stored update or metadata change.' }),
  sizeBytes: z.int().nonnegative().meta({ description: "Bytes of the room's stored update log." }),
  stats: roomStats,
})

export const createRoomBody = z.strictObject({ name: roomName, metadata: metadata.optional() })

export const listRoomsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50).meta({ description: 'Page size, 1–200.' }),
  prefix: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'a prefix of a room name')
    .optional()
    .meta({ description: 'Only rooms whose name starts with this.' }),
  cursor: z
    .string()
    .regex(ROOM_NAME_PATTERN, 'not a cursor returned by this endpoint')
    .optional()
    .meta({ description: 'The `nextCursor` of the previous page.' }),
})

export const roomPage = z.object({
  rooms: z.array(room),
  nextCursor: z.string().nullable().meta({ description: 'Pass as `cursor` for the next page; null on the last page.' }),
})

export const updateRoomBody = z.strictObject({ metadata: metadata.meta({ description: 'Replaces the whole metadata object.' }) })

export const docQuery = z.object({
  format: z.enum(['binary', 'json']).default('binary').meta({ description: '`binary`: one Yjs update; `json`: every top-level shared type as JSON.' }),
})

export const docJson = z.record(z.string(), z.unknown()).meta({
  description: 'Every top-level shared type by name: Y.Text and Y.XmlFragment as strings, Y.Map as objects, Y.Array as arrays.',
  examples: [{ content: 'Hello', todos: [{ done: false, text: 'ship it' }] }],
})

export const activeUsers = z.object({
  users: z.array(
    z.object({
      userId: z.string(),
      name: z.string().nullable(),
      connections: z.int().positive(),
    }),
  ),
})

export const roomUserParams = z.object({
  room: roomName,
  userId: z.string().min(1).max(256).meta({ description: "The user's id (the `sub` of its tokens)." }),
})

export const kickResult = z.object({
  connections: z.int().nonnegative().meta({ description: 'Connections of the user closed on the instance that answered; the other instances close theirs as the request reaches them.' }),
})

/** Largest broadcast message, in UTF-8 bytes. */
export const MAX_BROADCAST_BYTES = 64 * 1024

export const broadcastBody = z.strictObject({
  message: z
    .string()
    .refine((s) => Buffer.byteLength(s, 'utf8') <= MAX_BROADCAST_BYTES, `at most ${MAX_BROADCAST_BYTES} bytes as UTF-8`)
    .meta({ description: `Delivered to the room's multiplexed (Hocuspocus-protocol) clients as a stateless message; at most ${MAX_BROADCAST_BYTES} bytes.` }),
})

export const broadcastResult = z.object({
  connections: z.int().nonnegative().meta({ description: 'Connections in the room when the message was sent.' }),
})

// ---- tokens ------------------------------------------------------------------------------------------

const ttl = z
  .union([
    z.int().min(1).max(MAX_TTL_SEC),
    z.string().transform((text, ctx) => {
      try {
        return parseTtl(text)
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : 'invalid ttl' })
        return z.NEVER
      }
    }),
  ])
  .meta({
    description:
      'Lifetime: seconds, or a number followed by s, m, h or d ("90s", "15m", "1h", "7d"). At most the server\'s maximum token lifetime (TANDEM_JWT_MAX_LIFETIME_SEC, 24 h by default; 365 days when that is 0): a longer one is refused with 400, since the server would refuse the token. Default: 1 h, or the maximum lifetime when that is shorter.',
    examples: ['1h'],
  })

export const mintTokenBody = z.strictObject({
  sub: z.string().min(1).max(256).meta({ description: 'User id.' }),
  name: z.string().max(256).optional().meta({ description: 'Display name.' }),
  rooms: z
    .record(z.string().refine(isRoomKey, 'not a room name, prefix* or *'), z.enum(['read', 'write']))
    .refine((rooms) => Object.keys(rooms).length <= MAX_ROOM_ENTRIES, `at most ${MAX_ROOM_ENTRIES} entries`)
    .meta({ description: 'Room name, prefix ending in `*`, or `*` → access.', examples: [{ 'team-42:*': 'write' }] }),
  ttl: ttl.optional(),
  admin: z.boolean().optional().meta({ description: 'Grants REST admin access. Only the admin key may mint admin tokens.' }),
})

export const mintedToken = z.object({
  token: z.string(),
  expiresAt: timestamp,
})

// ---- operations and errors ---------------------------------------------------------------------------

export const healthStatus = z.object({ status: z.literal('ok') })
export const readyStatus = z.object({ status: z.literal('ready') })

export const ERROR_CODES = Object.keys(HTTP_STATUS) as ErrorCode[]

export const errorBody = z
  .object({
    error: z.object({
      code: z.enum(ERROR_CODES as [ErrorCode, ...ErrorCode[]]).meta({ description: 'Stable snake_case code.' }),
      message: z.string().meta({ description: 'Human-readable detail; may change between releases.' }),
    }),
  })
  .meta({ description: 'Every error response has this body.' })

// ---- versions ----------------------------------------------------------------------------------------

export const versionId = withErrorCode(
  z.string().regex(/^ver_[0-9a-z]{1,64}$/, 'not a version id').meta({ description: 'Version id (`ver_…`).', examples: ['ver_00mabc12340000k3j9x2qa'] }),
  'version_not_found',
)

export const versionParams = z.object({ room: roomName, id: versionId })

export const version = z.object({
  id: z.string().meta({ description: 'Version id (`ver_…`); newer versions have greater ids.' }),
  createdAt: timestamp,
  kind: z.enum(['auto', 'named', 'before-restore']).meta({
    description: '`auto`: taken after the room went quiet or during long editing; `named`: saved on request; `before-restore`: the document right before a restore replaced it.',
  }),
  label: z.string().nullable(),
  author: z.string().nullable().meta({ description: 'The `sub` of who asked for it; null for automatic versions and for the admin key.' }),
  sizeBytes: z.int().nonnegative().meta({ description: "Bytes of the version's document (one Yjs update)." }),
})

export const listVersionsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50).meta({ description: 'Page size, 1–200.' }),
  cursor: z
    .string()
    .regex(/^ver_[0-9a-z]{1,64}$/, 'not a cursor returned by this endpoint')
    .optional()
    .meta({ description: 'The `nextCursor` of the previous page.' }),
})

export const versionPage = z.object({
  versions: z.array(version).meta({ description: 'Newest first.' }),
  nextCursor: z.string().nullable().meta({ description: 'Pass as `cursor` for the next (older) page; null on the last page.' }),
})

/** Longest version label, in characters. */
export const MAX_VERSION_LABEL_CHARS = 200

export const createVersionBody = z.strictObject({
  label: z.string().max(MAX_VERSION_LABEL_CHARS).optional().meta({ description: `Shown in the history; at most ${MAX_VERSION_LABEL_CHARS} characters.` }),
  author: z
    .string()
    .min(1)
    .max(256)
    .optional()
    .meta({ description: "Who the version is recorded for, when the admin key calls on a user's behalf. An admin token's own `sub` is used otherwise (and overrides this)." }),
})

export const restoreVersionBody = z.strictObject({
  author: z.string().min(1).max(256).optional().meta({ description: 'Who restored, when the admin key calls on a user\'s behalf (as for creating a version).' }),
})

export const restoreResult = z.object({
  restored: version.meta({ description: 'The version whose content the document now holds.' }),
  beforeRestore: version.meta({ description: 'The document as it was right before the restore; restore it to undo.' }),
})
