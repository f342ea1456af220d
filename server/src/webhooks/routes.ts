/**
 * `/v1/webhooks…`: thin handlers over the Webhooks service, for `router.add(...webhookRoutes(webhooks))`.
 * Validation happens in the router (./schemas.ts); errors are the service's AppErrors.
 */
import type * as z from 'zod'
import { defineRoute, jsonReply, noContent, type Route } from '../http/router.js'
import { toTimestamp } from '../http/schemas.js'
import type { DeliveryView, EndpointView, Webhooks } from './service.js'
import * as s from './schemas.js'

export function webhookRoutes(webhooks: Webhooks): Route[] {
  return [
    defineRoute({
      method: 'POST',
      path: '/v1/webhooks',
      operationId: 'createWebhook',
      summary: 'Register a webhook endpoint; the response carries its signing secret, once',
      description:
        'Deliveries follow the Standard Webhooks spec: `webhook-id`, `webhook-timestamp` and `webhook-signature` (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body` keyed with the secret). A receiver answering 410 Gone disables its endpoint.',
      tag: 'webhooks',
      auth: 'admin',
      body: { kind: 'json', schema: s.createWebhookBody },
      responses: { 201: { description: 'The new endpoint, with its secret.', json: s.createdWebhookEndpoint } },
      async handle({ body }) {
        const created = await webhooks.createEndpoint({ url: body.url, events: body.events ?? null })
        return jsonReply(201, { ...endpointJson(created), secret: created.secret } satisfies z.input<typeof s.createdWebhookEndpoint>, {
          location: `/v1/webhooks/${encodeURIComponent(created.id)}`,
        })
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/v1/webhooks',
      operationId: 'listWebhooks',
      summary: 'List webhook endpoints (secrets are never shown again)',
      tag: 'webhooks',
      auth: 'admin',
      responses: { 200: { description: 'Every endpoint, oldest first.', json: s.webhookEndpointList } },
      async handle() {
        const endpoints = await webhooks.listEndpoints()
        return jsonReply(200, { webhooks: endpoints.map(endpointJson) } satisfies z.input<typeof s.webhookEndpointList>)
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: '/v1/webhooks/:id',
      operationId: 'deleteWebhook',
      summary: 'Delete a webhook endpoint and its pending deliveries',
      description: 'Delivered and failed deliveries stay listable. `ep_config` comes from TANDEM_WEBHOOK_URL and cannot be deleted here.',
      tag: 'webhooks',
      auth: 'admin',
      params: s.webhookParams,
      responses: { 204: { description: 'Deleted.' } },
      errors: ['webhook_not_found'],
      async handle({ params }) {
        await webhooks.deleteEndpoint(params.id)
        return noContent()
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/v1/webhooks/:id/rotate-secret',
      operationId: 'rotateWebhookSecret',
      summary: 'Give an endpoint a new signing secret; the old one keeps signing during an overlap',
      description:
        'The response carries the new secret, shown only here. Until `previousSecretExpiresAt` every attempt (retries and replays included) carries two `v1,` signatures in `webhook-signature`, the new secret\'s first, so a receiver verifying with either secret accepts it: update the receiver, and the old secret stops signing at expiry. Rotating again during an overlap replaces the previous secret with the current one (only one previous secret is kept). `ep_config` takes its secrets from TANDEM_WEBHOOK_SECRET and TANDEM_WEBHOOK_PREVIOUS_SECRET instead.',
      tag: 'webhooks',
      auth: 'admin',
      params: s.webhookParams,
      body: { kind: 'json', schema: s.rotateSecretBody, optional: true },
      responses: { 200: { description: 'The endpoint, with its new secret.', json: s.createdWebhookEndpoint } },
      errors: ['webhook_not_found', 'webhook_managed_by_config'],
      async handle({ params, body }) {
        const rotated = await webhooks.rotateSecret(params.id, body?.overlapSeconds)
        return jsonReply(200, { ...endpointJson(rotated), secret: rotated.secret } satisfies z.input<typeof s.createdWebhookEndpoint>)
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/v1/webhooks/deliveries',
      operationId: 'listWebhookDeliveries',
      summary: 'List webhook deliveries, oldest first, by status, with cursor paging',
      tag: 'webhooks',
      auth: 'admin',
      query: s.listDeliveriesQuery,
      responses: { 200: { description: 'One page of deliveries.', json: s.webhookDeliveryPage } },
      async handle({ query }) {
        const page = await webhooks.listDeliveries({
          limit: query.limit,
          ...(query.status !== undefined && { status: query.status }),
          ...(query.cursor !== undefined && { cursor: query.cursor }),
        })
        return jsonReply(200, { deliveries: page.deliveries.map(deliveryJson), nextCursor: page.nextCursor } satisfies z.input<typeof s.webhookDeliveryPage>)
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/v1/webhooks/deliveries/:id/replay',
      operationId: 'replayWebhookDelivery',
      summary: 'Send a delivery again from attempt 1, with the same webhook-id',
      description: 'Works for failed, delivered and pending deliveries. Refused when the endpoint was deleted or disabled by a 410.',
      tag: 'webhooks',
      auth: 'admin',
      params: s.webhookParams,
      responses: { 202: { description: 'Queued; it is delivered in the background.', json: s.webhookDelivery } },
      errors: ['delivery_not_found', 'webhook_not_found'],
      async handle({ params }) {
        return jsonReply(202, deliveryJson(await webhooks.replayDelivery(params.id)) satisfies z.input<typeof s.webhookDelivery>)
      },
    }),
  ]
}

function endpointJson(e: EndpointView): z.input<typeof s.webhookEndpoint> {
  return {
    id: e.id,
    url: e.url,
    events: e.events,
    createdAt: toTimestamp(e.createdAt),
    disabledAt: e.disabledAt === null ? null : toTimestamp(e.disabledAt),
    fromConfig: e.fromConfig,
    previousSecretExpiresAt: e.previousSecretExpiresAt === null ? null : toTimestamp(e.previousSecretExpiresAt),
  }
}

function deliveryJson(d: DeliveryView): z.input<typeof s.webhookDelivery> {
  return {
    id: d.id,
    endpointId: d.endpointId,
    eventType: d.eventType,
    status: d.status,
    attempts: d.attempts,
    nextAttemptAt: d.nextAttemptAt === null ? null : toTimestamp(d.nextAttemptAt),
    lastError: d.lastError,
    lastStatusCode: d.lastStatusCode,
    createdAt: toTimestamp(d.createdAt),
    updatedAt: toTimestamp(d.updatedAt),
    payload: d.payload,
  }
}
