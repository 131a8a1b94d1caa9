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
});
