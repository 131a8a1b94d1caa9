import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { KeyObject, X509Certificate } from 'node:crypto';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { describeOn, testDialects } from '../support/test-databases.ts';
import { createCsr } from '../support/test-pki.ts';
import { newTenant, randomId } from '../support/api-helpers.ts';

// Issue 15 part 4, the API door of renewal: POST /agentCertificates/{id}/renew {csr} answers a new
// agent certificate record for the same name; the rules and the hourly limit are renewal over MQTT's.

for (const dialect of testDialects) describeOn(dialect)(`POST /agentCertificates/{id}/renew [${dialect}]`, () => {
  let server: TestServer;
  before(async () => { server = await startTestServer({}, { dialect }); });
  after(() => server.close());

  const issue = async (tenant: string, name: string): Promise<any> => {
    const answer = await server.api(tenant, '/agentCertificates', { body: { name } });
    assert.equal(answer.status, 201);
    return answer.body;
  };
  const renew = (tenant: string, id: string, csr: string) => server.api(tenant, `/agentCertificates/${id}/renew`, { body: { csr } });
  const count = async (tenant: string) => ((await server.api(tenant, '/agentCertificates')).body as any[]).length;

  test('renews for a CSR with the same CN: 201 with a new record, the old one stays READY; then 429 with Retry-After within the hour', async () => {
    const tenant = newTenant('ar');
    const issued = await issue(tenant, 'pump-1');
    const csr = await createCsr({ subject: 'CN=pump-1' });
    const answer = await renew(tenant, issued.id, csr.csrPem);
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    assert.notEqual(answer.body.id, issued.id);
    assert.deepEqual([answer.body.name, answer.body.clientId, answer.body.keySource, answer.body.privateKey, answer.body.status], ['pump-1', issued.clientId, 'csr', null, 'READY']);
    assert.equal(new X509Certificate(answer.body.publicKey).publicKey.export({ type: 'spki', format: 'pem' }), KeyObject.from(csr.publicKey).export({ type: 'spki', format: 'pem' }), 'the CSR\'s key');
    assert.equal(answer.headers.get('cache-control'), 'no-store');
    assert.equal((await server.api(tenant, `/agentCertificates/${issued.id}`)).body.status, 'READY');

    const again = await renew(tenant, answer.body.id, csr.csrPem);
    assert.equal(again.status, 429);
    assert.equal(again.body.errors[0].code, 'renewal.tooSoon');
    const retryAfter = Number(again.headers.get('retry-after'));
    assert.ok(retryAfter > 3_500 && retryAfter <= 3_600, String(retryAfter));
    assert.equal(await count(tenant), 2);
  });

  test('bad input: specific 4xx, nothing changes', async () => {
    const tenant = newTenant('ab');
    const issued = await issue(tenant, 'pump-2');
    const cases: [string, string, string, number, string][] = [
      ['another CN', issued.id, (await createCsr({ subject: 'CN=pump-3' })).csrPem, 400, 'renewal.commonNameMismatch'],
      ['a weak key', issued.id, (await createCsr({ subject: 'CN=pump-2', keyType: 'rsa1024' })).csrPem, 400, 'csr.weakKey'],
      ['garbage', issued.id, 'not a csr', 400, 'csr.invalid'],
      ['an unknown id', randomId(), (await createCsr({ subject: 'CN=pump-2' })).csrPem, 404, 'agentCertificate.notFound'],
    ];
    for (const [what, id, csr, status, code] of cases) {
      const answer = await renew(tenant, id, csr);
      assert.deepEqual([answer.status, answer.body.errors?.[0]?.code], [status, code], what);
    }
    const foreign = await renew(newTenant('ax'), issued.id, (await createCsr({ subject: 'CN=pump-2' })).csrPem);
    assert.deepEqual([foreign.status, foreign.body.errors[0].code], [404, 'agentCertificate.notFound'], 'another tenant\'s certificate');
    assert.equal((await server.api(tenant, `/agentCertificates/${issued.id}/renew`, { body: { csr: 'x', name: 'y' } })).status, 400, 'unknown fields');
    assert.equal(await count(tenant), 1);

    assert.equal((await server.api(tenant, `/agentCertificates/${issued.id}`, { method: 'DELETE' })).status, 204);
    const revoked = await renew(tenant, issued.id, (await createCsr({ subject: 'CN=pump-2' })).csrPem);
    assert.deepEqual([revoked.status, revoked.body.errors[0].code], [409, 'renewal.certificateRevoked']);
    assert.equal(await count(tenant), 1);
  });
});
