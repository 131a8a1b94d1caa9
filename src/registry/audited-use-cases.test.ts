import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createCa, issueCertificate } from '../../test/support/test-pki.ts';
import { registryFixture } from '../../test/support/registry-fixture.ts';
import type { AgentId, CaCertificateId, TenantId } from '../shared/index.ts';
import type { AuditContext } from './audit-context.ts';

const acme = 'acme' as TenantId;
const jane: AuditContext = { actor: { type: 'token', id: 'jane@acme' }, sourceAddress: '203.0.113.7', requestId: 'req-42' };
const codeOf = async (promise: Promise<unknown>) => promise.then(() => 'ok', (error: { code?: string }) => error.code);

// The use cases turn the caller's context into audit entries: a change's entry goes with the change
// (here: logged after the in-memory store's write), a failed attempt is recorded on its own, and a
// call that finds nothing to change records nothing.
describe('audited use cases', () => {
  it('an upload and a verification carry who and where; a refused proof is a failure entry with its code and changes nothing', async () => {
    const { registry, audit } = registryFixture();
    const ca = await createCa();
    const record = await registry.registerCaCertificate({ tenant: acme, name: 'ca', caCertificatePem: ca.certificatePem }, jane);
    const wrong = await issueCertificate(await createCa(), { subject: `CN=${record.registrationCode}` });
    assert.equal(await codeOf(registry.verifyCaCertificate({ tenant: acme, id: record.id, verificationCertificatePem: wrong.certificatePem }, jane)), 'verification.issuerMismatch');
    assert.equal((await registry.findCaCertificate(acme, record.id)).isVerified, false);
    const proof = await issueCertificate(ca, { subject: `CN=${record.registrationCode}`, version: 1 });
    await registry.verifyCaCertificate({ tenant: acme, id: record.id, verificationCertificatePem: proof.certificatePem }, jane);
    await registry.verifyCaCertificate({ tenant: acme, id: record.id, verificationCertificatePem: proof.certificatePem }, jane);
    assert.deepEqual(audit.entries.map((e) => [e.action, e.outcome, e.reason, e.target, e.actor.id, e.sourceAddress, e.requestId]), [
      ['caCertificate.uploaded', 'success', undefined, `caCertificate:${record.id}`, 'jane@acme', '203.0.113.7', 'req-42'],
      ['caCertificate.verificationFailed', 'failure', 'verification.issuerMismatch', `caCertificate:${record.id}`, 'jane@acme', '203.0.113.7', 'req-42'],
      ['caCertificate.verified', 'success', undefined, `caCertificate:${record.id}`, 'jane@acme', '203.0.113.7', 'req-42'],
    ], 'the repeated proof changed nothing and is not an entry');
  });

  it('nothing to change, nothing recorded: a missing CA, agent or agent certificate is a 404 without an entry; without a context the actor is trustgate', async () => {
    const { registry, audit } = registryFixture();
    assert.equal(await codeOf(registry.deleteCaCertificate(acme, 'nope' as CaCertificateId, jane)), 'caCertificate.notFound');
    assert.equal(await codeOf(registry.verifyCaCertificate({ tenant: acme, id: 'nope' as CaCertificateId, verificationCertificatePem: 'x' }, jane)), 'caCertificate.notFound');
    assert.equal(await codeOf(registry.deleteAgent(acme, 'nope' as AgentId, jane)), 'agent.notFound');
    assert.equal(audit.entries.length, 0);
    await registry.registerCaCertificate({ tenant: acme, name: 'ca', caCertificatePem: (await createCa()).certificatePem });
    assert.deepEqual(audit.entries.map((e) => e.actor), [{ type: 'system', id: 'trustgate' }]);
  });
});
