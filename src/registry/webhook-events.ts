import type { TenantId } from '../shared/index.ts';

// Events out (SPEC "MindConnect commanding, agent tokens, events out", issue 19): what a tenant's
// webhooks can subscribe to. A change that has a transaction enqueues its event in it (the outbox:
// storage's `enqueueWebhookEvent`); events with no change to join (connected, disconnected,
// expiring) go through a `WebhookEventSink`.

export const webhookEventTypes = [
  'agent.onboarded',
  'agent.connected',
  'agent.disconnected',
  'agent.disabled',
  'agent.deleted',
  'caCertificate.verified',
  'caCertificate.deleted',
  'certificate.revoked',
  'command.updated',
  'certificate.expiring',
] as const;
export type WebhookEventType = (typeof webhookEventTypes)[number];

export interface WebhookEvent {
  readonly type: WebhookEventType;
  readonly tenant: TenantId;
  readonly time: Date;
  /** The event's `data` object as delivered: ids and states only, never keys or tokens. */
  readonly data: Readonly<Record<string, unknown>>;
}

/** For events that no database change carries. Never throws: an outage is logged. */
export interface WebhookEventSink {
  emit(event: WebhookEvent): Promise<void>;
}
