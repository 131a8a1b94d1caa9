import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import type { TestCertificate } from '../support/test-pki.ts';
import { assertError, newTenant, randomId, rawRequest, type ApiAnswer } from '../support/api-helpers.ts';
import { agentCertificate, agentsOf, assertStillConnected, ClientPool, connectOk, verifiedCa } from '../support/broker-refusal-helpers.ts';
import { waitUntil } from '../support/wait-until.ts';

// GET /agents, GET/PATCH/DELETE /agents/{id}; and the REST
// rules that hold for them too: a foreign id answers 404 exactly like a missing one, mcmqtt.read
// for GETs and mcmqtt.admin for everything else, 400 for invalid input without a state change.

const RESOURCE_KEYS = ['caCertificateId', 'certificate', 'certificateFingerprint', 'clientId', 'commonName', 'enabled', 'firstConnectedAt', 'id', 'lastConnectedAt', 'online'];
const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe('agents API', () => {
  let server: TestServer;
  const pool = new ClientPool();
  const tenantA = newTenant('aa');
  const tenantB = newTenant('ab');
  let caA: { ca: TestCertificate; id: string };
  let certA1: TestCertificate;
  let clientA1: MqttClient;
  let agentA1: any;
  let agentA2: any;
  let agentB1: any;

  const snapshotOfA = async () => ({
    list: await agentsOf(server, tenantA),
    a1: (await server.api(tenantA, `/agents/${agentA1.id}`)).body,
    a2: (await server.api(tenantA, `/agents/${agentA2.id}`)).body,
  });

  const assertAUnchanged = async (before: Awaited<ReturnType<typeof snapshotOfA>>, context: string) => {
    assert.deepEqual(await snapshotOfA(), before, `tenant A's agents unchanged after ${context}`);
    await assertStillConnected(clientA1, `tc/${tenantA}/${tenantA}_a-1/i/#`);
  };

  // The answer without what legitimately differs: the request id and the id that was asked for.
  const comparable = (answer: ApiAnswer, id: string) => ({
    status: answer.status,
    contentType: answer.headers.get('content-type'),
    text: answer.text.replace(/"logref":"[^"]*"/, '"logref":"<logref>"').replaceAll(id, '<id>'),
  });

  before(async () => {
    server = await startTestServer();
    caA = await verifiedCa(server, tenantA, 'CN=Agents API CA A');
    const caB = await verifiedCa(server, tenantB, 'CN=Agents API CA B');
    certA1 = await agentCertificate(caA.ca, 'a-1');
    clientA1 = await connectOk(server, pool, `${tenantA}_a-1`, { agent: certA1 });
    const clientA2 = await connectOk(server, pool, `${tenantA}_a-2`, { agent: await agentCertificate(caA.ca, 'a-2') });
    await clientA2.endAsync();
    await connectOk(server, pool, `${tenantB}_b-1`, { agent: await agentCertificate(caB.ca, 'b-1') });
    const listA = await agentsOf(server, tenantA);
    agentA1 = listA.find((a) => a.clientId === `${tenantA}_a-1`);
    agentA2 = listA.find((a) => a.clientId === `${tenantA}_a-2`);
    [agentB1] = await agentsOf(server, tenantB);
    assert.ok(agentA1 && agentA2 && agentB1);
    // Wait (bounded) until a-2's disconnect is recorded, so snapshots are stable.
    await waitUntil(async () => !(await server.api(tenantA, `/agents/${agentA2.id}`)).body.online, 5_000, 'a-2 is recorded offline');
    agentA2 = (await server.api(tenantA, `/agents/${agentA2.id}`)).body;
  });
  after(async () => {
    await pool.closeAll();
    await server?.close();
  });

  test('GET /agents lists the tenant\'s agents with the documented fields', async () => {
    const list = await agentsOf(server, tenantA);
    assert.deepEqual(list.map((a) => a.clientId).sort(), [`${tenantA}_a-1`, `${tenantA}_a-2`]);
    for (const agent of list) {
      assert.deepEqual(Object.keys(agent).sort(), RESOURCE_KEYS);
      assert.match(agent.id, /^[0-9a-f]{24}$/);
      assert.equal(agent.caCertificateId, caA.id);
      assert.equal(agent.enabled, true);
      assert.match(agent.firstConnectedAt, ISO_MS);
      assert.match(agent.lastConnectedAt, ISO_MS);
      assert.equal(agent.clientId, `${tenantA}_${agent.commonName}`);
    }
    const a1 = list.find((a) => a.clientId === `${tenantA}_a-1`);
    assert.equal(a1.commonName, 'a-1');
    assert.equal(a1.online, true);
    assert.equal(a1.certificateFingerprint, createHash('sha256').update(certA1.certificateDer).digest('hex'));
    assert.equal(list.find((a) => a.clientId === `${tenantA}_a-2`).online, false);
  });

  test('GET /agents/{id} answers the same resource as the list', async () => {
    const list = await agentsOf(server, tenantA);
    for (const agent of list) {
      const answer = await server.api(tenantA, `/agents/${agent.id}`);
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.body, agent);
    }
  });

  test('tenant B sees only its own agents', async () => {
    const listB = await agentsOf(server, tenantB);
    assert.deepEqual(listB.map((a) => a.id), [agentB1.id]);
    assert.equal(listB.some((a) => a.id === agentA1.id || a.id === agentA2.id), false);
    assert.deepEqual(await agentsOf(server, newTenant('nobody')), []);
  });

  test('tenant B gets 404 agent.notFound for A\'s agent ids on GET, PATCH and DELETE, exactly like a missing id; A\'s agents unchanged', async () => {
    const before = await snapshotOfA();
    const missing = randomId();
    const probes = [
      { method: 'GET', body: undefined },
      { method: 'PATCH', body: JSON.stringify({ enabled: false }) },
      { method: 'DELETE', body: undefined },
    ];
    for (const probe of probes) {
      for (const agent of [agentA1, agentA2]) {
        const foreign = await rawRequest(server, `/agents/${agent.id}`, { tenant: tenantB, method: probe.method, ...(probe.body ? { body: probe.body } : {}) });
        const absent = await rawRequest(server, `/agents/${missing}`, { tenant: tenantB, method: probe.method, ...(probe.body ? { body: probe.body } : {}) });
        assertError(foreign, 404, 'agent.notFound');
        assert.deepEqual(comparable(foreign, agent.id), comparable(absent, missing), `${probe.method} of a foreign id answers like a missing one`);
      }
    }
    await assertAUnchanged(before, 'B\'s probes');
    assert.deepEqual((await agentsOf(server, tenantB)).map((a) => a.id), [agentB1.id]);
  });

  test('PATCH validation: wrong type, missing field, extra fields, non-object bodies → 400 request.invalid, no change', async () => {
    const before = await snapshotOfA();
    const bodies = [
      '{"enabled": "no"}',
      '{"enabled": "false"}',
      '{"enabled": 0}',
      '{"enabled": null}',
      '{}',
      '[]',
      '"enabled"',
      'null',
    ];
    for (const body of bodies) {
      assertError(await rawRequest(server, `/agents/${agentA1.id}`, { tenant: tenantA, method: 'PATCH', body }), 400, 'request.invalid');
    }
    await assertAUnchanged(before, 'invalid PATCH bodies');
  });

  test('PATCH with extra fields besides "enabled" → 400 request.invalid (PatchAgentBody is additionalProperties: false)', async () => {
    const before = await snapshotOfA();
    // enabled: true keeps the agent as it is even if the extra field were ignored.
    for (const body of ['{"enabled": true, "name": "x"}', '{"enabled": true, "online": false}', '{"enabled": true, "tenant": "evil"}']) {
      const answer = await rawRequest(server, `/agents/${agentA1.id}`, { tenant: tenantA, method: 'PATCH', body });
      assertError(answer, 400, 'request.invalid');
    }
    await assertAUnchanged(before, 'PATCH bodies with extra fields');
  });

  test('PATCH of malformed JSON → 400; of a wrong content type → 415; no change', async () => {
    const before = await snapshotOfA();
    const malformed = await rawRequest(server, `/agents/${agentA1.id}`, { tenant: tenantA, method: 'PATCH', body: '{"enabled": fal' });
    assert.equal(malformed.status, 400, malformed.text);
    const textPlain = await rawRequest(server, `/agents/${agentA1.id}`, { tenant: tenantA, method: 'PATCH', body: '{"enabled": false}', contentType: 'text/plain' });
    assert.equal(textPlain.status, 415, textPlain.text);
    await assertAUnchanged(before, 'malformed PATCH requests');
  });

  test('a read-only token can GET but gets 403 on PATCH and DELETE; no token gets 401', async () => {
    const before = await snapshotOfA();
    const read = `Bearer ${await server.token(tenantA, { scopes: ['mcmqtt.read'] })}`;
    const list = await rawRequest(server, '/agents', { authorization: read });
    assert.equal(list.status, 200, list.text);
    assert.deepEqual(list.body, before.list);
    const one = await rawRequest(server, `/agents/${agentA1.id}`, { authorization: read });
    assert.equal(one.status, 200, one.text);
    assert.deepEqual(one.body, before.a1);

    assertError(await rawRequest(server, `/agents/${agentA1.id}`, { authorization: read, method: 'PATCH', body: '{"enabled": false}' }), 403, 'auth.scopeMissing');
    assertError(await rawRequest(server, `/agents/${agentA1.id}`, { authorization: read, method: 'DELETE' }), 403, 'auth.scopeMissing');

    const none = `Bearer ${await server.token(tenantA, { scopes: ['openid'] })}`;
    assertError(await rawRequest(server, '/agents', { authorization: none }), 403, 'auth.scopeMissing');
    assertError(await rawRequest(server, '/agents', { authorization: null }), 401, 'auth.tokenMissing');
    assertError(await rawRequest(server, `/agents/${agentA1.id}`, { authorization: null, method: 'DELETE' }), 401, 'auth.tokenMissing');
    await assertAUnchanged(before, 'read-only and unauthenticated attempts');
  });

  test('PATCH and DELETE of an unknown id by the owner tenant: 404 agent.notFound', async () => {
    const missing = randomId();
    assertError(await server.api(tenantA, `/agents/${missing}`, { method: 'PATCH', body: { enabled: false } }), 404, 'agent.notFound');
    assertError(await server.api(tenantA, `/agents/${missing}`, { method: 'DELETE' }), 404, 'agent.notFound');
    assertError(await server.api(tenantA, `/agents/${missing}`), 404, 'agent.notFound');
  });
});
