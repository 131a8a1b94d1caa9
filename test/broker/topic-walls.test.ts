import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import type { IClientOptions, MqttClient } from 'mqtt';
import { newTenant } from '../support/api-helpers.ts';
import {
  closesWithin, connectAgent, connectApplication, controlArrives, isControl, issueAgent, MessageLog, mosquittoAgentArgs, pingRoundTrip,
  PYTHON, refusalCodeOf, registerVerifiedCa, Resources, runProcess, RunningProcess, subackCodes, waitForAgent, withTimeout, writeAgentFiles,
} from '../support/broker-helpers.ts';
import { mqttField, mqttPacket } from '../support/mqtt-wire.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import type { TestCertificate } from '../support/test-pki.ts';

// The topic rules (README, "Connect an agent"): an agent publishes only to tc/<tenant>/<clientId>/o/... and subscribes
// only below tc/<tenant>/<clientId>/i/...; a tenant application subscribes anywhere under
// tc/<its tenant>/ and publishes only to agents' i/ topics of its tenant. Anything else: SUBACK
// 0x80, or the connection closed for a PUBLISH. $SYS is closed. QoS 2 is granted 1. Payloads up to
// 128 KiB. Every wall is checked with real clients and with a subscriber that would otherwise get
// the message, so "refused" also means "not delivered". "Nothing was delivered" is asserted after
// a positive control (a marker through the same observers, which arrives after anything the
// broker handled before it), never after a pause.

const CLOSE_BOUND_MS = 2_000;
const KIB_128 = 128 * 1024;

