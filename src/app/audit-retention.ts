import type { Logger } from 'pino';
import { AUDIT_PRUNE_BATCH_SIZE, pruneAuditEvents, type AuditEventStore } from '../registry/index.ts';

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

export interface RunningAuditRetention {
  /** The pruning under way (the first one starts at once), for tests and shutdown. */
  readonly settled: () => Promise<void>;
  close(): Promise<void>;
}

// Issue 16 part 1: the audit trail is kept TRUSTGATE_AUDIT_RETENTION_DAYS. Every node prunes, at
// start and hourly: no leader to elect, and two nodes pruning at once only share the work.
export const startAuditRetention = ({
  store, retentionDays, logger, now = () => new Date(), intervalMs = AUDIT_PRUNE_INTERVAL_MS, batchSize = AUDIT_PRUNE_BATCH_SIZE,
}: AuditRetentionOptions): RunningAuditRetention => {
  let running: Promise<void> = Promise.resolve();
  let isClosed = false;
  const prune = async (): Promise<void> => {
    if (isClosed) return;
    const before = new Date(now().getTime() - retentionDays * DAY_MS);
    try {
      const deleted = await pruneAuditEvents(store, before, batchSize);
      if (deleted > 0) logger.info({ deleted, before: before.toISOString(), retentionDays }, 'audit events past their retention deleted');
    } catch (error) {
      logger.warn({ err: (error as Error).message }, 'audit retention: could not delete old audit events; next attempt in an hour');
    }
  };
  const run = () => {
    running = running.then(prune);
  };
  run();
  const timer = setInterval(run, intervalMs);
  timer.unref();
  return {
    settled: () => running,
    async close() {
      isClosed = true;
      clearInterval(timer);
      await running;
    },
  };
};
