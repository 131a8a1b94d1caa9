import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { newTenant, randomId } from '../support/api-helpers.ts';
import {
  closesWithin, connectAgent, connectApplication, MessageLog, mosquittoAgentArgs, refusalCodeOf, Resources, runProcess, runProcessOk,
  subackCodes, waitForAgent, writeAgentFiles,
} from '../support/broker-helpers.ts';
import { assertStillConnected, closedWithin, refusalCount } from '../support/broker-refusal-helpers.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { createCsr } from '../support/test-pki.ts';

// Issue 4 item 5: the key and certificate POST
// /agentCertificates returns connect to the broker with the returned client id and are onboarded
// (the tenant's managed CA is trusted from the moment it exists, and across restarts); a
// CSR-issued certificate connects with the device's key; DELETE revokes: the live session closes
// within one second, the certificate is refused from then on (CONNACK 5, counted with its
// reason), and the tenant's other certificates stay connected.

const ONE_SECOND_MS = 1000;
const NOT_AUTHORIZED = 5;
const IDENTIFIER_REJECTED = 2;

/** What an agent keeps from the 201: its key and certificate (optionally with the managed CA appended). */
const credentialsOf = (issued: any, options: { chain?: boolean } = {}) => ({
  certificatePem: options.chain ? `${issued.publicKey.trimEnd()}\n${issued.caCertificate}` : issued.publicKey,
  privateKeyPem: issued.privateKey as string,
});

