import type { Logger } from 'pino';
import type { DeliveryJobStore } from '../registry/index.ts';
import { runPeriodically, type PeriodicJob } from './run-periodically.ts';

const DAY_MS = 86_400_000;
export const COMMAND_PRUNE_INTERVAL_MS = 3_600_000;
export const COMMAND_PRUNE_BATCH_SIZE = 1_000;

export interface CommandRetentionOptions {
  readonly store: Pick<DeliveryJobStore, 'pruneSettled'>;
  readonly retentionDays: number;
  readonly logger: Pick<Logger, 'info' | 'warn'>;
  readonly now?: () => Date;
  readonly intervalMs?: number;
  readonly batchSize?: number;
}

// Delivery jobs are kept TRUSTGATE_COMMAND_RETENTION_DAYS after nothing more can happen to them
// (docs/commanding.md; the store decides which: KyselyDeliveryJobStore.pruneSettled). As the audit
// retention (audit-retention.ts): every node, at start and hourly, batch after batch until a short
// one; two nodes pruning at once only share the work.
export const startCommandRetention = ({
  store, retentionDays, logger, now = () => new Date(), intervalMs = COMMAND_PRUNE_INTERVAL_MS, batchSize = COMMAND_PRUNE_BATCH_SIZE,
}: CommandRetentionOptions): PeriodicJob => {
  const prune = async (): Promise<void> => {
    const before = new Date(now().getTime() - retentionDays * DAY_MS);
    try {
      let deleted = 0;
      for (;;) {
        const batch = await store.pruneSettled(before, batchSize);
        deleted += batch;
        if (batch < batchSize) break;
      }
      if (deleted > 0) logger.info({ deleted, before: before.toISOString(), retentionDays }, 'delivery jobs past their retention deleted');
    } catch (error) {
      logger.warn({ err: (error as Error).message }, 'command retention: could not delete old delivery jobs; next attempt in an hour');
    }
  };
  return runPeriodically(prune, intervalMs);
};
