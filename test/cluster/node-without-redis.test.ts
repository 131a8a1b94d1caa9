import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { newTenant } from '../support/api-helpers.ts';
import {
  connectAgent, connectApplication, controlArrives, isControl, issueAgent, listAgents, MessageLog, pingRoundTrip, refusalCodeOf,
  registerVerifiedCa, Resources, subackCodes, waitForAgent, withTimeout,
} from '../support/broker-helpers.ts';
import { TEST_REDIS_URL } from '../support/redis-helpers.ts';
import { startCluster, type Cluster, type ClusterNode } from '../support/start-cluster.ts';
import { TcpOutageProxy } from '../support/tcp-proxy.ts';
import { describeNeeding } from '../support/test-services.ts';
import { waitUntil } from '../support/wait-until.ts';
import { CONNACK_BOUND_MS } from '../../src/mqtt/start-mqtt-broker.ts';
import { PUBLISH_TIMEOUT_MS } from '../../src/cluster/redis-broker-backplane.ts';

// Issue 12, item 5 (decision 0021): a node that lost Redis held every CONNECT without an answer
// (logged "accepted", counted, the agent recorded online, and still so after its client gave up)
// and held the messages between two of its own clients until Redis came back (a 30 s burst).
// Two real nodes; `lonely` reaches Redis through a proxy the test cuts (connections reset) or
// blackholes (packets silently dropped: the connections look fine).

const SERVER_UNAVAILABLE = 3;
const SUBSCRIPTION_REFUSED = 128;
/** A refusal "at once": the node knows Redis is gone, nothing to wait for but the TLS handshake. */
const FAST_ANSWER_MS = 1_500;
const LOST = 'broker backplane cannot reach Redis: new MQTT connections are refused (CONNACK 3) and messages published on this node are dropped until it is back';
const BACK = 'broker backplane reconnected to Redis: MQTT connections accepted and messages delivered again';

