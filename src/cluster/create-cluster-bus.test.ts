import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { TEST_REDIS_URL, uniqueRedisPrefix } from '../../test/support/redis-helpers.ts';
import { createClusterBus } from './create-cluster-bus.ts';
import { testNeeding } from '../../test/support/test-services.ts';

const logger = pino({ level: 'silent' });

describe('createClusterBus', () => {
  test('without a Redis URL, events stay in this process and /readyz has no cluster check', async () => {
    const bus = createClusterBus({ redisUrl: undefined, redisPrefix: 'trustgate:', nodeId: 'node-a', logger });
    await bus.start();
    assert.equal(bus.readiness(), undefined);
    await bus.close();
  });

  testNeeding('redis')('with a Redis URL, the cluster check says whether trust changes from other nodes are received', async () => {
    const bus = createClusterBus({ redisUrl: TEST_REDIS_URL, redisPrefix: uniqueRedisPrefix('factory'), nodeId: 'node-a', logger });
    try {
      assert.equal(bus.readiness(), 'Redis unreachable: trust changes from other nodes are not received', 'not started yet');
      await bus.start();
      assert.equal(bus.readiness(), 'ok');
    } finally {
      await bus.close();
    }
    assert.equal(bus.readiness(), 'Redis unreachable: trust changes from other nodes are not received');
  });
});
