import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import {
  MAX_DELIVERY_PAGE_SIZE, webhookEventTypes, type Webhook, type WebhookDelivery, type WebhookUseCases,
} from '../../registry/index.ts';
import { auditContextOf } from '../audit-context-of.ts';
import { apiOperation, errors } from '../route-kit.ts';

// A tenant's webhooks (SPEC "MindConnect commanding, agent tokens, events out"; docs/webhooks.md):
// register, list, show, delete, and what was sent. The secret is write-only: no answer holds it.
// Another tenant's webhook answers 404 like an unknown one. Reads need mcmqtt.read, changes mcmqtt.admin.

const webhooksTag = apiOperation('webhooks');

// Loose bounds here (only what is read); the use case answers each bad value with its own code.
const WebhookInputBody = Type.Object({
  url: Type.String({ maxLength: 4096, description: 'https:// URL on a host of the operator\'s TRUSTGATE_WEBHOOK_ALLOWED_HOSTS; at most 2048 characters, no credentials, no fragment' }),
  events: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32, description: `Event types: ${webhookEventTypes.join(', ')}; or "*" for all` }),
  secret: Type.String({ maxLength: 1024, description: '16 to 256 characters: the HMAC-SHA256 key of the Trustgate-Signature header. Never returned.' }),
}, { additionalProperties: false });

const WebhookResource = Type.Object({
  id: Type.String({ description: '24 lowercase hex characters' }),
  url: Type.String(),
  events: Type.Array(Type.String()),
  createdAt: Type.String(),
});

const nullable = <T extends ReturnType<typeof Type.String | typeof Type.Integer>>(schema: T) => Type.Union([schema, Type.Null()]);

const DeliveryResource = Type.Object({
  id: Type.String(),
  eventId: Type.String({ description: 'The body\'s id and the Trustgate-Event-Id header' }),
  type: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')]),
  attempts: Type.Integer(),
  nextAttemptAt: nullable(Type.String({ description: 'When pending: the next attempt' })),
  lastAttemptAt: nullable(Type.String()),
  lastResponseStatus: nullable(Type.Integer({ description: 'The HTTP status of the last answer; null when none came' })),
  lastResponseBody: nullable(Type.String({ description: 'The first 256 bytes of the last answer\'s body' })),
  lastError: nullable(Type.String({ description: 'Why the last attempt failed without a 2xx (timeout, refused address, redirect not followed…)' })),
  createdAt: Type.String(),
});

const DeliveryPage = Type.Object({
  deliveries: Type.Array(DeliveryResource, { description: 'Newest first' }),
  nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as cursor for the next (older) page; null on the last' }),
});

const DeliveryQuery = Type.Object({
  limit: Type.Optional(Type.String({ maxLength: 16, description: `1 to ${MAX_DELIVERY_PAGE_SIZE} (default 20)` })),
  cursor: Type.Optional(Type.String({ maxLength: 128 })),
}, { additionalProperties: false });

const IdParams = Type.Object({ id: Type.String() });

const toWebhookResource = (webhook: Webhook): Static<typeof WebhookResource> => ({
  id: webhook.id, url: webhook.url, events: [...webhook.events], createdAt: webhook.createdAt.toISOString(),
});

const iso = (date: Date | undefined): string | null => date?.toISOString() ?? null;
const toDeliveryResource = (delivery: WebhookDelivery): Static<typeof DeliveryResource> => ({
  id: delivery.id, eventId: delivery.eventId, type: delivery.type, status: delivery.status, attempts: delivery.attempts,
  nextAttemptAt: iso(delivery.nextAttemptAt), lastAttemptAt: iso(delivery.lastAttemptAt), lastResponseStatus: delivery.lastResponseStatus ?? null,
  lastResponseBody: delivery.lastResponseBody ?? null, lastError: delivery.lastError ?? null, createdAt: delivery.createdAt.toISOString(),
});

export const webhookRoutes: FastifyPluginAsyncTypebox<{ webhooks: WebhookUseCases }> = async (app, { webhooks }) => {
  app.post('/webhooks', {
    config: { scope: 'mcmqtt.admin' },
    schema: {
      ...webhooksTag, summary: 'Register a webhook', description: 'Events are POSTed signed (docs/webhooks.md); the answer does not repeat the secret.',
      body: WebhookInputBody, response: { 201: WebhookResource, ...errors(400, 401, 403, 409) },
    },
  }, async (request, reply) => reply.code(201).send(toWebhookResource(await webhooks.create(request.principal.tenant, request.body, auditContextOf(request)))));

  app.get('/webhooks', {
    config: { scope: 'mcmqtt.read' },
    schema: { ...webhooksTag, summary: 'List the tenant\'s webhooks', response: { 200: Type.Array(WebhookResource), ...errors(401, 403) } },
  }, async (request) => (await webhooks.list(request.principal.tenant)).map(toWebhookResource));

  app.get('/webhooks/:id', {
    config: { scope: 'mcmqtt.read' },
    schema: { ...webhooksTag, summary: 'Show a webhook', params: IdParams, response: { 200: WebhookResource, ...errors(401, 403, 404) } },
  }, async (request) => toWebhookResource(await webhooks.get(request.principal.tenant, request.params.id)));

  app.delete('/webhooks/:id', {
    config: { scope: 'mcmqtt.admin' },
    schema: { ...webhooksTag, summary: 'Delete a webhook and its pending deliveries', params: IdParams, response: { 204: Type.Null(), ...errors(401, 403, 404) } },
  }, async (request, reply) => {
    await webhooks.delete(request.principal.tenant, request.params.id, auditContextOf(request));
    return reply.code(204).send(null);
  });

  app.get('/webhooks/:id/deliveries', {
    config: { scope: 'mcmqtt.read' },
    schema: {
      ...webhooksTag, summary: 'A webhook\'s deliveries with their attempts and last answers, newest first', params: IdParams, querystring: DeliveryQuery,
      response: { 200: DeliveryPage, ...errors(400, 401, 403, 404) },
    },
  }, async (request) => {
    const page = await webhooks.listDeliveries(request.principal.tenant, request.params.id, request.query);
    return { deliveries: page.deliveries.map(toDeliveryResource), nextCursor: page.nextCursor ?? null };
  });
};
