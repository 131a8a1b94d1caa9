import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { derToPem, parseCertificatePem } from '../../src/pki/index.ts';
import { openDatabase } from '../../src/storage/index.ts';
import { assertError, newTenant, uploadCa } from '../support/api-helpers.ts';
import {
  connectAgent, mosquittoAgentArgs, PAHO_AGENT_SCRIPT, PYTHON, refusalCodeOf, Resources, RunningProcess, runProcess, waitForAgent, writeAgentFiles,
} from '../support/broker-helpers.ts';
import { assertStillConnected, closedWithin, refusalCount } from '../support/broker-refusal-helpers.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { ecdsaSignatureTwin } from '../support/test-pki.ts';

// Issue 10, findings 1 and 3, with real TLS/MQTT clients (docs/decisions/0013-certificate-identity.md).

const NOT_AUTHORIZED = 5;
const ONE_SECOND_MS = 1000;

/** What an agent keeps from the 201 of POST /agentCertificates. */
const credentialsOf = (issued: any) => ({ certificatePem: issued.publicKey as string, privateKeyPem: issued.privateKey as string });
/** The same certificate with its ECDSA signature (r, s) rewritten as (r, n - s): valid, other bytes. */
const twinOf = (issued: any) => ({ ...credentialsOf(issued), certificatePem: derToPem(ecdsaSignatureTwin(new X509Certificate(issued.publicKey).raw)) });

describe('revocation by issuer + serial number on the broker', { timeout: 60_000 }, () => {
  let server: TestServer;
  const resources = new Resources();
  before(async () => {
    server = await startTestServer();
    resources.add(() => server.close());
  });
  after(() => resources.closeAll());

  const issue = async (tenant: string, body: Record<string, unknown>): Promise<any> => {
    const answer = await server.api(tenant, '/agentCertificates', { body });
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    return answer.body;
  };

  test('a revoked managed agent certificate rebuilt with its ECDSA signature flipped to (r, n - s) is refused (CONNACK 5, mqtt.certificateRevoked) by MQTT.js, mosquitto_pub and paho; its live session closes with the original', async () => {
    const tenant = newTenant('flip');
    const doomed = await issue(tenant, { name: 'doomed' });
    const twin = twinOf(doomed);
    assert.notEqual(new X509Certificate(twin.certificatePem).fingerprint256, new X509Certificate(doomed.publicKey).fingerprint256);
    assert.equal(parseCertificatePem(twin.certificatePem).serialNumber, parseCertificatePem(doomed.publicKey).serialNumber);

    // Before the revocation the twin is simply the same certificate: it gets in.
    const twinClient = resources.client(await connectAgent(server, twin, doomed.clientId));
    await waitForAgent(server, tenant, doomed.clientId, (a) => a.online === true);
    const closing = closedWithin(twinClient, 3_000, 'the twin session');
    const requestedAt = performance.now();
    assert.equal((await server.api(tenant, `/agentCertificates/${doomed.id}`, { method: 'DELETE' })).status, 204);
    assert.ok(await closing.elapsedSince(requestedAt) < ONE_SECOND_MS, 'the session using the twin closes with the revocation (issuer + serial)');

    const refusedBefore = await refusalCount(server, 'mqtt.certificateRevoked');
    assert.equal(await refusalCodeOf(connectAgent(server, twin, doomed.clientId), resources), NOT_AUTHORIZED);
    const dir = await resources.tempDir('flip');
    const files = await writeAgentFiles(dir, 'twin', server, twin, { appendCa: doomed.caCertificate });
    const mosquitto = await runProcess('mosquitto_pub', [...mosquittoAgentArgs(server, files, doomed.clientId), '-t', `tc/${tenant}/${doomed.clientId}/o/x`, '-m', 'x', '-q', '1']);
    assert.notEqual(mosquitto.code, 0, 'mosquitto_pub is refused');
    assert.match(mosquitto.stderr, /not authori[sz]ed/i);
    const paho = resources.process(new RunningProcess(PYTHON, [
      '-c', PAHO_AGENT_SCRIPT, 'localhost', String(server.mqttPort), files.cafile, files.cert, files.key, doomed.clientId,
      `tc/${tenant}/${doomed.clientId}/i/#`, `tc/${tenant}/${doomed.clientId}/o/reply`,
    ]));
    await paho.waitForOutput(/^CONNACK 5$/m);
    assert.equal(await refusalCount(server, 'mqtt.certificateRevoked'), refusedBefore + 3, 'each refused as revoked, counted with its reason');

    // The tenant's other certificates, twins included, are not affected.
    const kept = await issue(tenant, { name: 'kept' });
    const keptTwin = resources.client(await connectAgent(server, twinOf(kept), kept.clientId));
    await assertStillConnected(keptTwin, `tc/${tenant}/${kept.clientId}/i/#`);
  });
});

