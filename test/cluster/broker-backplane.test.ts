import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { createRedisBrokerBackplane } from '../../src/cluster/index.ts';
import type { TenantId } from '../../src/shared/index.ts';
import { closesWithin, controlArrives, endClient, isControl, MessageLog, pingRoundTrip, subackCodes, withTimeout } from '../support/broker-helpers.ts';
import { inProcessBrokers, type InProcessNode } from '../support/in-process-brokers.ts';
import { clientNamesUnder, keysUnder, killClients, RedisOutageProxy, TEST_REDIS_URL, waitUntil } from '../support/redis-helpers.ts';
import { describeNeeding } from '../support/test-services.ts';

// Two brokers in one process, each with its own backplane on the shared Redis, as two trustgate
// nodes would run. Clients are tenant applications (token as password): admission is not what is
// under test here, the sharing of messages, sessions and client ids between brokers is.

const TENANT = 'cluster' as TenantId;
const brokers = inProcessBrokers({ tenant: TENANT, caName: 'backplane', prefixLabel: 'backplane', cleanUp: 'each' });
const { logger, unique, connectApplication } = brokers;

/**
 * The positive control of "nothing happened to `client`": it subscribes to a fresh topic, and a
 * publisher on `via` sends a marker there. The marker crosses Redis behind every message and
 * takeover announcement `via` sent before it, so once it has arrived and `client` still answers
 * a PINGREQ, those were handled and left it connected.
 */
const controlThroughBackplane = async (via: InProcessNode, client: MqttClient): Promise<void> => {
  const topic = `tc/${TENANT}/${unique('agent')}/i/control`;
  const log = new MessageLog(client);
  assert.deepEqual(await subackCodes(client, { [topic]: { qos: 1 } }), [1]);
  await controlArrives(await connectApplication(via, unique('control')), topic, [log]);
  await pingRoundTrip(client);
};

/** A persistent session on `node` with one QoS 1 filter, whose client has gone away. */
const leavePersistentSession = async (node: InProcessNode, clientId: string, topic: string): Promise<void> => {
  const client = await connectApplication(node, clientId, { clean: false });
  assert.deepEqual(await subackCodes(client, { [topic]: { qos: 1 } }), [1]);
  await endClient(client);
};

