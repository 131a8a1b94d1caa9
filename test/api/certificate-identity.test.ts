import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { derToPem } from '../../src/pki/index.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { describeOn, testDialects } from '../support/test-databases.ts';
import { createCa, ecdsaSignatureTwin } from '../support/test-pki.ts';
import { assertError, listOf, newTenant, proofFor, registrationCodeOf, uploadCa, uploadCaOk, verify } from '../support/api-helpers.ts';

// Issue 10, findings 1 and 3 through the REST API (docs/decisions/0013-certificate-identity.md).
for (const dialect of testDialects) describeOn(dialect)(`certificate identity over the API [${dialect}]`, () => {
  let server: TestServer;
  before(async () => { server = await startTestServer({}, { dialect }); });
  after(async () => { await server?.close(); });

  test('the (r, n - s) twin of a registered CA is refused as a duplicate: one CA cannot take both slots', async () => {
    const tenant = newTenant('twin');
    const ca = await createCa({ subject: 'CN=plant CA' });
    const twinPem = derToPem(ecdsaSignatureTwin(ca.certificateDer));
    assert.notEqual(new X509Certificate(twinPem).fingerprint256, new X509Certificate(ca.certificatePem).fingerprint256, 'other bytes, other fingerprint');
    const first = await uploadCaOk(server, tenant, ca);
    assertError(await uploadCa(server, tenant, { certificatePem: twinPem }), 409, 'caCertificate.duplicate');
    // Also once the original is verified, and the other way round in a fresh tenant.
    assert.equal((await verify(server, tenant, first.id, (await proofFor(ca, await registrationCodeOf(server, tenant, first.id))).certificatePem)).status, 200);
    assertError(await uploadCa(server, tenant, { certificatePem: twinPem }), 409, 'caCertificate.duplicate');
    assert.deepEqual((await listOf(server, tenant)).map((r) => r.id), [first.id]);
    const reversed = newTenant('twin');
    await uploadCaOk(server, reversed, { certificatePem: twinPem });
    assertError(await uploadCa(server, reversed, ca), 409, 'caCertificate.duplicate');
  });

  // The attack: the managed CA's certificate is in every /agentCertificates answer. Another tenant
  // uploaded it, had the victim's admin issue an agent certificate named after its registration
  // code, verified with it, and after a restart received the victim's managed agents.
  test('another tenant cannot claim a tenant\'s managed CA: uploading its certificate is refused (and the victim\'s own upload of it too)', async () => {
    const victim = newTenant('victim');
    const attacker = newTenant('evil');
    const issued = await server.api(victim, '/agentCertificates', { body: { name: 'pump-1' } });
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    const managedCaPem: string = issued.body.caCertificate;

    const upload = await uploadCa(server, attacker, { certificatePem: managedCaPem });
    assertError(upload, 409, 'caCertificate.keyOfManagedCa', /managed agent CA/);
    assert.deepEqual(await listOf(server, attacker), [], 'nothing stored: no registration code to trick the victim with');
    // Re-encoded (its signature flipped), it is still the managed CA's key.
    assertError(await uploadCa(server, attacker, { certificatePem: derToPem(ecdsaSignatureTwin(new X509Certificate(managedCaPem).raw)) }), 409, 'caCertificate.keyOfManagedCa');
    assertError(await uploadCa(server, victim, { certificatePem: managedCaPem }), 409, 'caCertificate.keyOfManagedCa');

    // The rest of the old attack has nothing to work on; the victim's managed CA keeps issuing.
    const next = await server.api(victim, '/agentCertificates', { body: { name: 'pump-2' } });
    assert.equal(next.status, 201);
    assert.equal(next.body.caCertificate, managedCaPem);
  });
});
