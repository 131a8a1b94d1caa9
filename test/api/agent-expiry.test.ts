import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { assertError, newTenant, randomId, rawRequest } from '../support/api-helpers.ts';
import { endClient, connectAgent, issueAgent, registerVerifiedCa, sha256Hex, waitForAgent, type VerifiedCa } from '../support/broker-helpers.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { describeOn, testDialects } from '../support/test-databases.ts';
import type { TestCertificate } from '../support/test-pki.ts';
import { parseCertificatePem } from '../../src/pki/index.ts';

const DAY_MS = 86_400_000;

// Issue 15, parts 3 and 5: the agent resource carries its current certificate; GET /agents filters
// by expiry and by issuing CA (who still uses the old CA during a rollover), and tells a tenant
// nothing about another tenant's CAs.
for (const dialect of testDialects) describeOn(dialect)(`GET /agents: current certificate, expiringBefore and caCertificateId [${dialect}]`, { timeout: 120_000 }, () => {
  let server: TestServer;
  const tenant = newTenant('exp');
  const other = newTenant('oth');
  let oldCa: VerifiedCa;
  let newCa: VerifiedCa;
  const certificates: Record<string, TestCertificate> = {};
  const now = Date.now();

  const connectOnce = async (name: string, certificate: TestCertificate) => {
    const client = await connectAgent(server, certificate, `${tenant}_${name}`);
    await endClient(client);
    const fingerprint = sha256Hex(certificate.certificateDer);
    return waitForAgent(server, tenant, `${tenant}_${name}`, (agent) => agent.certificate?.fingerprintSha256 === fingerprint);
  };
  const names = async (query: string, as = tenant) => {
    const answer = await server.api(as, `/agents?${query}`);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return (answer.body as any[]).map((agent) => agent.commonName).sort();
  };

  before(async () => {
    server = await startTestServer({}, { dialect });
    oldCa = await registerVerifiedCa(server, tenant, { subject: `CN=${tenant} old CA` });
    newCa = await registerVerifiedCa(server, tenant, { subject: `CN=${tenant} new CA` });
    certificates.soonOld = await issueAgent(oldCa.ca, 'soon-old', { notAfter: new Date(now + 10 * DAY_MS) });
    certificates.lateOld = await issueAgent(oldCa.ca, 'late-old', { notAfter: new Date(now + 400 * DAY_MS) });
    certificates.soonNew = await issueAgent(newCa.ca, 'soon-new', { notAfter: new Date(now + 20 * DAY_MS) });
    await connectOnce('soon-old', certificates.soonOld);
    await connectOnce('late-old', certificates.lateOld);
    await connectOnce('soon-new', certificates.soonNew);
  });
  after(async () => { await server?.close(); });

  test('GET /agents/{id} carries the current certificate: serial, validity and fingerprint', async () => {
    const listed = (await server.api(tenant, '/agents')).body.find((agent: any) => agent.commonName === 'soon-old');
    const answer = await server.api(tenant, `/agents/${listed.id}`);
    assert.equal(answer.status, 200);
    const parsed = parseCertificatePem(certificates.soonOld!.certificatePem);
    assert.deepEqual(answer.body.certificate, {
      serialNumber: parsed.serialNumber,
      notBefore: parsed.notBefore.toISOString(),
      notAfter: parsed.notAfter.toISOString(),
      fingerprintSha256: sha256Hex(certificates.soonOld!.certificateDer),
    });
    assert.equal(answer.body.certificateFingerprint, answer.body.certificate.fingerprintSha256);
    assert.deepEqual(listed, answer.body, 'the list shows the same');
  });

  test('expiringBefore and caCertificateId filter, alone and together', async () => {
    const in30Days = new Date(now + 30 * DAY_MS).toISOString();
    assert.deepEqual(await names(''), ['late-old', 'soon-new', 'soon-old']);
    assert.deepEqual(await names(`expiringBefore=${in30Days}`), ['soon-new', 'soon-old']);
    assert.deepEqual(await names(`expiringBefore=${encodeURIComponent(new Date(now + 15 * DAY_MS).toISOString().replace('Z', '+00:00'))}`), ['soon-old'], 'an offset zone');
    assert.deepEqual(await names(`caCertificateId=${oldCa.id}`), ['late-old', 'soon-old']);
    assert.deepEqual(await names(`caCertificateId=${newCa.id}`), ['soon-new']);
    assert.deepEqual(await names(`caCertificateId=${oldCa.id}&expiringBefore=${in30Days}`), ['soon-old']);
  });

  for (const bad of ['tomorrow', '2027-02-30T00:00:00Z', '2027-01-01T24:00:00Z', '2027-01-01T00:00:00', '2027-01-01', '', '2027-01-01T00:00:00Z; drop table agents']) {
    test(`expiringBefore=${JSON.stringify(bad)}: 400 agent.expiringBeforeInvalid`, async () => {
      const answer = await rawRequest(server, `/agents?expiringBefore=${encodeURIComponent(bad)}`, { tenant });
      assertError(answer, 400, 'agent.expiringBeforeInvalid');
    });
  }

  test('another tenant\'s CA id matches nothing: the very answer an id that never existed gets, and the filter leaks no agent', async () => {
    const foreign = await rawRequest(server, `/agents?caCertificateId=${oldCa.id}`, { tenant: other });
    const missing = await rawRequest(server, `/agents?caCertificateId=${randomId()}`, { tenant: other });
    assert.equal(foreign.status, 200);
    assert.equal(foreign.text, '[]');
    assert.equal(missing.text, foreign.text);
    assert.deepEqual(await names(`expiringBefore=${new Date(now + 1000 * DAY_MS).toISOString()}`, other), []);
    assert.deepEqual(await names(`caCertificateId=${randomId()}`), [], 'an unknown id in one\'s own tenant: empty as well');
    assert.deepEqual(await names(`caCertificateId=${encodeURIComponent(`x' OR '1'='1`)}`, other), [], 'no SQL through the filter');
    assertError(await rawRequest(server, `/agents?caCertificateId=${'a'.repeat(65)}`, { tenant: other }), 400, 'request.invalid');
  });

  // Part 5: a rollover. The agent reconnects with a certificate of the new CA (same CN): it moves
  // from the old CA's list to the new one's, with its new certificate.
  test('an agent reconnecting with a certificate of the new CA moves from the old CA\'s list to the new one\'s', async () => {
    const reissued = await issueAgent(newCa.ca, 'soon-old', { notAfter: new Date(now + 500 * DAY_MS) });
    const before = (await server.api(tenant, '/agents')).body.find((agent: any) => agent.commonName === 'soon-old');
    const moved = await connectOnce('soon-old', reissued);
    assert.equal(moved.id, before.id, 'the identity is kept');
    assert.equal(moved.caCertificateId, newCa.id);
    assert.equal(moved.certificate.notAfter, parseCertificatePem(reissued.certificatePem).notAfter.toISOString());
    assert.deepEqual(await names(`caCertificateId=${oldCa.id}`), ['late-old']);
    assert.deepEqual(await names(`caCertificateId=${newCa.id}`), ['soon-new', 'soon-old']);
    assert.deepEqual(await names(`expiringBefore=${new Date(now + 30 * DAY_MS).toISOString()}`), ['soon-new'], 'no longer expiring');
  });
});
