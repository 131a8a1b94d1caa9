import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { CaCertificateId, TenantId } from '../shared/index.ts';
import { caCertificateStoreContract } from '../../test/support/ca-certificate-store-contract.ts';
import { openTestDatabase, describeOn, runsOn, testDialects } from '../../test/support/test-databases.ts';
import { KyselyCaCertificateStore } from './kysely-ca-certificate-store.ts';
import { KyselyManagedCaStore } from './kysely-managed-ca-store.ts';
import { AesGcmPrivateKeySealer } from './private-key-sealer.ts';
import { openDatabase } from './open-database.ts';

for (const dialect of testDialects) {
  if (runsOn(dialect, `Kysely on ${dialect}`)) caCertificateStoreContract(`Kysely on ${dialect}`, async () => {
    const { db, url, close } = await openTestDatabase(dialect);
    if (dialect === 'sqlite') return { store: new KyselyCaCertificateStore(db), close };
    // PostgreSQL serves several nodes: a second pool on the same database stands for another node.
    const peerDb = await openDatabase({ url });
    return {
      store: new KyselyCaCertificateStore(db),
      peer: new KyselyCaCertificateStore(peerDb),
      close: async () => {
        await peerDb.destroy();
        await close();
      },
    };
  });
}

// Issue 10, finding 3: managed CA keys are claimed like verified uploads' (decision 0013).
for (const dialect of testDialects) describeOn(dialect)(`Kysely stores on ${dialect}: a managed CA's key claim`, () => {
  it('is made when the managed CA is created, refuses another tenant\'s verification, and outlives an upload of the same key being deleted', async () => {
    const { db, close } = await openTestDatabase(dialect);
    try {
      const managedCas = new KyselyManagedCaStore(db, new AesGcmPrivateKeySealer(randomBytes(32)));
      const caCertificates = new KyselyCaCertificateStore(db);
      const key = randomBytes(32).toString('hex');
      const at = new Date('2026-12-01T00:00:00.000Z');
      await managedCas.insertIfAbsent({
        id: randomBytes(12).toString('hex') as CaCertificateId, tenant: 'victim' as TenantId, certificatePem: 'pem', privateKeyPem: 'key', subject: 'CN=m',
        fingerprintSha256: 'f'.repeat(64), publicKeySha256: key, notBefore: at, notAfter: at, createdAt: at,
      });
      assert.deepEqual((await db.selectFrom('ca_key_claims').selectAll().execute()).map((c) => ({ ...c })), [{ public_key_sha256: key, tenant_id: 'victim', claimed_at: at.toISOString() }]);
      const upload = (tenant: string) => caCertificates.insert({
        id: randomBytes(12).toString('hex') as CaCertificateId, tenant: tenant as TenantId, name: 'copy', description: undefined, certificatePem: 'pem', subject: 'CN=m',
        commonName: 'm', fingerprintSha256: randomBytes(32).toString('hex'), tbsCertificateSha256: randomBytes(32).toString('hex'), publicKeySha256: key,
        subjectKeyId: undefined, notBefore: at, notAfter: at, registrationCode: 'code', createdAt: at,
      }, 2);
      // Stored directly (the registry refuses such uploads): what older data may hold.
      const theirs = await upload('evil');
      await assert.rejects(caCertificates.markVerified(theirs.tenant, theirs.id, at), (error: { code?: string }) => error.code === 'verification.keyVerifiedByOtherTenant');
      const own = await upload('victim');
      await caCertificates.markVerified(own.tenant, own.id, at);
      await caCertificates.remove(own.tenant, own.id);
      assert.equal((await db.selectFrom('ca_key_claims').select('tenant_id').where('public_key_sha256', '=', key).executeTakeFirst())?.tenant_id, 'victim', 'still claimed');
    } finally {
      await close();
    }
  });
});
