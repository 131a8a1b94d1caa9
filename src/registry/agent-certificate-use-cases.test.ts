import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID, X509Certificate } from 'node:crypto';
import { registryFixture } from '../../test/support/registry-fixture.ts';
import { ecdsaSignatureTwin } from '../../test/support/test-pki.ts';
import { derToPem, parseCertificatePem } from '../pki/index.ts';
import { DomainError, systemClock, type AgentCertificateId, type TenantId } from '../shared/index.ts';
import { createRegistry, InMemoryAuditTrail, loadTrustIndex, TrustIndex, type AgentCertificateStore, type RevocationStore, type Registry } from './index.ts';

const acme = 'acme' as TenantId;
const other = 'other' as TenantId;
const codeOf = async (promise: Promise<unknown>) => promise.then(() => 'ok', (error: unknown) => (error instanceof DomainError ? error.code : String(error)));

const admit = (registry: Registry, certificatePem: string, clientId: string) =>
  registry.admitAgent({ certificateDer: new X509Certificate(certificatePem).raw, clientId, sessionId: randomUUID() });

describe('agent certificates: list, find, revoke', () => {
  it('lists the tenant\'s certificates in issue order, with the managed CA; finds one by id', async () => {
    const { registry, setNow } = registryFixture({ now: new Date('2026-11-27T12:00:00.000Z') });
    const a = await registry.createAgentCertificate({ tenant: acme, name: 'a-2' });
    setNow(new Date('2026-11-27T12:00:01.000Z'));
    const b = await registry.createAgentCertificate({ tenant: acme, name: 'a-1' });
    await registry.createAgentCertificate({ tenant: other, name: 'o-1' });
    const list = await registry.listAgentCertificates(acme);
    assert.deepEqual(list.map((v) => v.certificate.id), [a.certificate.id, b.certificate.id]);
    for (const view of list) {
      assert.equal(view.caCertificatePem, a.caCertificatePem);
      assert.equal('privateKeyPem' in view, false, 'a listed certificate carries no private key');
    }
    const found = await registry.findAgentCertificate(acme, b.certificate.id);
    assert.deepEqual(found, { certificate: b.certificate, caCertificatePem: b.caCertificatePem, agentId: undefined });
    assert.deepEqual(await registry.listAgentCertificates('nobody' as TenantId), []);
  });

  it('keeps tenants apart: another tenant\'s id answers agentCertificate.notFound exactly like a missing one, and revokes nothing', async () => {
    const { registry, events } = registryFixture();
    const mine = await registry.createAgentCertificate({ tenant: acme, name: 'a-1' });
    const eventsBefore = events.length;
    for (const id of [mine.certificate.id, 'f'.repeat(24) as AgentCertificateId, 'not-an-id' as AgentCertificateId]) {
      const find = await registry.findAgentCertificate(other, id).catch((error: DomainError) => error);
      const revoke = await registry.revokeAgentCertificate(other, id).catch((error: DomainError) => error);
      assert.ok(find instanceof DomainError && revoke instanceof DomainError);
      assert.equal(find.code, 'agentCertificate.notFound');
      assert.equal(revoke.code, 'agentCertificate.notFound');
      assert.equal(find.message.replaceAll(id, '<id>'), 'No agent certificate with id "<id>" in your tenant. List yours with GET /agentCertificates.');
    }
    assert.equal(events.length, eventsBefore);
    assert.equal((await registry.findAgentCertificate(acme, mine.certificate.id)).certificate.isRevoked, false);
  });

  it('revoking marks it REVOKED (record kept), publishes its issuer and serial number, and is idempotent', async () => {
    const now = new Date('2026-11-27T12:00:00.000Z');
    const { registry, events, setNow } = registryFixture({ now });
    const created = await registry.createAgentCertificate({ tenant: acme, name: 'a-1' });
    await registry.revokeAgentCertificate(acme, created.certificate.id);
    const revoked = await registry.findAgentCertificate(acme, created.certificate.id);
    assert.equal(revoked.certificate.isRevoked, true);
    assert.deepEqual(revoked.certificate.revokedAt, now);
    const event = { type: 'agentCertificateRevoked', tenant: acme, agentCertificateId: created.certificate.id, caCertificateId: created.certificate.managedCaId, serialNumber: created.certificate.serialNumber };
    assert.deepEqual(events.at(-1), event);

    setNow(new Date('2026-11-28T12:00:00.000Z'));
    await registry.revokeAgentCertificate(acme, created.certificate.id);
    assert.deepEqual((await registry.findAgentCertificate(acme, created.certificate.id)).certificate.revokedAt, now, 'the first revocation time stays');
    assert.deepEqual(events.at(-1), event, 'published again, so a node that missed it catches up');
  });
});