/** The sum of a metric's samples whose line starts with `sample` (a name, or a name and labels), on `node`. */
const metricOf = async (node: ClusterNode, sample: string): Promise<number> => {
  const text = await (await fetch(`${node.url}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  return text.split('\n').filter((line) => line.startsWith(`${sample} `) || (!sample.includes('{') && line.startsWith(`${sample}{`)))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
};

const SESSIONS = 'trustgate_mqtt_sessions';
const REFUSED_NO_REDIS = 'trustgate_mqtt_connection_refusals_total{reason="mqtt.clusterUnavailable"}';
const ACCEPTED_AGENTS = 'trustgate_mqtt_connections_accepted_total{kind="agent"}';
const DROPPED_NO_REDIS = 'trustgate_cluster_messages_dropped_total{reason="redisUnreachable"}';

const isReady = async (node: ClusterNode): Promise<boolean> => (await node.readyz(1_500).catch(() => undefined))?.status === 200;
const isNotReady = async (node: ClusterNode): Promise<boolean> => (await node.readyz(1_500).catch(() => undefined))?.status === 503;

const logSays = (node: ClusterNode, message: string, after = 0): boolean =>
  node.server.logLines().slice(after).some((line: any) => line.msg === message);

describeNeeding('postgres', 'redis')('a cluster node that loses Redis', { timeout: 150_000 }, () => {
  let cluster: Cluster;
  let stable: ClusterNode;
  let lonely: ClusterNode;
  const redisProxy = TcpOutageProxy.forUrl(TEST_REDIS_URL, 6379);
  const resources = new Resources();

  before(async () => {
    await redisProxy.start();
    resources.add(() => redisProxy.close());
    cluster = await startCluster({
      label: 'no-redis',
      nodes: [{ name: 'stable' }, { name: 'lonely', env: { TRUSTGATE_REDIS_URL: redisProxy.urlThrough(TEST_REDIS_URL) } }],
    });
    stable = cluster.node('stable');
    lonely = cluster.node('lonely');
  });

  after(async () => {
    await resources.closeAll();
    await cluster?.close();
  });

  it('Redis cut: a CONNECT gets CONNACK 3 at once and counts as nothing, connected clients are still served while their messages are dropped (never delivered late), and after the heal the node accepts and delivers again with its session gauge right', async (t) => {
    await waitUntil(() => isReady(lonely), 20_000, 'the node ready before the fault');
    const tenant = newTenant('cut');
    const { ca } = await registerVerifiedCa(stable, tenant);
    const talkerId = `${tenant}_talker`;
    const newcomerId = `${tenant}_newcomer`;
    const [talkerCertificate, newcomerCertificate] = await Promise.all([issueAgent(ca, 'talker'), issueAgent(ca, 'newcomer')]);
    const talker = resources.client(await connectAgent(lonely, talkerCertificate, talkerId));
    const application = resources.client(await connectApplication(lonely, tenant));
    const applicationLog = new MessageLog(application);
    assert.deepEqual(await subackCodes(application, { [`tc/${tenant}/#`]: { qos: 1 } }), [1]);
    const topic = `tc/${tenant}/${talkerId}/o/data`;
    // A persistent session, away: QoS 1 messages for it are queued in Redis.
    const awayId = `${tenant}_away-app`;
    const awayFirst = await connectApplication(lonely, tenant, { clean: false, clientId: awayId });
    assert.deepEqual(await subackCodes(awayFirst, { [`tc/${tenant}/#`]: { qos: 1 } }), [1]);
    await awayFirst.endAsync();
    // A precondition: two clients of one node reach each other through Redis.
    await controlArrives(talker, topic, [applicationLog]);
    await waitUntil(async () => await metricOf(lonely, SESSIONS) === 2, 5_000, 'two sessions counted before the cut');
    const acceptedBefore = await metricOf(lonely, ACCEPTED_AGENTS);
    const refusedBefore = await metricOf(lonely, REFUSED_NO_REDIS);
    const droppedBefore = await metricOf(lonely, DROPPED_NO_REDIS);
    const logMark = lonely.server.logLines().length;

    await redisProxy.cut();
    try {
      // The connections are reset: the node hears of it at once (its /readyz names the cluster).
      await waitUntil(() => isNotReady(lonely), 5_000, '/readyz 503 once Redis is cut');

      const connectingAt = performance.now();
      const code = await refusalCodeOf(connectAgent(lonely, newcomerCertificate, newcomerId), resources);
      const answeredAfterMs = performance.now() - connectingAt;
      t.diagnostic(`a CONNECT during the cut was answered CONNACK ${code} after ${answeredAfterMs.toFixed(0)} ms`);
      assert.equal(code, SERVER_UNAVAILABLE, 'CONNACK 3 (server unavailable)');
      assert.ok(answeredAfterMs < FAST_ANSWER_MS, `answered after ${answeredAfterMs.toFixed(0)} ms`);
      assert.equal(await metricOf(lonely, REFUSED_NO_REDIS), refusedBefore + 1, 'counted as refused for mqtt.clusterUnavailable');
      assert.equal(await metricOf(lonely, ACCEPTED_AGENTS), acceptedBefore, 'not counted as accepted');
      assert.ok(!lonely.server.logLines().slice(logMark).some((line: any) => line.msg === 'mqtt connection accepted' && line.clientId === newcomerId), 'not logged as accepted');
      await waitUntil(() => logSays(lonely, LOST, logMark), 2_000, `the log saying: ${LOST}`);

      // The connected clients are still served: a publish does not hold the publisher's connection.
      await withTimeout(talker.publishAsync(topic, 'during-qos1', { qos: 1 }), 2_000, 'the PUBACK of a message published during the cut');
      await withTimeout(talker.publishAsync(topic, 'during-qos0', { qos: 0 }), 2_000, 'a QoS 0 publish during the cut');
      await withTimeout(talker.publishAsync(topic, 'during-retained', { qos: 1, retain: true }), 2_000, 'the PUBACK of a retained message');
      await pingRoundTrip(talker, 2_000);
      await waitUntil(async () => await metricOf(lonely, DROPPED_NO_REDIS) >= droppedBefore + 3, 3_000, 'the three messages counted as dropped');
      // A subscription can be neither stored nor heard: refused at once, the connection kept.
      assert.deepEqual(await subackCodes(application, { [`tc/${tenant}/+/o/other`]: { qos: 0 } }, 2_000), [SUBSCRIPTION_REFUSED]);
      await pingRoundTrip(application, 2_000);
      assert.equal(await metricOf(lonely, SESSIONS), 2, 'still two sessions');
    } finally {
      await redisProxy.restore();
    }

    await waitUntil(() => logSays(lonely, BACK, logMark), 10_000, 'the node logging that Redis is back');
    t.diagnostic(`dropped while Redis was away: ${JSON.stringify(lonely.server.logLines().slice(logMark).find((line: any) => line.msg === BACK))}`);
    // Messages flow again between the node's own clients, and what was dropped never comes.
    await waitUntil(async () => {
      try {
        await controlArrives(talker, topic, [applicationLog], 2_000);
        return true;
      } catch {
        return false;
      }
    }, 10_000, 'a message crossing Redis again');
    assert.deepEqual(applicationLog.on(topic).filter((m) => !isControl(m)).map((m) => m.payload.toString()), [], 'nothing published during the cut arrives late');
    let awayLog!: MessageLog;
    const away = resources.client(await connectApplication(lonely, tenant, { clean: false, clientId: awayId }, (client) => { awayLog = new MessageLog(client); }));
    await controlArrives(talker, topic, [awayLog]);
    assert.deepEqual(awayLog.on(topic).filter((m) => !isControl(m)).map((m) => m.payload.toString()), [], 'nor was it queued for the session away');

    // One warn line for the outage, not one per dropped message.
    const perMessageWarnings = lonely.server.logLines().slice(logMark).filter((line: any) => line.level >= 40 && line.component === 'mqtt' && line.msg !== 'mqtt connection refused');
    assert.deepEqual(perMessageWarnings, [], 'no warning per dropped message');

    const newcomer = resources.client(await connectAgent(lonely, newcomerCertificate, newcomerId));
    await pingRoundTrip(newcomer);
    await waitForAgent(stable, tenant, newcomerId, (a) => a.online === true);
    assert.equal(await metricOf(lonely, SESSIONS), 4, 'the session gauge counts the four connected clients');
    assert.equal(await metricOf(lonely, ACCEPTED_AGENTS), acceptedBefore + 1);
    assert.deepEqual((await listAgents(stable, tenant)).map((a) => [a.clientId, a.online]).sort(), [[newcomerId, true], [talkerId, true]]);
    await Promise.all([talker, application, newcomer, away].map((client) => client.endAsync()));
    await waitUntil(async () => await metricOf(lonely, SESSIONS) === 0, 5_000, 'no session counted once all four left');
  });

  it('Redis silent (packets dropped, connections open): an admitted CONNECT not answered within the bound gets CONNACK 3, is not counted, and its agent is offline; after the heal the gauge is right and the agent connects', async (t) => {
    await waitUntil(() => isReady(lonely), 20_000, 'the node ready before the fault');
    const tenant = newTenant('silent');
    const { ca } = await registerVerifiedCa(stable, tenant);
    const stayerId = `${tenant}_stayer`;
    const strandedId = `${tenant}_stranded`;
    const [stayerCertificate, strandedCertificate] = await Promise.all([issueAgent(ca, 'stayer'), issueAgent(ca, 'stranded')]);
    const base = await metricOf(lonely, SESSIONS); // 0, unless the test before failed half-way
    const stayer = resources.client(await connectAgent(lonely, stayerCertificate, stayerId));
    await waitUntil(async () => await metricOf(lonely, SESSIONS) === base + 1, 5_000, 'one more session counted before the fault');
    // A subscriber on the other node: the stayer's messages must cross Redis (decision 0028 keeps
    // the ones nobody elsewhere subscribed to off it).
    const listener = resources.client(await connectApplication(stable, tenant));
    assert.deepEqual(await subackCodes(listener, { [`tc/${tenant}/${stayerId}/o/#`]: { qos: 1 } }), [1]);
    const acceptedBefore = await metricOf(lonely, ACCEPTED_AGENTS);
    const refusedBefore = await metricOf(lonely, REFUSED_NO_REDIS);
    const logMark = lonely.server.logLines().length;

    redisProxy.blackhole();
    try {
      const connectingAt = performance.now();
      // Admitted (the database is fine, the connections to Redis look fine), then held by Redis.
      const code = await refusalCodeOf(connectAgent(lonely, strandedCertificate, strandedId, { connectTimeout: CONNACK_BOUND_MS + 5_000 }), resources);
      const answeredAfterMs = performance.now() - connectingAt;
      t.diagnostic(`a CONNECT held by a silent Redis was answered CONNACK ${code} after ${answeredAfterMs.toFixed(0)} ms (bound ${CONNACK_BOUND_MS} ms)`);
      assert.equal(code, SERVER_UNAVAILABLE, 'CONNACK 3 (server unavailable)');
      assert.ok(answeredAfterMs < CONNACK_BOUND_MS + 1_500, `answered after ${answeredAfterMs.toFixed(0)} ms`);
      await waitUntil(() => logSays(lonely, 'mqtt connection refused: admitted, but not answered within the bound (Redis unreachable?); CONNACK 3 sent', logMark),
        2_000, 'the refusal logged');
      assert.equal(await metricOf(lonely, REFUSED_NO_REDIS), refusedBefore + 1);
      assert.equal(await metricOf(lonely, ACCEPTED_AGENTS), acceptedBefore, 'not counted as accepted');
      assert.equal(await metricOf(lonely, SESSIONS), base + 1, 'not counted as a session');
      assert.ok(!logSays(lonely, LOST, logMark), 'a precondition: the node did not yet know Redis was silent');
      // Its admission recorded it online; its refusal records it offline (the database is reachable).
      await waitForAgent(stable, tenant, strandedId, (a) => a.online === false, 5_000);
      await pingRoundTrip(stayer);

      // A message Redis does not confirm is dropped within the publish timeout, and the node then
      // knows Redis is away: the next CONNECT is refused at once.
      const droppedBefore = await metricOf(lonely, DROPPED_NO_REDIS);
      const publishedAt = performance.now();
      await withTimeout(stayer.publishAsync(`tc/${tenant}/${stayerId}/o/data`, 'into the void', { qos: 1 }), 2_000, 'the PUBACK of a message Redis will not see');
      await waitUntil(async () => await metricOf(lonely, DROPPED_NO_REDIS) > droppedBefore, PUBLISH_TIMEOUT_MS + 3_000, 'the unconfirmed message counted as dropped');
      t.diagnostic(`a message unconfirmed by Redis was counted as dropped after ${(performance.now() - publishedAt).toFixed(0)} ms (timeout ${PUBLISH_TIMEOUT_MS} ms)`);
      await pingRoundTrip(stayer, 2_000);
      await waitUntil(() => logSays(lonely, LOST, logMark), 3_000, 'the node logging that it cannot reach Redis');
      const readiness = await lonely.readyz(1_500);
      assert.equal(readiness.status, 503, 'not ready: it refuses MQTT connections');
      assert.notEqual(readiness.body.checks.cluster, 'ok');
      const againAt = performance.now();
      assert.equal(await refusalCodeOf(connectAgent(lonely, strandedCertificate, strandedId), resources), SERVER_UNAVAILABLE);
      assert.ok(performance.now() - againAt < FAST_ANSWER_MS, `the next CONNECT answered after ${(performance.now() - againAt).toFixed(0)} ms`);
    } finally {
      redisProxy.restoreFlow();
    }

    // aedes goes on with the refused CONNECT once Redis answers: it must leave nothing behind.
    await waitUntil(() => isReady(lonely), 20_000, '/readyz 200 after the heal');
    const stranded = resources.client(await connectAgent(lonely, strandedCertificate, strandedId));
    await pingRoundTrip(stranded);
    await pingRoundTrip(stayer);
    await waitForAgent(stable, tenant, strandedId, (a) => a.online === true);
    assert.equal(await metricOf(lonely, SESSIONS), base + 2, 'the session gauge counts the two connected clients');
    assert.equal(await metricOf(lonely, ACCEPTED_AGENTS), acceptedBefore + 1);
    await stranded.endAsync();
    await waitForAgent(stable, tenant, strandedId, (a) => a.online === false);
    assert.equal(await metricOf(lonely, SESSIONS), base + 1);
    const acceptedLines = () => lonely.server.logLines().slice(logMark).filter((line: any) => line.msg === 'mqtt connection accepted' && line.clientId === strandedId);
    await waitUntil(() => acceptedLines().length > 0, 5_000, 'the connection after the heal logged as accepted');
    assert.equal(acceptedLines().length, 1, 'one accepted connection logged for the agent: the one after the heal');
  });
});
