import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { newTenant, proofFor, rawRequest, registrationCodeOf } from '../support/api-helpers.ts';
import { captureLogs } from '../support/capture-logs.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { describeOn } from '../support/test-databases.ts';
import { createCa } from '../support/test-pki.ts';

// Review of issue 16: the audit trail and the request logs must never carry a private key, a
// token or a registration code. A CA uploaded, its code read and its proof verified, a managed
// agent certificate issued (the answer holds a private key), a CA uploaded with its key pasted in
// by mistake (refused): every log line of the server, at trace level, is searched for each secret.

describeOn('sqlite')('no secret in any log line', { timeout: 120_000 }, () => {
  let server: TestServer;
  const logs = captureLogs('trace');
  before(async () => {
    server = await startTestServer({}, { logger: logs.logger });
  });
  after(async () => server?.close());

  it('CA upload, registration code, verification, agent certificate issue and a pasted key leave no key, token or code in the logs', async () => {
    const tenant = newTenant('secrets');
    const token = await server.token(tenant);
    const call = async (path: string, body?: unknown, method?: string) => {
      const answer = await rawRequest(server, path, { authorization: `Bearer ${token}`, method, body: body === undefined ? undefined : JSON.stringify(body) });
      return answer;
    };
    const ca = await createCa({ subject: `CN=${tenant}-ca` });
    const uploaded = await call('/caCertificates', { name: 'plant', caCertificate: ca.certificatePem });
    assert.equal(uploaded.status, 201, uploaded.text);
    const code = await registrationCodeOf(server, tenant, uploaded.body.id);
    const verified = await call(`/caCertificates/${uploaded.body.id}/verify`, { verificationCertificate: (await proofFor(ca, code)).certificatePem });
    assert.equal(verified.status, 200, verified.text);
    const issued = await call('/agentCertificates', { name: 'valve-1' });
    assert.equal(issued.status, 201, issued.text);
    assert.match(issued.body.privateKey, /PRIVATE KEY/, 'positive control: the answer holds a key');
    const pasted = await call('/caCertificates', { name: 'oops', caCertificate: `${ca.certificatePem}\n${ca.privateKeyPem}` });
    assert.equal(pasted.status, 400, pasted.text);

    const secrets: [string, string][] = [
      ['a PEM private key', 'PRIVATE KEY'],
      ['the token', token.split('.')[2]!],
      ['the registration code', code],
      // A line of each key's base64 body (a key logged without its PEM armour).
      ['the issued key', issued.body.privateKey.split('\n')[2]],
      ['the pasted CA key', ca.privateKeyPem.split('\n')[2]!],
    ];
    assert.ok(logs.lines.length > 10, `positive control: ${logs.lines.length} lines captured`);
    assert.ok(logs.lines.some((line) => line.audit === true && line.action === 'agentCertificate.issued'), 'positive control: audit lines captured');
    for (const [what, secret] of secrets) {
      const leaking = logs.lines.filter((line) => JSON.stringify(line).includes(secret));
      assert.deepEqual(leaking.map((line) => line.msg), [], `${what} in the logs`);
    }
    // The audit trail through the API holds none of them either.
    const events = await call('/auditEvents?limit=1000');
    for (const [what, secret] of secrets) assert.ok(!events.text.includes(secret), `${what} in GET /auditEvents`);
  });
});
