import type { AuditEventStore } from './audit-event-store.ts';

export const AUDIT_PRUNE_BATCH_SIZE = 1000;

/** Retention: deletes every audit event older than `before`, one bounded batch per statement
 *  (short locks, no huge transaction) until a batch comes back short. Answers how many it deleted. */
export const pruneAuditEvents = async (store: Pick<AuditEventStore, 'pruneBatch'>, before: Date, batchSize = AUDIT_PRUNE_BATCH_SIZE): Promise<number> => {
  let total = 0;
  for (;;) {
    const deleted = await store.pruneBatch(before, batchSize);
    total += deleted;
    if (deleted < batchSize) return total;
  }
};