describe('topic walls: agents and tenant applications stay inside their prefixes', { timeout: 30_000 }, () => {
  let server: TestServer;
  const resources = new Resources();
  const tenantA = newTenant('wa');
  const tenantB = newTenant('wb');
  const id = (tenant: string, commonName: string) => `${tenant}_${commonName}`;
  const a1 = id(tenantA, 'a1');
  const a2 = id(tenantA, 'a2');
  const b1 = id(tenantB, 'b1');
  const topic = (tenant: string, clientId: string, direction: 'i' | 'o', rest: string) => `tc/${tenant}/${clientId}/${direction}/${rest}`;

  const certs: Record<string, TestCertificate> = {};
  // Long-lived observers: each would receive whatever leaks into its tenant or inbound topics.
  let appA: MqttClient;
  let appB: MqttClient;
  let agentA2: MqttClient;
  let agentB1: MqttClient;
  /** Tenant B's second application (from the tenant-B test on), a further observer. */
  let appB2: MqttClient | undefined;
  const logs: Record<string, MessageLog> = {};

  /** Every message any observer got whose payload starts with `marker`. */
  const leaked = (marker: string) => Object.entries(logs).flatMap(([who, log]) =>
    log.messages.filter((m) => m.payload.toString().startsWith(marker)).map((m) => `${who} got ${m.topic} "${m.payload.toString().slice(0, 40)}"`));

  /**
   * The positive control for "nothing leaked": a marker to each long-lived observer, along the
   * paths a leak would take (appA to a2's inbound topic reaches appA and agent a2; appB to b1's
   * reaches appB, agent b1 and B's second application). Once every marker has arrived, anything
   * the broker handled earlier has too; a1's own connections in `logs` are closed by then.
   */
  const observersSettled = async (): Promise<void> => {
    await Promise.all([
      controlArrives(appA, topic(tenantA, a2, 'i', 'control'), [logs.appA!, logs.agentA2!]),
      controlArrives(appB, topic(tenantB, b1, 'i', 'control'), [logs.appB!, logs.agentB1!, ...(appB2?.connected ? [logs.appB2!] : [])]),
    ]);
  };

  const connectA1 = async (options: IClientOptions = {}) => resources.client(await connectAgent(server, certs[a1]!, a1, options));

  before(async () => {
    server = await startTestServer();
    resources.add(() => server.close());
    const caA = await registerVerifiedCa(server, tenantA);
    const caB = await registerVerifiedCa(server, tenantB);
    certs[a1] = await issueAgent(caA.ca, 'a1');
    certs[a2] = await issueAgent(caA.ca, 'a2');
    certs[id(tenantA, 'late')] = await issueAgent(caA.ca, 'late');
    certs[b1] = await issueAgent(caB.ca, 'b1');

    appA = resources.client(await connectApplication(server, tenantA));
    logs.appA = new MessageLog(appA);
    assert.deepEqual(await subackCodes(appA, { [`tc/${tenantA}/#`]: { qos: 1 } }), [1]);
    appB = resources.client(await connectApplication(server, tenantB));
    logs.appB = new MessageLog(appB);
    assert.deepEqual(await subackCodes(appB, { [`tc/${tenantB}/#`]: { qos: 1 } }), [1]);
    agentA2 = resources.client(await connectAgent(server, certs[a2]!, a2));
    logs.agentA2 = new MessageLog(agentA2);
    assert.deepEqual(await subackCodes(agentA2, { [`tc/${tenantA}/${a2}/i/#`]: { qos: 1 } }), [1]);
    agentB1 = resources.client(await connectAgent(server, certs[b1]!, b1));
    logs.agentB1 = new MessageLog(agentB1);
    assert.deepEqual(await subackCodes(agentB1, { [`tc/${tenantB}/${b1}/i/#`]: { qos: 1 } }), [1]);
    // a1 is onboarded once, so that its client id is known as an agent's.
    const first = await connectA1();
    await waitForAgent(server, tenantA, a1, (agent) => agent.online === true);
    await first.endAsync();
  });
  after(() => resources.closeAll());

  test('an agent publishing outside its o/ prefix is disconnected and nothing is delivered', async () => {
    const forbidden = [
      topic(tenantA, a1, 'i', 'cmd'), // its own inbound topic
      topic(tenantA, a2, 'o', 'data'), // another agent's outbound topic (impersonation)
      topic(tenantA, a2, 'i', 'cmd'), // another agent's inbound topic
      topic(tenantB, b1, 'i', 'cmd'), // another tenant's agent
      topic(tenantB, b1, 'o', 'data'),
      `tc/${tenantA}/${a1}x/o/data`, // a client id that merely starts with its own
      `tc/${tenantA}/${a1}/data`,
      `tc/${tenantA}/data`,
      `tc/${tenantB}/data`,
      '$SYS/x',
      'elsewhere/data',
    ];
    const outcomes: string[] = [];
    for (const [index, target] of forbidden.entries()) {
      const agent = await connectA1();
      logs[`a1#${index}`] = new MessageLog(agent);
      // a1 listens on its own inbound topics: the first case would otherwise loop back to it.
      assert.deepEqual(await subackCodes(agent, { [`tc/${tenantA}/${a1}/i/#`]: { qos: 1 } }), [1]);
      const closing = closesWithin(agent, CLOSE_BOUND_MS);
      agent.publish(target, `forbidden-agent-publish ${index}`, { qos: index % 2 === 0 ? 1 : 0 }, () => undefined);
      if (!await closing) outcomes.push(`still connected after publishing to ${target}`);
    }
    await observersSettled();
    assert.deepEqual(outcomes, []);
    assert.deepEqual(leaked('forbidden-agent-publish'), []);

    // Control: the same observers do get what a1 may publish, and a1 stays connected (the broker
    // still answers it after handling the publish).
    const agent = await connectA1();
    await agent.publishAsync(topic(tenantA, a1, 'o', 'data'), 'allowed-agent-publish', { qos: 1 });
    await logs.appA!.next(topic(tenantA, a1, 'o', 'data'), 3_000, 'allowed-agent-publish');
    await pingRoundTrip(agent);
    assert.equal(agent.connected, true);
    await agent.endAsync();
  });

  test('an agent may subscribe only below its own i/ prefix (0x80 elsewhere, $SYS included); QoS 2 is granted 1', async () => {
    const agent = await connectA1();
    const log = new MessageLog(agent);
    const filters: [string, number][] = [
      [`tc/${tenantA}/${a1}/i/#`, 1],
      [`tc/${tenantA}/${a1}/i/+/status`, 0],
      ['#', 128],
      ['+/#', 128],
      ['tc/#', 128],
      ['tc/+/#', 128],
      [`tc/${tenantA}/#`, 128],
      [`tc/${tenantA}/+/i/#`, 128],
      [`tc/${tenantA}/${a1}/#`, 128],
      [`tc/${tenantA}/${a1}/o/#`, 128],
      [`tc/${tenantA}/${a1}/+/#`, 128],
      [`tc/${tenantA}/${a2}/i/#`, 128],
      [`tc/${tenantA}/${a2}/o/#`, 128],
      [`tc/${tenantB}/#`, 128],
      [`tc/${tenantB}/${b1}/i/#`, 128],
      [`tc/+/${a1}/i/#`, 128],
      ['$SYS/#', 128],
      ['$SYS/+/clients/#', 128],
      ['$share/g/tc/#', 128],
    ];
    const granted = await subackCodes(agent, Object.fromEntries(filters.map(([filter, qos]) => [filter, { qos: qos === 128 ? 0 : qos as 0 | 1 }])));
    assert.deepEqual(
      filters.map(([filter], index) => `${filter} → ${granted[index]}`),
      filters.map(([filter, expected]) => `${filter} → ${expected}`),
    );
    assert.deepEqual(await subackCodes(agent, { [`tc/${tenantA}/${a1}/i/q2`]: { qos: 2 } }), [1], 'QoS 2 is granted 1');
    assert.deepEqual(await subackCodes(agent, { [`tc/${tenantA}/${a2}/i/q2`]: { qos: 2 } }), [128]);
    assert.equal(agent.connected, true, 'refused subscriptions keep the connection');

    // Nothing arrives through the refused filters; the granted QoS 1 is honoured.
    await appA.publishAsync(topic(tenantA, a2, 'i', 'cmd'), 'for-a2-only', { qos: 1 });
    await logs.agentA2!.next(topic(tenantA, a2, 'i', 'cmd'), 3_000, 'for-a2-only');
    await agentA2.publishAsync(topic(tenantA, a2, 'o', 'data'), 'a2-telemetry', { qos: 1 });
    await agentB1.publishAsync(topic(tenantB, b1, 'o', 'data'), 'b1-telemetry', { qos: 1 });
    await logs.appA!.next(topic(tenantA, a2, 'o', 'data'), 3_000, 'a2-telemetry');
    await logs.appB!.next(topic(tenantB, b1, 'o', 'data'), 3_000, 'b1-telemetry');
    await appA.publishAsync(topic(tenantA, a1, 'i', 'q2'), 'qos2-sub', { qos: 1 });
    const received = await log.next(topic(tenantA, a1, 'i', 'q2'), 3_000, 'qos2-sub');
    assert.equal(received.qos, 1);
    // Control: a marker along the path a leak to a1 would take arrives after anything earlier.
    await controlArrives(appA, topic(tenantA, a1, 'i', 'control'), [log]);
    await observersSettled();
    assert.deepEqual(log.messages.filter((m) => !isControl(m)).map((m) => m.topic), [topic(tenantA, a1, 'i', 'q2')], 'a1 got only its own inbound message');
    await agent.endAsync();
  });

  test('the same walls for Debian mosquitto clients and python paho: 0x80 for foreign filters, a forbidden publish is dropped with the connection', async () => {
    const dir = await resources.tempDir('walls');
    const files = await writeAgentFiles(dir, 'a1', server, certs[a1]!);
    const args = mosquittoAgentArgs(server, files, a1);
    // One SUBSCRIBE, two filters: a foreign one (0x80) and its own (granted 1).
    const sub = resources.process(new RunningProcess('stdbuf', ['-oL', 'mosquitto_sub', ...args, '-t', `tc/${tenantA}/#`, '-t', `tc/${tenantA}/${a1}/i/#`, '-q', '1', '-d', '-v', '-W', '10']));
    await sub.waitForOutput(/Subscribed \(mid: \d+\): 128, 1/);
    await sub.kill();

    for (const qos of ['0', '1']) {
      const pub = await runProcess('mosquitto_pub', [...args, '-t', topic(tenantA, a2, 'i', 'cmd'), '-m', `forbidden-mosquitto q${qos}`, '-q', qos], { timeoutMs: 10_000 });
      if (qos === '1') assert.notEqual(pub.code, 0, `mosquitto_pub sees its QoS 1 publish fail\n${pub.stdout}\n${pub.stderr}`);
    }

    const paho = await runProcess(PYTHON, ['-c', `
import os, sys, threading
import paho.mqtt.client as mqtt
threading.Timer(8.0, lambda: os._exit(3)).start()
host, port, cafile, cert, key, client_id, foreign, own, forbidden = sys.argv[1:10]
c = mqtt.Client(client_id=client_id, clean_session=True, protocol=mqtt.MQTTv311)
c.tls_set(ca_certs=cafile, certfile=cert, keyfile=key)
c.on_connect = lambda c, u, f, rc: (print("CONNACK", rc, flush=True), c.subscribe([("#", 0), (foreign, 1), ("$SYS/#", 0), (own, 2)]))
def on_subscribe(c, u, mid, granted):
    print("SUBACK", *granted, flush=True)
    c.publish(forbidden, b"forbidden-paho", qos=1)
c.on_subscribe = on_subscribe
c.on_publish = lambda c, u, mid: print("PUBACK", mid, flush=True)
def on_disconnect(c, u, rc):
    print("DISCONNECT", rc, flush=True)
    os._exit(0)
c.on_disconnect = on_disconnect
c.connect(host, int(port), keepalive=30)
c.loop_forever(retry_first_connection=False)
`, 'localhost', String(server.mqttPort), files.cafile, files.cert, files.key, a1, `tc/${tenantB}/${b1}/i/#`, `tc/${tenantA}/${a1}/i/#`, topic(tenantB, b1, 'i', 'cmd')], { timeoutMs: 10_000 });
    assert.match(paho.stdout, /^SUBACK 128 128 128 1$/m, paho.stdout + paho.stderr);
    assert.doesNotMatch(paho.stdout, /PUBACK/, 'no PUBACK for a forbidden publish');
    assert.match(paho.stdout, /^DISCONNECT [1-9]\d*$/m, `paho is disconnected\n${paho.stdout}${paho.stderr}`);

    await observersSettled();
    assert.deepEqual([...leaked('forbidden-mosquitto'), ...leaked('forbidden-paho')], []);
  });

  test('a 128 KiB payload is delivered; 128 KiB + 1 byte disconnects the publisher and is not delivered', async () => {
    const agent = await connectA1();
    await agent.publishAsync(topic(tenantA, a1, 'o', 'big'), Buffer.alloc(KIB_128, 0x61), { qos: 1 });
    const big = await logs.appA!.next(topic(tenantA, a1, 'o', 'big'), 5_000);
    assert.equal(big.payload.length, KIB_128);

    const closing = closesWithin(agent, CLOSE_BOUND_MS);
    agent.publish(topic(tenantA, a1, 'o', 'too-big'), Buffer.concat([Buffer.from('oversized'), Buffer.alloc(KIB_128 + 1 - 9, 0x62)]), { qos: 1 }, () => undefined);
    assert.equal(await closing, true, 'the publisher of 128 KiB + 1 is disconnected');

    // The same limit for an application publishing to an agent.
    const app = resources.client(await connectApplication(server, tenantA));
    await app.publishAsync(topic(tenantA, a2, 'i', 'big'), Buffer.alloc(KIB_128, 0x63), { qos: 1 });
    assert.equal((await logs.agentA2!.next(topic(tenantA, a2, 'i', 'big'), 5_000)).payload.length, KIB_128);
    const appClosing = closesWithin(app, CLOSE_BOUND_MS);
    app.publish(topic(tenantA, a2, 'i', 'too-big'), Buffer.concat([Buffer.from('oversized'), Buffer.alloc(KIB_128 + 1 - 9, 0x64)]), { qos: 0 }, () => undefined);
    assert.equal(await appClosing, true, 'the application publishing 128 KiB + 1 is disconnected');

    await observersSettled();
    assert.deepEqual(leaked('oversized'), []);
  });

  test('tenant B\'s application: every filter reaching beyond tc/B/ gets 0x80 and nothing of tenant A arrives; publishing to A\'s agents disconnects it', async () => {
    const app = resources.client(await connectApplication(server, tenantB));
    logs.appB2 = new MessageLog(app);
    appB2 = app;
    const filters: [string, number][] = [
      [`tc/${tenantB}/#`, 1],
      [`tc/${tenantB}/+/o/#`, 1],
      ['#', 128],
      ['+/#', 128],
      ['tc/#', 128],
      ['tc/+/#', 128],
      ['tc/+/+/o/#', 128],
      [`tc/${tenantA}/#`, 128],
      [`tc/${tenantA}/${a1}/o/#`, 128],
      [`tc/${tenantB}`, 128],
      ['$SYS/#', 128],
      ['$share/g/tc/#', 128],
    ];
    const granted = await subackCodes(app, Object.fromEntries(filters.map(([filter, qos]) => [filter, { qos: qos === 128 ? 1 : qos as 0 | 1 }])));
    assert.deepEqual(
      filters.map(([filter], index) => `${filter} → ${granted[index]}`),
      filters.map(([filter, expected]) => `${filter} → ${expected}`),
    );
    await agentA2.publishAsync(topic(tenantA, a2, 'o', 'data'), 'tenant-a-only telemetry', { qos: 1 });
    await appA.publishAsync(topic(tenantA, a2, 'i', 'cmd'), 'tenant-a-only command', { qos: 1 });
    await logs.appA!.next(topic(tenantA, a2, 'o', 'data'), 3_000, 'tenant-a-only telemetry');
    await logs.agentA2!.next(topic(tenantA, a2, 'i', 'cmd'), 3_000, 'tenant-a-only command');

    // B's application publishing to A's agents' inbound topics (and elsewhere outside tc/B/).
    const targets = [topic(tenantA, a2, 'i', 'cmd'), topic(tenantA, a1, 'i', 'cmd'), `tc/${tenantA}/${a2}/o/data`, '$SYS/x'];
    const outcomes: string[] = [];
    for (const [index, target] of targets.entries()) {
      const publisher = resources.client(await connectApplication(server, tenantB));
      const closing = closesWithin(publisher, CLOSE_BOUND_MS);
      publisher.publish(target, `tenant-b-intrusion ${index}`, { qos: 1 }, () => undefined);
      if (!await closing) outcomes.push(`B's application still connected after publishing to ${target}`);
    }
    await observersSettled();
    assert.deepEqual(outcomes, []);
    assert.deepEqual(logs.appB2.messages.filter((m) => !m.topic.startsWith(`tc/${tenantB}/`)).map((m) => m.topic), [], 'B got nothing of A');
    assert.deepEqual(leaked('tenant-b-intrusion'), []);
  });

  test('an application token with scope mcmqtt.read may subscribe but is disconnected when it publishes', async () => {
    const reader = resources.client(await connectApplication(server, tenantA, { scopes: ['mcmqtt.read'] }));
    const log = new MessageLog(reader);
    assert.deepEqual(await subackCodes(reader, { [`tc/${tenantA}/#`]: { qos: 1 } }), [1]);
    await agentA2.publishAsync(topic(tenantA, a2, 'o', 'data'), 'for-the-reader', { qos: 1 });
    await log.next(topic(tenantA, a2, 'o', 'data'), 3_000, 'for-the-reader');

    const closing = closesWithin(reader, CLOSE_BOUND_MS);
    reader.publish(topic(tenantA, a2, 'i', 'cmd'), 'read-only-publish', { qos: 1 }, () => undefined);
    assert.equal(await closing, true, 'a read-only application is disconnected when it publishes');
    await observersSettled();
    assert.deepEqual(leaked('read-only-publish'), []);
  });

  test('a last will on a forbidden topic is refused at CONNECT (CONNACK 5) and never delivered (agents and applications)', async () => {
    const crash = async (client: MqttClient) => {
      const closed = closesWithin(client, CLOSE_BOUND_MS);
      client.stream.destroy(); // no DISCONNECT: the broker must consider the will
      assert.equal(await closed, true);
    };
    // Control: a will on the agent's own outbound topic is accepted and delivered, so the mechanism works.
    await crash(await connectA1({ will: { topic: topic(tenantA, a1, 'o', 'status'), payload: Buffer.from('allowed-will'), qos: 1, retain: false } }));
    await logs.appA!.next(topic(tenantA, a1, 'o', 'status'), 3_000, 'allowed-will');
    // So is an admin application's will on an agent's inbound topic.
    await crash(resources.client(await connectApplication(server, tenantA, { will: { topic: topic(tenantA, a2, 'i', 'app-gone'), payload: Buffer.from('allowed-app-will'), qos: 1, retain: false } })));
    await logs.agentA2!.next(topic(tenantA, a2, 'i', 'app-gone'), 3_000, 'allowed-app-will');

    const forbiddenWills: { who: string; connect: (will: IClientOptions['will']) => Promise<MqttClient>; topic: string }[] = [
      { who: 'agent a1', connect: (will) => connectA1({ will }), topic: topic(tenantA, a2, 'i', 'cmd') },
      { who: 'agent a1', connect: (will) => connectA1({ will }), topic: topic(tenantA, a2, 'o', 'data') },
      { who: 'agent a1', connect: (will) => connectA1({ will }), topic: topic(tenantA, a1, 'i', 'cmd') },
      { who: 'agent a1', connect: (will) => connectA1({ will }), topic: topic(tenantB, b1, 'i', 'cmd') },
      { who: 'agent a1', connect: (will) => connectA1({ will }), topic: '$SYS/will' },
      { who: 'agent a1', connect: (will) => connectA1({ will }), topic: `$SYS/another-node/new/clients` },
      { who: 'B application', connect: (will) => connectApplication(server, tenantB, { will }), topic: topic(tenantA, a2, 'i', 'cmd') },
      { who: 'B application', connect: (will) => connectApplication(server, tenantB, { will }), topic: '$SYS/another-node/new/clients' },
      { who: 'A read-only application', connect: (will) => connectApplication(server, tenantA, { will, scopes: ['mcmqtt.read'] }), topic: topic(tenantA, a2, 'i', 'cmd') },
    ];
    for (const [index, { who, connect, topic: willTopic }] of forbiddenWills.entries()) {
      // Retained, so a will that slipped through would also reach every later subscriber.
      const payload = willTopic.endsWith('/new/clients') ? Buffer.from(a2) : Buffer.from(`forbidden-will ${index}`);
      assert.equal(await refusalCodeOf(connect({ topic: willTopic, payload, qos: 1, retain: true }), resources), 5, `${who} with a will on ${willTopic}`);
    }
    await observersSettled();
    assert.deepEqual(leaked('forbidden-will'), []);
    await pingRoundTrip(agentA2);
    assert.equal(agentA2.connected, true, 'a will on $SYS/<node>/new/clients naming an agent does not take over its session');
    // A later subscriber finds no retained will either. Control: a retained marker stored after
    // the refused CONNECTs is sent to the new subscription after any retained message stored before.
    const retainedControl = topic(tenantA, a2, 'i', 'retained-control');
    await appA.publishAsync(retainedControl, 'retained-control', { qos: 1, retain: true });
    resources.add(() => appA.publishAsync(retainedControl, '', { qos: 1, retain: true }).then(() => undefined));
    const late = resources.client(await connectApplication(server, tenantA));
    const lateLog = new MessageLog(late);
    assert.deepEqual(await subackCodes(late, { [`tc/${tenantA}/#`]: { qos: 1 } }), [1]);
    await lateLog.next(retainedControl, 3_000, 'retained-control');
    assert.deepEqual(lateLog.messages.filter((m) => m.payload.toString().startsWith('forbidden-will')), []);
    await appA.publishAsync(retainedControl, '', { qos: 1, retain: true });
  });

  test('retained messages and retained wills of allowed publishers still reach later subscribers (they carry their publisher)', async () => {
    const retainedTopic = topic(tenantA, a1, 'o', 'retained-state');
    const willTopic = topic(tenantA, a1, 'o', 'retained-will');
    const agent = await connectA1({ will: { topic: willTopic, payload: Buffer.from('retained-will'), qos: 1, retain: true } });
    await agent.publishAsync(retainedTopic, 'retained-state', { qos: 1, retain: true });
    const closed = closesWithin(agent, CLOSE_BOUND_MS);
    agent.stream.destroy();
    assert.equal(await closed, true);
    await logs.appA!.next(willTopic, 3_000, 'retained-will');
    const late = resources.client(await connectApplication(server, tenantA));
    const lateLog = new MessageLog(late);
    assert.deepEqual(await subackCodes(late, { [`tc/${tenantA}/${a1}/o/#`]: { qos: 1 } }), [1]);
    await lateLog.next(retainedTopic, 3_000, 'retained-state');
    await lateLog.next(willTopic, 3_000, 'retained-will');
  });

  test('mosquitto_pub with --will-topic outside its prefix is refused at CONNECT (CONNACK 5)', async () => {
    const dir = await resources.tempDir('will');
    const files = await writeAgentFiles(dir, 'a1', server, certs[a1]!);
    const refused = await runProcess('mosquitto_pub', [
      ...mosquittoAgentArgs(server, files, a1), '-t', topic(tenantA, a1, 'o', 'data'), '-m', 'x',
      '--will-topic', topic(tenantA, a2, 'i', 'cmd'), '--will-payload', 'forbidden-will mosquitto', '--will-retain', '--will-qos', '1',
    ]);
    assert.notEqual(refused.code, 0);
    assert.match(`${refused.stdout}${refused.stderr}`, /not authori[sz]ed/i);
    const allowed = await runProcess('mosquitto_pub', [
      ...mosquittoAgentArgs(server, files, a1), '-t', topic(tenantA, a1, 'o', 'data'), '-m', 'with-allowed-will',
      '--will-topic', topic(tenantA, a1, 'o', 'status'), '--will-payload', 'gone',
    ]);
    assert.equal(allowed.code, 0, allowed.stderr);
    await logs.appA!.next(topic(tenantA, a1, 'o', 'data'), 3_000, 'with-allowed-will');
  });

  test('an application cannot use another tenant\'s client id namespace (CONNACK 2) nor take over an agent\'s session', async () => {
    assert.equal(await refusalCodeOf(connectApplication(server, tenantB, { clientId: `${tenantA}_x` }), resources), 2);
    assert.equal(await refusalCodeOf(connectApplication(server, tenantB, { clientId: a2 }), resources), 2);
    assert.equal(await refusalCodeOf(connectApplication(server, tenantB, { clientId: `${tenantA}x_y` }), resources), 2);

    // Tenant A's own application with its connected agent's client id, and with an offline agent's.
    assert.equal(await refusalCodeOf(connectApplication(server, tenantA, { clientId: a2 }), resources), 2);
    assert.equal(await refusalCodeOf(connectApplication(server, tenantA, { clientId: a1 }), resources), 2);
    // The refusals came before this delivery and this PINGRESP: a takeover would have closed a2 first.
    await appA.publishAsync(topic(tenantA, a2, 'i', 'cmd'), 'still-a2', { qos: 1 });
    await logs.agentA2!.next(topic(tenantA, a2, 'i', 'cmd'), 3_000, 'still-a2');
    await pingRoundTrip(agentA2);
    assert.equal(agentA2.connected, true, 'the agent\'s session was not taken over');
  });

  test('an application client id outside "<tenant>_" is refused even when shaped like the broker\'s generated ids; an empty client id is accepted', async () => {
    // An empty client id: the broker names the session itself (MQTT 3.1.1 requires clean = true).
    const anonymous = resources.client(await connectApplication(server, tenantB, { clientId: '', clean: true }));
    assert.equal(anonymous.connected, true);
    await anonymous.endAsync();

    // "aedes_..." is the prefix the broker gives empty client ids; chosen explicitly, it is just a
    // client id outside the tenant's namespace, shared by every tenant.
    const shared = `aedes_${tenantA}-shared`;
    let holder: MqttClient | undefined;
    try {
      holder = resources.client(await connectApplication(server, tenantA, { clientId: shared, clean: false }));
    } catch (error) {
      assert.equal((error as { code?: number }).code, 2, String(error));
    }
    if (holder) {
      // Tenant A's application parks a persistent session with QoS 1 messages queued...
      assert.deepEqual(await subackCodes(holder, { [`tc/${tenantA}/#`]: { qos: 1 } }), [1]);
      await holder.endAsync();
      await agentA2.publishAsync(topic(tenantA, a2, 'o', 'data'), 'cross-tenant-queued', { qos: 1 });
      await logs.appA!.next(topic(tenantA, a2, 'o', 'data'), 3_000, 'cross-tenant-queued');
      // ...and tenant B's application picks the same client id.
      let intruder: MqttClient | undefined;
      const got: string[] = [];
      try {
        intruder = resources.client(await connectApplication(server, tenantB, { clientId: shared, clean: false },
          (client) => client.on('message', (t, payload) => got.push(`${t} "${payload.toString()}"`))));
        // Control: a live message for the session's filter follows the queued ones down the connection.
        const intruderLog = new MessageLog(intruder);
        await agentA2.publishAsync(topic(tenantA, a2, 'o', 'data'), 'after-the-queue', { qos: 1 });
        await intruderLog.next(topic(tenantA, a2, 'o', 'data'), 3_000, 'after-the-queue').catch(() => pingRoundTrip(intruder!));
        got.splice(0, got.length, ...got.filter((line) => !line.endsWith('"after-the-queue"')));
      } catch (error) {
        assert.equal((error as { code?: number }).code, 2, String(error));
      }
      assert.deepEqual(got, [], 'tenant B receives tenant A\'s messages queued for the shared client id');
      assert.fail(`an application of ${tenantA} was accepted with client id "${shared}", outside "${tenantA}_"${intruder ? `, and so was one of ${tenantB}` : ''}`);
    }
  });

  test('an empty client id with clean session 0 is refused with CONNACK 2 (MQTT-3.1.3-8): no session nobody can resume', async () => {
    // MQTT.js and mosquitto_sub both refuse to send this CONNECT (mqtt-packet: "clientId must be
    // given if cleanSession set to 0"; mosquitto: "Invalid id and/or clean_session"), so it is
    // written by hand over TLS, as a hostile client would.
    const password = Buffer.from(await server.token(tenantB));
    const connackOf = async (clean: boolean): Promise<number> => {
      const connect = mqttPacket(0x10, Buffer.concat([
        mqttField('MQTT'), Buffer.from([4, 0x80 | 0x40 | (clean ? 0x02 : 0), 0, 30]),
        mqttField(''), mqttField(tenantB), mqttField(password),
      ]));
      const socket = tls.connect({ host: 'localhost', port: server.mqttPort, ca: server.brokerRootCaPem });
      resources.add(() => { socket.destroy(); });
      const answer = new Promise<Buffer>((resolve, reject) => {
        let received = Buffer.alloc(0);
        socket.on('data', (chunk: Buffer) => {
          received = Buffer.concat([received, chunk]);
          if (received.length >= 4) resolve(received);
        });
        socket.on('error', reject);
        socket.on('close', () => reject(new Error(`closed without a CONNACK (got ${received.toString('hex')})`)));
      });
      socket.once('secureConnect', () => socket.write(connect));
      const connack = await withTimeout(answer, 5_000, 'a CONNACK to a hand-written CONNECT');
      socket.destroy();
      assert.equal(connack[0], 0x20, `a CONNACK, got ${connack.toString('hex')}`);
      return connack[3]!;
    };
    assert.equal(await connackOf(false), 2, 'empty client id, clean session 0');
    assert.equal(await connackOf(true), 0, 'empty client id, clean session 1 (control)');
  });

  test('an application cannot prepare a persistent session that widens an agent\'s walls before its first connection', async () => {
    // The agent "late" has never connected, so its client id is not yet known as an agent's.
    const late = id(tenantA, 'late');
    let app: MqttClient | undefined;
    try {
      app = resources.client(await connectApplication(server, tenantA, { clientId: late, clean: false }));
    } catch {
      return; // refusing the id outright is a fine answer too
    }
    assert.deepEqual(await subackCodes(app, { [`tc/${tenantA}/#`]: { qos: 1 } }), [1]);
    await app.endAsync();
    // Queued for the offline session while nobody holds it.
    await agentA2.publishAsync(topic(tenantA, a2, 'o', 'data'), 'queued-for-late', { qos: 1 });
    await logs.appA!.next(topic(tenantA, a2, 'o', 'data'), 3_000, 'queued-for-late');

    let log!: MessageLog;
    const agent = resources.client(await connectAgent(server, certs[late]!, late, { clean: false }, (client) => { log = new MessageLog(client); }));
    await agentA2.publishAsync(topic(tenantA, a2, 'o', 'data'), 'live-for-late', { qos: 1 });
    await logs.appA!.next(topic(tenantA, a2, 'o', 'data'), 3_000, 'live-for-late');
    // Control: a marker to late's own inbound topic, handled after the queue was sent and after the
    // live message, arrives after anything either would have brought.
    assert.deepEqual(await subackCodes(agent, { [`tc/${tenantA}/${late}/i/#`]: { qos: 1 } }), [1]);
    await controlArrives(appA, topic(tenantA, late, 'i', 'control'), [log]);
    assert.deepEqual(log.messages.filter((m) => !isControl(m)).map((m) => `${m.topic} "${m.payload.toString()}"`), [],
      'an agent receives nothing outside tc/<tenant>/<clientId>/i/, whatever session state its client id had');
    await agent.endAsync();
  });
});
