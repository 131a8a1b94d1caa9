import type { Kysely, Selectable, Transaction } from 'kysely';
import { newResourceId, type TenantId } from '../shared/index.ts';
import { webhookEventOfAuditEntry, type AuditAction, type AuditEntry, type AuditOutcome, type StoredAuditEvent } from '../registry/index.ts';
import type { AuditEventsTable, Database } from './tables.ts';
import { executeWith, settleAll, type ExecuteOnConnection } from './run-transaction.ts';
import { enqueueWebhookEvent } from './webhook-outbox-rows.ts';

// One place that turns an audit entry into a row and back: used by the audit trail itself and by
// every store that writes an entry in the transaction of its change.

// A value longer than its column is cut, never refused: an audit entry must not fail the change it records.
const cut = (text: string | undefined, length: number): string | null => (text === undefined ? null : text.slice(0, length));

export const auditEventRowOf = (entry: AuditEntry): AuditEventsTable => ({
  id: newResourceId(),
  time: entry.time.toISOString(),
  tenant_id: entry.tenant ?? null,
  actor_type: entry.actor.type,
  actor_id: entry.actor.id.slice(0, 256),
  action: entry.action,
  target: entry.target.slice(0, 512),
  outcome: entry.outcome,
  reason: cut(entry.reason, 256),
  source_address: cut(entry.sourceAddress, 64),
  request_id: cut(entry.requestId, 128),
  count: entry.count ?? 1,
});

/** Writes `entry` (if any) with `db`: inside a store's transaction, it commits or rolls back with the
 *  change; so does the webhook event the entry stands for, if any (decision 0035). `execute`: on
 *  the connection of inParallel (run-transaction.ts), the two go out together. */
export const writeAuditEvent = async (
  db: Kysely<Database> | Transaction<Database>, entry: AuditEntry | undefined, execute: ExecuteOnConnection = executeWith(db),
): Promise<void> => {
  if (entry === undefined) return;
  // Both settle before a failure is thrown: the transaction must not roll back under a statement still to come.
  await settleAll<unknown>([
    execute(db.insertInto('audit_events').values(auditEventRowOf(entry)).compile()),
    enqueueWebhookEvent(db, webhookEventOfAuditEntry(entry), { execute }),
  ]);
};

export const storedAuditEventOf = (row: Selectable<AuditEventsTable>): StoredAuditEvent => ({
  id: row.id,
  time: new Date(row.time),
  tenant: (row.tenant_id ?? undefined) as TenantId | undefined,
  actor: { type: row.actor_type as StoredAuditEvent['actor']['type'], id: row.actor_id },
  action: row.action as AuditAction,
  target: row.target,
  outcome: row.outcome as AuditOutcome,
  reason: row.reason ?? undefined,
  sourceAddress: row.source_address ?? undefined,
  requestId: row.request_id ?? undefined,
  // PostgreSQL's integer comes back as a number; kept defensive for a driver that returns text.
  count: Number(row.count),
});
