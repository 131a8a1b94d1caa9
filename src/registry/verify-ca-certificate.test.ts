import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createCa, issueCertificate } from '../../test/support/test-pki.ts';
import { registryFixture } from '../../test/support/registry-fixture.ts';
import { parseCertificatePem } from '../pki/index.ts';
import type { CaCertificateId, TenantId } from '../shared/index.ts';

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

  // Issue 10, finding 3: a tenant uploaded another tenant's managed CA and verified it with an agent
  // certificate the victim's admin was tricked into issuing under the registration code's name.
  it('refuses to verify an upload of a managed CA\'s key stored before that upload was refused, even with a valid proof from the managed CA', async () => {
    const { registry, caCertificates, trustIndex, events } = registryFixture();
    const victim = 'victim' as TenantId;
    const evil = 'evil' as TenantId;
    const issued = await registry.createAgentCertificate({ tenant: victim, name: 'pump-1' });
    const managedCa = parseCertificatePem(issued.caCertificatePem);
    // As the previous release stored it: the upload itself is refused now (caCertificate.keyOfManagedCa).
    assert.equal(await codeOf(registry.registerCaCertificate({ tenant: evil, name: 'stolen', caCertificatePem: issued.caCertificatePem })), 'caCertificate.keyOfManagedCa');
    const legacy = await caCertificates.insert({
      id: 'e'.repeat(24) as CaCertificateId, tenant: evil, name: 'stolen', description: undefined, certificatePem: managedCa.pem, subject: managedCa.subject,
      commonName: 'x', fingerprintSha256: managedCa.fingerprintSha256, tbsCertificateSha256: managedCa.tbsCertificateSha256, publicKeySha256: managedCa.publicKeySha256,
      subjectKeyId: managedCa.subjectKeyId, notBefore: managedCa.notBefore, notAfter: managedCa.notAfter, registrationCode: 'c0de'.repeat(8), createdAt: new Date(),
    }, 2);
    // The victim's admin issues the "agent certificate" that is the attacker's proof of possession.
    const proof = await registry.createAgentCertificate({ tenant: victim, name: legacy.registrationCode });
    const eventsBefore = events.length;
    assert.equal(await codeOf(registry.verifyCaCertificate({ tenant: evil, id: legacy.id, verificationCertificatePem: proof.certificate.certificatePem })), 'caCertificate.keyOfManagedCa');
    assert.equal((await registry.findCaCertificate(evil, legacy.id)).isVerified, false);
    assert.equal(events.length, eventsBefore);
    const agent = parseCertificatePem(issued.certificate.certificatePem);
    assert.equal(trustIndex.findIssuer(agent)?.tenant, victim, 'the victim\'s agents stay the victim\'s');
  });
});
