import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { createCa, type TestCertificate } from '../support/test-pki.ts';
import { assertError, newTenant, rawRequest, uploadCaOk } from '../support/api-helpers.ts';
import { agentCertificate, agentsOf, ClientPool, connectOk, verifiedCa } from '../support/broker-refusal-helpers.ts';

// POST /agents/doctor: a dry-run doctor that answers, step by step, whether the
// broker would accept an agent certificate (and optionally the client id it will use) and why not.
// Within the asking tenant only: another tenant's CA answers exactly like an unknown one.

const STEPS = [
  'certificate', 'structure', 'issuer', 'revocation', 'caValidity', 'caRules', 'validity', 'keyStrength', 'signatureStrength', 'notCa', 'clientAuth', 'commonName', 'clientId',
  'agentEnabled',
];

interface Step { check: string; status: 'passed' | 'failed' | 'skipped'; message: string }
interface Diagnosis { wouldBeAccepted: boolean; clientId: string | null; steps: Step[] }

/** Steps in order; every step before `failedAt` passed (or is one of `skippedBefore`), it failed, every later one is skipped. */
const assertFailedAt = (diagnosis: Diagnosis, failedAt: string, skippedBefore: string[] = []): Step => {
  const context = JSON.stringify(diagnosis, null, 1);
  assert.equal(diagnosis.wouldBeAccepted, false, context);
  assert.deepEqual(diagnosis.steps.map((s) => s.check), STEPS, `every step, in order; ${context}`);
  const index = STEPS.indexOf(failedAt);
  diagnosis.steps.forEach((step, i) => {
    const expected = i < index ? (skippedBefore.includes(step.check) ? 'skipped' : 'passed') : i === index ? 'failed' : 'skipped';
    assert.equal(step.status, expected, `step ${step.check}; ${context}`);
    assert.equal(typeof step.message, 'string');
    assert.ok(step.message.length > 0, `step ${step.check} says something`);
  });
  return diagnosis.steps[index]!;
};