// Finding 3: the managed CA's certificate is in every /agentCertificates answer. Another tenant
// uploaded it, got the victim's admin to issue an agent certificate named after its registration
// code, verified with it, and after a restart the victim's managed agents were admitted as its own.
describe('a tenant\'s managed CA cannot be claimed by another tenant, across a restart', { timeout: 60_000 }, () => {
  const resources = new Resources();
  after(() => resources.closeAll());

  test('the attack replayed through the API is refused, and after a restart the victim\'s managed agent is still admitted as the victim\'s', async () => {
    const dataDir = await resources.tempDir('claim-restart');
    const victim = newTenant('victim');
    const attacker = newTenant('evil');
    let server = await startTestServer({ TRUSTGATE_DATA_DIR: dataDir });
    let agent: any;
    try {
      agent = await (async () => {
        const answer = await server.api(victim, '/agentCertificates', { body: { name: 'pump-1' } });
        assert.equal(answer.status, 201);
        return answer.body;
      })();
      assertError(await uploadCa(server, attacker, { certificatePem: agent.caCertificate }), 409, 'caCertificate.keyOfManagedCa');
      const client = await connectAgent(server, credentialsOf(agent), agent.clientId);
      await client.endAsync();
    } finally {
      await server.close();
    }

    server = await startTestServer({ TRUSTGATE_DATA_DIR: dataDir });
    resources.add(() => server.close());
    const client = resources.client(await connectAgent(server, credentialsOf(agent), agent.clientId));
    await assertStillConnected(client, `tc/${victim}/${agent.clientId}/i/#`);
    const record = await waitForAgent(server, victim, agent.clientId, (a) => a.online === true);
    assert.equal(record.caCertificateId, agent.caCertificateId, 'admitted through the victim\'s managed CA');
    assert.deepEqual((await server.api(attacker, '/agents')).body, [], 'the attacker has no agents');
  });

  // Data from before the fix can hold the completed attack: the attacker's upload of the victim's
  // managed CA, verified. The broker then refuses those agents rather than guess the tenant.
  test('stored data in which two tenants trust one key (the attack completed before the upgrade): refused with mqtt.caKeyConflict after the restart, never admitted to the attacker', async () => {
    const dataDir = await resources.tempDir('claim-conflict');
    const victim = newTenant('victim');
    const attacker = newTenant('evil');
    let server = await startTestServer({ TRUSTGATE_DATA_DIR: dataDir });
    let agent: any;
    try {
      const answer = await server.api(victim, '/agentCertificates', { body: { name: 'pump-1' } });
      assert.equal(answer.status, 201);
      agent = answer.body;
      const db = await openDatabase({ url: server.databaseUrl });
      try {
        const ca = parseCertificatePem(agent.caCertificate);
        const now = new Date().toISOString();
        // As the previous release let the attacker store it: verified, the key claimed by no one else yet.
        await db.insertInto('ca_certificates').values({
          id: 'e'.repeat(24), tenant_id: attacker, slot: 1, name: 'stolen', description: null, certificate_pem: ca.pem, subject: ca.subject,
          common_name: 'x', fingerprint_sha256: createHash('sha256').update(ca.der).digest('hex'), tbs_certificate_sha256: ca.tbsCertificateSha256,
          public_key_sha256: ca.publicKeySha256, subject_key_id: null, not_before: now, not_after: ca.notAfter.toISOString(),
          registration_code: 'c0de'.repeat(8), is_verified: 1, created_at: now, verified_at: now,
        }).execute();
      } finally {
        await db.destroy();
      }
    } finally {
      await server.close();
    }

    server = await startTestServer({ TRUSTGATE_DATA_DIR: dataDir });
    resources.add(() => server.close());
    assert.equal(await refusalCodeOf(connectAgent(server, credentialsOf(agent), agent.clientId), resources), NOT_AUTHORIZED);
    assert.equal(await refusalCodeOf(connectAgent(server, credentialsOf(agent), `${attacker}_pump-1`), resources), NOT_AUTHORIZED);
    assert.equal(await refusalCount(server, 'mqtt.caKeyConflict'), 2);
    assert.deepEqual((await server.api(attacker, '/agents')).body, []);
    // Deleting the CA registered by mistake ends the conflict: the victim's agent is back.
    assert.equal((await server.api(attacker, `/caCertificates/${'e'.repeat(24)}`, { method: 'DELETE' })).status, 204);
    const client = resources.client(await connectAgent(server, credentialsOf(agent), agent.clientId));
    await assertStillConnected(client, `tc/${victim}/${agent.clientId}/i/#`);
  });
});
