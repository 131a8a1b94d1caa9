import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Redis } from 'ioredis';
import { controlArrives, delay, endClient, isControl, MessageLog, subackCodes } from '../support/broker-helpers.ts';
import { inProcessBrokers, type InProcessNode } from '../support/in-process-brokers.ts';
import { redisAdmin, RedisOutageProxy, waitUntil } from '../support/redis-helpers.ts';
import { describeNeeding } from '../support/test-services.ts';
import type { TenantId } from '../../src/shared/index.ts';

// Issue 18 part 2, decision 0028: a client message is delivered on its node and sent through Redis
// only to the nodes with a matching filter. What crosses Redis is counted twice: by the route
// table's own counter (the metric's source) and by a Redis client listening on every node's channel.

const TENANT = 'routes' as TenantId;
const brokers = inProcessBrokers({ tenant: TENANT, caName: 'routes', prefixLabel: 'routes', cleanUp: 'each' });
const { unique, connectApplication } = brokers;

const topicOf = (label: string) => `tc/${TENANT}/${unique(label)}/i/data`;

/** Counts the client messages that reach any node's channel of this test's prefix, as Redis carries them. */
const watchNodeChannels = async (): Promise<{ count(): number; close(): Promise<void> }> => {
  const watcher: Redis = redisAdmin();
  await watcher.connect();
  let messages = 0;
  const { msgpack } = await import('../../src/cluster/cluster-route-table.ts');
  watcher.on('pmessageBuffer', (_pattern: Buffer, _channel: Buffer, message: Buffer) => {
    const decoded = msgpack.decode(message) as { msgs?: unknown[] };
    messages += decoded.msgs?.length ?? 0;
  });
  await watcher.psubscribe(`${brokers.prefix}mqtt-node:*`);
  brokers.resources.add(async () => { watcher.disconnect(); });
  return { count: () => messages, close: async () => { watcher.disconnect(); } };
};

const routesOf = (observer: InProcessNode, node: InProcessNode) => observer.backplane.routes.remoteFilters(node.backplane.id);

