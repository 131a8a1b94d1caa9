import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { describeOn, testDialects } from '../support/test-databases.ts';
import { createCa, type TestCertificate } from '../support/test-pki.ts';
import {
  assertError, listOf, newTenant, proofFor, randomId, rawRequest, registrationCodeOf, uploadCaOk, verify, type ApiAnswer,
} from '../support/api-helpers.ts';

// A tenant never sees, changes or learns of another tenant's objects: a foreign id answers 404
// exactly like a missing one (README, "REST API"). Tenant B probes tenant A's CA certificates through every route
// and must get the very answer a random missing id gets; A's objects stay as they were.

for (const dialect of testDialects) describeOn(dialect)(`tenant isolation (REST API) [${dialect}]`, () => {
  let server: TestServer;
  const tenantA = newTenant('a');
  const tenantB = newTenant('b');
  let caA: TestCertificate;
  let unverifiedA: any;
  let verifiedA: any;
  let codeA: string;
  let proofA: string;

  // A's state as A sees it: every resource and every registration code.
  const snapshotOfA = async () => ({
    list: await listOf(server, tenantA),
    unverified: (await server.api(tenantA, `/caCertificates/${unverifiedA.id}`)).body,
    verified: (await server.api(tenantA, `/caCertificates/${verifiedA.id}`)).body,
    codes: [await registrationCodeOf(server, tenantA, unverifiedA.id), await registrationCodeOf(server, tenantA, verifiedA.id)],
  });

  // The answer without what legitimately differs: the request id and the id that was asked for.
  const comparable = (answer: ApiAnswer, id: string) => ({
    status: answer.status,
    contentType: answer.headers.get('content-type'),
    text: answer.text.replace(/"logref":"[^"]*"/, '"logref":"<logref>"').replaceAll(id, '<id>'),
  });

  before(async () => {
    server = await startTestServer({}, { dialect });
    caA = await createCa({ subject: 'CN=Tenant A CA' });
    unverifiedA = await uploadCaOk(server, tenantA, caA, 'A unverified');
    codeA = await registrationCodeOf(server, tenantA, unverifiedA.id);
    proofA = (await proofFor(caA, codeA)).certificatePem;

    const secondCa = await createCa({ subject: 'CN=Tenant A second CA' });
    const second = await uploadCaOk(server, tenantA, secondCa, 'A verified');
    const verified = await verify(server, tenantA, second.id, (await proofFor(secondCa, await registrationCodeOf(server, tenantA, second.id))).certificatePem);
    assert.equal(verified.status, 200);
    verifiedA = verified.body;
    assert.equal(verifiedA.isVerified, true);
  });
  after(async () => { await server?.close(); });

  test('B\'s list does not contain A\'s CA certificates', async () => {
    assert.deepEqual(await listOf(server, tenantB), []);
    assert.equal((await listOf(server, tenantA)).length, 2);
  });

  const probes: { name: string; call: (id: string) => { path: string; method: string; body?: string } }[] = [
    { name: 'GET /caCertificates/{id}', call: (id) => ({ path: `/caCertificates/${id}`, method: 'GET' }) },
    { name: 'GET /caCertificates/{id}/registrationCode', call: (id) => ({ path: `/caCertificates/${id}/registrationCode`, method: 'GET' }) },
    { name: 'GET /{id}/registrationCode', call: (id) => ({ path: `/${id}/registrationCode`, method: 'GET' }) },
    // A valid proof for A's CA, so the only thing wrong is whose CA it is.
    { name: 'POST /caCertificates/{id}/verify', call: (id) => ({ path: `/caCertificates/${id}/verify`, method: 'POST', body: JSON.stringify({ verificationCertificate: proofA }) }) },
    { name: 'DELETE /caCertificates/{id}', call: (id) => ({ path: `/caCertificates/${id}`, method: 'DELETE' }) },
  ];

  for (const probe of probes) {
    test(`${probe.name} of A's CA by B: 404 caCertificate.notFound, the same answer as a missing id; A unchanged`, async () => {
      const before = await snapshotOfA();
      for (const target of [unverifiedA, verifiedA]) {
        const missing = randomId();
        const foreignCall = probe.call(target.id);
        const missingCall = probe.call(missing);
        const foreign = await rawRequest(server, foreignCall.path, { tenant: tenantB, method: foreignCall.method, ...(foreignCall.body ? { body: foreignCall.body } : {}) });
        const absent = await rawRequest(server, missingCall.path, { tenant: tenantB, method: missingCall.method, ...(missingCall.body ? { body: missingCall.body } : {}) });
        const foreignError = assertError(foreign, 404, 'caCertificate.notFound');
        const absentError = assertError(absent, 404, 'caCertificate.notFound');
        assert.equal(foreignError.code, absentError.code);
        assert.deepEqual(comparable(foreign, target.id), comparable(absent, missing), 'indistinguishable from a missing id');
        assert.ok(!foreign.text.includes(codeA), 'the registration code does not leak');
        assert.ok(!foreign.text.includes('Tenant A'), 'nothing of the CA leaks');
      }
      assert.deepEqual(await snapshotOfA(), before, 'A\'s CA certificates are unchanged');
    });
  }

  test('B with a read-only token also gets 404 for A\'s CA', async () => {
    const token = await server.token(tenantB, { scopes: ['mcmqtt.read'] });
    const answer = await rawRequest(server, `/caCertificates/${unverifiedA.id}`, { authorization: `Bearer ${token}` });
    assertError(answer, 404, 'caCertificate.notFound');
  });

  test('B can hold the same certificate as A under its own id; deleting it leaves A\'s alone', async () => {
    const before = await snapshotOfA();
    const own = await uploadCaOk(server, tenantB, caA, 'B copy');
    assert.notEqual(own.id, unverifiedA.id);
    const codeB = await registrationCodeOf(server, tenantB, own.id);
    assert.notEqual(codeB, codeA);
    // A's proof names A's code: it does not verify B's copy.
    assertError(await verify(server, tenantB, own.id, proofA), 400, 'verification.registrationCodeMismatch');
    assert.deepEqual(await listOf(server, tenantB), [own]);
    assert.equal((await server.api(tenantB, `/caCertificates/${own.id}`, { method: 'DELETE' })).status, 204);
    assert.deepEqual(await listOf(server, tenantB), []);
    assert.deepEqual(await snapshotOfA(), before);
  });

  test('A\'s full slots do not limit B, and B\'s uploads do not count for A', async () => {
    const tenantC = newTenant('c');
    await uploadCaOk(server, tenantC, await createCa());
    await uploadCaOk(server, tenantC, await createCa());
    assertError(await server.api(tenantA, '/caCertificates', { body: { name: 'third', caCertificate: (await createCa()).certificatePem } }), 409, 'caCertificate.limitReached');
    assert.equal((await listOf(server, tenantA)).length, 2);
    assert.equal((await listOf(server, tenantC)).length, 2);
  });

  test('A still sees and can use its CA certificates after all probes', async () => {
    const answer = await verify(server, tenantA, unverifiedA.id, proofA);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.isVerified, true);
    assert.deepEqual((await listOf(server, tenantA)).map((resource) => resource.id).sort(), [unverifiedA.id, verifiedA.id].sort());
  });
});
