import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { newTenant } from '../support/api-helpers.ts';
import { connectAgent, connectApplication, issueAgent, MessageLog, registerVerifiedCa, Resources, subackCodes, withTimeout } from '../support/broker-helpers.ts';
import { redisAdmin } from '../support/redis-helpers.ts';
import { startCluster, type Cluster, type ClusterNode } from '../support/start-cluster.ts';
import { waitUntil } from '../support/wait-until.ts';
import { describeNeeding } from '../support/test-services.ts';

// Issue 12, item 4: the messages aedes exchanges between nodes cross Redis on the channels of
// mqemitter-redis (`<prefix>mqtt:<topic>`, msgpack `{ id, msg }`; client messages since decision
// 0028 on each node's own channel `<prefix>mqtt-node:<brokerId>`, in batches `{ msgs }`). One malformed message there used
// to throw in every node's subscriber at once (an AssertionError in mqemitter's emit, a TypeError,
// a msgpack error) and crash the whole cluster. Now each node drops it, logs it and counts it.

const require = createRequire(import.meta.url);
const msgpack = require('msgpack-lite') as { encode(value: unknown): Buffer };

const droppedCount = async (node: ClusterNode): Promise<number> => {
  const response = await fetch(`${node.url}/metrics`, { signal: AbortSignal.timeout(5_000) });
  const text = await response.text();
  return text.split('\n')
    .filter((line) => line.startsWith('trustgate_cluster_messages_dropped_total{'))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
};

