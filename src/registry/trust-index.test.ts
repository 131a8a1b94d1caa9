import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCa, issueCertificate } from '../../test/support/test-pki.ts';
import { parseCertificatePem } from '../pki/index.ts';
import type { CaCertificateId, TenantId } from '../shared/index.ts';
import { TrustIndex } from './trust-index.ts';

const tenant = 'acme' as TenantId;
const record = (id: string, certificatePem: string, isVerified = true) =>
  ({ id: id as CaCertificateId, tenant, isVerified, certificatePem });

describe('TrustIndex', () => {
  it('trusts verified and managed CAs only, and stops when one is removed', async () => {
    const [a, b, c] = await Promise.all([createCa({ subject: 'CN=A' }), createCa({ subject: 'CN=B' }), createCa({ subject: 'CN=C' })]);
    const index = new TrustIndex();
    index.upsert(record('a', a.certificatePem));
    index.upsert(record('b', b.certificatePem, false));
    index.upsertManagedCa({ id: 'c' as CaCertificateId, tenant, certificatePem: c.certificatePem });
    assert.equal(index.isTrusted('a'), true);
    assert.equal(index.isTrusted('b'), false, 'registered but not verified');
    assert.equal(index.isTrusted('c'), true, 'managed CAs are trusted from birth');
    assert.equal(index.isTrusted('missing'), false);
    index.remove('a');
    assert.equal(index.isTrusted('a'), false);
  });

  it('adopt replaces the whole content, revocations included, and keeps finding issuers', async () => {
    const [kept, dropped, added] = await Promise.all([createCa({ subject: 'CN=Kept' }), createCa({ subject: 'CN=Dropped' }), createCa({ subject: 'CN=Added' })]);
    const agent = parseCertificatePem((await issueCertificate(added, { subject: 'CN=pump' })).certificatePem, 'agent');
    const droppedAgent = parseCertificatePem((await issueCertificate(dropped, { subject: 'CN=pump' })).certificatePem, 'agent');

    const live = new TrustIndex();
    live.upsert(record('kept', kept.certificatePem));
    live.upsert(record('dropped', dropped.certificatePem));
    live.revoke('kept', '0a');

    const fresh = new TrustIndex();
    fresh.upsert(record('kept', kept.certificatePem));
    fresh.upsert(record('added', added.certificatePem));
    fresh.revoke('kept', '0b');

    live.adopt(fresh);
    assert.equal(live.size, 2);
    assert.equal(live.isTrusted('dropped'), false);
    assert.equal(live.findIssuer(droppedAgent), undefined, 'a CA missing from the fresh load no longer issues');
    assert.equal(live.findIssuer(agent)?.id, 'added');
    assert.equal(live.isRevoked('kept', 'a'), false);
    assert.equal(live.isRevoked('kept', 'b'), true);
    assert.equal(live.revokedCount, 1);

    // The fresh index is a source, not shared state: changing it later leaves the adopter alone.
    fresh.remove('added');
    fresh.upsert(record('dropped', dropped.certificatePem));
    assert.equal(live.findIssuer(agent)?.id, 'added');
    assert.equal(live.findIssuer(droppedAgent), undefined);
  });

  // Issue 10, finding 3: two tenants' verified CAs with one key were chosen between by list order,
  // so after a restart another tenant could be handed a tenant's agents.
  it('a key trusted by two tenants decides for neither, in any insertion order; one tenant holding it twice is fine', async () => {
    const ca = await createCa({ subject: 'CN=shared' });
    const agent = parseCertificatePem((await issueCertificate(ca, { subject: 'CN=pump-1' })).certificatePem, 'agent');
    for (const order of [['victim', 'evil'], ['evil', 'victim']] as const) {
      const index = new TrustIndex();
      for (const owner of order) {
        if (owner === 'victim') index.upsertManagedCa({ id: 'managed' as CaCertificateId, tenant: 'victim' as TenantId, certificatePem: ca.certificatePem });
        else index.upsert({ id: 'uploaded' as CaCertificateId, tenant: 'evil' as TenantId, isVerified: true, certificatePem: ca.certificatePem });
      }
      assert.equal(index.findIssuer(agent), undefined, `order ${order.join(', ')}`);
      assert.deepEqual(index.lookupIssuer(agent).conflictingTenants, ['evil', 'victim']);
      assert.deepEqual(index.keyConflicts().map((c) => c.caCertificates.map((ca) => ca.id).sort()), [['managed', 'uploaded']]);
      index.remove('uploaded');
      assert.equal(index.findIssuer(agent)?.tenant, 'victim', 'the conflict ends with the wrongly registered CA');
    }
    const unverified = new TrustIndex();
    unverified.upsertManagedCa({ id: 'managed' as CaCertificateId, tenant: 'victim' as TenantId, certificatePem: ca.certificatePem });
    unverified.upsert({ id: 'uploaded' as CaCertificateId, tenant: 'evil' as TenantId, isVerified: false, certificatePem: ca.certificatePem });
    assert.equal(unverified.findIssuer(agent)?.id, 'managed', 'an unverified upload trusts nothing and takes nothing');
    const own = new TrustIndex();
    own.upsert({ id: 'zz-uploaded' as CaCertificateId, tenant, isVerified: true, certificatePem: ca.certificatePem });
    own.upsertManagedCa({ id: 'managed' as CaCertificateId, tenant, certificatePem: ca.certificatePem });
    assert.equal(own.findIssuer(agent)?.id, 'managed', 'one tenant: its managed CA, whatever the order');
  });

  // Issue 10, finding 1: revoked by issuer + serial number, so any encoding of the certificate is revoked.
  it('revokes by issuer + serial number: normalised, per issuing CA, and across one tenant\'s CA records sharing the key', async () => {
    const [ca, other] = await Promise.all([createCa({ subject: 'CN=ca' }), createCa({ subject: 'CN=other' })]);
    const index = new TrustIndex();
    index.upsertManagedCa({ id: 'managed' as CaCertificateId, tenant, certificatePem: ca.certificatePem });
    index.upsert(record('copy', ca.certificatePem));
    index.upsert(record('other', other.certificatePem));
    index.revoke('managed', '00AB');
    assert.equal(index.isRevoked('managed', 'ab'), true);
    assert.equal(index.isRevoked('managed', '0ab'), true);
    assert.equal(index.isRevoked('copy', 'ab'), true, 'the same key is the same issuer');
    assert.equal(index.isRevoked('other', 'ab'), false, 'another issuer\'s serial ab is another certificate');
    assert.equal(index.isRevoked('managed', 'abc'), false);
    index.revoke('managed', 'ab');
    assert.equal(index.revokedCount, 1, 'revoking again changes nothing');
  });

  it('replaceRevokedSerials replaces one CA\'s set whole (normalised), keeps the count, and leaves other CAs\' revocations alone', async () => {
    const index = new TrustIndex();
    index.revoke('managed', '0a');
    index.replaceRevokedSerials('uploaded', ['00AB', 'cd', 'CD']);
    assert.equal(index.isRevoked('uploaded', 'ab'), true);
    assert.equal(index.isRevoked('uploaded', '0cd'), true);
    assert.equal(index.revokedCount, 3);
    index.replaceRevokedSerials('uploaded', ['ef']);
    assert.equal(index.isRevoked('uploaded', 'ab'), false);
    assert.equal(index.isRevoked('uploaded', 'ef'), true);
    assert.equal(index.isRevoked('managed', '0a'), true);
    assert.equal(index.revokedCount, 2);
    index.replaceRevokedSerials('uploaded', []);
    assert.equal(index.isRevoked('uploaded', 'ef'), false);
    assert.equal(index.revokedCount, 1);
  });
});
