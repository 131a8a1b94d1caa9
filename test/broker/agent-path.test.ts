import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { newTenant } from '../support/api-helpers.ts';
import {
  closesWithin, connectAgent, connectApplication, issueAgent, listAgents, MessageLog, mosquittoAgentArgs,
  normaliseFingerprint, PAHO_AGENT_SCRIPT, pingRoundTrip, PYTHON, registerAndVerifyCaPem, registerVerifiedCa, Resources, RunningProcess,
  runProcessOk, sha256Hex, subackCodes, waitForAgent, writeAgentFiles, type VerifiedCa,
} from '../support/broker-helpers.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import type { TestKeyType } from '../support/test-pki.ts';

// An agent holding a certificate issued by a
// verified CA connects over mutual TLS with client id <tenant>_<CN>, is onboarded on its first
// connection, stays connected, and exchanges messages with its tenant's application on
// tc/<tenant>/<clientId>/o/... (agent → application) and .../i/... (application → agent).
// Exercised with three independent MQTT stacks: MQTT.js, Debian's mosquitto clients, python paho.

describe('an agent of a verified CA connects over mutual TLS, is onboarded on its first connection and talks with its tenant\'s application', { timeout: 30_000 }, () => {
  let server: TestServer;
  const resources = new Resources();
  const tenant = newTenant('ap');
  let ca: VerifiedCa;
  let app: MqttClient;
  let appLog: MessageLog;

  const clientIdOf = (commonName: string) => `${tenant}_${commonName}`;
  const outbound = (commonName: string, rest = 'data') => `tc/${tenant}/${clientIdOf(commonName)}/o/${rest}`;
  const inbound = (commonName: string, rest = 'cmd') => `tc/${tenant}/${clientIdOf(commonName)}/i/${rest}`;

  /** The onboarding record: every field GET /agents shows (README, "REST API"), and online. */
  const assertOnboarded = async (commonName: string, caCertificateId: string, certificateDer: Buffer): Promise<any> => {
    const agent = await waitForAgent(server, tenant, clientIdOf(commonName), (a) => a.online === true);
    assert.equal(agent.clientId, clientIdOf(commonName));
    assert.equal(agent.commonName, commonName);
    assert.equal(agent.caCertificateId, caCertificateId);
    assert.equal(normaliseFingerprint(agent.certificateFingerprint), sha256Hex(certificateDer), 'fingerprint = SHA-256 of the agent certificate DER');
    assert.equal(agent.enabled, true);
    assert.match(agent.id, /^[0-9a-f]{24}$/);
    assert.ok(!Number.isNaN(Date.parse(agent.firstConnectedAt)) && !Number.isNaN(Date.parse(agent.lastConnectedAt)), JSON.stringify(agent));
    const records = (await listAgents(server, tenant)).filter((a) => a.clientId === clientIdOf(commonName));
    assert.equal(records.length, 1, 'one record per agent');
    return agent;
  };

  before(async () => {
    server = await startTestServer();
    resources.add(() => server.close());
    ca = await registerVerifiedCa(server, tenant);
    app = resources.client(await connectApplication(server, tenant));
    appLog = new MessageLog(app);
    assert.deepEqual(await subackCodes(app, { [`tc/${tenant}/#`]: { qos: 1 } }), [1]);
  });
  after(() => resources.closeAll());

  test('MQTT.js: onboarded on its first connection, stays connected, QoS 0 and 1 both ways, offline after disconnecting, same id on reconnect', async () => {
    const cert = await issueAgent(ca.ca, 'pump-1');
    assert.equal((await listAgents(server, tenant)).some((a) => a.clientId === clientIdOf('pump-1')), false, 'not an agent before its first connection');

    const agent = resources.client(await connectAgent(server, cert, clientIdOf('pump-1')));
    const onboarded = await assertOnboarded('pump-1', ca.id, cert.certificateDer);
    const agentLog = new MessageLog(agent);
    assert.deepEqual(await subackCodes(agent, { [`tc/${tenant}/${clientIdOf('pump-1')}/i/#`]: { qos: 1 } }), [1]);

    assert.equal((await waitForAgent(server, tenant, clientIdOf('pump-1'), () => true)).online, true);

    for (const qos of [0, 1] as const) {
      await agent.publishAsync(outbound('pump-1'), `telemetry-q${qos}`, { qos });
      const received = await appLog.next(outbound('pump-1'), 3_000, `telemetry-q${qos}`);
      assert.equal(received.qos, qos, 'the application gets the message at the QoS it was sent with');
    }
    for (const qos of [0, 1] as const) {
      await app.publishAsync(inbound('pump-1'), `command-q${qos}`, { qos });
      const received = await agentLog.next(inbound('pump-1'), 3_000, `command-q${qos}`);
      assert.equal(received.qos, qos, 'the agent gets the command at the QoS it was sent with');
    }
    // Stays connected: after its onboarding and messages both ways the broker still answers it.
    await pingRoundTrip(agent);
    assert.equal(agent.connected, true, 'still connected after onboarding and four messages');

    await agent.endAsync();
    const offline = await waitForAgent(server, tenant, clientIdOf('pump-1'), (a) => a.online === false);
    assert.equal(offline.id, onboarded.id);

    const again = resources.client(await connectAgent(server, cert, clientIdOf('pump-1')));
    const back = await waitForAgent(server, tenant, clientIdOf('pump-1'), (a) => a.online === true);
    assert.equal(back.id, onboarded.id, 'reconnecting keeps the agent id');
    assert.equal(back.firstConnectedAt, onboarded.firstConnectedAt);
    assert.ok(Date.parse(back.lastConnectedAt) >= Date.parse(onboarded.lastConnectedAt));
    assert.equal((await listAgents(server, tenant)).filter((a) => a.clientId === clientIdOf('pump-1')).length, 1);
    await again.publishAsync(outbound('pump-1'), 'after-reconnect', { qos: 1 });
    await appLog.next(outbound('pump-1'), 3_000, 'after-reconnect');
    await again.endAsync();
  });

  test('one session per client id: a second connection of the agent takes over the first, and the agent stays online; a persistent session keeps its QoS 1 commands', async () => {
    const commonName = 'pump-2';
    const clientId = clientIdOf(commonName);
    const cert = await issueAgent(ca.ca, commonName);
    const first = resources.client(await connectAgent(server, cert, clientId, { clean: false }));
    assert.deepEqual(await subackCodes(first, { [`tc/${tenant}/${clientId}/i/#`]: { qos: 1 } }), [1]);
    const onboarded = await assertOnboarded(commonName, ca.id, cert.certificateDer);

    const firstClosed = closesWithin(first, 2_000);
    const second = resources.client(await connectAgent(server, cert, clientId, { clean: false }));
    assert.equal(await firstClosed, true, 'the first connection is taken over');
    // The taken-over session's disconnect is recorded asynchronously: a message through the
    // second connection and a PINGREQ come after the broker saw the first one go, and the API
    // reads after every queued record.
    const secondLog = new MessageLog(second);
    await app.publishAsync(inbound(commonName), 'to-second', { qos: 1 });
    await secondLog.next(inbound(commonName), 3_000, 'to-second');
    await pingRoundTrip(second);
    const agent = await waitForAgent(server, tenant, clientId, () => true);
    assert.equal(agent.online, true, 'the taken-over session does not mark the agent offline');
    assert.equal(agent.id, onboarded.id);

    // Offline with a persistent session: a QoS 1 command waits for the agent.
    await second.endAsync();
    await waitForAgent(server, tenant, clientId, (a) => a.online === false);
    await app.publishAsync(inbound(commonName), 'while-offline', { qos: 1 });
    let thirdLog!: MessageLog;
    const third = resources.client(await connectAgent(server, cert, clientId, { clean: false }, (client) => { thirdLog = new MessageLog(client); }));
    await thirdLog.next(inbound(commonName), 3_000, 'while-offline');
    await third.endAsync();
  });

  test('certificate variants connect: X.509 v1 and v3, RSA-2048 and EC P-256, with and without the CA appended', async () => {
    const variants: { version: 1 | 3; keyType: TestKeyType; appendCa: boolean }[] = [];
    for (const version of [1, 3] as const) {
      for (const keyType of ['p256', 'rsa2048'] as const) {
        for (const appendCa of [false, true]) variants.push({ version, keyType, appendCa });
      }
    }
    for (const { version, keyType, appendCa } of variants) {
      const commonName = `v${version}-${keyType}-${appendCa ? 'chain' : 'leaf'}`;
      const cert = await issueAgent(ca.ca, commonName, { version, keyType });
      assert.equal(new X509Certificate(cert.certificateDer).toLegacyObject().subject?.CN, commonName);
      const presented = appendCa ? `${cert.certificatePem.trimEnd()}\n${ca.ca.certificatePem}` : cert.certificatePem;
      let agent: MqttClient;
      try {
        agent = resources.client(await connectAgent(server, { certificatePem: presented, privateKeyPem: cert.privateKeyPem }, clientIdOf(commonName)));
      } catch (error) {
        assert.fail(`${commonName}: refused: ${(error as Error).message}`);
      }
      // The fingerprint is the agent certificate's, not the appended CA's.
      await assertOnboarded(commonName, ca.id, cert.certificateDer);
      await agent.publishAsync(outbound(commonName), `hello from ${commonName}`, { qos: 1 });
      await appLog.next(outbound(commonName), 3_000, `hello from ${commonName}`);
      assert.equal(agent.connected, true, `${commonName} stays connected`);
      await agent.endAsync();
    }
  });

  test('an openssl CA, verified with an `openssl x509 -req` (v1) certificate, admits `openssl x509 -req` v1 agents (MQTT.js and mosquitto_pub, cert + CA concatenated as the how-to does)', async () => {
    const dir = await resources.tempDir('openssl');
    const openssl = (...args: string[]) => runProcessOk('openssl', args, { cwd: dir, timeoutMs: 15_000 });
    await openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-sha256', '-days', '30', '-subj', `/CN=${tenant} openssl CA`, '-out', 'ca.pem');
    const caPem = await readFile(join(dir, 'ca.pem'), 'utf8');
    const signWithCa = async (name: string, subject: string, keySpec: string[]): Promise<string> => {
      await openssl('req', '-new', ...keySpec, '-nodes', '-keyout', `${name}.key`, '-subj', subject, '-out', `${name}.csr`);
      await openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', `0x${Date.now().toString(16)}${name.length}`, '-days', '30', '-sha256', '-out', `${name}.pem`);
      const pem = await readFile(join(dir, `${name}.pem`), 'utf8');
      assert.match((await openssl('x509', '-in', `${name}.pem`, '-noout', '-text')).stdout, /Version: 1 \(0x0\)/, 'openssl x509 -req makes v1');
      return pem;
    };
    const caId = await registerAndVerifyCaPem(server, tenant, caPem, (code) => signWithCa('verification', `/CN=${code}`, ['-newkey', 'rsa:2048']));

    const agents = [
      { commonName: 'ossl-rsa', keySpec: ['-newkey', 'rsa:2048'] },
      { commonName: 'ossl-ec', keySpec: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] },
    ];
    for (const { commonName, keySpec } of agents) {
      const certificatePem = await signWithCa(commonName, `/CN=${commonName}`, keySpec);
      const privateKeyPem = await readFile(join(dir, `${commonName}.key`), 'utf8');
      const der = new X509Certificate(certificatePem).raw;
      const chainPem = `${certificatePem}${caPem}`; // cat agent.pem ca.pem

      const agent = resources.client(await connectAgent(server, { certificatePem: chainPem, privateKeyPem }, clientIdOf(commonName)));
      await assertOnboarded(commonName, caId, der);
      await agent.publishAsync(outbound(commonName), 'mqttjs', { qos: 1 });
      await appLog.next(outbound(commonName), 3_000, 'mqttjs');
      await agent.endAsync();

      const files = await writeAgentFiles(dir, `${commonName}-files`, server, { certificatePem, privateKeyPem }, { appendCa: caPem });
      await runProcessOk('mosquitto_pub', [...mosquittoAgentArgs(server, files, clientIdOf(commonName)), '-t', outbound(commonName), '-m', 'mosquitto', '-q', '1'], { timeoutMs: 10_000 });
      await appLog.next(outbound(commonName), 3_000, 'mosquitto');
    }
  });

  for (const appendCa of [false, true]) {
    test(`Debian mosquitto_sub/mosquitto_pub (${appendCa ? 'cert + CA concatenated' : 'cert only'}): onboarded, stays connected, receives commands, publishes QoS 0 and 1`, async () => {
      const commonName = appendCa ? 'mosq-chain' : 'mosq-leaf';
      const clientId = clientIdOf(commonName);
      const cert = await issueAgent(ca.ca, commonName, { keyType: appendCa ? 'rsa2048' : 'p256' });
      const dir = await resources.tempDir('mosquitto');
      const files = await writeAgentFiles(dir, commonName, server, cert, appendCa ? { appendCa: ca.ca.certificatePem } : {});
      const args = mosquittoAgentArgs(server, files, clientId);

      // stdbuf: mosquitto_sub block-buffers stdout into a pipe (2.0.11 has no unbuffered switch).
      const sub = resources.process(new RunningProcess('stdbuf', ['-oL', 'mosquitto_sub', ...args, '-t', `tc/${tenant}/${clientId}/i/#`, '-q', '1', '-C', '2', '-v', '-d', '-W', '12']));
      await sub.waitForOutput(/received SUBACK/);
      await sub.waitForOutput(/Subscribed \(mid: \d+\): 1/);
      const onboarded = await assertOnboarded(commonName, ca.id, cert.certificateDer);
      assert.equal((await waitForAgent(server, tenant, clientId, () => true)).online, true);
      assert.equal(sub.hasExited, false, `mosquitto_sub still connected after its onboarding\n${sub.stdout}\n${sub.stderr}`);

      await app.publishAsync(inbound(commonName), 'command-q0', { qos: 0 });
      await app.publishAsync(inbound(commonName), 'command-q1', { qos: 1 });
      await sub.waitForOutput(new RegExp(`${inbound(commonName)} command-q0`));
      await sub.waitForOutput(new RegExp(`${inbound(commonName)} command-q1`));
      assert.equal((await sub.waitForExit()).code, 0, sub.stderr);
      // It stayed connected from its onboarding to both commands: one CONNECT, no reconnection.
      assert.equal(sub.stdout.match(/sending CONNECT/g)?.length, 1, `mosquitto_sub connected once\n${sub.stdout}`);
      await waitForAgent(server, tenant, clientId, (a) => a.online === false);

      for (const qos of ['0', '1']) {
        await runProcessOk('mosquitto_pub', [...args, '-t', outbound(commonName), '-m', `mosquitto-q${qos}`, '-q', qos], { timeoutMs: 10_000 });
        const received = await appLog.next(outbound(commonName), 3_000, `mosquitto-q${qos}`);
        assert.equal(received.qos, Number(qos));
      }
      const after = await waitForAgent(server, tenant, clientId, (a) => a.online === false);
      assert.equal(after.id, onboarded.id, 'the same agent across connections');
    });
  }

  test('python3 paho-mqtt 1.6: onboarded, stays connected, receives a command and answers it', async () => {
    const commonName = 'paho-1';
    const clientId = clientIdOf(commonName);
    const cert = await issueAgent(ca.ca, commonName, { version: 1, keyType: 'rsa2048' });
    const dir = await resources.tempDir('paho');
    const files = await writeAgentFiles(dir, commonName, server, cert, { appendCa: ca.ca.certificatePem });
    const paho = resources.process(new RunningProcess(PYTHON, [
      '-c', PAHO_AGENT_SCRIPT, 'localhost', String(server.mqttPort), files.cafile, files.cert, files.key, clientId,
      `tc/${tenant}/${clientId}/i/#`, outbound(commonName),
    ]));
    await paho.waitForOutput(/^CONNACK 0$/m);
    await paho.waitForOutput(/^SUBACK 1$/m);
    const onboarded = await assertOnboarded(commonName, ca.id, cert.certificateDer);
    // Still connected after its onboarding (an unexpected disconnect ends the script with code 4,
    // and the command below reaches only a connected paho).
    assert.equal(paho.hasExited, false, `paho still connected after its onboarding\n${paho.stdout}\n${paho.stderr}`);
    assert.doesNotMatch(paho.stdout, /DISCONNECT/);

    await app.publishAsync(inbound(commonName), 'ping-paho', { qos: 1 });
    await paho.waitForOutput(new RegExp(`^MESSAGE ${inbound(commonName)} ping-paho$`, 'm'));
    await appLog.next(outbound(commonName), 3_000, 'reply:ping-paho');
    assert.equal((await paho.waitForExit()).code, 0, `${paho.stdout}\n${paho.stderr}`);
    const offline = await waitForAgent(server, tenant, clientId, (a) => a.online === false);
    assert.equal(offline.id, onboarded.id);
  });
});
