import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Worker } from 'node:worker_threads';
import type { MqttClient } from 'mqtt';
import { newTenant } from '../support/api-helpers.ts';
import {
  connectAgent, connectApplication, issueAgent, MessageLog, pingRoundTrip, refusalCodeOf, registerVerifiedCa, Resources, subackCodes,
  type VerifiedCa,
} from '../support/broker-helpers.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';

// Decision 0030: SQLite commits on a worker thread. A first connect's onboarding still answers
// CONNACK only once its row is durable, but a slow fsync no longer stalls the other clients; and
// a dead database worker refuses onboardings, REST writes and readiness instead of acknowledging.

describe('SQLite writes off the event loop (decision 0030)', { timeout: 60_000 }, () => {
  let server: TestServer;
  const resources = new Resources();
  const tenant = newTenant('off');
  const commitDelayMs = new Int32Array(new SharedArrayBuffer(4));
  let worker: Worker | undefined;
  let ca: VerifiedCa;
  let agent: MqttClient;
  let application: MqttClient;
  let log: MessageLog;
  const clientIdOf = (commonName: string) => `${tenant}_${commonName}`;

  before(async () => {
    server = await startTestServer({}, { sqliteWorkerForTests: { commitDelayMs, onWorker: (w) => { worker = w; } } });
    resources.add(() => server.close());
    ca = await registerVerifiedCa(server, tenant);
    agent = resources.client(await connectAgent(server, await issueAgent(ca.ca, 'steady'), clientIdOf('steady')));
    application = resources.client(await connectApplication(server, tenant));
    log = new MessageLog(application);
    assert.deepEqual(await subackCodes(application, { [`tc/${tenant}/#`]: { qos: 1 } }), [1]);
  });
  after(() => resources.closeAll());

  test('while an onboarding waits 2 s for its fsync, another agent gets PINGRESPs and its messages through; the CONNACK comes after the commit', async () => {
    const newcomer = await issueAgent(ca.ca, 'newcomer');
    commitDelayMs[0] = 2_000;
    try {
      const started = performance.now();
      let connackAt: number | undefined;
      const connecting = connectAgent(server, newcomer, clientIdOf('newcomer')).then((client) => {
        connackAt = performance.now();
        return resources.client(client);
      });
      // Each answer within 1 s, several times over the 2 s commit: the event loop is free.
      for (let i = 0; i < 3; i++) {
        await pingRoundTrip(agent, 1_000);
        const topic = `tc/${tenant}/${clientIdOf('steady')}/o/data`;
        const arrived = log.next(topic, 1_000, `during-${i}`);
        agent.publish(topic, `during-${i}`, { qos: 1 });
        await arrived;
      }
      assert.equal(connackAt, undefined, 'positive control: the newcomer\'s onboarding commit was still running');
      await connecting;
      assert.ok(connackAt! - started >= 1_900, `CONNACK after ${Math.round(connackAt! - started)} ms: it must wait for the durable commit`);
    } finally {
      commitDelayMs[0] = 0;
    }
  });

  test('when the database worker dies: a first connect is refused (CONNACK 3), a REST write answers 503, /readyz is not ready', async () => {
    assert.equal((await fetch(`${server.url}/readyz`)).status, 200, 'positive control: ready before');
    await worker!.terminate();
    const latecomer = await issueAgent(ca.ca, 'latecomer');
    assert.equal(await refusalCodeOf(connectAgent(server, latecomer, clientIdOf('latecomer')), resources), 3);
    const upload = await server.api(tenant, '/caCertificates', { body: { name: 'after the crash', caCertificate: ca.ca.certificatePem } });
    assert.equal(upload.status, 503, JSON.stringify(upload.body));
    assert.equal((await fetch(`${server.url}/readyz`)).status, 503);
  });
});
