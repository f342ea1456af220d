/**
 * REST schemas for `/v1/webhooks…`. The router validates requests with them and `/v1/openapi.json` is
 * generated from them. Same conventions as http/schemas.ts: ISO timestamps, strict request bodies.
 */
import * as z from 'zod'
import { timestamp } from '../http/schemas.js'
import { WEBHOOK_EVENT_TYPES } from './outbox.js'
import { MAX_DELIVERY_PAGE } from './service.js'
import { MAX_SECRET_OVERLAP_SEC } from './secret-format.js'
import { MAX_URL_LENGTH } from './ssrf.js'

export const webhookEventType = z.enum(WEBHOOK_EVENT_TYPES).meta({ description: 'A webhook event type.' })

export const createWebhookBody = z.strictObject({
  url: z
    .string()
    .min(1)
    .max(MAX_URL_LENGTH)
    .meta({
      description:
        'http(s) URL of the receiver, without credentials. Every address its host resolves to must be public (no loopback, private, link-local, CGNAT, multicast or reserved ranges) unless TANDEM_WEBHOOK_ALLOW_PRIVATE is set; checked again before every delivery.',
      examples: ['https://example.com/hooks/tandem'],
    }),
  events: z
    .array(webhookEventType)
    .min(1)
    .nullable()
    .optional()
    .meta({ description: 'Event types to deliver; omitted or null means every event.', examples: [['room.changed', 'user.entered']] }),
})

export const webhookEndpoint = z.object({
  id: z.string().meta({ description: '`ep_…`; `ep_config` is the endpoint configured through TANDEM_WEBHOOK_URL.' }),
  url: z.string(),
  events: z.array(webhookEventType).readonly().nullable().meta({ description: 'Delivered event types; null means all.' }),
  createdAt: timestamp,
  disabledAt: timestamp.nullable().meta({ description: 'Set when the receiver answered 410 Gone; a disabled endpoint gets no deliveries.' }),
  fromConfig: z.boolean().meta({ description: 'True for the endpoint configured through TANDEM_WEBHOOK_URL.' }),
  previousSecretExpiresAt: timestamp.nullable().meta({
    description:
      'Until when the secret replaced by the last rotation still signs deliveries (as a second `v1,` signature); a past time means the overlap is over. Null when no rotation overlap applies (for `ep_config`, TANDEM_WEBHOOK_PREVIOUS_SECRET signs while it is set).',
  }),
})

export const createdWebhookEndpoint = webhookEndpoint.extend({
  secret: z.string().meta({
    description: 'Standard Webhooks signing secret (`whsec_…`). Shown only in this response: store it to verify `webhook-signature`.',
  }),
})

export const rotateSecretBody = z.strictObject({
  overlapSeconds: z
    .int()
    .min(0)
    .max(MAX_SECRET_OVERLAP_SEC)
    .optional()
    .meta({
      description: `How long the current secret keeps signing beside the new one, 0–${MAX_SECRET_OVERLAP_SEC} seconds; 0 drops it at once. Default: TANDEM_WEBHOOK_SECRET_OVERLAP_SEC.`,
      examples: [86_400],
    }),
})

export const webhookEndpointList = z.object({ webhooks: z.array(webhookEndpoint) })

export const deliveryStatus = z.enum(['pending', 'delivered', 'failed'])

export const webhookDelivery = z.object({
  id: z.string().meta({ description: 'The `webhook-id` header: the same on every attempt, so receivers can deduplicate.' }),
  endpointId: z.string(),
  eventType: z.string(),
  status: deliveryStatus.meta({ description: '`failed`: attempts exhausted or the receiver answered 410; replayable.' }),
  attempts: z.int().nonnegative(),
  nextAttemptAt: timestamp.nullable().meta({ description: 'When the next attempt is due (pending only).' }),
  lastError: z.string().nullable(),
  lastStatusCode: z.int().nullable(),
  createdAt: timestamp,
  updatedAt: timestamp,
  payload: z.unknown().meta({ description: 'The JSON body sent: `{ type, timestamp, data }`.' }),
})

export const webhookDeliveryPage = z.object({
  deliveries: z.array(webhookDelivery),
  nextCursor: z.string().nullable().meta({ description: 'Pass as `cursor` for the next page; null on the last page.' }),
})

export const webhookParams = z.object({ id: z.string().min(1).max(128) })

export const listDeliveriesQuery = z.object({
  status: deliveryStatus.optional().meta({ description: 'Only deliveries in this state.' }),
  cursor: z.string().min(1).max(128).optional().meta({ description: 'The `nextCursor` of the previous page.' }),
  limit: z.coerce.number().int().min(1).max(MAX_DELIVERY_PAGE).default(50).meta({ description: `Page size, 1–${MAX_DELIVERY_PAGE}.` }),
})
