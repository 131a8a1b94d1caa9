import type { Logger } from 'pino';
import type { TenantId } from '../shared/index.ts';
import type { WebhookEvent, WebhookEventSink } from '../registry/index.ts';
import type { KyselyWebhookOutbox } from '../storage/index.ts';

// Events no change carries (agent.connected / agent.disconnected from the broker, certificate.expiring
// from the daily warnings) enter the outbox here (decision 0035). The connect path must not pay for
// webhooks nobody registered: a per-node map of which tenants subscribe to which types answers
// without the database. It is read again when this node creates or deletes a webhook and every
// `refreshMs` (a webhook created through another node gets these events within that bound; the
// events written with a change do not depend on it: they read the webhooks in their transaction).

export interface WebhookEventSinkHandle extends WebhookEventSink {
  /** emit, stored once per webhook whichever nodes emit it with the same `eventId` (24 hex). */
  emitOnce(event: WebhookEvent, eventId: string): Promise<void>;
  /** The tenants with a webhook for `type` (or "*"), as this node last read them. */
  subscribedTenants(type: string): string[];
  /** Reads the subscriptions again (all tenants'). */
  refresh(): void;
  /** Reads one tenant's subscriptions again (it created or deleted a webhook on this node). Security
   *  review: a full re-read per create or delete let one tenant, within its REST limits, keep the node
   *  reading every tenant's webhooks back to back. */
  refreshTenant(tenant: string): Promise<void>;
  close(): void;
}

export const createWebhookEventSink = async (
  { outbox, refreshMs, log, onEnqueued }: { outbox: KyselyWebhookOutbox; refreshMs: number; log: Logger; onEnqueued: () => void },
): Promise<WebhookEventSinkHandle> => {
  let subscriptions = new Map<string, Set<string>>();
  let reading: Promise<void> | undefined;
  let again = false;
  const read = (): void => {
    if (reading) {
      again = true;
      return;
    }
    reading = outbox.subscriptions().then((map) => {
      subscriptions = map;
    }, (error: unknown) => log.error({ err: error }, 'could not read the webhook subscriptions; the previous ones stay'))
      .finally(() => {
        reading = undefined;
        if (again) {
          again = false;
          read();
        }
      });
  };
  read();
  await reading;
  const timer = setInterval(read, refreshMs);
  timer.unref();
  const wants = (tenant: TenantId, type: string): boolean => {
    const types = subscriptions.get(tenant);
    return types !== undefined && (types.has(type) || types.has('*'));
  };
  const emit = async (event: WebhookEvent, eventId?: string): Promise<void> => {
    if (!wants(event.tenant, event.type)) return;
    try {
      await outbox.enqueue(event, eventId);
      onEnqueued();
    } catch (error) {
      log.error({ err: error, type: event.type, tenant: event.tenant }, 'could not enqueue a webhook event');
    }
  };
  const refreshTenant = async (tenant: string): Promise<void> => {
    // A full read already under way may have started before this tenant's change: let it land first.
    const earlier = reading;
    try {
      const types = await outbox.subscriptionsOf(tenant);
      await earlier;
      const next = new Map(subscriptions);
      if (types.size === 0) next.delete(tenant);
      else next.set(tenant, types);
      subscriptions = next;
    } catch (error) {
      log.error({ err: error, tenant }, 'could not read a tenant\'s webhook subscriptions; the next full read brings them');
    }
  };
  return {
    emit: (event) => emit(event),
    refreshTenant,
    emitOnce: emit,
    subscribedTenants: (type) => [...subscriptions].filter(([, types]) => types.has(type) || types.has('*')).map(([tenant]) => tenant),
    refresh: read,
    close: () => clearInterval(timer),
  };
};
