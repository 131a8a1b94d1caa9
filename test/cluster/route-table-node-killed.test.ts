import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { newTenant } from '../support/api-helpers.ts';
import { connectApplication, controlArrives, MessageLog, Resources, subackCodes } from '../support/broker-helpers.ts';
import { redisAdmin, waitUntil } from '../support/redis-helpers.ts';
import { startCluster, type Cluster, type ClusterNode } from '../support/start-cluster.ts';
import { describeNeeding } from '../support/test-services.ts';

// Decision 0028 with real processes: a node killed (SIGKILL, no clean stop to announce it) leaves
// routes behind in Redis and in the other nodes' copies; both go within the heartbeat bound, and
// the survivor stops sending it messages. The forwarded counter is read from /metrics.

const HEARTBEAT_MS = 500;
const FORWARDED = 'trustgate_cluster_messages_forwarded_total';

const forwardedBy = async (node: ClusterNode): Promise<number> => {
  const text = await (await fetch(`${node.url}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  const line = text.split('\n').find((entry) => entry.startsWith(`${FORWARDED} `));
  assert.ok(line, `${FORWARDED} is exported`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
};

describeNeeding('postgres', 'redis')('the route table when a node is killed', { timeout: 120_000 }, () => {
  let cluster: Cluster;
  let node1: ClusterNode;
  let node2: ClusterNode;
  let redis: Redis;
  const resources = new Resources();

  before(async () => {
    cluster = await startCluster({ nodes: 2, label: 'routes-killed', env: { TRUSTGATE_MQTT_HEARTBEAT_MS: String(HEARTBEAT_MS) } });
    [node1, node2] = cluster.nodes as [ClusterNode, ClusterNode];
    redis = redisAdmin();
    await redis.connect();
  });

  after(async () => {
    redis?.disconnect();
    await resources.closeAll();
    await cluster?.close();
  });

  it('its routes leave Redis and the survivor\'s copy within 4 heartbeats, and the survivor sends it nothing more', async (t) => {
    const tenant = newTenant('killed');
    const topic = `tc/${tenant}/${tenant}_pump/i/cmd`;
    const remote = resources.client(await connectApplication(node2, tenant));
    const remoteLog = new MessageLog(remote);
    const remoteFilter = `tc/${tenant}/#`;
    assert.deepEqual(await subackCodes(remote, { [remoteFilter]: { qos: 1 } }), [1]);
    const local = resources.client(await connectApplication(node1, tenant));
    const localLog = new MessageLog(local);
    assert.deepEqual(await subackCodes(local, { [topic]: { qos: 1 } }), [1]);
    const publisher = resources.client(await connectApplication(node1, tenant));

    // The positive control: while node 2 lives, node 1 sends it the message.
    const before = await forwardedBy(node1);
    await controlArrives(publisher, topic, [localLog, remoteLog]);
    assert.equal(await forwardedBy(node1), before + 1);
    const routeKeys = await redis.keys(`${cluster.redisPrefix}mqtt:routes:*`);
    const node2Keys: string[] = [];
    for (const key of routeKeys) if ((await redis.smembers(key)).includes(remoteFilter)) node2Keys.push(key);
    assert.equal(node2Keys.length, 1, 'one node (node 2) holds the route in Redis');

    await node2.server.kill9();
    const killedAt = Date.now();
    // Nothing is published meanwhile: only the missing heartbeats and the key's TTL tell.
    await waitUntil(() => node1.server.logLines().some((line) => line.msg === 'forgot the routes of a cluster node' && line.filters === 1), 15_000,
      'node 1 forgot node 2\'s route');
    const forgottenAfterMs = Date.now() - killedAt;
    await waitUntil(async () => (await redis.exists(node2Keys[0]!)) === 0, 5_000, 'node 2\'s routes expired in Redis');
    const expiredAfterMs = Date.now() - killedAt;
    t.diagnostic(`killed node forgotten by the survivor after ${forgottenAfterMs} ms, its routes key gone after ${expiredAfterMs} ms (heartbeat ${HEARTBEAT_MS} ms)`);
    assert.ok(forgottenAfterMs <= 4 * HEARTBEAT_MS + 3_000, `forgotten ${forgottenAfterMs} ms after the kill`);
    assert.ok(expiredAfterMs <= 3 * HEARTBEAT_MS + 3_000, `expired ${expiredAfterMs} ms after the kill`);

    const after = await forwardedBy(node1);
    await controlArrives(publisher, topic, [localLog]);
    assert.equal(await forwardedBy(node1), after, 'nothing sent towards the dead node');
  });
});
