import type { Kysely, Transaction } from 'kysely';
import type { WebhookEvent } from '../registry/index.ts';
import type { Database } from './tables.ts';

/** Enqueues `event` for every webhook of its tenant that subscribed to its type, with `db`: inside a
 *  store's transaction, the deliveries commit or roll back with the change (the outbox). */
export const enqueueWebhookEvent = async (_db: Kysely<Database> | Transaction<Database>, _event: WebhookEvent | undefined): Promise<void> => {
  // Issue 19 part 3 (webhooks) fills this in with its outbox table.
};