describeNeeding('postgres', 'redis')('malformed messages on the broker backplane channel', { timeout: 90_000 }, () => {
  let cluster: Cluster;
  let node1: ClusterNode;
  let node2: ClusterNode;
  let admin: Redis;
  const resources = new Resources();

  before(async () => {
    cluster = await startCluster({ nodes: 2, label: 'malformed-mq' });
    [node1, node2] = cluster.nodes as [ClusterNode, ClusterNode];
    admin = redisAdmin();
    await admin.connect();
  });

  after(async () => {
    admin?.disconnect();
    await resources.closeAll();
    await cluster?.close();
  });

  it('every node drops, logs and counts them, keeps running and keeps carrying good messages', async () => {
    const tenant = newTenant('mq');
    const { ca } = await registerVerifiedCa(node1, tenant);
    const clientId = `${tenant}_sensor-1`;
    const agent = resources.client(await connectAgent(node1, await issueAgent(ca, 'sensor-1'), clientId));
    const application = resources.client(await connectApplication(node2, tenant));
    const applicationLog = new MessageLog(application);
    assert.deepEqual(await subackCodes(application, { [`tc/${tenant}/#`]: { qos: 1 } }), [1]);
    // So that node 1 listens on the tenant's channels too.
    const application1 = resources.client(await connectApplication(node1, tenant));
    assert.deepEqual(await subackCodes(application1, { [`tc/${tenant}/#`]: { qos: 1 } }), [1]);

    // Channels both nodes listen on: aedes's own takeover broadcasts, the route table's changes;
    // and each node's own channel, on which client messages reach it (decision 0028).
    const mq = `${cluster.redisPrefix}mqtt:`;
    const sysChannel = `${mq}$SYS/${randomBytes(4).toString('hex')}/new/clients`;
    const brokerIds = await admin.zrange(`${mq}route-nodes`, 0, -1);
    assert.equal(brokerIds.length, 2, 'both nodes registered their routes');
    const nodeChannels = brokerIds.map((brokerId) => `${cluster.redisPrefix}mqtt-node:${brokerId}`);
    const routesChannel = `${cluster.redisPrefix}mqtt-routes`;
    const tenantTopic = `tc/${tenant}/${clientId}/o/temperature`;
    const heartbeatChannel = `${mq}$SYS/${randomBytes(4).toString('hex')}/heartbeat`;
    const subAddChannel = `${mq}$SYS/sub/add`;
    const id = () => randomBytes(8).toString('hex');
    const malformed: [string, Buffer][] = [
      [sysChannel, Buffer.from([0xc1])], // a byte msgpack never uses
      [sysChannel, Buffer.from('garbage that is not msgpack at all')],
      [sysChannel, msgpack.encode(null)],
      [sysChannel, msgpack.encode({ id: id() })], // no msg
      [sysChannel, msgpack.encode({ id: id(), msg: {} })], // no topic
      [sysChannel, msgpack.encode({ id: id(), msg: { topic: 42, payload: Buffer.from('x') } })], // a topic that is no string
      ...nodeChannels.flatMap((nodeChannel): [string, Buffer][] => [
        [nodeChannel, msgpack.encode({ msgs: [{ topic: 42, payload: Buffer.from('x') }] })],
        [nodeChannel, msgpack.encode({ msgs: [{ topic: tenantTopic, payload: 42, qos: 0 }] })], // a payload that is no bytes
        [nodeChannel, msgpack.encode({ msgs: [{ topic: tenantTopic, payload: Buffer.from('x'), qos: 7 }] })],
        [nodeChannel, msgpack.encode({ msgs: [{ topic: '$SYS/x/new/clients', payload: Buffer.from(clientId) }] })], // `$` topics never come this way
        [nodeChannel, randomBytes(4 * 1024 * 1024)], // a huge value
      ]),
      [sysChannel, Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff])], // an array of 2^32-1 elements, announced
      [routesChannel, Buffer.from([0xc1])],
      [routesChannel, msgpack.encode({ node: 'forged', seq: 1, add: [42] })],
      // Well-formed envelopes whose content aedes reads unchecked: a heartbeat without payload, a
      // subscription broadcast (aedes-persistence-redis) that is no JSON, or without its subs.
      [heartbeatChannel, msgpack.encode({ id: id(), msg: { topic: heartbeatChannel, qos: 0 } })],
      [subAddChannel, msgpack.encode({ id: id(), msg: { topic: subAddChannel, payload: Buffer.from('not json'), qos: 0 } })],
      [subAddChannel, msgpack.encode({ id: id(), msg: { topic: subAddChannel, payload: Buffer.from('{"clientId":"x"}'), qos: 0 } })],
    ];
    const before1 = await droppedCount(node1);
    const before2 = await droppedCount(node2);
    for (const [channel, message] of malformed) await admin.publish(channel, message);
    // Each node hears the shared channels and its own.
    const perNode = malformed.length - (nodeChannels.length - 1) * (malformed.filter(([channel]) => channel === nodeChannels[0]).length);

    await waitUntil(async () => (await droppedCount(node1)) - before1 >= perNode && (await droppedCount(node2)) - before2 >= perNode,
      15_000, 'both nodes counted every malformed message');
    for (const node of [node1, node2]) {
      assert.equal(node.server.process.exitCode, null, `${node.name} still runs`);
      assert.equal((await node.readyz()).status, 200, `${node.name} is ready`);
      const logged = node.server.logLines().filter((entry) => entry.msg === 'dropped a malformed message from the broker backplane');
      assert.ok(logged.length >= 1, `${node.name} logged the drop`);
      // Bounded fields, never the payload.
      for (const entry of logged) {
        assert.ok(JSON.stringify(entry).length < 2_000, 'a log line of bounded size');
        assert.ok(!JSON.stringify(entry).includes('garbage that is not msgpack'), 'the payload is not echoed');
      }
    }

    // A good message still crosses from the agent on node 1 to the application on node 2.
    const topic = `tc/${tenant}/${clientId}/o/temperature`;
    await withTimeout(agent.publishAsync(topic, 'still flowing', { qos: 1 }), 5_000, 'PUBACK from node 1');
    await applicationLog.next(topic, 5_000, 'still flowing');
  });

  it('a stored subscription that cannot be read no longer stops every node from starting: it is removed and logged', async () => {
    // aedes-persistence-redis reads every persistent session's subscriptions when a node starts.
    const sessions = `${cluster.redisPrefix}mqtt:`;
    const clientId = `${newTenant('sub')}_app`;
    await admin.sadd(`${sessions}clients`, clientId);
    await admin.hset(`${sessions}client:${encodeURIComponent(clientId)}`, 'tc/x/#', Buffer.from([0xc1, 0x00]), 'tc/y/#', msgpack.encode({ qos: 1 }));
    assert.equal(await node2.server.stop(), 0);
    const restarted = await cluster.startNode({ name: 'node-2-again' });
    assert.equal((await restarted.readyz()).status, 200);
    assert.ok(restarted.server.logLines().some((entry) => entry.msg?.toString().startsWith('removed a stored subscription that cannot be read')));
    assert.deepEqual(await admin.hkeys(`${sessions}client:${encodeURIComponent(clientId)}`), ['tc/y/#'], 'the readable subscription stays');
  });
});