describe('POST /agents/doctor', () => {
  let server: TestServer;
  const pool = new ClientPool();
  const tenant = newTenant('dr');
  const otherTenant = newTenant('do');
  let verified: { ca: TestCertificate; id: string };
  let unverifiedCa: TestCertificate;
  let good: TestCertificate;

  const doctor = async (agentCertificate: string, clientId?: string, asTenant = tenant): Promise<Diagnosis> => {
    const answer = await server.api(asTenant, '/agents/doctor', { body: clientId === undefined ? { agentCertificate } : { agentCertificate, clientId } });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(Object.keys(answer.body).sort(), ['clientId', 'steps', 'wouldBeAccepted']);
    return answer.body;
  };

  before(async () => {
    server = await startTestServer();
    verified = await verifiedCa(server, tenant, 'CN=Doctor CA');
    unverifiedCa = await createCa({ subject: 'CN=Doctor Unverified CA' });
    await uploadCaOk(server, tenant, unverifiedCa, 'unverified');
    good = await agentCertificate(verified.ca, 'good-1');
  });
  after(async () => {
    await pool.closeAll();
    await server?.close();
  });

  test('a good certificate with the right client id: would be accepted, every step passed, nothing onboarded', async () => {
    const diagnosis = await doctor(good.certificatePem, `${tenant}_good-1`);
    assert.equal(diagnosis.wouldBeAccepted, true, JSON.stringify(diagnosis));
    assert.equal(diagnosis.clientId, `${tenant}_good-1`);
    assert.deepEqual(diagnosis.steps.map((s) => s.check), STEPS);
    for (const step of diagnosis.steps) assert.equal(step.status, 'passed', JSON.stringify(step));
    assert.deepEqual(await agentsOf(server, tenant), [], 'the doctor is a dry run');
  });

  test('a good certificate without a client id: clientId step skipped, naming the expected id', async () => {
    const diagnosis = await doctor(good.certificatePem);
    assert.equal(diagnosis.wouldBeAccepted, true, JSON.stringify(diagnosis));
    assert.equal(diagnosis.clientId, `${tenant}_good-1`);
    assert.deepEqual(diagnosis.steps.map((s) => s.check), STEPS);
    for (const step of diagnosis.steps) assert.equal(step.status, step.check === 'clientId' ? 'skipped' : 'passed', JSON.stringify(step));
    assert.ok(diagnosis.steps.find((s) => s.check === 'clientId')!.message.includes(`"${tenant}_good-1"`));
  });

  test('the certificate with its CA appended (as the how-to concatenates them) is judged by its first certificate', async () => {
    const diagnosis = await doctor(good.certificatePem + verified.ca.certificatePem, `${tenant}_good-1`);
    assert.equal(diagnosis.wouldBeAccepted, true, JSON.stringify(diagnosis));
    assert.equal(diagnosis.clientId, `${tenant}_good-1`);
    for (const step of diagnosis.steps) assert.equal(step.status, 'passed', JSON.stringify(step));
  });

  test('a wrong client id: the clientId step fails and names both ids', async () => {
    const diagnosis = await doctor(good.certificatePem, `${tenant}_wrong`);
    const step = assertFailedAt(diagnosis, 'clientId');
    assert.ok(step.message.includes(`${tenant}_wrong`), step.message);
    assert.ok(step.message.includes(`${tenant}_good-1`), step.message);
  });

  test('a wrong client id: the answer\'s clientId is the one the agent must use, not the wrong one', async () => {
    // DoctorResponse.clientId is documented as "The client id the agent must use, when known";
    // after the commonName step passed it is known.
    const diagnosis = await doctor(good.certificatePem, `${tenant}_wrong`);
    assert.equal(diagnosis.clientId, `${tenant}_good-1`);
  });

  test('a CA uploaded but not verified: the issuer step fails and says to verify it', async () => {
    const cert = await agentCertificate(unverifiedCa, 'nv-1');
    const step = assertFailedAt(await doctor(cert.certificatePem, `${tenant}_nv-1`), 'issuer');
    assert.match(step.message, /not verified/);
  });

  test('an unknown CA: the issuer step fails; without a client id the answer has none', async () => {
    const stranger = await createCa({ subject: 'CN=Doctor Stranger CA' });
    const cert = await agentCertificate(stranger, 'unknown-1');
    const diagnosis = await doctor(cert.certificatePem);
    const step = assertFailedAt(diagnosis, 'issuer');
    assert.match(step.message, /No registered CA certificate/);
    assert.equal(diagnosis.clientId, null);
  });

  test('a CA of another tenant answers exactly like an unknown CA (no leak)', async () => {
    // Same subject DN and same agent CN, so everything that may legitimately differ is equal.
    const foreignCa = await verifiedCa(server, otherTenant, 'CN=Doctor Shared Name CA');
    const unknownCa = await createCa({ subject: 'CN=Doctor Shared Name CA' });
    const foreignCert = await agentCertificate(foreignCa.ca, 'same-cn');
    const unknownCert = await agentCertificate(unknownCa, 'same-cn');
    // The other tenant's own doctor accepts it: the CA really is trusted there.
    assert.equal((await doctor(foreignCert.certificatePem, `${otherTenant}_same-cn`, otherTenant)).wouldBeAccepted, true);

    for (const clientId of [undefined, `${tenant}_same-cn`, `${otherTenant}_same-cn`]) {
      const foreign = await doctor(foreignCert.certificatePem, clientId);
      const unknown = await doctor(unknownCert.certificatePem, clientId);
      assertFailedAt(foreign, 'issuer');
      assert.deepEqual(foreign, unknown, `client id ${clientId}`);
      assert.ok(!JSON.stringify(foreign).includes(foreignCa.id), 'no foreign CA id in the answer');
    }
    // An unverified CA of another tenant answers like an unknown one too (not "not verified").
    const foreignUnverified = await createCa({ subject: 'CN=Doctor Shared Unverified CA' });
    await uploadCaOk(server, otherTenant, foreignUnverified, 'foreign unverified');
    const unknownTwin = await createCa({ subject: 'CN=Doctor Shared Unverified CA' });
    assert.deepEqual(
      await doctor((await agentCertificate(foreignUnverified, 'same-cn')).certificatePem),
      await doctor((await agentCertificate(unknownTwin, 'same-cn')).certificatePem),
    );
  });

  test('an expired certificate: the validity step fails and names the date', async () => {
    const notAfter = new Date(Date.now() - 86_400_000);
    const cert = await agentCertificate(verified.ca, 'expired-1', { notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter });
    const step = assertFailedAt(await doctor(cert.certificatePem, `${tenant}_expired-1`), 'validity');
    assert.match(step.message, /expired/);
    assert.ok(step.message.includes(new Date(Math.floor(notAfter.getTime() / 1000) * 1000).toISOString()), step.message);
  });

  test('a CA:TRUE certificate (issued by the CA, or the CA itself): the notCa step fails', async () => {
    const caTrue = await agentCertificate(verified.ca, 'ca-true-1', { basicConstraints: { ca: true, critical: true }, keyUsage: ['keyCertSign'] });
    assert.match(assertFailedAt(await doctor(caTrue.certificatePem, `${tenant}_ca-true-1`), 'notCa').message, /CA:TRUE/);
    assert.match(assertFailedAt(await doctor(verified.ca.certificatePem), 'notCa').message, /CA:TRUE/);
  });

  test('an extendedKeyUsage of serverAuth only: the clientAuth step fails', async () => {
    const cert = await agentCertificate(verified.ca, 'server-only-1', { extendedKeyUsage: 'serverAuth' });
    assert.match(assertFailedAt(await doctor(cert.certificatePem, `${tenant}_server-only-1`), 'clientAuth').message, /clientAuth/);
  });

  test('a disabled agent: the agentEnabled step fails, everything before it passed', async () => {
    const cert = await agentCertificate(verified.ca, 'disabled-1');
    const clientId = `${tenant}_disabled-1`;
    const client = await connectOk(server, pool, clientId, { agent: cert });
    const agent = (await agentsOf(server, tenant)).find((a) => a.clientId === clientId);
    assert.ok(agent);
    assert.equal((await server.api(tenant, `/agents/${agent.id}`, { method: 'PATCH', body: { enabled: false } })).status, 200);
    await client.endAsync(true);

    const withId = await doctor(cert.certificatePem, clientId);
    assert.match(assertFailedAt(withId, 'agentEnabled').message, /disabled/);
    assert.equal(withId.clientId, clientId);
    const withoutId = await doctor(cert.certificatePem);
    assertFailedAt(withoutId, 'agentEnabled', ['clientId']);
    assert.equal(withoutId.clientId, clientId);
  });

  test('garbage instead of a certificate: 200, the certificate step fails with a helpful message', async () => {
    for (const garbage of ['hello world', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', `${good.certificatePem.slice(0, 200)}`]) {
      const diagnosis = await doctor(garbage);
      assert.equal(diagnosis.wouldBeAccepted, false);
      assert.equal(diagnosis.steps[0]?.check, 'certificate');
      assert.equal(diagnosis.steps[0]?.status, 'failed');
      assert.ok(diagnosis.steps[0]!.message.length > 10);
      for (const step of diagnosis.steps.slice(1)) assert.equal(step.status, 'skipped');
    }
    assert.deepEqual(await agentsOf(server, tenant).then((a) => a.filter((x) => x.clientId !== `${tenant}_disabled-1`)), []);
  });

  test('every answer lists the same steps in the same order, also when the certificate cannot be read', async () => {
    const diagnosis = await doctor('hello world');
    assertFailedAt(diagnosis, 'certificate');
  });

  test('an empty certificate: 400 request.invalid', async () => {
    assertError(await server.api(tenant, '/agents/doctor', { body: { agentCertificate: '' } }), 400, 'request.invalid');
    assertError(await server.api(tenant, '/agents/doctor', { body: {} }), 400, 'request.invalid');
  });

  test('a private key in the body: 400 pem.privateKeyIncluded, the key never echoed', async () => {
    for (const body of [
      { agentCertificate: good.certificatePem + good.privateKeyPem },
      { agentCertificate: good.privateKeyPem },
      { agentCertificate: good.certificatePem, clientId: good.privateKeyPem },
    ]) {
      const answer = await rawRequest(server, '/agents/doctor', { tenant, body: JSON.stringify(body) });
      assertError(answer, 400, 'pem.privateKeyIncluded');
      assert.ok(!answer.text.includes('PRIVATE KEY'), 'the key is not echoed');
      const keyBody = good.privateKeyPem.split('\n')[1]!;
      assert.ok(!answer.text.includes(keyBody));
    }
  });

  test('a read-only token may ask the doctor; a token without mcmqtt scope may not', async () => {
    const body = JSON.stringify({ agentCertificate: good.certificatePem });
    const read = await rawRequest(server, '/agents/doctor', { body, authorization: `Bearer ${await server.token(tenant, { scopes: ['mcmqtt.read'] })}` });
    assert.equal(read.status, 200, read.text);
    assert.equal(read.body.wouldBeAccepted, true);
    assertError(await rawRequest(server, '/agents/doctor', { body, authorization: `Bearer ${await server.token(tenant, { scopes: ['openid'] })}` }), 403, 'auth.scopeMissing');
  });
});
