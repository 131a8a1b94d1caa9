import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { captureLogs } from '../../test/support/capture-logs.ts';
import { startAuditRetention } from './audit-retention.ts';

describe('audit retention', () => {
  it('at start: deletes batch after batch what is older than the retention, and logs how many', async () => {
    const logs = captureLogs('info');
    let left = 2_350;
    const cutoffs: string[] = [];
    const store = {
      pruneBatch: async (before: Date, batchSize: number) => {
        cutoffs.push(before.toISOString());
        const deleted = Math.min(left, batchSize);
        left -= deleted;
        return deleted;
      },
    };
    const retention = startAuditRetention({ store, retentionDays: 30, logger: logs.logger, now: () => new Date('2026-12-31T00:00:00.000Z') });
    await retention.settled();
    await retention.close();
    assert.equal(left, 0);
    assert.deepEqual(cutoffs, Array(3).fill('2026-12-01T00:00:00.000Z'), 'three statements: 1,000 + 1,000 + 350');
    assert.equal(logs.find('audit events past their retention deleted', { deleted: 2_350 }).length, 1);
  });

  it('a failing database is logged, never thrown, and the next run tries again', async () => {
    const logs = captureLogs('info');
    let calls = 0;
    const retention = startAuditRetention({
      store: { pruneBatch: async () => { calls += 1; throw new Error('database away'); } }, retentionDays: 1, logger: logs.logger, intervalMs: 10,
    });
    await logs.next('audit retention: could not delete old audit events; next attempt in an hour', {}, 5_000);
    const first = calls;
    const deadline = Date.now() + 5_000;
    while (calls === first && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    await retention.close();
    assert.ok(calls > first, 'tried again on the next interval');
  });
});
