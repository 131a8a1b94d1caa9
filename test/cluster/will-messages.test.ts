import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { newTenant } from '../support/api-helpers.ts';
import {
  closesWithin, connectAgent, connectApplication, controlArrives, issueAgent, MessageLog, pingRoundTrip, refusalCodeOf, registerVerifiedCa, Resources,
  subackCodes,
} from '../support/broker-helpers.ts';
import { redisAdmin, waitUntil } from '../support/redis-helpers.ts';
import { startCluster, type Cluster, type ClusterNode } from '../support/start-cluster.ts';
import type { TestCertificate } from '../support/test-pki.ts';
import { describeNeeding } from '../support/test-services.ts';

// Finding 2 of issue 10, replayed on two real nodes (PostgreSQL + Redis), one of them killed for
// real. The attack: an application of another tenant — even with a read-only token — left a
// retained will on acme's agent's command topic, killed its node, and acme's agent received the
// "command" from the surviving node (aedes publishes a dead node's wills through
// authorizePublish(null, will), which let everything without a client through), and again on every
// later subscribe; and a will on `$SYS/<x>/new/clients` naming acme's agent closed its session.
// Every message that enters the broker — PUBLISH, will, retained, queued, or
// arriving from another node — passes the topic rules of its publisher; a will is checked at CONNECT.
//
// Wills and retained messages that an older trustgate (or anything else writing Redis) stored
// without a publisher are injected into Redis exactly as aedes-persistence-redis stores them.

// aedes' heartbeat: a node unheard for 3 is dead; its wills are published within 4 more.
const HEARTBEAT_MS = 500;
const DEAD_WILLS_BOUND_MS = 20_000;
const NOT_AUTHORIZED = 5;
const DROPPED_WILL_LOG = 'dropped the will of a client of a node that stopped: its publisher may not publish there';
const SKIPPED_RETAINED_LOG = 'skipped a retained message: its publisher is unknown (stored before trustgate recorded publishers) or not allowed the topic';

const require = createRequire(import.meta.url);
const msgpack = require('msgpack-lite') as { encode(value: unknown): Buffer };