describe('the broker\'s admission and the managed CA', () => {
  it('admits a managed CA\'s certificate at once (trusted from birth) and onboards the agent', async () => {
    const { registry, trustIndex } = registryFixture();
    const created = await registry.createAgentCertificate({ tenant: acme, name: 'pump-1' });
    assert.equal(trustIndex.size, 1);
    const { agent, tenant, certificateSerialNumber } = await admit(registry, created.certificate.certificatePem, 'acme_pump-1');
    assert.equal(tenant, acme);
    assert.equal(agent.clientId, 'acme_pump-1');
    assert.equal(agent.caCertificateId, created.certificate.managedCaId);
    assert.equal(certificateSerialNumber, created.certificate.serialNumber);
    assert.equal(await codeOf(admit(registry, created.certificate.certificatePem, 'other_pump-1')), 'mqtt.clientIdMismatch');
  });

  it('refuses a revoked certificate with mqtt.certificateRevoked; the same agent with its reissued certificate and the tenant\'s others get in', async () => {
    const { registry } = registryFixture();
    const revoked = await registry.createAgentCertificate({ tenant: acme, name: 'pump-1' });
    const sibling = await registry.createAgentCertificate({ tenant: acme, name: 'pump-2' });
    await admit(registry, revoked.certificate.certificatePem, 'acme_pump-1');
    await registry.revokeAgentCertificate(acme, revoked.certificate.id);

    const refusal = await admit(registry, revoked.certificate.certificatePem, 'acme_pump-1').catch((error: DomainError) => error);
    assert.ok(refusal instanceof DomainError);
    assert.equal(refusal.code, 'mqtt.certificateRevoked');
    assert.match(refusal.message, new RegExp(`serial number ${revoked.certificate.serialNumber}`));
    assert.equal(await codeOf(admit(registry, sibling.certificate.certificatePem, 'acme_pump-2')), 'ok');
    const reissued = await registry.createAgentCertificate({ tenant: acme, name: 'pump-1' });
    assert.equal(await codeOf(admit(registry, reissued.certificate.certificatePem, 'acme_pump-1')), 'ok');
  });

  // Issue 10, finding 1: revocation was keyed on the SHA-256 of the DER bytes. (r, s) -> (r, n - s)
  // gives the same certificate other bytes, and the revoked certificate got in again.
  it('a revoked certificate rebuilt with its ECDSA signature flipped to (r, n - s) is still revoked (issuer + serial number, not a hash of the bytes)', async () => {
    const { registry } = registryFixture();
    const revoked = await registry.createAgentCertificate({ tenant: acme, name: 'pump-1' });
    await registry.revokeAgentCertificate(acme, revoked.certificate.id);
    const twinPem = derToPem(ecdsaSignatureTwin(new X509Certificate(revoked.certificate.certificatePem).raw));
    const twin = parseCertificatePem(twinPem);
    assert.notEqual(twin.fingerprintSha256, revoked.certificate.fingerprintSha256, 'other bytes');
    assert.ok(twin.x509.verify(parseCertificatePem(revoked.caCertificatePem).publicKey), 'and still a valid signature of the managed CA');
    assert.equal(twin.serialNumber, revoked.certificate.serialNumber);
    assert.equal(await codeOf(admit(registry, twinPem, 'acme_pump-1')), 'mqtt.certificateRevoked');
    const doctor = await registry.diagnoseAgentCertificate({ tenant: acme, agentCertificatePem: twinPem, clientId: 'acme_pump-1' });
    assert.equal(doctor.steps.find((s) => s.check === 'revocation')?.status, 'failed');
  });

  it('the doctor names the revocation as its own failed step', async () => {
    const { registry } = registryFixture();
    const created = await registry.createAgentCertificate({ tenant: acme, name: 'pump-1' });
    const before = await registry.diagnoseAgentCertificate({ tenant: acme, agentCertificatePem: created.certificate.certificatePem, clientId: 'acme_pump-1' });
    assert.equal(before.wouldBeAccepted, true);
    assert.match(before.steps.find((s) => s.check === 'issuer')!.message, /managed agent CA/);
    await registry.revokeAgentCertificate(acme, created.certificate.id);
    const after = await registry.diagnoseAgentCertificate({ tenant: acme, agentCertificatePem: created.certificate.certificatePem, clientId: 'acme_pump-1' });
    assert.equal(after.wouldBeAccepted, false);
    assert.deepEqual(after.steps.slice(0, 4).map((s) => [s.check, s.status]), [['certificate', 'passed'], ['structure', 'passed'], ['issuer', 'passed'], ['revocation', 'failed']]);
    // Another tenant's doctor does not even find the issuer: it learns nothing of acme's revocations.
    const foreign = await registry.diagnoseAgentCertificate({ tenant: other, agentCertificatePem: created.certificate.certificatePem, clientId: undefined });
    assert.deepEqual(foreign.steps.slice(2, 4).map((s) => [s.check, s.status]), [['issuer', 'failed'], ['revocation', 'skipped']]);
  });

  it('after a restart (index loaded from the stores) the managed CA is trusted and revocations hold, with no AgentCertificateStore or ManagedCaStore call on the connect path', async () => {
    const world = registryFixture();
    const kept = await world.registry.createAgentCertificate({ tenant: acme, name: 'kept' });
    const gone = await world.registry.createAgentCertificate({ tenant: acme, name: 'gone' });
    await world.registry.revokeAgentCertificate(acme, gone.certificate.id);

    const trustIndex = new TrustIndex();
    await loadTrustIndex(trustIndex, world, new Date());
    assert.equal(trustIndex.size, 1);
    assert.equal(trustIndex.revokedCount, 1);
    // From now on any call to these stores fails the test.
    const forbidden = <T extends object>(name: string) => new Proxy({} as T, { get: (_t, property) => () => assert.fail(`${name}.${String(property)} called on the connect path`) });
    const restarted = createRegistry({
      caCertificates: world.caCertificates,
      agents: world.agents,
      managedCas: forbidden('ManagedCaStore'),
      agentCertificates: forbidden<AgentCertificateStore>('AgentCertificateStore'),
      revocations: forbidden<RevocationStore>('RevocationStore'),
      trustIndex,
      events: { publish: () => undefined, catchUp: async () => false },
      clock: systemClock,
      audit: new InMemoryAuditTrail(),
      settings: { maxCaCertificatesPerTenant: 2, clockSkewMs: 300_000 },
    });
    assert.equal(await codeOf(admit(restarted, kept.certificate.certificatePem, 'acme_kept')), 'ok');
    assert.equal(await codeOf(admit(restarted, gone.certificate.certificatePem, 'acme_gone')), 'mqtt.certificateRevoked');
    const twinPem = derToPem(ecdsaSignatureTwin(new X509Certificate(gone.certificate.certificatePem).raw));
    assert.equal(await codeOf(admit(restarted, twinPem, 'acme_gone')), 'mqtt.certificateRevoked', 'its (r, n - s) twin too');
  });
});