describeNeeding('redis')('the cluster route table', () => {
  test('a message whose subscribers are all on its node does not cross Redis; one for the other node crosses once, in order', async () => {
    const [node1, node2] = await brokers.twoNodes();
    const watch = await watchNodeChannels();
    const topic = topicOf('local');
    const local = await connectApplication(node1, unique('local'));
    const localLog = new MessageLog(local);
    assert.deepEqual(await subackCodes(local, { [topic]: { qos: 1 } }), [1]);
    const publisher = await connectApplication(node1, unique('publisher'));
    for (let i = 0; i < 20; i++) await publisher.publishAsync(topic, `local ${i}`, { qos: i % 2 as 0 | 1 });
    await localLog.next(topic, 5_000, 'local 19');
    assert.equal(localLog.on(topic).length, 20);
    assert.equal(node1.backplane.routes.forwarded, 0, 'node 1 sent nothing to node 2');
    assert.equal(watch.count(), 0, 'no client message on any node channel');

    // The positive control: a subscriber on node 2 makes each message cross, once, in order.
    const remote = await connectApplication(node2, unique('remote'));
    const remoteLog = new MessageLog(remote);
    assert.deepEqual(await subackCodes(remote, { [topic]: { qos: 1 } }), [1]);
    for (let i = 0; i < 50; i++) void publisher.publish(topic, `both ${i}`, { qos: i % 2 as 0 | 1 });
    await remoteLog.next(topic, 10_000, 'both 49');
    await localLog.next(topic, 10_000, 'both 49');
    // In the order sent, per QoS (a QoS 1 delivery takes a Redis write on its node, a QoS 0 one none:
    // MQTT orders a publisher's messages per topic and QoS).
    for (const qos of [0, 1]) {
      assert.deepEqual(remoteLog.on(topic).filter((message) => message.qos === qos).map((message) => message.payload.toString()),
        Array.from({ length: 50 }, (_, i) => `both ${i}`).filter((_, i) => i % 2 === qos), `QoS ${qos} in order`);
    }
    assert.equal(node1.backplane.routes.forwarded, 50);
    assert.equal(node2.backplane.routes.forwarded, 0);
    await waitUntil(() => watch.count() === 50, 5_000, 'Redis carried the 50 messages');
  });

  test('an UNSUBSCRIBE removes the route once the last subscription of that node on the filter is gone', async () => {
    const [node1, node2] = await brokers.twoNodes();
    const topic = topicOf('unsub');
    const first = await connectApplication(node2, unique('first'));
    const second = await connectApplication(node2, unique('second'));
    const secondLog = new MessageLog(second);
    for (const client of [first, second]) assert.deepEqual(await subackCodes(client, { [topic]: { qos: 0 } }), [0]);
    // Held before the SUBACK: no wait needed.
    assert.ok(routesOf(node1, node2)?.has(topic), 'node 1 holds the route once the SUBACK is sent');
    const routesKey = node2.backplane.routes.routesKey(node2.backplane.id);
    assert.deepEqual(await brokers.admin.smembers(routesKey), [topic]);

    await first.unsubscribeAsync(topic);
    const publisher = await connectApplication(node1, unique('publisher'));
    await publisher.publishAsync(topic, 'still routed', { qos: 1 });
    await secondLog.next(topic, 5_000, 'still routed');
    assert.equal(node1.backplane.routes.forwarded, 1);

    await second.unsubscribeAsync(topic);
    await waitUntil(() => routesOf(node1, node2)?.has(topic) === false, 5_000, 'node 1 dropped the route');
    assert.deepEqual(await brokers.admin.smembers(routesKey), []);
    const local = await connectApplication(node1, unique('control'));
    const localLog = new MessageLog(local);
    assert.deepEqual(await subackCodes(local, { [topic]: { qos: 1 } }), [1]);
    await controlArrives(publisher, topic, [localLog]);
    assert.equal(node1.backplane.routes.forwarded, 1, 'nothing more sent to node 2');
  });

  test('a node whose Redis connections are gone (a crash, as Redis sees it) is forgotten within 3 heartbeats and its routes expire in Redis', async () => {
    brokers.reset();
    const HEARTBEAT_MS = 300;
    const proxy = new RedisOutageProxy();
    await proxy.start();
    brokers.resources.add(() => proxy.cut());
    const node1 = await brokers.startNode({ heartbeatMs: HEARTBEAT_MS });
    const node2 = await brokers.startNode({ url: proxy.url, heartbeatMs: HEARTBEAT_MS });
    const topic = topicOf('crash');
    const subscriber = await connectApplication(node2, unique('subscriber'));
    assert.deepEqual(await subackCodes(subscriber, { [topic]: { qos: 0 } }), [0]);
    assert.ok(routesOf(node1, node2)?.has(topic));
    const routesKey = node2.backplane.routes.routesKey(node2.backplane.id);
    const ttl = await brokers.admin.pttl(routesKey);
    assert.ok(ttl > 0 && ttl <= 3 * HEARTBEAT_MS, `the routes expire unless refreshed (${ttl} ms)`);

    await proxy.cut();
    const cutAt = Date.now();
    // Nothing is sent to node 2 meanwhile: only its missing heartbeats tell.
    await waitUntil(() => routesOf(node1, node2) === undefined, 10_000, 'node 1 forgot node 2');
    const forgottenAfterMs = Date.now() - cutAt;
    // 3 heartbeats unheard, noticed at the next sweep (one heartbeat), on a loaded machine.
    assert.ok(forgottenAfterMs <= 5 * HEARTBEAT_MS + 1_000, `forgotten after ${forgottenAfterMs} ms`);
    await waitUntil(async () => (await brokers.admin.exists(routesKey)) === 0, 5_000, 'the routes key expired');

    const publisher = await connectApplication(node1, unique('publisher'));
    await publisher.publishAsync(topic, 'to nobody', { qos: 1 });
    assert.equal(node1.backplane.routes.forwarded, 0);
  });

  test('a message for a node whose channel lost its subscriber forgets that node at once', async () => {
    brokers.reset();
    const proxy = new RedisOutageProxy();
    await proxy.start();
    brokers.resources.add(() => proxy.cut());
    const node1 = await brokers.startNode(); // aedes' 60 s heartbeat: not what forgets it here
    const node2 = await brokers.startNode({ url: proxy.url });
    const topic = topicOf('gone');
    const subscriber = await connectApplication(node2, unique('subscriber'));
    assert.deepEqual(await subackCodes(subscriber, { [topic]: { qos: 0 } }), [0]);
    assert.ok(routesOf(node1, node2)?.has(topic));
    await proxy.cut();
    const channel = node1.backplane.routes.channelOf(node2.backplane.id);
    await waitUntil(async () => (await brokers.admin.pubsub('NUMSUB', channel))[1] === 0, 5_000, 'Redis dropped node 2\'s subscription');
    const publisher = await connectApplication(node1, unique('publisher'));
    await publisher.publishAsync(topic, 'lost', { qos: 1 });
    await waitUntil(() => routesOf(node1, node2) === undefined, 5_000, 'node 1 forgot node 2');
    await publisher.publishAsync(topic, 'not sent', { qos: 1 });
    assert.equal(node1.backplane.routes.forwarded, 0);
  });

  test('a SUBACK is sent once the other nodes hold the route: a message published on another node right after it arrives', async () => {
    brokers.reset();
    const proxy = new RedisOutageProxy();
    await proxy.start();
    brokers.resources.add(() => proxy.cut());
    const node1 = await brokers.startNode({ url: proxy.url });
    // A confirmation lost or missed would hold each SUBACK for 30 s: past every bound below.
    const node2 = await brokers.startNode({ routeAckTimeoutMs: 30_000 });
    const publisher = await connectApplication(node1, unique('publisher'));
    const subscriber = await connectApplication(node2, unique('subscriber'));
    const log = new MessageLog(subscriber);

    // Node 1 hears Redis late (a slow network): the route reaches it after node 2 published it.
    const slow = topicOf('slow');
    proxy.blackhole();
    let subackedAt = 0;
    const subscribed = subackCodes(subscriber, { [slow]: { qos: 1 } }).then((codes) => { subackedAt = Date.now(); return codes; });
    await delay(400); // the network's delay, not a wait for an event
    const restoredAt = Date.now();
    proxy.restoreFlow();
    assert.deepEqual(await subscribed, [1]);
    assert.ok(subackedAt >= restoredAt, 'the SUBACK waited for node 1 to hold the route');
    await publisher.publishAsync(slow, 'right after the SUBACK', { qos: 0 });
    await log.next(slow, 5_000, 'right after the SUBACK');

    // And on a healthy network, again and again.
    for (let i = 0; i < 20; i++) {
      const topic = topicOf(`race-${i}`);
      assert.deepEqual(await subackCodes(subscriber, { [topic]: { qos: 1 } }), [1]);
      await publisher.publishAsync(topic, `race ${i}`, { qos: i % 2 as 0 | 1 });
      await log.next(topic, 5_000, `race ${i}`);
    }
  });

  test('a node that never confirms a route holds the SUBACK no longer than the bound', async () => {
    brokers.reset();
    const proxy = new RedisOutageProxy();
    await proxy.start();
    brokers.resources.add(() => proxy.cut());
    await brokers.startNode({ url: proxy.url });
    const node2 = await brokers.startNode({ routeAckTimeoutMs: 500 });
    const subscriber = await connectApplication(node2, unique('subscriber'));
    proxy.blackhole();
    const startedAt = Date.now();
    assert.deepEqual(await subackCodes(subscriber, { [topicOf('bound')]: { qos: 1 } }, 5_000), [1]);
    const waitedMs = Date.now() - startedAt;
    assert.ok(waitedMs >= 450 && waitedMs < 3_000, `SUBACK after ${waitedMs} ms`);
    proxy.restoreFlow();
  });

  test('a QoS 1 message for a persistent session away from the other node is queued once and delivered once; an online one gets it once', async () => {
    const [node1, node2] = await brokers.twoNodes();
    const topic = topicOf('queued');
    const clientId = unique('persistent');
    const first = await connectApplication(node2, clientId, { clean: false });
    assert.deepEqual(await subackCodes(first, { [topic]: { qos: 1 } }), [1]);
    await endClient(first);
    await waitUntil(() => routesOf(node1, node2)?.has(topic) === false, 5_000, 'the route went with the session\'s client');

    const publisher = await connectApplication(node1, unique('publisher'));
    await publisher.publishAsync(topic, 'while away', { qos: 1 });
    const queue = `${brokers.prefix}mqtt:outgoing:${encodeURIComponent(clientId)}`;
    await waitUntil(async () => (await brokers.admin.llen(queue)) >= 1, 5_000, 'the message is queued');
    assert.equal(await brokers.admin.llen(queue), 1, 'queued once');
    assert.equal(node1.backplane.routes.forwarded, 0, 'nothing crossed to node 2: the queue is shared');

    const logs: MessageLog[] = [];
    await connectApplication(node2, clientId, { clean: false }, (client) => { logs.push(new MessageLog(client)); });
    const log = logs[0]!;
    await log.next(topic, 5_000, 'while away');
    await publisher.publishAsync(topic, 'while online', { qos: 1 });
    await log.next(topic, 5_000, 'while online');
    await controlArrives(publisher, topic, [log]);
    assert.deepEqual(log.on(topic).filter((message) => !isControl(message)).map((message) => message.payload.toString()), ['while away', 'while online']);
  });
});
