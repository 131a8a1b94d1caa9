import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createCa, issueCertificate } from '../../test/support/test-pki.ts';
import { registryFixture } from '../../test/support/registry-fixture.ts';
import type { TenantId } from '../shared/index.ts';

const acme = 'acme' as TenantId;
const codeOf = async (promise: Promise<unknown>) => promise.then(() => 'ok', (error: { code?: string }) => error.code);

describe('verifyCaCertificate', () => {
  it('verifies with a v1 proof, publishes one event, and answers a repeated proof idempotently', async () => {
    const { registry, events } = registryFixture();
    const ca = await createCa();
    const record = await registry.registerCaCertificate({ tenant: acme, name: 'ca', caCertificatePem: ca.certificatePem });
    const proof = await issueCertificate(ca, { subject: `CN=${record.registrationCode}`, version: 1 });
    const input = { tenant: acme, id: record.id, verificationCertificatePem: proof.certificatePem };
    const verified = await registry.verifyCaCertificate(input);
    assert.equal(verified.isVerified, true);
    assert.deepEqual(await registry.verifyCaCertificate(input), verified);
    assert.deepEqual(events.filter((e) => e.type !== 'caCertificateRegistered'), [{ type: 'caCertificateVerified', tenant: acme, caCertificateId: record.id }]);
  });

  it('refuses a proof for a CA that expired after its upload, and stays unverified', async () => {
    const { registry, setNow, events } = registryFixture({ now: new Date('2026-11-27T00:00:00Z') });
    const ca = await createCa({ notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2026-12-01T00:00:00Z') });
    const record = await registry.registerCaCertificate({ tenant: acme, name: 'ca', caCertificatePem: ca.certificatePem });
    const proof = await issueCertificate(ca, { subject: `CN=${record.registrationCode}`, notAfter: new Date('2027-01-01T00:00:00Z') });
    setNow(new Date('2026-12-02T00:00:00Z'));
    assert.equal(await codeOf(registry.verifyCaCertificate({ tenant: acme, id: record.id, verificationCertificatePem: proof.certificatePem })), 'caCertificate.expired');
    assert.equal((await registry.findCaCertificate(acme, record.id)).isVerified, false);
    assert.deepEqual(events.filter((e) => e.type !== 'caCertificateRegistered'), []);
  });

  it('does not accept one CA\'s registration code for another CA', async () => {
    const { registry } = registryFixture();
    const [first, second] = [await createCa(), await createCa()];
    const one = await registry.registerCaCertificate({ tenant: acme, name: 'one', caCertificatePem: first.certificatePem });
    const two = await registry.registerCaCertificate({ tenant: acme, name: 'two', caCertificatePem: second.certificatePem });
    const proofWithOnesCode = await issueCertificate(second, { subject: `CN=${one.registrationCode}` });
    assert.equal(await codeOf(registry.verifyCaCertificate({ tenant: acme, id: two.id, verificationCertificatePem: proofWithOnesCode.certificatePem })),
      'verification.registrationCodeMismatch');
  });
});
