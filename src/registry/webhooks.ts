import { DomainError, newResourceId, type Clock, type TenantId } from '../shared/index.ts';
import { auditEntryOf, systemContext, type AuditContext } from './audit-context.ts';
import type { AuditEntry } from './audit-trail.ts';
import { webhookEventTypes, type WebhookEventType } from './webhook-events.ts';
import { checkWebhookUrl, type WebhookTargetPolicy } from './webhook-target.ts';

// A tenant's webhooks (SPEC "MindConnect commanding, agent tokens, events out", issue 19 part 3;
// decision 0035): register, list, show, delete, and the deliveries of one. The secret is
// write-only: stored to sign, never answered. Another tenant's webhook is unknown (404).

export type WebhookSubscription = WebhookEventType | '*';

export interface Webhook {
  readonly id: string;
  readonly tenant: TenantId;
  readonly url: string;
  readonly events: readonly WebhookSubscription[];
  readonly createdAt: Date;
}

export type WebhookDeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface WebhookDelivery {
  readonly id: string;
  readonly eventId: string;
  readonly type: string;
  readonly status: WebhookDeliveryStatus;
  readonly attempts: number;
  readonly nextAttemptAt: Date | undefined;
  readonly lastAttemptAt: Date | undefined;
  readonly lastResponseStatus: number | undefined;
  readonly lastResponseBody: string | undefined;
  readonly lastError: string | undefined;
  readonly createdAt: Date;
}

export interface WebhookStore {
  /** Stores the webhook and its audit entry in one transaction, unless the tenant has `maxPerTenant` already (webhook.tooMany). */
  create(webhook: Webhook, secret: string, maxPerTenant: number, audit: AuditEntry): Promise<void>;
  list(tenant: TenantId): Promise<Webhook[]>;
  find(tenant: TenantId, id: string): Promise<Webhook | undefined>;
  /** Deletes the webhook with its deliveries and writes the audit entry; false when there was none. */
  delete(tenant: TenantId, id: string, audit: AuditEntry): Promise<boolean>;
  /** Newest first; `before` = the last delivery of the previous page. */
  listDeliveries(tenant: TenantId, webhookId: string, page: { limit: number; before?: { createdAt: Date; id: string } | undefined }): Promise<WebhookDelivery[]>;
}

export const MIN_WEBHOOK_SECRET_LENGTH = 16;
export const MAX_WEBHOOK_SECRET_LENGTH = 256;
export const DEFAULT_DELIVERY_PAGE_SIZE = 20;
export const MAX_DELIVERY_PAGE_SIZE = 100;

export interface WebhookSettings {
  readonly policy: WebhookTargetPolicy;
  readonly maxPerTenant: number;
}

export interface WebhookInput {
  readonly url: string;
  readonly events: readonly string[];
  readonly secret: string;
}

export interface WebhookDeliveryPage {
  readonly deliveries: WebhookDelivery[];
  readonly nextCursor: string | undefined;
}

const checkEvents = (events: readonly string[]): WebhookSubscription[] => {
  const known = new Set<string>([...webhookEventTypes, '*']);
  const unknown = events.filter((event) => !known.has(event));
  if (events.length === 0 || unknown.length > 0 || new Set(events).size !== events.length) {
    throw new DomainError('webhook.eventsInvalid', `events must be a non-empty list without repeats of: ${webhookEventTypes.join(', ')}, or "*"${unknown.length > 0 ? `; unknown: ${unknown.slice(0, 3).join(', ')}` : ''}.`);
  }
  return events as WebhookSubscription[];
};

const checkSecret = (secret: string): void => {
  if (secret.length < MIN_WEBHOOK_SECRET_LENGTH || secret.length > MAX_WEBHOOK_SECRET_LENGTH) {
    throw new DomainError('webhook.secretInvalid', `secret must be ${MIN_WEBHOOK_SECRET_LENGTH} to ${MAX_WEBHOOK_SECRET_LENGTH} characters long.`);
  }
};

const pageLimit = (raw: string | undefined): number => {
  if (raw === undefined) return DEFAULT_DELIVERY_PAGE_SIZE;
  const value = /^\d{1,4}$/.test(raw) ? Number(raw) : 0;
  if (value < 1 || value > MAX_DELIVERY_PAGE_SIZE) throw new DomainError('webhook.limitInvalid', `limit must be a whole number from 1 to ${MAX_DELIVERY_PAGE_SIZE}.`);
  return value;
};

// A cursor is the last delivery shown: "<created_at ms>.<id>". A forged one only pages the
// caller's own webhook (the query filters by tenant and webhook).
const cursorOf = (delivery: WebhookDelivery): string => `${delivery.createdAt.getTime()}.${delivery.id}`;
const parseCursor = (raw: string | undefined): { createdAt: Date; id: string } | undefined => {
  if (raw === undefined) return undefined;
  const match = /^(\d{1,15})\.([0-9a-f]{24})$/.exec(raw);
  if (!match) throw new DomainError('webhook.cursorInvalid', 'The cursor is not a nextCursor of GET /webhooks/{id}/deliveries.');
  return { createdAt: new Date(Number(match[1])), id: match[2]! };
};

export interface WebhookUseCases {
  create(tenant: TenantId, input: WebhookInput, context?: AuditContext): Promise<Webhook>;
  list(tenant: TenantId): Promise<Webhook[]>;
  get(tenant: TenantId, id: string): Promise<Webhook>;
  delete(tenant: TenantId, id: string, context?: AuditContext): Promise<void>;
  listDeliveries(tenant: TenantId, id: string, query: { limit?: string | undefined; cursor?: string | undefined }): Promise<WebhookDeliveryPage>;
}

const notFound = (): DomainError => new DomainError('webhook.notFound', 'No webhook with this id in this tenant.');

export const createWebhookUseCases = (
  { store, clock, settings, onChanged }: { store: WebhookStore; clock: Clock; settings: WebhookSettings; onChanged?: (tenant: TenantId) => void },
): WebhookUseCases => ({
  async create(tenant, input, context = systemContext) {
    const url = checkWebhookUrl(input.url, settings.policy);
    const events = checkEvents(input.events);
    checkSecret(input.secret);
    const webhook: Webhook = { id: newResourceId(), tenant, url: url.href, events, createdAt: clock.now() };
    const audit = auditEntryOf(context, { time: webhook.createdAt, tenant, action: 'webhook.created', target: `webhook:${webhook.id}` });
    await store.create(webhook, input.secret, settings.maxPerTenant, audit);
    onChanged?.(tenant);
    return webhook;
  },
  list: (tenant) => store.list(tenant),
  async get(tenant, id) {
    return (await store.find(tenant, id)) ?? Promise.reject(notFound());
  },
  async delete(tenant, id, context = systemContext) {
    const audit = auditEntryOf(context, { time: clock.now(), tenant, action: 'webhook.deleted', target: `webhook:${id}` });
    if (!await store.delete(tenant, id, audit)) throw notFound();
    onChanged?.(tenant);
  },
  async listDeliveries(tenant, id, query) {
    const limit = pageLimit(query.limit);
    const before = parseCursor(query.cursor);
    if (!await store.find(tenant, id)) throw notFound();
    const deliveries = await store.listDeliveries(tenant, id, { limit: limit + 1, before });
    const page = deliveries.slice(0, limit);
    return { deliveries: page, nextCursor: deliveries.length > limit ? cursorOf(page.at(-1)!) : undefined };
  },
});
