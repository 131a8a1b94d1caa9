import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID, X509Certificate } from 'node:crypto';
import { createCsr } from '../../test/support/test-pki.ts';
import { registryFixture } from '../../test/support/registry-fixture.ts';
import { isKeyOfCertificate, normalizeSerialHex } from '../pki/index.ts';
import type { TenantId } from '../shared/index.ts';

const acme = 'acme' as TenantId;
const codeOf = async (promise: Promise<unknown>) => promise.then(() => 'ok', (error: { code?: string }) => error.code);
const DAY_MS = 86_400_000;

describe('createAgentCertificate (POST /agentCertificates)', () => {
  it('creates the tenant\'s managed CA on first use (EC P-256, self-signed CA, 10 years) and issues CN = name for a generated P-256 key', async () => {
    const now = new Date('2026-11-27T12:00:00.000Z');
    const { registry, events, managedCas, caCertificates } = registryFixture({ now });
    const created = await registry.createAgentCertificate({ tenant: acme, name: 'pump-1', owner: 'plant ops' });

    const ca = await managedCas.findForSigning(acme);
    assert.ok(ca, 'the managed CA is stored');
    assert.equal(created.caCertificatePem, ca.certificatePem);
    const caX509 = new X509Certificate(ca.certificatePem);
    assert.equal(caX509.ca, true);
    assert.equal(caX509.subject, caX509.issuer);
    assert.ok(caX509.verify(caX509.publicKey));
    assert.equal(caX509.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.equal(Math.round((caX509.validToDate.getTime() - now.getTime()) / DAY_MS), 3650);
    assert.match(caX509.subject, /CN=acme/);
    assert.deepEqual(await caCertificates.list(acme), [], 'it is no uploaded CA: it takes no slot');

    const agent = new X509Certificate(created.certificate.certificatePem);
    assert.equal(agent.subject, 'CN=pump-1');
    assert.ok(agent.checkIssued(caX509) && agent.verify(caX509.publicKey), 'issued directly by the managed CA');
    assert.equal(agent.ca, false);
    assert.equal(agent.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.ok(agent.validToDate <= caX509.validToDate);
    assert.ok(created.privateKeyPem && isKeyOfCertificate(created.certificate.certificatePem, created.privateKeyPem), 'the returned key belongs to the certificate');

    assert.deepEqual({ ...created.certificate, certificatePem: '<pem>' }, {
      id: created.certificate.id,
      tenant: acme,
      name: 'pump-1',
      owner: 'plant ops',
      clientId: 'acme_pump-1',
      managedCaId: ca.id,
      certificatePem: '<pem>',
      fingerprintSha256: agent.fingerprint256.replaceAll(':', '').toLowerCase(),
      serialNumber: normalizeSerialHex(agent.serialNumber), // no leading zeros (Node prints them)
      keySource: 'generated',
      notBefore: agent.validFromDate,
      notAfter: agent.validToDate,
      createdAt: now,
      isRevoked: false,
      revokedAt: undefined,
    });
    assert.match(created.certificate.id, /^[0-9a-f]{24}$/);
    assert.equal(created.agentId, undefined, 'no agent has connected yet');
    assert.deepEqual(events, [{ type: 'managedCaCreated', tenant: acme, caCertificateId: ca.id }]);
  });

  it('uses the same managed CA for every later certificate of the tenant, and another one per tenant', async () => {
    const { registry, events } = registryFixture();
    const first = await registry.createAgentCertificate({ tenant: acme, name: 'a-1' });
    const second = await registry.createAgentCertificate({ tenant: acme, name: 'a-2' });
    const theirs = await registry.createAgentCertificate({ tenant: 'other' as TenantId, name: 'a-1' });
    assert.equal(second.certificate.managedCaId, first.certificate.managedCaId);
    assert.equal(second.caCertificatePem, first.caCertificatePem);
    assert.notEqual(theirs.certificate.managedCaId, first.certificate.managedCaId);
    assert.equal(events.filter((e) => e.type === 'managedCaCreated').length, 2);
  });

  it('10 concurrent first uses of a tenant end with one managed CA that issued all 10 certificates', async () => {
    const { registry, managedCas } = registryFixture();
    const created = await Promise.all(Array.from({ length: 10 }, (_, i) => registry.createAgentCertificate({ tenant: acme, name: `c-${i}` })));
    const ca = await managedCas.find(acme);
    assert.equal((await managedCas.listAll()).length, 1);
    const caX509 = new X509Certificate(ca!.certificatePem);
    for (const { certificate } of created) {
      assert.equal(certificate.managedCaId, ca!.id);
      assert.ok(new X509Certificate(certificate.certificatePem).verify(caX509.publicKey), `${certificate.name} verifies with the one CA`);
    }
  });

  it('with a CSR: certifies the device\'s key with CN = name (the CSR\'s subject is ignored) and returns no private key', async () => {
    const { registry } = registryFixture();
    const csr = await createCsr({ subject: 'CN=something-else,O=Device Maker' });
    const created = await registry.createAgentCertificate({ tenant: acme, name: 'pump-csr', csrPem: csr.csrPem });
    assert.equal(created.privateKeyPem, undefined);
    assert.equal(created.certificate.keySource, 'csr');
    assert.equal(new X509Certificate(created.certificate.certificatePem).subject, 'CN=pump-csr');
    assert.ok(isKeyOfCertificate(created.certificate.certificatePem, csr.privateKeyPem), 'the certificate is for the device\'s key');
  });

  it('certifies an RSA-2048 CSR too', async () => {
    const { registry } = registryFixture();
    const csr = await createCsr({ subject: 'CN=rsa', keyType: 'rsa2048' });
    const created = await registry.createAgentCertificate({ tenant: acme, name: 'rsa-1', csrPem: csr.csrPem });
    assert.ok(isKeyOfCertificate(created.certificate.certificatePem, csr.privateKeyPem));
  });

  const validNames = ['a', 'A', '0', 'pump-1', 'Pump_1.eu-west', 'x'.repeat(64), '1.2.3', 'a-', 'a.'];
  for (const name of validNames) {
    it(`accepts the name ${JSON.stringify(name.length > 20 ? `${name.slice(0, 8)}…(${name.length})` : name)}`, async () => {
      const { registry } = registryFixture();
      assert.equal((await registry.createAgentCertificate({ tenant: acme, name })).certificate.clientId, `acme_${name}`);
    });
  }

  const invalidNames: [string, string][] = [
    ['empty', ''], ['65 characters', 'x'.repeat(65)], ['a slash', 'a/b'], ['a plus', 'a+b'], ['a hash', 'a#b'],
    ['a space', 'pump 1'], ['a leading dash', '-pump'], ['a leading dot', '.pump'], ['a leading underscore', '_pump'],
    ['a NUL', 'a\u0000b'], ['a newline', 'a\nb'], ['a tab', 'a\tb'], ['a DEL', 'a\u007fb'], ['a comma (DN injection)', 'a,O=evil'],
    ['an equals sign', 'CN=x'], ['non-ASCII', 'pümpe'], ['an emoji', 'pump-🚀'], ['a wildcard plus dot', '+.'],
  ];
  for (const [what, name] of invalidNames) {
    it(`refuses a name with ${what}: agentCertificate.nameInvalid, and creates nothing (not even the managed CA)`, async () => {
      const { registry, managedCas, agentCertificates, events } = registryFixture();
      assert.equal(await codeOf(registry.createAgentCertificate({ tenant: acme, name })), 'agentCertificate.nameInvalid');
      assert.deepEqual(await managedCas.listAll(), []);
      assert.deepEqual(await agentCertificates.list(acme), []);
      assert.deepEqual(events, []);
    });
  }

  it('refuses bad CSRs with csr.invalid / csr.weakKey before creating anything', async () => {
    const { registry, managedCas, events } = registryFixture();
    const weak = await createCsr({ subject: 'CN=weak', keyType: 'rsa1024' });
    const good = await createCsr({ subject: 'CN=good' });
    const tampered = good.csrPem.replace(/(\n[A-Za-z0-9+/]{10})([A-Za-z0-9+/])/, (_m, head: string, c: string) => `${head}${c === 'A' ? 'B' : 'A'}`);
    const cases: [string, string][] = [['junk', 'csr.invalid'], ['', 'csr.invalid'], [tampered, 'csr.invalid'], [weak.csrPem, 'csr.weakKey']];
    for (const [csrPem, code] of cases) {
      assert.equal(await codeOf(registry.createAgentCertificate({ tenant: acme, name: 'pump-1', csrPem })), code, csrPem.slice(0, 60));
    }
    assert.deepEqual(await managedCas.listAll(), []);
    assert.deepEqual(events, []);
  });

  it('refuses a second active certificate with the same name (409 duplicate) and changes nothing; after a revocation the name is free', async () => {
    const { registry, agentCertificates } = registryFixture();
    const first = await registry.createAgentCertificate({ tenant: acme, name: 'pump-1' });
    assert.equal(await codeOf(registry.createAgentCertificate({ tenant: acme, name: 'pump-1' })), 'agentCertificate.duplicate');
    assert.deepEqual((await agentCertificates.list(acme)).map((c) => c.id), [first.certificate.id]);
    // Another tenant has its own namespace.
    assert.equal(await codeOf(registry.createAgentCertificate({ tenant: 'other' as TenantId, name: 'pump-1' })), 'ok');
    // Concurrent duplicates: exactly one wins.
    const racing = await Promise.all(Array.from({ length: 5 }, () => codeOf(registry.createAgentCertificate({ tenant: acme, name: 'pump-2' }))));
    assert.deepEqual(racing.sort(), ['agentCertificate.duplicate', 'agentCertificate.duplicate', 'agentCertificate.duplicate', 'agentCertificate.duplicate', 'ok']);

    await registry.revokeAgentCertificate(acme, first.certificate.id);
    const reissued = await registry.createAgentCertificate({ tenant: acme, name: 'pump-1' });
    assert.notEqual(reissued.certificate.fingerprintSha256, first.certificate.fingerprintSha256);
  });

  it('names the onboarded agent once it has connected with that client id', async () => {
    const { registry } = registryFixture();
    const created = await registry.createAgentCertificate({ tenant: acme, name: 'pump-1' });
    const { agent } = await registry.admitAgent({
      certificateDer: new X509Certificate(created.certificate.certificatePem).raw, clientId: 'acme_pump-1', sessionId: randomUUID(),
    });
    assert.equal((await registry.findAgentCertificate(acme, created.certificate.id)).agentId, agent.id);
    assert.deepEqual((await registry.listAgentCertificates(acme)).map((v) => v.agentId), [agent.id]);
  });
});
