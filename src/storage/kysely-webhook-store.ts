import type { Kysely, Selectable } from 'kysely';
import {
  type AuditEntry, type Webhook, type WebhookDelivery, type WebhookDeliveryStatus, type WebhookStore, type WebhookSubscription,
} from '../registry/index.ts';
import { DomainError, type TenantId } from '../shared/index.ts';
import { writeAuditEvent } from './audit-event-rows.ts';
import { runTransaction } from './run-transaction.ts';
import type { PrivateKeySealer } from './private-key-sealer.ts';
import type { Database, WebhookDeliveriesTable, WebhooksTable } from './tables.ts';
import { eventsOfColumn } from './webhook-outbox-rows.ts';

// The webhooks table (migration 0013) as the registry's WebhookStore. Every query filters by
// tenant: another tenant's webhook or delivery is never found.

const webhookOf = (row: Selectable<WebhooksTable>): Webhook => ({
  id: row.id, tenant: row.tenant_id as TenantId, url: row.url, events: eventsOfColumn(row.events) as WebhookSubscription[], createdAt: new Date(row.created_at),
});

const deliveryOf = (row: Selectable<WebhookDeliveriesTable>): WebhookDelivery => ({
  id: row.id,
  eventId: row.event_id,
  type: row.event_type,
  status: row.status as WebhookDeliveryStatus,
  attempts: Number(row.attempts),
  nextAttemptAt: row.status === 'pending' ? new Date(row.next_attempt_at) : undefined,
  lastAttemptAt: row.last_attempt_at === null ? undefined : new Date(row.last_attempt_at),
  lastResponseStatus: row.last_response_status === null ? undefined : Number(row.last_response_status),
  lastResponseBody: row.last_response_body ?? undefined,
  lastError: row.last_error ?? undefined,
  createdAt: new Date(row.created_at),
});

/** What a sealed secret is bound to: it opens only in its own webhook's row. */
export const webhookSecretContext = (id: string): string => `webhook:${id}`;

const WEBHOOK_COLUMNS = ['id', 'tenant_id', 'url', 'events', 'created_at'] as const;

export class KyselyWebhookStore implements WebhookStore {
  readonly #db: Kysely<Database>;
  readonly #sealer: PrivateKeySealer | undefined;

  /** `sealer`: the data dir's, sealing each secret to its webhook's row (tests may store them clear). */
  constructor(db: Kysely<Database>, sealer?: PrivateKeySealer) {
    this.#db = db;
    this.#sealer = sealer;
  }

  async create(webhook: Webhook, secret: string, maxPerTenant: number, audit: AuditEntry): Promise<void> {
    // Serializable: the count and the insert are one decision, also for concurrent creates.
    await runTransaction(this.#db, async (trx) => {
      const { count } = await trx.selectFrom('webhooks').select((eb) => eb.fn.countAll<number | string>().as('count'))
        .where('tenant_id', '=', webhook.tenant).executeTakeFirstOrThrow();
      if (Number(count) >= maxPerTenant) {
        throw new DomainError('webhook.tooMany', `This tenant has ${maxPerTenant} webhooks, the most allowed: delete one first.`);
      }
      await trx.insertInto('webhooks').values({
        id: webhook.id, tenant_id: webhook.tenant, url: webhook.url, events: webhook.events.join(','), secret: this.#sealer ? this.#sealer.seal(secret, webhookSecretContext(webhook.id)) : secret, created_at: webhook.createdAt.toISOString(),
      }).execute();
      await writeAuditEvent(trx, audit);
    }, { isSerializable: true });
  }

  async list(tenant: TenantId): Promise<Webhook[]> {
    const rows = await this.#db.selectFrom('webhooks').select(WEBHOOK_COLUMNS).where('tenant_id', '=', tenant).orderBy('created_at').orderBy('id').execute();
    return rows.map((row) => webhookOf({ ...row, secret: '' }));
  }

  async find(tenant: TenantId, id: string): Promise<Webhook | undefined> {
    const row = await this.#db.selectFrom('webhooks').select(WEBHOOK_COLUMNS).where('tenant_id', '=', tenant).where('id', '=', id).executeTakeFirst();
    return row ? webhookOf({ ...row, secret: '' }) : undefined;
  }

  async delete(tenant: TenantId, id: string, audit: AuditEntry): Promise<boolean> {
    return runTransaction(this.#db, async (trx) => {
      const deleted = await trx.deleteFrom('webhooks').where('tenant_id', '=', tenant).where('id', '=', id).executeTakeFirst();
      if (Number(deleted.numDeletedRows) === 0) return false;
      // Its pending deliveries go with it: nothing is sent to a webhook that no longer exists.
      await trx.deleteFrom('webhook_deliveries').where('tenant_id', '=', tenant).where('webhook_id', '=', id).execute();
      await writeAuditEvent(trx, audit);
      return true;
    });
  }

  async listDeliveries(tenant: TenantId, webhookId: string, { limit, before }: { limit: number; before?: { createdAt: Date; id: string } | undefined }): Promise<WebhookDelivery[]> {
    let query = this.#db.selectFrom('webhook_deliveries').selectAll().where('tenant_id', '=', tenant).where('webhook_id', '=', webhookId);
    if (before !== undefined) {
      const time = before.createdAt.toISOString();
      query = query.where((eb) => eb.or([eb('created_at', '<', time), eb.and([eb('created_at', '=', time), eb('id', '<', before.id)])]));
    }
    const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
    return rows.map(deliveryOf);
  }
}
