import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { TenantId } from '../shared/index.ts';
import { isPostgres } from './is-postgres.ts';
import type { Database } from './tables.ts';
import { enqueueWebhookEvent, eventsOfColumn } from './webhook-outbox-rows.ts';
import type { WebhookEvent } from '../registry/index.ts';
import type { PrivateKeySealer } from './private-key-sealer.ts';
import { webhookSecretContext } from './kysely-webhook-store.ts';

// The dispatcher's side of the webhook outbox (migration 0013, decision 0035). Every node claims
// due rows: one statement moves next_attempt_at past a lease and stamps a claim token, so no
// other node takes the row while this one attempts it; on PostgreSQL the rows are picked with
// FOR UPDATE SKIP LOCKED (concurrent claims pass each other), on SQLite the one writer serialises
// the claims. A node that dies mid-attempt leaves its rows due again when their lease ends. An
// outcome is recorded only under the claim token: a node whose lease ran out cannot overwrite
// what the next claimer recorded.

export interface ClaimedDelivery {
  readonly id: string;
  readonly eventId: string;
  readonly webhookId: string;
  readonly tenant: TenantId;
  readonly body: string;
  /** Including the one just claimed. */
  readonly attempts: number;
  readonly createdAt: Date;
  readonly claimToken: string;
}

export interface DeliveryOutcome {
  readonly status: 'delivered' | 'pending' | 'failed';
  /** For pending: when the next attempt is due. */
  readonly nextAttemptAt?: Date;
  readonly responseStatus?: number | undefined;
  readonly responseBody?: string | undefined;
  readonly error?: string | undefined;
}

const cut = (text: string | undefined, length: number): string | null => (text === undefined ? null : text.slice(0, length));

export class KyselyWebhookOutbox {
  readonly #db: Kysely<Database>;
  readonly #isPostgres: boolean;
  readonly #sealer: PrivateKeySealer | undefined;

  constructor(db: Kysely<Database>, sealer?: PrivateKeySealer) {
    this.#db = db;
    this.#isPostgres = isPostgres(db);
    this.#sealer = sealer;
  }

  /** Webhooks with a due delivery and their tenants, at most `limit`, the longest-waiting first, leaving
   *  out `busy` webhooks and `busyTenants` (this node's targets and tenants at their caps). Oldest due
   *  first (security review): a bare DISTINCT came back in webhook id order on PostgreSQL, so a tenant
   *  flooding many webhooks could keep a webhook with a higher id out of every pass. */
  async dueWebhooks(now: Date, limit: number, busy: readonly string[], busyTenants: readonly string[] = []): Promise<{ webhookId: string; tenant: TenantId }[]> {
    let query = this.#db.selectFrom('webhook_deliveries').select(['webhook_id', 'tenant_id'])
      .where('status', '=', 'pending').where('next_attempt_at', '<=', now.toISOString());
    if (busy.length > 0) query = query.where('webhook_id', 'not in', busy);
    if (busyTenants.length > 0) query = query.where('tenant_id', 'not in', busyTenants);
    const rows = await query.groupBy(['webhook_id', 'tenant_id']).orderBy((eb) => eb.fn.min('next_attempt_at')).orderBy('webhook_id').limit(limit).execute();
    return rows.map((row) => ({ webhookId: row.webhook_id, tenant: row.tenant_id as TenantId }));
  }

