import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { createCa } from '../support/test-pki.ts';
import { waitUntil } from '../support/wait-until.ts';
import { newTenant, proofFor, registrationCodeOf, uploadCaOk, verify } from '../support/api-helpers.ts';
import {
  agentCertificate, agentsOf, assertStillConnected, ClientPool, closedWithin, connectOk, connectRefused, verifiedCa,
} from '../support/broker-refusal-helpers.ts';

// Once verified, the CA is trusted by the broker at once, with no restart. Live enforcement:
// deleting a CA, disabling or deleting an agent closes the affected sessions within one second.
// One session per client id: a second connection with the same id takes over the first. CA
// rotation: an agent whose certificate is reissued by the tenant's other CA with the same CN keeps
// its identity.

const ONE_SECOND_MS = 1000;
const NOT_AUTHORIZED = 5;

describe('live trust changes on the broker', () => {
  let server: TestServer;
  const pool = new ClientPool();

  before(async () => { server = await startTestServer(); });
  after(async () => {
    await pool.closeAll();
    await server?.close();
  });

  const agentById = async (tenant: string, id: string) => {
    const answer = await server.api(tenant, `/agents/${id}`);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return answer.body;
  };

  const agentNamed = async (tenant: string, clientId: string) => {
    const agent = (await agentsOf(server, tenant)).find((a) => a.clientId === clientId);
    assert.ok(agent, `agent ${clientId} is listed`);
    return agent;
  };

  /** Waits (bounded) until the broker has recorded what `isDone` expects. */
  const eventually = (what: string, isDone: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> => waitUntil(isDone, timeoutMs, what);

  test('verifying a CA lets its agents in at once (refused 5 before, accepted right after the 200)', async () => {
    const tenant = newTenant('lv');
    const ca = await createCa({ subject: 'CN=Live Verify CA' });
    const resource = await uploadCaOk(server, tenant, ca);
    const cert = await agentCertificate(ca, 'early-1');
    const clientId = `${tenant}_early-1`;

    assert.equal(await connectRefused(server, clientId, { agent: cert }), NOT_AUTHORIZED, 'refused before verification');
    assert.deepEqual(await agentsOf(server, tenant), []);

    const proof = await proofFor(ca, await registrationCodeOf(server, tenant, resource.id));
    const verified = await verify(server, tenant, resource.id, proof.certificatePem);
    assert.equal(verified.status, 200, JSON.stringify(verified.body));
    const client = await connectOk(server, pool, clientId, { agent: cert });
    await assertStillConnected(client, `tc/${tenant}/${clientId}/i/#`);
    const agent = await agentNamed(tenant, clientId);
    assert.equal(agent.online, true);
    assert.equal(agent.caCertificateId, resource.id);
  });

  test('deleting a CA closes its agents within 1 s; they cannot reconnect; the other CA\'s agents and applications stay', async (t) => {
    const tenant = newTenant('ld');
    const doomed = await verifiedCa(server, tenant, 'CN=Live Doomed CA');
    const kept = await verifiedCa(server, tenant, 'CN=Live Kept CA');
    const doomedCerts = await Promise.all(['d-1', 'd-2'].map((cn) => agentCertificate(doomed.ca, cn)));
    const keptCert = await agentCertificate(kept.ca, 'k-1');
    const doomedClients = await Promise.all(doomedCerts.map((cert, i) => connectOk(server, pool, `${tenant}_d-${i + 1}`, { agent: cert })));
    const keptClient = await connectOk(server, pool, `${tenant}_k-1`, { agent: keptCert });
    const application = await connectOk(server, pool, `${tenant}_app`, { username: tenant, password: await server.token(tenant) });

    const closings = doomedClients.map((client, i) => closedWithin(client, 3000, `${tenant}_d-${i + 1}`));
    const answer = await server.api(tenant, `/caCertificates/${doomed.id}`, { method: 'DELETE' });
    const respondedAt = performance.now();
    assert.equal(answer.status, 204);
    for (const [i, closing] of closings.entries()) {
      const elapsed = await closing.elapsedSince(respondedAt);
      t.diagnostic(`d-${i + 1} closed ${elapsed.toFixed(1)} ms after the DELETE response`);
      assert.ok(elapsed < ONE_SECOND_MS, `d-${i + 1} closed ${elapsed.toFixed(0)} ms after the DELETE response (limit 1000 ms)`);
    }

    await assertStillConnected(keptClient, `tc/${tenant}/${tenant}_k-1/i/#`);
    await assertStillConnected(application, `tc/${tenant}/#`);

    for (const [i, cert] of doomedCerts.entries()) {
      assert.equal(await connectRefused(server, `${tenant}_d-${i + 1}`, { agent: cert }), NOT_AUTHORIZED, `d-${i + 1} cannot reconnect`);
    }
    // The records stay (CA rotation keeps identities), now offline.
    await eventually('the doomed agents to be recorded offline', async () =>
      (await agentsOf(server, tenant)).filter((a) => a.caCertificateId === doomed.id).every((a) => !a.online));
    const agents = await agentsOf(server, tenant);
    assert.deepEqual(agents.map((a) => a.clientId).sort(), [`${tenant}_d-1`, `${tenant}_d-2`, `${tenant}_k-1`]);
    assert.equal(agents.find((a) => a.clientId === `${tenant}_k-1`).online, true);
    assert.equal(keptClient.connected, true);
  });

  describe('disabling, re-enabling and deleting an agent', () => {
    const tenant = newTenant('la');
    let ca: Awaited<ReturnType<typeof verifiedCa>>;

    before(async () => { ca = await verifiedCa(server, tenant, 'CN=Live Agents CA'); });

    test('PATCH {"enabled": false} closes that agent within 1 s, others stay; it cannot reconnect; re-enabling lets it back', async (t) => {
      const [certP1, certP2] = await Promise.all([agentCertificate(ca.ca, 'p-1'), agentCertificate(ca.ca, 'p-2')]);
      const p1 = await connectOk(server, pool, `${tenant}_p-1`, { agent: certP1! });
      const p2 = await connectOk(server, pool, `${tenant}_p-2`, { agent: certP2! });
      const agent = await agentNamed(tenant, `${tenant}_p-1`);

      const closing = closedWithin(p1, 3000, 'p-1');
      const answer = await server.api(tenant, `/agents/${agent.id}`, { method: 'PATCH', body: { enabled: false } });
      const respondedAt = performance.now();
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.enabled, false);
      const elapsed = await closing.elapsedSince(respondedAt);
      t.diagnostic(`p-1 closed ${elapsed.toFixed(1)} ms after the PATCH response`);
      assert.ok(elapsed < ONE_SECOND_MS, `p-1 closed ${elapsed.toFixed(0)} ms after the PATCH response`);
      await assertStillConnected(p2, `tc/${tenant}/${tenant}_p-2/i/#`);

      assert.equal(await connectRefused(server, `${tenant}_p-1`, { agent: certP1! }), NOT_AUTHORIZED, 'a disabled agent cannot reconnect');

      const enabled = await server.api(tenant, `/agents/${agent.id}`, { method: 'PATCH', body: { enabled: true } });
      assert.equal(enabled.status, 200, JSON.stringify(enabled.body));
      assert.equal(enabled.body.enabled, true);
      const back = await connectOk(server, pool, `${tenant}_p-1`, { agent: certP1! });
      await assertStillConnected(back, `tc/${tenant}/${tenant}_p-1/i/#`);
      const after = await agentById(tenant, agent.id);
      assert.equal(after.id, agent.id, 're-enabled agent keeps its id');
      assert.equal(after.enabled, true);
      assert.equal(after.online, true);
      assert.equal(after.firstConnectedAt, agent.firstConnectedAt);
    });

    test('DELETE /agents/{id} closes that agent within 1 s; others stay; the record is gone', async (t) => {
      const [certQ1, certQ2] = await Promise.all([agentCertificate(ca.ca, 'q-1'), agentCertificate(ca.ca, 'q-2')]);
      const q1 = await connectOk(server, pool, `${tenant}_q-1`, { agent: certQ1! });
      const q2 = await connectOk(server, pool, `${tenant}_q-2`, { agent: certQ2! });
      const agent = await agentNamed(tenant, `${tenant}_q-1`);

      const closing = closedWithin(q1, 3000, 'q-1');
      const answer = await server.api(tenant, `/agents/${agent.id}`, { method: 'DELETE' });
      const respondedAt = performance.now();
      assert.equal(answer.status, 204);
      const elapsed = await closing.elapsedSince(respondedAt);
      t.diagnostic(`q-1 closed ${elapsed.toFixed(1)} ms after the DELETE response`);
      assert.ok(elapsed < ONE_SECOND_MS, `q-1 closed ${elapsed.toFixed(0)} ms after the DELETE response`);
      await assertStillConnected(q2, `tc/${tenant}/${tenant}_q-2/i/#`);

      const gone = await server.api(tenant, `/agents/${agent.id}`);
      assert.equal(gone.status, 404);
      assert.equal(gone.body.errors[0].code, 'agent.notFound');
      assert.equal((await agentsOf(server, tenant)).some((a) => a.clientId === `${tenant}_q-1`), false);
    });

    test('a second connection with the same client id takes over the first; one agent, online', async (t) => {
      const cert = await agentCertificate(ca.ca, 't-1');
      const clientId = `${tenant}_t-1`;
      const first = await connectOk(server, pool, clientId, { agent: cert });
      const agentBefore = await agentNamed(tenant, clientId);
      const closing = closedWithin(first, 3000, 'the first session');
      const second = await connectOk(server, pool, clientId, { agent: cert });
      const startedAt = performance.now();
      const elapsed = await closing.elapsedSince(startedAt);
      t.diagnostic(`the first session closed ${elapsed.toFixed(1)} ms after the second was accepted`);
      assert.ok(elapsed < ONE_SECOND_MS, `the first session closed ${elapsed.toFixed(0)} ms after the second was accepted`);
      // The first session's disconnect is recorded asynchronously and must not mark the agent
      // offline: the SUBACK on the second connection comes after the broker saw the first go, and
      // the API reads after every queued record.
      await assertStillConnected(second, `tc/${tenant}/${clientId}/i/#`);
      assert.equal(first.connected, false);
      const agents = (await agentsOf(server, tenant)).filter((a) => a.clientId === clientId);
      assert.equal(agents.length, 1, 'one agent record for the client id');
      assert.equal(agents[0].id, agentBefore.id);
      assert.equal(agents[0].online, true, 'the agent is online (the taken-over session did not mark it offline)');
    });
  });

  test('CA rotation: a certificate reissued by the tenant\'s other CA with the same CN keeps the agent id; deleting the old CA leaves it connected', async () => {
    const tenant = newTenant('lr');
    const oldCa = await verifiedCa(server, tenant, 'CN=Live Old CA');
    const newCa = await verifiedCa(server, tenant, 'CN=Live New CA');
    const clientId = `${tenant}_rot-1`;

    const oldCert = await agentCertificate(oldCa.ca, 'rot-1');
    const oldClient = await connectOk(server, pool, clientId, { agent: oldCert });
    const before = await agentNamed(tenant, clientId);
    assert.equal(before.caCertificateId, oldCa.id);
    await oldClient.endAsync();
    await eventually('the agent to be recorded offline', async () => !(await agentById(tenant, before.id)).online);

    const newCert = await agentCertificate(newCa.ca, 'rot-1');
    const newClient = await connectOk(server, pool, clientId, { agent: newCert });
    const after = await agentById(tenant, before.id);
    assert.equal(after.id, before.id, 'same agent id');
    assert.equal(after.caCertificateId, newCa.id, 'the issuing CA is now the new one');
    assert.notEqual(after.certificateFingerprint, before.certificateFingerprint);
    assert.equal(after.firstConnectedAt, before.firstConnectedAt);
    assert.equal(after.online, true);
    assert.equal((await agentsOf(server, tenant)).length, 1);

    // Retiring the old CA must not close the rotated agent's session. Control: an agent still on
    // the old CA is closed by the same deletion, so it has reached the sessions when it is.
    const control = await connectOk(server, pool, `${tenant}_rot-control`, { agent: await agentCertificate(oldCa.ca, 'rot-control') });
    const controlClosed = closedWithin(control, 3000, 'the old CA\'s other agent');
    const deleted = await server.api(tenant, `/caCertificates/${oldCa.id}`, { method: 'DELETE' });
    assert.equal(deleted.status, 204);
    await controlClosed.elapsedSince(performance.now());
    await assertStillConnected(newClient, `tc/${tenant}/${clientId}/i/#`);
    assert.equal(await connectRefused(server, `${clientId}`, { agent: oldCert }), NOT_AUTHORIZED, 'the old certificate no longer gets in');
    await assertStillConnected(newClient, `tc/${tenant}/${clientId}/i/#`);
  });
});