describeNeeding('redis')('brokers sharing a Redis backplane', () => {
  test('QoS 0 and QoS 1 messages published on one broker reach subscribers on both', async () => {
    const [node1, node2] = await brokers.twoNodes();
    const agentClientId = unique('agent');
    const filter = `tc/${TENANT}/${agentClientId}/i/#`;
    const remote = await connectApplication(node2, unique('remote'));
    const local = await connectApplication(node1, unique('local'));
    const remoteLog = new MessageLog(remote);
    const localLog = new MessageLog(local);
    assert.deepEqual(await subackCodes(remote, { [filter]: { qos: 1 } }), [1]);
    assert.deepEqual(await subackCodes(local, { [filter]: { qos: 1 } }), [1]);

    const publisher = await connectApplication(node1, unique('publisher'));
    const topic0 = `tc/${TENANT}/${agentClientId}/i/zero`;
    const topic1 = `tc/${TENANT}/${agentClientId}/i/one`;
    await publisher.publishAsync(topic0, 'qos 0', { qos: 0 });
    await withTimeout(publisher.publishAsync(topic1, 'qos 1', { qos: 1 }), 5_000, 'PUBACK');

    for (const log of [remoteLog, localLog]) {
      assert.equal((await log.next(topic0, 5_000, 'qos 0')).qos, 0);
      assert.equal((await log.next(topic1, 5_000, 'qos 1')).qos, 1);
    }
    // Control: a later message from the same publisher arrives behind any duplicate.
    await controlArrives(publisher, `tc/${TENANT}/${agentClientId}/i/control`, [remoteLog, localLog]);
    const counts = [remoteLog, localLog].map((log) => log.messages.filter((m) => !isControl(m)).length);
    assert.deepEqual(counts, [2, 2], 'each message exactly once');
  });

  test('a second connection with the same client id on the other broker takes over', async () => {
    const [node1, node2] = await brokers.twoNodes();
    const clientId = unique('app');
    const first = await connectApplication(node1, clientId);
    const firstClosed = closesWithin(first, 3_000);
    const second = await connectApplication(node2, clientId);
    assert.equal(await firstClosed, true, 'the first connection was closed by its broker');
    await controlThroughBackplane(node1, second);
    assert.equal(second.connected, true, 'the second connection stays');

    // And back: a third on the first broker takes over from the second.
    const secondClosed = closesWithin(second, 3_000);
    const third = await connectApplication(node1, clientId);
    assert.equal(await secondClosed, true);
    await controlThroughBackplane(node2, third);
    assert.equal(third.connected, true);
  });

  test('a QoS 1 message published while a persistent session is offline is delivered when it reconnects to the other broker', async () => {
    const [node1, node2] = await brokers.twoNodes();
    const clientId = unique('durable');
    const topic = `tc/${TENANT}/${unique('agent')}/i/command`;
    await leavePersistentSession(node2, clientId, topic);

    const publisher = await connectApplication(node1, unique('publisher'));
    await withTimeout(publisher.publishAsync(topic, 'while you were away', { qos: 1 }), 5_000, 'PUBACK');

    let sessionPresent: boolean | undefined;
    let log!: MessageLog;
    await connectApplication(node1, clientId, { clean: false }, (client) => {
      log = new MessageLog(client);
      client.once('connect', (connack) => { sessionPresent = connack.sessionPresent; });
    });
    assert.equal(sessionPresent, true, 'the session made on broker 2 is present on broker 1');
    const message = await log.next(topic, 5_000, 'while you were away');
    assert.equal(message.qos, 1);

    // The session lives in Redis under the backplane's prefix, not in the shared key space.
    const { admin, prefix } = brokers;
    const keys = await keysUnder(admin, `${prefix}mqtt:`);
    assert.ok(keys.includes(`${prefix}mqtt:client:${encodeURIComponent(clientId)}`), `keys: ${keys.join(', ')}`);
    assert.ok(keys.includes(`${prefix}mqtt:clients`));
    assert.equal(await admin.exists(`client:${encodeURIComponent(clientId)}`), 0);
  });

  test('a message for a persistent session that crosses Redis while its CONNECT is answered comes after the CONNACK, once, from its queue', async () => {
    // aedes restores a session's filters before it answers the CONNECT, and wrote what they caught
    // meanwhile straight away: a PUBLISH before the CONNACK [MQTT-3.2.0-1]. MQTT.js answers it with
    // a PUBACK it holds until connected and reads nothing more until then, so it never saw the
    // CONNACK: "connack timeout", whenever a message crossed Redis during a reconnection. The
    // message is in the session's queue already, replayed after the CONNACK: it comes once.
    const [node1, node2] = await brokers.twoNodes();
    const clientId = unique('durable');
    const topic = `tc/${TENANT}/${unique('agent')}/i/command`;
    await leavePersistentSession(node2, clientId, topic);
    const observer = await connectApplication(node1, unique('observer'));
    const observerLog = new MessageLog(observer);
    assert.deepEqual(await subackCodes(observer, { [topic]: { qos: 1 } }), [1]);

    // The CONNECT is held between the restore of its filters and its CONNACK (aedes' will step).
    const persistence = node1.backplane.persistence as unknown as { delWill(client: { id: string }): Promise<unknown> };
    const delWill = persistence.delWill.bind(persistence);
    let atWillStep!: () => void;
    const reachedWillStep = new Promise<void>((resolve) => { atWillStep = resolve; });
    let release!: () => void;
    const released = new Promise<void>((resolve) => { release = resolve; });
    persistence.delWill = async (client) => {
      if (client.id === clientId) {
        atWillStep();
        await released;
      }
      return delWill(client);
    };
    const received: string[] = [];
    let log!: MessageLog;
    const reconnected = connectApplication(node1, clientId, { clean: false }, (client) => {
      log = new MessageLog(client);
      client.on('packetreceive', (packet) => received.push(packet.cmd));
    });
    await withTimeout(reachedWillStep, 5_000, 'the CONNECT at its will step');
    const publisher = await connectApplication(node2, unique('publisher'));
    await withTimeout(publisher.publishAsync(topic, 'meanwhile', { qos: 1 }), 5_000, 'PUBACK');
    await observerLog.next(topic, 5_000, 'meanwhile');
    // The session's delivery went out with the observer's; its write gets a moment to happen.
    await new Promise((resolve) => setTimeout(resolve, 200));
    release();
    await reconnected;
    assert.equal(received[0], 'connack', `packets received: ${received.join(', ')}`);
    assert.equal((await log.next(topic, 5_000, 'meanwhile')).qos, 1);
    await controlArrives(publisher, topic, [log]);
    assert.equal(log.messages.filter((m) => !isControl(m)).length, 1, 'the message came once');
  });

  test('a persistent session ends with an UNSUBSCRIBE of its last filter or a clean CONNECT, on either broker', async () => {
    // aedes-persistence-redis removes a stored subscription only once its broadcast ($SYS/sub/rm,
    // without a qos) has come back through Redis; the backplane guard once dropped it as malformed,
    // and these waited for ever (no UNSUBACK, no CONNACK).
    const [node1, node2] = await brokers.twoNodes();
    const { admin, prefix } = brokers;
    const sessionKey = (id: string) => `${prefix}mqtt:client:${encodeURIComponent(id)}`;
    const topic = `tc/${TENANT}/${unique('agent')}/i/command`;

    const unsubscribing = await connectApplication(node1, unique('unsubscribing'), { clean: false });
    assert.deepEqual(await subackCodes(unsubscribing, { [topic]: { qos: 1 } }), [1]);
    await withTimeout(unsubscribing.unsubscribeAsync(topic), 5_000, 'UNSUBACK');

    const clientId = unique('durable');
    await leavePersistentSession(node2, clientId, topic);
    assert.equal(await admin.exists(sessionKey(clientId)), 1);
    let sessionPresent: boolean | undefined;
    await connectApplication(node1, clientId, { clean: true }, (client) => {
      client.once('connect', (connack) => { sessionPresent = connack.sessionPresent; });
    });
    assert.equal(sessionPresent, false);
    assert.equal(await admin.exists(sessionKey(clientId)), 0, 'the stored session is gone');
  });

  test('a retained message published on one broker is sent to a later subscriber on the other', async () => {
    const [node1, node2] = await brokers.twoNodes();
    const agentClientId = unique('agent');
    const topic = `tc/${TENANT}/${agentClientId}/i/config`;
    const publisher = await connectApplication(node1, unique('publisher'));
    await withTimeout(publisher.publishAsync(topic, 'retained value', { qos: 1, retain: true }), 5_000, 'PUBACK');
    let log!: MessageLog;
    const subscriber = await connectApplication(node2, unique('subscriber'), {}, (client) => { log = new MessageLog(client); });
    // A wildcard filter: the retained messages are scanned from Redis.
    assert.deepEqual(await subackCodes(subscriber, { [`tc/${TENANT}/${agentClientId}/i/#`]: { qos: 1 } }), [1]);
    assert.equal((await log.next(topic, 5_000, 'retained value')).payload.toString(), 'retained value');
  });

  test('$SYS stays closed to clients: no subscription, and a forged takeover closes the forger only', async () => {
    const [node1, node2] = await brokers.twoNodes();
    const victimId = unique('victim');
    const victim = await connectApplication(node1, victimId);
    const attacker = await connectApplication(node1, unique('attacker'));
    assert.deepEqual(await subackCodes(attacker, { '$SYS/#': { qos: 0 }, '$SYS/+/new/clients': { qos: 0 }, '#': { qos: 0 } }), [128, 128, 128]);

    const attackerClosed = closesWithin(attacker, 3_000);
    // What broker 2 would publish if the victim's id connected there.
    attacker.publish(`$SYS/${node2.backplane.id}/new/clients`, victimId);
    assert.equal(await attackerClosed, true, 'an unauthorized PUBLISH closes the connection');
    // Had the forged announcement gone out, it would have crossed Redis before this marker.
    await controlThroughBackplane(node1, victim);
    assert.equal(victim.connected, true, 'the victim was not taken over');
  });

  test('the brokers survive their Redis connections being killed and carry messages again', async () => {
    const [node1, node2] = await brokers.twoNodes();
    const topic = `tc/${TENANT}/${unique('agent')}/i/after-blip`;
    const subscriber = await connectApplication(node2, unique('subscriber'));
    const log = new MessageLog(subscriber);
    await subackCodes(subscriber, { [topic]: { qos: 1 } });
    const publisher = await connectApplication(node1, unique('publisher'));

    const { admin, prefix } = brokers;
    const names = (await clientNamesUnder(admin, `${prefix}mqtt:`)).sort();
    assert.equal(names.length, 6, `three connections per broker: ${names.join(', ')}`);
    assert.equal(await killClients(admin, (name) => name.startsWith(`${prefix}mqtt:`)), 6);
    await waitUntil(async () => (await clientNamesUnder(admin, `${prefix}mqtt:`)).length === 6, 5_000, 'every connection is back');

    // The MQTT connections were never touched; the resubscription may take a moment.
    assert.equal(subscriber.connected && publisher.connected, true);
    await waitUntil(async () => {
      await publisher.publishAsync(topic, 'after', { qos: 1 });
      return log.on(topic).length > 0;
    }, 5_000, 'a message crosses again');
  });

  test('start() connects, or says within its bound that Redis is unreachable', async () => {
    brokers.reset();
    const { admin, prefix, resources } = brokers;
    const reachable = createRedisBrokerBackplane({ url: TEST_REDIS_URL, logger, prefix, nodeId: 'node-1' });
    resources.add(() => reachable.close());
    await reachable.start();
    assert.deepEqual((await clientNamesUnder(admin, prefix)).sort(),
      [`${prefix}mqtt:pub:node-1`, `${prefix}mqtt:sessions:node-1`, `${prefix}mqtt:sub:node-1`]);

    const proxy = new RedisOutageProxy();
    await proxy.start();
    const url = proxy.url.replace('redis://', 'redis://:s3cret@');
    await proxy.close();
    const unreachable = createRedisBrokerBackplane({ url, logger, prefix, startTimeoutMs: 500 });
    resources.add(() => unreachable.close());
    await assert.rejects(unreachable.start(), (error: Error) => {
      assert.match(error.message, /could not reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/? within 500 ms \(.*ECONNREFUSED.*\)/);
      assert.doesNotMatch(error.message, /s3cret/);
      return true;
    });
  });

  test('close() is bounded when Redis is unreachable', async () => {
    brokers.reset();
    const { resources } = brokers;
    const proxy = new RedisOutageProxy();
    await proxy.start();
    resources.add(() => proxy.close());
    const node = await brokers.startNode({ url: proxy.url });
    const clientId = unique('app');
    const client = await connectApplication(node, clientId, { clean: false });
    await subackCodes(client, { [`tc/${TENANT}/${unique('agent')}/i/#`]: { qos: 1 } });
    await proxy.cut();
    // Redis has seen the node's connections go: the outage is in effect.
    await waitUntil(async () => (await clientNamesUnder(brokers.admin, `${brokers.prefix}mqtt:`)).length === 0, 5_000, 'the node\'s Redis connections are gone');
    // Work that would wait for Redis: a message to carry (dropped), a session to store (CONNACK 3
    // at once, decision 0021), an unsubscription (removed when Redis is back).
    client.publish(`tc/${TENANT}/${unique('agent')}/i/lost`, 'waits', { qos: 0 });
    client.unsubscribe(`tc/${TENANT}/#`);
    const late = connectApplication(node, unique('late'), { clean: false }).then(() => 0, (error: { code?: number }) => error.code);
    assert.equal(await late, 3, 'a CONNECT while Redis is unreachable is answered CONNACK 3');
    const startedAt = Date.now();
    await node.broker.close();
    await node.backplane.close();
    await node.backplane.close();
    assert.ok(Date.now() - startedAt < 5_000, `closed in ${Date.now() - startedAt} ms`);
  });
});