  /** Claims up to `limit` due deliveries of one webhook until `leaseUntil`, oldest due first. */
  async claim(webhookId: string, now: Date, leaseUntil: Date, limit: number): Promise<ClaimedDelivery[]> {
    const token = randomBytes(12).toString('hex');
    const at = now.toISOString();
    const skipLocked = this.#isPostgres ? sql` for update skip locked` : sql``;
    // The pick is a materialized CTE: run once. As `id in (select … limit n for update skip locked)`
    // PostgreSQL may run the subquery again per row, claiming more than `limit` rows.
    const result = await sql<{ id: string; event_id: string; webhook_id: string; tenant_id: string; body: string; attempts: number | string; created_at: string }>`
      with picked as materialized (
        select id from webhook_deliveries where webhook_id = ${webhookId} and status = 'pending' and next_attempt_at <= ${at}
        order by next_attempt_at, id limit ${limit}${skipLocked})
      update webhook_deliveries set next_attempt_at = ${leaseUntil.toISOString()}, claim_token = ${token}, attempts = attempts + 1,
        last_attempt_at = ${at}, updated_at = ${at}
      where status = 'pending' and next_attempt_at <= ${at} and id in (select id from picked)
      returning id, event_id, webhook_id, tenant_id, body, attempts, created_at`.execute(this.#db);
    return result.rows.map((row) => ({
      id: row.id, eventId: row.event_id, webhookId: row.webhook_id, tenant: row.tenant_id as TenantId, body: row.body,
      attempts: Number(row.attempts), createdAt: new Date(row.created_at), claimToken: token,
    }));
  }

  /** The target and secret of a webhook, for sending; undefined once it is deleted. */
  async target(webhookId: string): Promise<{ url: string; secret: string } | undefined> {
    const row = await this.#db.selectFrom('webhooks').select(['url', 'secret']).where('id', '=', webhookId).executeTakeFirst();
    if (!row) return undefined;
    return { url: row.url, secret: this.#sealer ? this.#sealer.open(row.secret, webhookSecretContext(webhookId)) : row.secret };
  }

  /** Records an attempt's outcome; false when the claim was no longer this node's (its lease ran out and another node claimed the row). */
  async complete(delivery: ClaimedDelivery, outcome: DeliveryOutcome, now: Date): Promise<boolean> {
    const result = await this.#db.updateTable('webhook_deliveries').set({
      status: outcome.status,
      next_attempt_at: (outcome.nextAttemptAt ?? now).toISOString(),
      claim_token: null,
      last_response_status: outcome.responseStatus ?? null,
      last_response_body: cut(outcome.responseBody, 256),
      last_error: cut(outcome.error, 256),
      updated_at: now.toISOString(),
    }).where('id', '=', delivery.id).where('claim_token', '=', delivery.claimToken).executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Deletes up to `batchSize` delivered or failed rows last changed before `before`; how many. */
  async pruneFinished(before: Date, batchSize: number): Promise<number> {
    const result = await this.#db.deleteFrom('webhook_deliveries').where('id', 'in', (eb) => eb.selectFrom('webhook_deliveries').select('id')
      .where('status', '!=', 'pending').where('updated_at', '<', before.toISOString()).limit(batchSize)).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** Which tenants subscribe to which event types ("*" = all): the subscription cache's source. */
  async subscriptions(): Promise<Map<string, Set<string>>> {
    const rows = await this.#db.selectFrom('webhooks').select(['tenant_id', 'events']).execute();
    const byTenant = new Map<string, Set<string>>();
    for (const row of rows) {
      const types = byTenant.get(row.tenant_id) ?? new Set<string>();
      for (const type of eventsOfColumn(row.events)) types.add(type);
      byTenant.set(row.tenant_id, types);
    }
    return byTenant;
  }

  /** The event types one tenant's webhooks subscribe to (empty: none): a refresh after that tenant's change. */
  async subscriptionsOf(tenant: string): Promise<Set<string>> {
    const rows = await this.#db.selectFrom('webhooks').select('events').where('tenant_id', '=', tenant).execute();
    return new Set(rows.flatMap((row) => eventsOfColumn(row.events)));
  }

  /** An event no change carries (connected, disconnected, expiring), enqueued on its own; `eventId`
   *  makes it idempotent (an event each node raises on its own is stored once per webhook). */
  enqueue(event: WebhookEvent, eventId?: string): Promise<void> {
    return enqueueWebhookEvent(this.#db, event, eventId === undefined ? {} : { eventId });
  }
}
