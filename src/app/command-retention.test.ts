import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { captureLogs } from '../../test/support/capture-logs.ts';
import { startCommandRetention } from './command-retention.ts';

describe('command retention', () => {
  it('at start: deletes batch after batch the jobs settled before the retention, and logs how many', async () => {
    const logs = captureLogs('info');
    let left = 2_350;
    const cutoffs: string[] = [];
    const store = {
      pruneSettled: async (before: Date, batchSize: number) => {
        cutoffs.push(before.toISOString());
        const deleted = Math.min(left, batchSize);
        left -= deleted;
        return deleted;
      },
    };
    const retention = startCommandRetention({ store, retentionDays: 30, logger: logs.logger, now: () => new Date('2026-12-31T00:00:00.000Z') });
    await retention.settled();
    await retention.close();
    assert.equal(left, 0);
    assert.deepEqual(cutoffs, Array(3).fill('2026-12-01T00:00:00.000Z'), 'three batches: 1,000 + 1,000 + 350');
    assert.equal(logs.find('delivery jobs past their retention deleted', { deleted: 2_350 }).length, 1);
  });

  it('a failing database is logged, never thrown', async () => {
    const logs = captureLogs('info');
    const retention = startCommandRetention({
      store: { pruneSettled: async () => { throw new Error('database away'); } }, retentionDays: 1, logger: logs.logger,
    });
    await retention.settled();
    await retention.close();
    assert.equal(logs.find('command retention: could not delete old delivery jobs; next attempt in an hour', {}).length, 1);
  });
});
