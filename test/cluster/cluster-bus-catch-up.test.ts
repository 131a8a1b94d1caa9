import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { RedisClusterBus } from '../../src/cluster/index.ts';
import type { RegistryEvent } from '../../src/registry/index.ts';
import type { CaCertificateId, TenantId } from '../../src/shared/index.ts';
import { RedisOutageProxy, redisAdmin, TEST_REDIS_URL, uniqueRedisPrefix } from '../support/redis-helpers.ts';
import { describeNeeding } from '../support/test-services.ts';

// RedisClusterBus.catchUp(): what lets a node admit an agent whose CA another node's API has just
// verified (two-nodes.test.ts, "a CA verified through node 1 lets its agents into node 2 at
// once"). Once it resolves true, every event Redis had taken before the call has been *handled*
// by this node's listeners, even slow ones; with Redis away it answers false within its bound.

const tenant = 'acme' as TenantId;
const verified = (n: number): RegistryEvent => ({ type: 'caCertificateVerified', tenant, caCertificateId: n.toString(16).padStart(24, '0') as CaCertificateId });
const logger = pino({ level: 'silent' });

describeNeeding('redis')('RedisClusterBus.catchUp', () => {
  const buses: RedisClusterBus[] = [];
  const admin = redisAdmin();
  after(async () => {
    await Promise.all(buses.map((bus) => bus.close()));
    admin.disconnect();
  });

  it('resolves only after the listeners have handled every event another node published before the call', async () => {
    const prefix = uniqueRedisPrefix('catch-up');
    const bus = new RedisClusterBus({ url: TEST_REDIS_URL, nodeId: 'node-b', channelPrefix: prefix, logger, onListenerError: () => undefined });
    buses.push(bus);
    const handled: RegistryEvent[] = [];
    // A listener that takes a while per event, as the trust index's read-back from the store does.
    bus.subscribe(async (event) => {
      await new Promise((resolve) => setTimeout(resolve, 30));
      handled.push(event);
    });
    await bus.start();

    // "Node a" publishes; Redis has taken every message once PUBLISH answers.
    const events = [1, 2, 3, 4, 5].map(verified);
    for (const event of events) await admin.publish(`${prefix}registry-events`, JSON.stringify({ v: 1, origin: 'node-a', event }));
    const startedAt = performance.now();
    assert.equal(await bus.catchUp(2_000), true);
    assert.deepEqual(handled, events, `handled when catchUp resolved after ${(performance.now() - startedAt).toFixed(0)} ms`);
  });

  it('answers false within its bound while Redis is unreachable', async () => {
    const proxy = new RedisOutageProxy();
    await proxy.start();
    const bus = new RedisClusterBus({ url: proxy.url, nodeId: 'node-c', channelPrefix: uniqueRedisPrefix('catch-up'), logger, onListenerError: () => undefined });
    buses.push(bus);
    try {
      await bus.start();
      assert.equal(await bus.catchUp(1_000), true, 'caught up while Redis is there');
      await proxy.cut();
      const startedAt = performance.now();
      assert.equal(await bus.catchUp(300), false);
      assert.ok(performance.now() - startedAt < 600, `answered after ${(performance.now() - startedAt).toFixed(0)} ms`);
    } finally {
      await bus.close();
      await proxy.close();
    }
  });
});
