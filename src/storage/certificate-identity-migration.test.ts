import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { Migrator } from 'kysely';
import { createCa, ecdsaSignatureTwin, issueCertificate } from '../../test/support/test-pki.ts';
import { createTestDatabaseUrl, describeOn, testDialects } from '../../test/support/test-databases.ts';
import { derToPem, parseCertificatePem } from '../pki/index.ts';
import { migrationProvider } from './migrations/index.ts';
import { openDatabase } from './open-database.ts';

const sha256Hex = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');
const at = '2026-11-27T00:00:00.000Z';

// Data written by the previous main (schema at migration 0003) keeps working after 0004
// (docs/decisions/0013-certificate-identity.md): serials normalised for issuer + serial
// revocation, every CA given its signed-part identity, every managed CA key claimed.
for (const dialect of testDialects) describeOn(dialect)(`migration 0004 (certificate identity) on ${dialect}: upgrading data of the previous release`, () => {
  it('normalises stored serial numbers, backfills tbsCertificate hashes (keeping a tenant\'s existing twin), and claims managed CA keys without taking over another tenant\'s claim', async () => {
    const database = await createTestDatabaseUrl(dialect);
    try {
      const ca = await createCa({ subject: 'CN=uploaded' });
      const twinPem = derToPem(ecdsaSignatureTwin(ca.certificateDer));
      const [victimManaged, otherManaged] = await Promise.all([createCa({ subject: 'CN=victim managed' }), createCa({ subject: 'CN=other managed' })]);
      const agent = await issueCertificate(victimManaged, { subject: 'CN=pump-1' });
      const agentSerial = parseCertificatePem(agent.certificatePem).serialNumber;
      const keyOf = (pem: string) => sha256Hex(new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' }));

      const old = await openDatabase({ url: database.url });
      assert.equal((await new Migrator({ db: old, provider: migrationProvider }).migrateTo('2026-11-27-0003-agent-certificates')).error, undefined);
      const caRow = (id: string, tenant: string, slot: number, pem: string, createdAt: string) => ({
        id, tenant_id: tenant, slot, name: id, description: null, certificate_pem: pem, subject: 'CN=uploaded', common_name: 'uploaded',
        fingerprint_sha256: sha256Hex(new X509Certificate(pem).raw), public_key_sha256: keyOf(pem), subject_key_id: null,
        not_before: at, not_after: at, registration_code: `code-${id}`, is_verified: 1, created_at: createdAt, verified_at: at,
      });
      // acme holds one CA twice (its signature re-encoded): possible before the fix.
      await old.insertInto('ca_certificates').values(([caRow('a1', 'acme', 1, ca.certificatePem, '2026-11-27T00:00:01.000Z'), caRow('a2', 'acme', 2, twinPem, '2026-11-27T00:00:02.000Z')]) as never).execute();
      await old.insertInto('ca_key_claims').values({ public_key_sha256: keyOf(ca.certificatePem), tenant_id: 'acme', claimed_at: at }).execute();
      // The attack of finding 3 already carried out: "evil" verified victim's managed CA as its own.
      await old.insertInto('ca_key_claims').values({ public_key_sha256: keyOf(victimManaged.certificatePem), tenant_id: 'evil', claimed_at: at }).execute();
      const managedRow = (id: string, tenant: string, pem: string) => ({
        id, tenant_id: tenant, certificate_pem: pem, private_key_sealed: 'sealed', subject: 'CN=m', fingerprint_sha256: sha256Hex(new X509Certificate(pem).raw),
        not_before: at, not_after: at, created_at: at,
      });
      // Typed as today's schema; the rows are the previous release's (no public_key_sha256 yet).
      await old.insertInto('managed_ca_certificates').values([managedRow('m1', 'victim', victimManaged.certificatePem), managedRow('m2', 'other', otherManaged.certificatePem)] as never).execute();
      // Stored as the previous release wrote it: Node's x509.serialNumber lowercased, leading zero kept.
      await old.insertInto('agent_certificates').values({
        id: 'c1', tenant_id: 'victim', name: 'pump-1', active_name: null, owner: null, client_id: 'victim_pump-1', managed_ca_id: 'm1',
        certificate_pem: agent.certificatePem, fingerprint_sha256: sha256Hex(agent.certificateDer), serial_number: `00${agentSerial}`,
        key_source: 'generated', not_before: at, not_after: '2099-01-01T00:00:00.000Z', created_at: at, is_revoked: 1, revoked_at: at,
      }).execute();
      await old.destroy();

      const db = await openDatabase({ url: database.url });
      try {
        assert.equal((await db.selectFrom('agent_certificates').select('serial_number').executeTakeFirstOrThrow()).serial_number, agentSerial);
        const cas = (await db.selectFrom('ca_certificates').select(['id', 'tbs_certificate_sha256']).orderBy('id').execute()).map((row) => ({ ...row }));
        const tbs = parseCertificatePem(ca.certificatePem).tbsCertificateSha256;
        assert.equal(parseCertificatePem(twinPem).tbsCertificateSha256, tbs, 'the twin has the same signed part');
        assert.deepEqual(cas, [{ id: 'a1', tbs_certificate_sha256: tbs }, { id: 'a2', tbs_certificate_sha256: null }], 'both rows kept; the unique index holds');
        const managed = (await db.selectFrom('managed_ca_certificates').select(['id', 'public_key_sha256']).orderBy('id').execute()).map((row) => ({ ...row }));
        assert.deepEqual(managed, [{ id: 'm1', public_key_sha256: keyOf(victimManaged.certificatePem) }, { id: 'm2', public_key_sha256: keyOf(otherManaged.certificatePem) }]);
        const claims = Object.fromEntries((await db.selectFrom('ca_key_claims').select(['public_key_sha256', 'tenant_id']).execute()).map((c) => [c.public_key_sha256, c.tenant_id]));
        assert.equal(claims[keyOf(otherManaged.certificatePem)], 'other', 'a managed CA key is claimed for its tenant');
        assert.equal(claims[keyOf(victimManaged.certificatePem)], 'evil', 'an existing conflict is left for the trust index to refuse and log, not guessed');
      } finally {
        await db.destroy();
      }
    } finally {
      await database.drop();
    }
  });
});
