import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Resources } from '../support/broker-helpers.ts';
import { sampleValue } from '../support/metrics-text.ts';
import { TEST_REDIS_URL } from '../support/redis-helpers.ts';
import { startCluster, type Cluster, type ClusterNode } from '../support/start-cluster.ts';
import { TcpOutageProxy } from '../support/tcp-proxy.ts';
import { waitUntil } from '../support/wait-until.ts';
import { describeNeeding } from '../support/test-services.ts';

// Issue 14: "during a Redis outage /metrics looked normal". A real node (bin/trustgate serve) whose
// Redis goes through a proxy the test cuts: /metrics must say so (trustgate_redis_up 0, not ready)
// while the database still answers, and recover when Redis is back.

const scrape = async (node: ClusterNode): Promise<string> => {
  const response = await fetch(`${node.url}/metrics`, { signal: AbortSignal.timeout(5_000) });
  assert.equal(response.status, 200);
  return response.text();
};

describeNeeding('postgres', 'redis')('/metrics of a cluster node during a Redis outage', { timeout: 120_000 }, () => {
  let cluster: Cluster;
  let node: ClusterNode;
  const redisProxy = TcpOutageProxy.forUrl(TEST_REDIS_URL, 6379);
  const resources = new Resources();

  before(async () => {
    await redisProxy.start();
    resources.add(() => redisProxy.close());
    cluster = await startCluster({
      label: 'metrics-redis',
      nodes: [{ name: 'probed', env: { TRUSTGATE_REDIS_URL: redisProxy.urlThrough(TEST_REDIS_URL), TRUSTGATE_CLUSTER_PING_MS: '1000' } }],
    });
    node = cluster.node('probed');
  });

  after(async () => {
    await resources.closeAll();
    await cluster?.close();
  });

  it('shows trustgate_redis_up 0 and trustgate_ready 0 while Redis is cut, the database still up, and 1 again once it is back', async () => {
    let text = await scrape(node);
    assert.equal(sampleValue(text, 'trustgate_redis_up'), 1, text);
    assert.ok(sampleValue(text, 'trustgate_redis_probe_duration_seconds_count') >= 1);
    assert.equal(sampleValue(text, 'trustgate_ready'), 1);

    await redisProxy.cut();
    await waitUntil(async () => sampleValue(text = await scrape(node), 'trustgate_redis_up') === 0, 10_000, 'trustgate_redis_up 0')
      .catch(() => assert.fail(`still up after the cut:\n${text.split('\n').filter((line) => line.startsWith('trustgate_redis')).join('\n')}`));
    await waitUntil(async () => sampleValue(text = await scrape(node), 'trustgate_ready') === 0, 10_000, 'trustgate_ready 0');
    assert.equal(sampleValue(text, 'trustgate_database_up'), 1, 'only Redis is away');

    await redisProxy.restore();
    // Reconnection backs off up to 2 s; the probe runs every 5 s.
    await waitUntil(async () => sampleValue(text = await scrape(node), 'trustgate_redis_up') === 1, 20_000, 'trustgate_redis_up 1 again');
    await waitUntil(async () => sampleValue(text = await scrape(node), 'trustgate_ready') === 1, 20_000, 'trustgate_ready 1 again');
  });

  it('shows trustgate_redis_up 0 when the network silently drops Redis\'s packets (nothing closes), and 1 once they flow again', async () => {
    let text = await scrape(node);
    assert.equal(sampleValue(text, 'trustgate_redis_up'), 1, 'up before the fault');
    redisProxy.blackhole();
    // No reset reaches the node: only the probe's PING timing out (2 s, every 5 s) can tell.
    await waitUntil(async () => sampleValue(text = await scrape(node), 'trustgate_redis_up') === 0, 15_000, 'trustgate_redis_up 0 while blackholed');
    redisProxy.restoreFlow();
    await waitUntil(async () => sampleValue(text = await scrape(node), 'trustgate_redis_up') === 1, 20_000, 'trustgate_redis_up 1 once packets flow');
  });
});
