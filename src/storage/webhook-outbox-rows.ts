import type { Kysely, Transaction } from 'kysely';
import type { WebhookEvent } from '../registry/index.ts';
import { newResourceId } from '../shared/index.ts';
import { executeWith, type ExecuteOnConnection } from './run-transaction.ts';
import type { Database } from './tables.ts';

// The webhook outbox's one entry point (issue 19 part 3, decision 0035): stores write events with
// their change's transaction, the dispatcher (app/webhook-dispatcher.ts) sends them from there.

/** The subscribed event types of one webhook row, comma-separated as stored. */
export const eventsOfColumn = (column: string): string[] => column.split(',').filter((event) => event !== '');

/** The delivery body, built once: the signature of every attempt is over these exact bytes. */
export const webhookBodyOf = (eventId: string, event: WebhookEvent): string =>
  JSON.stringify({ id: eventId, type: event.type, time: event.time.toISOString(), tenant: event.tenant, data: event.data });

/** Enqueues `event` for every webhook of its tenant that subscribed to its type, with `db`: inside a
 *  store's transaction, the deliveries commit or roll back with the change (the outbox). One
 *  indexed read of the tenant's webhooks (at most TRUSTGATE_WEBHOOKS_PER_TENANT rows) when it has none. */
export const enqueueWebhookEvent = async (
  db: Kysely<Database> | Transaction<Database>, event: WebhookEvent | undefined,
  { eventId = newResourceId(), execute = executeWith(db) }: { eventId?: string; execute?: ExecuteOnConnection } = {},
): Promise<void> => {
  if (event === undefined) return;
  const { rows: hooks } = await execute<{ id: string; events: string }>(db.selectFrom('webhooks').select(['id', 'events']).where('tenant_id', '=', event.tenant).compile());
  const subscribed = hooks.filter((hook) => eventsOfColumn(hook.events).some((type) => type === '*' || type === event.type));
  if (subscribed.length === 0) return;
  const body = webhookBodyOf(eventId, event);
  const now = new Date().toISOString();
  await execute(db.insertInto('webhook_deliveries').values(subscribed.map((hook) => ({
    id: newResourceId(), event_id: eventId, webhook_id: hook.id, tenant_id: event.tenant, event_type: event.type, body,
    status: 'pending', attempts: 0, next_attempt_at: now, claim_token: null, last_attempt_at: null,
    last_response_status: null, last_response_body: null, last_error: null, created_at: now, updated_at: now,
  }))).onConflict((conflict) => conflict.columns(['webhook_id', 'event_id']).doNothing()).compile());
};