describe('agent certificates issued by the managed CA on the broker', { timeout: 60_000 }, () => {
  let server: TestServer;
  const resources = new Resources();

  const issue = async (tenant: string, body: Record<string, unknown>): Promise<any> => {
    const answer = await server.api(tenant, '/agentCertificates', { body });
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    return answer.body;
  };

  before(async () => {
    server = await startTestServer();
    resources.add(() => server.close());
  });
  after(() => resources.closeAll());

  test('MQTT.js: the returned key + certificate connect with the returned client id (leaf alone and with the CA appended), are onboarded, and talk with the tenant\'s application', async () => {
    const tenant = newTenant('mc');
    const app = resources.client(await connectApplication(server, tenant));
    const appLog = new MessageLog(app);
    assert.deepEqual(await subackCodes(app, { [`tc/${tenant}/#`]: { qos: 1 } }), [1]);
    const issued = await issue(tenant, { name: 'pump-1', owner: 'ops' });

    for (const chain of [false, true]) {
      const agent = resources.client(await connectAgent(server, credentialsOf(issued, { chain }), issued.clientId));
      await agent.publishAsync(`tc/${tenant}/${issued.clientId}/o/data`, `hello chain=${chain}`, { qos: 1 });
      await appLog.next(`tc/${tenant}/${issued.clientId}/o/data`, 3_000, `hello chain=${chain}`);
      const onboarded = await waitForAgent(server, tenant, issued.clientId, (a) => a.online === true);
      assert.equal(onboarded.commonName, 'pump-1');
      assert.equal(onboarded.caCertificateId, issued.caCertificateId, 'the managed CA issued it');
      assert.equal(onboarded.certificateFingerprint, issued.fingerprint);
      await agent.endAsync();
    }
    const agents = (await server.api(tenant, '/agents')).body;
    assert.equal(agents.length, 1, 'one agent across both connections');
    // The certificate resource now names the onboarded agent.
    assert.equal((await server.api(tenant, `/agentCertificates/${issued.id}`)).body.agentId, agents[0].id);
    assert.equal((await server.api(tenant, '/agentCertificates')).body[0].agentId, agents[0].id);
  });

  test('mosquitto_pub with the returned key and certificate written to files (certificate + CA as the chain file) publishes, onboarded', async () => {
    const tenant = newTenant('mm');
    const app = resources.client(await connectApplication(server, tenant));
    const appLog = new MessageLog(app);
    assert.deepEqual(await subackCodes(app, { [`tc/${tenant}/#`]: { qos: 1 } }), [1]);
    const issued = await issue(tenant, { name: 'mosq-1' });
    const dir = await resources.tempDir('agent-certificates');
    for (const chain of [false, true]) {
      const files = await writeAgentFiles(dir, `mosq-1-${chain ? 'chain' : 'leaf'}`, server, credentialsOf(issued), chain ? { appendCa: issued.caCertificate } : {});
      const topic = `tc/${tenant}/${issued.clientId}/o/mosquitto`;
      await runProcessOk('mosquitto_pub', [...mosquittoAgentArgs(server, files, issued.clientId), '-t', topic, '-m', `mosquitto chain=${chain}`, '-q', '1'], { timeoutMs: 10_000 });
      assert.equal((await appLog.next(topic, 3_000, `mosquitto chain=${chain}`)).qos, 1);
    }
    const agent = await waitForAgent(server, tenant, issued.clientId, () => true);
    assert.equal(agent.caCertificateId, issued.caCertificateId);
  });

  test('a CSR-issued certificate connects with the device\'s own key (which never left it)', async () => {
    const tenant = newTenant('mcsr');
    const device = await createCsr({ subject: 'CN=whatever-the-device-says' });
    const issued = await issue(tenant, { name: 'device-1', csr: device.csrPem });
    assert.equal(issued.privateKey, null);
    const agent = resources.client(await connectAgent(server, { certificatePem: issued.publicKey, privateKeyPem: device.privateKeyPem }, issued.clientId));
    await assertStillConnected(agent, `tc/${tenant}/${issued.clientId}/i/#`);
    const onboarded = await waitForAgent(server, tenant, issued.clientId, (a) => a.online === true);
    assert.equal(onboarded.certificateFingerprint, issued.fingerprint);
  });

  test('the certificate connects only with its own client id: <other tenant>_<name> or another name is refused (CONNACK 2)', async () => {
    const tenant = newTenant('mid');
    const issued = await issue(tenant, { name: 'id-1' });
    assert.equal(await refusalCodeOf(connectAgent(server, credentialsOf(issued), `${tenant}_id-2`), resources), IDENTIFIER_REJECTED);
    assert.equal(await refusalCodeOf(connectAgent(server, credentialsOf(issued), `${newTenant('x')}_id-1`), resources), IDENTIFIER_REJECTED);
  });

  test('DELETE revokes: the live session closes within 1 s, the certificate is refused afterwards (CONNACK 5, counted as mqtt.certificateRevoked), the tenant\'s other certificate stays connected', async (t) => {
    const tenant = newTenant('mrv');
    const doomed = await issue(tenant, { name: 'doomed' });
    const kept = await issue(tenant, { name: 'kept' });
    const doomedClient = resources.client(await connectAgent(server, credentialsOf(doomed), doomed.clientId));
    const keptClient = resources.client(await connectAgent(server, credentialsOf(kept), kept.clientId));
    const app = resources.client(await connectApplication(server, tenant));
    await waitForAgent(server, tenant, doomed.clientId, (a) => a.online === true);
    const refusedBefore = await refusalCount(server, 'mqtt.certificateRevoked');

    const closing = closedWithin(doomedClient, 3_000, doomed.clientId);
    const requestedAt = performance.now();
    const answer = await server.api(tenant, `/agentCertificates/${doomed.id}`, { method: 'DELETE' });
    const respondedAt = performance.now();
    assert.equal(answer.status, 204);
    const sinceRequest = await closing.elapsedSince(requestedAt);
    t.diagnostic(`revoked session closed ${sinceRequest.toFixed(1)} ms after the DELETE was sent (its answer took ${(respondedAt - requestedAt).toFixed(1)} ms)`);
    assert.ok(sinceRequest < ONE_SECOND_MS, `closed ${sinceRequest.toFixed(0)} ms after the DELETE was sent (limit 1000 ms)`);

    await assertStillConnected(keptClient, `tc/${tenant}/${kept.clientId}/i/#`);
    await assertStillConnected(app, `tc/${tenant}/#`);

    assert.equal(await refusalCodeOf(connectAgent(server, credentialsOf(doomed), doomed.clientId), resources), NOT_AUTHORIZED);
    assert.equal(await refusalCodeOf(connectAgent(server, credentialsOf(doomed, { chain: true }), doomed.clientId), resources), NOT_AUTHORIZED);
    const dir = await resources.tempDir('revoked');
    const files = await writeAgentFiles(dir, 'doomed', server, credentialsOf(doomed), { appendCa: doomed.caCertificate });
    const mosquitto = await runProcess('mosquitto_pub', [...mosquittoAgentArgs(server, files, doomed.clientId), '-t', `tc/${tenant}/${doomed.clientId}/o/x`, '-m', 'x', '-q', '1']);
    assert.notEqual(mosquitto.code, 0, 'mosquitto_pub is refused');
    assert.match(mosquitto.stderr, /not authori[sz]ed/i);
    assert.equal(await refusalCount(server, 'mqtt.certificateRevoked'), refusedBefore + 3, 'every refusal counted with its reason');

    const agent = await waitForAgent(server, tenant, doomed.clientId, (a) => a.online === false);
    assert.equal(agent.enabled, true, 'revoking a certificate does not disable the agent');
    assert.equal(keptClient.connected, true);
    // A new certificate for the same name lets the same agent back in, with its identity.
    const reissued = await issue(tenant, { name: 'doomed' });
    const back = resources.client(await connectAgent(server, credentialsOf(reissued), reissued.clientId));
    await assertStillConnected(back, `tc/${tenant}/${reissued.clientId}/i/#`);
    assert.equal((await waitForAgent(server, tenant, doomed.clientId, (a) => a.online === true)).id, agent.id);
  });

  /**
   * The positive control of "this session stays": a fresh certificate of `tenant`, connected and
   * then revoked. Revocations reach the sessions in order, so once its session has closed, every
   * earlier revocation (or anything else an earlier request published) has been applied.
   */
  const laterRevocationApplied = async (tenant: string): Promise<void> => {
    const control = await issue(tenant, { name: `control-${randomId().slice(0, 8)}` });
    const client = resources.client(await connectAgent(server, credentialsOf(control), control.clientId));
    const closing = closesWithin(client, 3_000);
    assert.equal((await server.api(tenant, `/agentCertificates/${control.id}`, { method: 'DELETE' })).status, 204);
    assert.equal(await closing, true, 'the control session is closed by its revocation');
  };

  test('revoking closes only the sessions using that certificate: the same agent connected with its reissued certificate stays', async () => {
    const tenant = newTenant('mrs');
    const old = await issue(tenant, { name: 'rot' });
    const oldClient = resources.client(await connectAgent(server, credentialsOf(old), old.clientId));
    const closing = closesWithin(oldClient, 3_000);
    await server.api(tenant, `/agentCertificates/${old.id}`, { method: 'DELETE' });
    assert.equal(await closing, true);
    const fresh = await issue(tenant, { name: 'rot' });
    const freshClient = resources.client(await connectAgent(server, credentialsOf(fresh), fresh.clientId));
    // Same agent (same id), another certificate: revoking the old one again (the event is published
    // again) must match by fingerprint, not by agent, and leave this session alone.
    const secondRevocation = await server.api(tenant, `/agentCertificates/${old.id}`, { method: 'DELETE' });
    assert.equal(secondRevocation.status, 204);
    await laterRevocationApplied(tenant);
    assert.equal(freshClient.connected, true, 'the session with the reissued certificate stays');
    await assertStillConnected(freshClient, `tc/${tenant}/${fresh.clientId}/i/#`);
  });

  test('tenant B cannot see, get or revoke A\'s agent certificates, and A\'s agent stays connected', async () => {
    const tenantA = newTenant('mwa');
    const tenantB = newTenant('mwb');
    const issued = await issue(tenantA, { name: 'walled' });
    const client = resources.client(await connectAgent(server, credentialsOf(issued), issued.clientId));
    assert.deepEqual((await server.api(tenantB, '/agentCertificates')).body, []);
    for (const method of ['GET', 'DELETE']) {
      const foreign = await server.api(tenantB, `/agentCertificates/${issued.id}`, { method });
      const missing = await server.api(tenantB, `/agentCertificates/${randomId()}`, { method });
      assert.equal(foreign.status, 404);
      assert.equal(foreign.body.errors[0].code, 'agentCertificate.notFound');
      assert.equal(foreign.body.errors[0].message.replace(issued.id, '<id>'), missing.body.errors[0].message.replace(/[0-9a-f]{24}/, '<id>'));
    }
    await laterRevocationApplied(tenantA);
    assert.equal(client.connected, true);
    await assertStillConnected(client, `tc/${tenantA}/${issued.clientId}/i/#`);
    assert.equal((await server.api(tenantA, `/agentCertificates/${issued.id}`)).body.status, 'READY');
  });
});

