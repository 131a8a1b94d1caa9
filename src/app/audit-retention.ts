import type { Logger } from 'pino';
import { AUDIT_PRUNE_BATCH_SIZE, pruneAuditEvents, type AuditEventStore } from '../registry/index.ts';
import { runPeriodically, type PeriodicJob } from './run-periodically.ts';

const DAY_MS = 86_400_000;
export const AUDIT_PRUNE_INTERVAL_MS = 3_600_000;

export interface AuditRetentionOptions {
  readonly store: Pick<AuditEventStore, 'pruneBatch'>;
  readonly retentionDays: number;
  readonly logger: Pick<Logger, 'info' | 'warn'>;
  readonly now?: () => Date;
  readonly intervalMs?: number;
  readonly batchSize?: number;
}

export type RunningAuditRetention = PeriodicJob;

// Issue 16 part 1: the audit trail is kept TRUSTGATE_AUDIT_RETENTION_DAYS. Every node prunes, at
// start and hourly: no leader to elect, and two nodes pruning at once only share the work.
export const startAuditRetention = ({
  store, retentionDays, logger, now = () => new Date(), intervalMs = AUDIT_PRUNE_INTERVAL_MS, batchSize = AUDIT_PRUNE_BATCH_SIZE,
}: AuditRetentionOptions): RunningAuditRetention => {
  const prune = async (): Promise<void> => {
    const before = new Date(now().getTime() - retentionDays * DAY_MS);
    try {
      const deleted = await pruneAuditEvents(store, before, batchSize);
      if (deleted > 0) logger.info({ deleted, before: before.toISOString(), retentionDays }, 'audit events past their retention deleted');
    } catch (error) {
      logger.warn({ err: (error as Error).message }, 'audit retention: could not delete old audit events; next attempt in an hour');
    }
  };
  return runPeriodically(prune, intervalMs);
};
