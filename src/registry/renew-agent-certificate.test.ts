import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createCsr } from '../../test/support/test-pki.ts';
import { registryFixture } from '../../test/support/registry-fixture.ts';
import { isKeyOfCertificate } from '../pki/index.ts';
import type { AgentCertificateId, CaCertificateId, TenantId } from '../shared/index.ts';
import type { RenewalSubject } from './renew-agent-certificate.ts';

const acme = 'acme' as TenantId;
const codeOf = async (promise: Promise<unknown>) => promise.then(() => 'ok', (error: { code?: string }) => error.code);
const HOUR_MS = 3_600_000;

/** A CSR whose signature no longer verifies: its last octet (in the signature) flipped. */
const tamperedCsr = (csrPem: string): string => {
  const der = Buffer.from(csrPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  der[der.length - 1] = der[der.length - 1]! ^ 0x01;
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE REQUEST-----\n`;
};

const setUp = async () => {
  const start = new Date('2026-12-02T10:00:00.000Z');
  const fixture = registryFixture({ now: start });
  const issued = await fixture.registry.createAgentCertificate({ tenant: acme, name: 'pump-1', owner: 'plant ops' });
  const session: RenewalSubject = {
    kind: 'session', clientId: 'acme_pump-1', caCertificateId: issued.certificate.managedCaId, serialNumber: issued.certificate.serialNumber,
  };
  return { ...fixture, start, issued, session };
};

describe('renewAgentCertificate (MQTT o/cert_v1/csr, POST /agentCertificates/{id}/renew)', () => {
  it('certifies a new key for the same name and client id as a new record; the old certificate stays valid (not revoked) and keeps nothing active', async () => {
    const { registry, agentCertificates, issued, session, start, events, setNow } = await setUp();
    const later = new Date(start.getTime() + 60_000);
    setNow(later);
    const csr = await createCsr({ subject: 'CN=pump-1', keyType: 'p384' });
    const renewed = await registry.renewAgentCertificate({ tenant: acme, subject: session, csrPem: csr.csrPem });

    const certificate = new X509Certificate(renewed.certificate.certificatePem);
    assert.equal(certificate.subject, 'CN=pump-1');
    assert.ok(certificate.verify(new X509Certificate(issued.caCertificatePem).publicKey), 'issued by the managed CA');
    assert.ok(isKeyOfCertificate(renewed.certificate.certificatePem, csr.privateKeyPem), 'the CSR\'s (new) key is certified');
    assert.equal(renewed.privateKeyPem, undefined, 'no key is generated or returned');
    assert.notEqual(renewed.certificate.id, issued.certificate.id);
    assert.deepEqual(
      { clientId: renewed.certificate.clientId, name: renewed.certificate.name, owner: renewed.certificate.owner, keySource: renewed.certificate.keySource, createdAt: renewed.certificate.createdAt },
      { clientId: 'acme_pump-1', name: 'pump-1', owner: 'plant ops', keySource: 'csr', createdAt: later },
    );
    const all = await agentCertificates.list(acme);
    assert.deepEqual(all.map((r) => [r.id, r.isRevoked]), [[issued.certificate.id, false], [renewed.certificate.id, false]], 'both listed, neither revoked');
    assert.equal((await agentCertificates.findActiveByName(acme, 'pump-1'))?.id, renewed.certificate.id, 'the renewed one is the name\'s active certificate');
    assert.deepEqual(events.map((e) => e.type), ['managedCaCreated'], 'no trust event: the old certificate stays trusted');
    assert.equal(await codeOf(registry.createAgentCertificate({ tenant: acme, name: 'pump-1' })), 'agentCertificate.duplicate', 'the name is still taken');
  });

  it('allows one renewal per agent per hour (fake clock), the refusal naming the retry time, then another after the hour; the API shares the limit', async () => {
    const { registry, issued, session, start, setNow } = await setUp();
    const csr = await createCsr({ subject: 'CN=pump-1' });
    await registry.renewAgentCertificate({ tenant: acme, subject: session, csrPem: csr.csrPem });

    setNow(new Date(start.getTime() + HOUR_MS - 1));
    const tooSoon = await registry.renewAgentCertificate({ tenant: acme, subject: session, csrPem: csr.csrPem }).catch((error: unknown) => error);
    assert.equal((tooSoon as { code: string }).code, 'renewal.tooSoon');
    assert.deepEqual((tooSoon as { details: unknown }).details, { retryAt: new Date(start.getTime() + HOUR_MS).toISOString() });
    assert.match((tooSoon as Error).message, /2026-12-02T11:00:00.000Z/);
    assert.equal(await codeOf(registry.renewAgentCertificate({ tenant: acme, subject: { kind: 'certificate', agentCertificateId: issued.certificate.id }, csrPem: csr.csrPem })),
      'renewal.tooSoon', 'per agent, whichever door');

    setNow(new Date(start.getTime() + HOUR_MS));
    assert.equal(await codeOf(registry.renewAgentCertificate({ tenant: acme, subject: session, csrPem: csr.csrPem })), 'ok');
  });

  it('checks the limit before the CSR: a flood within the hour gets renewal.tooSoon even with garbage, and never reads or signs', async () => {
    const { registry, session, managedCas } = await setUp();
    await registry.renewAgentCertificate({ tenant: acme, subject: session, csrPem: (await createCsr({ subject: 'CN=pump-1' })).csrPem });
    let signingReads = 0;
    const findForSigning = managedCas.findForSigning.bind(managedCas);
    managedCas.findForSigning = async (tenant) => { signingReads += 1; return findForSigning(tenant); };
    for (let i = 0; i < 20; i++) assert.equal(await codeOf(registry.renewAgentCertificate({ tenant: acme, subject: session, csrPem: 'not a csr' })), 'renewal.tooSoon');
    assert.equal(signingReads, 0, 'the CA key was never even loaded');
  });

  it('refuses bad CSRs with specific codes and changes nothing (not even the hourly limit)', async () => {
    const { registry, agentCertificates, session } = await setUp();
    const before = await agentCertificates.list(acme);
    const cases: [string, Promise<string>][] = [
      ['renewal.commonNameMismatch', createCsr({ subject: 'CN=pump-2' }).then((c) => c.csrPem)],
      ['renewal.commonNameMismatch', createCsr({ subject: 'O=acme' }).then((c) => c.csrPem)],
      ['renewal.commonNameMismatch', createCsr({ subject: 'CN=acme_pump-1' }).then((c) => c.csrPem)],
      ['csr.weakKey', createCsr({ subject: 'CN=pump-1', keyType: 'rsa1024' }).then((c) => c.csrPem)],
      ['csr.invalid', createCsr({ subject: 'CN=pump-1' }).then((c) => tamperedCsr(c.csrPem))],
      ['csr.invalid', Promise.resolve('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n')],
      ['csr.invalid', Promise.resolve('')],
      ['pem.privateKeyIncluded', createCsr({ subject: 'CN=pump-1' }).then((c) => `${c.csrPem}\n${c.privateKeyPem}`)],
    ];
    for (const [code, csrPem] of cases) assert.equal(await codeOf(registry.renewAgentCertificate({ tenant: acme, subject: session, csrPem: await csrPem })), code);
    assert.deepEqual(await agentCertificates.list(acme), before, 'nothing stored');
    assert.equal(await agentCertificates.lastRenewalAt(acme, 'acme_pump-1'), undefined, 'no renewal counted');
    assert.equal(await codeOf(registry.renewAgentCertificate({ tenant: acme, subject: session, csrPem: (await createCsr({ subject: 'CN=pump-1' })).csrPem })), 'ok');
  });

  it('refuses agents of an uploaded CA, revoked certificates, and another tenant\'s certificate id', async () => {
    const { registry, issued, session } = await setUp();
    const csrPem = (await createCsr({ subject: 'CN=pump-1' })).csrPem;
    const uploaded = { ...session, caCertificateId: 'a'.repeat(24) as CaCertificateId };
    assert.equal(await codeOf(registry.renewAgentCertificate({ tenant: acme, subject: uploaded, csrPem })), 'renewal.notManagedCa');
    assert.equal(await codeOf(registry.renewAgentCertificate({ tenant: 'other' as TenantId, subject: { ...session, clientId: 'other_pump-1' }, csrPem })),
      'renewal.notManagedCa', 'a tenant without a managed CA');
    assert.equal(await codeOf(registry.renewAgentCertificate({ tenant: 'other' as TenantId, subject: { kind: 'certificate', agentCertificateId: issued.certificate.id }, csrPem })),
      'agentCertificate.notFound');
    assert.equal(await codeOf(registry.renewAgentCertificate({ tenant: acme, subject: { kind: 'certificate', agentCertificateId: 'b'.repeat(24) as AgentCertificateId }, csrPem })),
      'agentCertificate.notFound');
    await registry.revokeAgentCertificate(acme, issued.certificate.id);
    assert.equal(await codeOf(registry.renewAgentCertificate({ tenant: acme, subject: session, csrPem })), 'renewal.certificateRevoked');
    assert.equal(await codeOf(registry.renewAgentCertificate({ tenant: acme, subject: { kind: 'certificate', agentCertificateId: issued.certificate.id }, csrPem })),
      'renewal.certificateRevoked');
  });

  it('of concurrent renewals of one agent exactly one succeeds; the others get renewal.tooSoon', async () => {
    const { registry, agentCertificates, session } = await setUp();
    const csrPem = (await createCsr({ subject: 'CN=pump-1' })).csrPem;
    const codes = await Promise.all(Array.from({ length: 5 }, () => codeOf(registry.renewAgentCertificate({ tenant: acme, subject: session, csrPem }))));
    assert.deepEqual(codes.sort(), ['ok', 'renewal.tooSoon', 'renewal.tooSoon', 'renewal.tooSoon', 'renewal.tooSoon']);
    assert.equal((await agentCertificates.list(acme)).length, 2);
  });
});