describeNeeding('postgres', 'redis')('will messages and session deadlines in a cluster: no node publishes a will its publisher could not have sent, every node ends expired sessions', { timeout: 120_000 }, () => {
  let cluster: Cluster;
  let node1: ClusterNode;
  let node2: ClusterNode;
  let redis: Redis;
  const resources = new Resources();
  const acme = newTenant('acme');
  const evil = newTenant('evil');
  const pump = `${acme}_pump-1`;
  const valve = `${acme}_valve-1`;
  const command = `tc/${acme}/${pump}/i/cmd`;
  let pumpCertificate: TestCertificate;
  let valveCertificate: TestCertificate;

  before(async () => {
    cluster = await startCluster({ nodes: 2, label: 'wills', env: { TRUSTGATE_MQTT_HEARTBEAT_MS: String(HEARTBEAT_MS) } });
    [node1, node2] = cluster.nodes as [ClusterNode, ClusterNode];
    redis = redisAdmin();
    await redis.connect();
    const { ca } = await registerVerifiedCa(node1, acme);
    pumpCertificate = await issueAgent(ca, 'pump-1');
    valveCertificate = await issueAgent(ca, 'valve-1');
  });

  after(async () => {
    await resources.closeAll();
    redis?.disconnect();
    await cluster?.close();
  });

  // What aedes-persistence-redis writes for a will (putWill) and a retained message, under the
  // cluster's prefix: what a node of the previous version left for a CONNECT it did not check.
  const keyPrefix = () => `${cluster.redisPrefix}mqtt:`;
  const injectWill = async (brokerId: string, clientId: string, topic: string, payload: string) => {
    const key = `will:${brokerId}:${encodeURIComponent(clientId)}`;
    await redis.set(`${keyPrefix()}${key}`, msgpack.encode({ topic, payload: Buffer.from(payload), qos: 1, retain: true, clientId, brokerId }));
    await redis.rpush(`${keyPrefix()}will`, key);
    return `${keyPrefix()}${key}`;
  };
  const injectRetained = async (topic: string, payload: string) => {
    await redis.hset(`${keyPrefix()}retained`, topic, msgpack.encode({
      cmd: 'publish', brokerId: 'old-node', brokerCounter: 1, topic, payload: Buffer.from(payload), qos: 1, retain: true, dup: false,
    }));
  };

  it('sessions end when what admitted them expires, on every node (each closes its own): an application on node 2, an agent on node 1', async () => {
    const tenant = newTenant('expiry');
    const token = await node2.token(tenant, { ttlSeconds: 3 });
    const expMs = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')).exp * 1000;
    const { ca } = await registerVerifiedCa(node1, tenant);
    const notAfterMs = (Math.floor(Date.now() / 1000) + 4) * 1000;
    const shortLived = await issueAgent(ca, 'short-1', { notAfter: new Date(notAfterMs) });
    const application = resources.client(await connectApplication(node2, tenant, { password: token }));
    const agent = resources.client(await connectAgent(node1, shortLived, `${tenant}_short-1`));
    const closedAt = async (client: typeof agent, deadlineMs: number) => {
      assert.equal(await closesWithin(client, Math.max(0, deadlineMs - Date.now()) + 3_000), true, 'closed after its deadline');
      return Date.now() - deadlineMs;
    };
    const [applicationLate, agentLate] = await Promise.all([closedAt(application, expMs), closedAt(agent, notAfterMs)]);
    assert.ok(applicationLate < 1_000 && applicationLate > -50, `the application on node 2 closed ${applicationLate} ms after its token's exp`);
    assert.ok(agentLate < 1_000 && agentLate > -50, `the agent on node 1 closed ${agentLate} ms after its certificate's notAfter`);
    await waitUntil(() => node2.server.logLines().some((line) => line.msg === 'closed a session: what admitted it has expired' && line.reason === 'auth.tokenExpired'), 3_000, 'node 2 logged why');
    await waitUntil(() => node1.server.logLines().some((line) => line.msg === 'closed a session: what admitted it has expired' && line.reason === 'mqtt.certificateExpired'), 3_000, 'node 1 logged why');
  });

  it('replays the attack: the cross-tenant will is refused at CONNECT, dead nodes\' unchecked wills and retained messages never reach acme\'s agent, and a $SYS handover will does not disconnect it', async () => {
    // acme's agent on node 1, listening to its commands; acme's application on node 1 hears its tenant.
    let pumpLog!: MessageLog;
    const pumpAgent = resources.client(await connectAgent(node1, pumpCertificate, pump, {}, (client) => { pumpLog = new MessageLog(client); }));
    assert.deepEqual(await subackCodes(pumpAgent, { [`tc/${acme}/${pump}/i/#`]: { qos: 1 } }), [1]);
    const acmeApp = resources.client(await connectApplication(node1, acme));
    const acmeLog = new MessageLog(acmeApp);
    assert.deepEqual(await subackCodes(acmeApp, { [`tc/${acme}/#`]: { qos: 1 } }), [1]);

    // 1. The attack itself, on node 2: refused at CONNECT, whatever the token's scope.
    for (const scopes of [['mcmqtt.read'], ['mcmqtt.admin']]) {
      assert.equal(await refusalCodeOf(connectApplication(node2, evil, { scopes, will: { topic: command, payload: Buffer.from('evil-command'), qos: 1, retain: true } }), resources),
        NOT_AUTHORIZED, `a ${scopes[0]} application of another tenant with a will on acme's command topic`);
      assert.equal(await refusalCodeOf(connectApplication(node2, evil, { scopes, will: { topic: '$SYS/attacker/new/clients', payload: Buffer.from(pump), qos: 0, retain: false } }), resources),
        NOT_AUTHORIZED, `a ${scopes[0]} application of another tenant with a will on a $SYS handover topic`);
    }

    // 2. What an older node would have stored without checking, for a node that is gone, and a
    //    retained "command" written without a publisher.
    const injected = [
      await injectWill('old-node', `${evil}_app`, command, 'legacy-will-command'),
      await injectWill('old-node', `${evil}_app2`, '$SYS/attacker/new/clients', pump),
    ];
    await injectRetained(command, 'legacy-retained-command');

    // 3. Control: an allowed, retained will of acme's valve agent on node 2, and an allowed retained
    //    command from acme's application — both must survive Redis and the node's death.
    const valveAgent = await connectAgent(node2, valveCertificate, valve, {
      will: { topic: `tc/${acme}/${valve}/o/status`, payload: Buffer.from('valve-offline'), qos: 1, retain: true },
    });
    resources.client(valveAgent);
    await acmeApp.publishAsync(`tc/${acme}/${pump}/i/setpoint`, 'legit-retained-setpoint', { qos: 1, retain: true });
    await pumpLog.next(`tc/${acme}/${pump}/i/setpoint`, 5_000, 'legit-retained-setpoint');

    // 4. Node 2 dies for real: node 1 publishes its clients' wills once it stops hearing it.
    await node2.server.kill9();
    await acmeLog.next(`tc/${acme}/${valve}/o/status`, DEAD_WILLS_BOUND_MS, 'valve-offline');
    await waitUntil(async () => (await redis.exists(...injected)) === 0, DEAD_WILLS_BOUND_MS, 'node 1 has dealt with the unchecked wills');
    // 'old-node' was never heard by either node, so whichever checks its wills first drops them:
    // node 2 may have dropped one before it died.
    const droppedClientIds = () => new Set([node1, node2].flatMap((node) => node.server.logLines())
      .filter((line) => line.msg === DROPPED_WILL_LOG).map((line) => line.clientId));
    await waitUntil(() => droppedClientIds().size === 2, 5_000, 'the nodes logged both dropped wills');
    assert.deepEqual([...droppedClientIds()].sort(), [`${evil}_app`, `${evil}_app2`].sort());
    // Control: a marker from acme's application on node 1 crosses Redis behind anything node 1
    // published before (a will to acme's agent, a $SYS handover that would close it).
    await controlArrives(acmeApp, `tc/${acme}/${pump}/i/control`, [pumpLog]);
    await pingRoundTrip(pumpAgent);
    assert.equal(pumpAgent.connected, true, 'a will on $SYS/<x>/new/clients naming acme\'s agent must not close its session');
    assert.deepEqual(pumpLog.messages.filter((m) => /command/.test(m.payload.toString())).map((m) => m.payload.toString()), [],
      'acme\'s agent received a command nobody allowed');

    // 5. Node 2 comes back; acme's agent moves to it (a real takeover through $SYS, by a node) and
    //    subscribes again: the allowed retained messages arrive, the unchecked ones never do.
    const restarted = await cluster.startNode({ name: 'node-2' });
    const takenOver = closesWithin(pumpAgent, 5_000);
    let againLog!: MessageLog;
    const again = resources.client(await connectAgent(restarted, pumpCertificate, pump, {}, (client) => { againLog = new MessageLog(client); }));
    assert.equal(await takenOver, true, 'the broker\'s own $SYS handover still closes the old session on node 1');
    assert.deepEqual(await subackCodes(again, { [`tc/${acme}/${pump}/i/#`]: { qos: 1 } }), [1]);
    await againLog.next(`tc/${acme}/${pump}/i/setpoint`, 5_000, 'legit-retained-setpoint');
    const lateApp = resources.client(await connectApplication(restarted, acme));
    const lateLog = new MessageLog(lateApp);
    assert.deepEqual(await subackCodes(lateApp, { [`tc/${acme}/#`]: { qos: 1 } }), [1]);
    await lateLog.next(`tc/${acme}/${valve}/o/status`, 5_000, 'valve-offline');
    // Control: each of the two subscriptions' retained streams reached the unchecked command and
    // skipped it (the node logs each skip), so it is no longer on its way.
    const skippedCommands = () => restarted.server.logLines().filter((line) => line.msg === SKIPPED_RETAINED_LOG && line.topic === command).length;
    await waitUntil(() => skippedCommands() >= 2, 5_000, 'node 2 skipped the unchecked retained command for both subscriptions');
    assert.deepEqual([...againLog.messages, ...lateLog.messages].filter((m) => /command/.test(m.payload.toString())).map((m) => `${m.topic} ${m.payload.toString()}`), [],
      'a retained command nobody allowed was delivered on a later subscribe');
  });
});
