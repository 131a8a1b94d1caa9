import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitUntil } from '../../test/support/wait-until.ts';
import { pollTrustChanges } from './poll-trust-changes.ts';

describe('pollTrustChanges', () => {
  it('checks every interval, reports a failing check once per outage, and stops', async () => {
    let checks = 0;
    let isFailing = true;
    const warnings: string[] = [];
    const poll = pollTrustChanges({
      follower: { converge: async () => { checks += 1; if (isFailing) throw new Error('database away'); return false; } },
      intervalMs: 10,
      log: { warn: (_fields, message) => { warnings.push(message); } },
    });
    await waitUntil(() => checks >= 3, 2_000, 'three failing checks');
    assert.deepEqual(warnings, ['could not check the database for missed trust changes; trying again']);
    isFailing = false;
    const recovered = checks;
    await waitUntil(() => checks >= recovered + 2, 2_000, 'two good checks');
    isFailing = true;
    const failedAgain = checks;
    await waitUntil(() => checks >= failedAgain + 2, 2_000, 'failing again');
    assert.equal(warnings.length, 2, 'a new outage is reported again');
    await poll.stop();
    const stopped = checks;
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(checks, stopped, 'no check after stop()');
  });
});