describe('the managed CA across a restart', { timeout: 60_000 }, () => {
  const resources = new Resources();
  after(() => resources.closeAll());

  test('an in-process server restarted on the same data dir keeps the managed CA: its certificates still connect, a revoked one stays refused, new ones come from the same CA', async () => {
    const dataDir = await resources.tempDir('managed-ca-restart');
    const tenant = newTenant('mrt');
    let server = await startTestServer({ TRUSTGATE_DATA_DIR: dataDir });
    const issue = async (body: Record<string, unknown>): Promise<any> => {
      const answer = await server.api(tenant, '/agentCertificates', { body });
      assert.equal(answer.status, 201, JSON.stringify(answer.body));
      return answer.body;
    };
    let first: any;
    let revoked: any;
    try {
      first = await issue({ name: 'before-restart' });
      revoked = await issue({ name: 'revoked-before-restart' });
      assert.equal((await server.api(tenant, `/agentCertificates/${revoked.id}`, { method: 'DELETE' })).status, 204);
      const client = await connectAgent(server, credentialsOf(first), first.clientId);
      await client.endAsync();
    } finally {
      await server.close();
    }

    server = await startTestServer({ TRUSTGATE_DATA_DIR: dataDir });
    resources.add(() => server.close());
    const client = resources.client(await connectAgent(server, credentialsOf(first), first.clientId));
    await assertStillConnected(client, `tc/${tenant}/${first.clientId}/i/#`);
    assert.equal(await refusalCodeOf(connectAgent(server, credentialsOf(revoked), revoked.clientId), resources), NOT_AUTHORIZED);
    assert.equal(await refusalCount(server, 'mqtt.certificateRevoked'), 1, 'refused as revoked, not as an unknown CA');

    const after_ = await issue({ name: 'after-restart' });
    assert.equal(after_.caCertificateId, first.caCertificateId, 'the same managed CA');
    assert.equal(after_.caCertificate, first.caCertificate);
    assert.ok(new X509Certificate(after_.publicKey).verify(new X509Certificate(first.caCertificate).publicKey));
    const second = resources.client(await connectAgent(server, credentialsOf(after_), after_.clientId));
    await assertStillConnected(second, `tc/${tenant}/${after_.clientId}/i/#`);
    assert.deepEqual((await server.api(tenant, '/agentCertificates')).body.map((c: any) => [c.name, c.status]),
      [['before-restart', 'READY'], ['revoked-before-restart', 'REVOKED'], ['after-restart', 'READY']]);
  });
});
