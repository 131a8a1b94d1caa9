import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it, beforeEach, afterEach } from 'node:test';
import type { Kysely } from 'kysely';
import { managedCaStoreContract } from '../../test/support/agent-certificate-store-contract.ts';
import type { ManagedCaRecord } from '../registry/index.ts';
import type { CaCertificateId, TenantId } from '../shared/index.ts';
import { openTestDatabase, describeOn, runsOn, testDialects } from '../../test/support/test-databases.ts';
import { KyselyManagedCaStore } from './kysely-managed-ca-store.ts';
import { AesGcmPrivateKeySealer } from './private-key-sealer.ts';
import type { Database } from './tables.ts';

for (const dialect of testDialects) {
  if (runsOn(dialect, `Kysely on ${dialect}`)) managedCaStoreContract(`Kysely on ${dialect}`, async () => {
    const { db, close } = await openTestDatabase(dialect);
    return { managedCas: new KyselyManagedCaStore(db, new AesGcmPrivateKeySealer(randomBytes(32))), close };
  });
}

const PRIVATE_KEY = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n';

const managedCa = (tenant: string): ManagedCaRecord => ({
  id: randomBytes(12).toString('hex') as CaCertificateId,
  tenant: tenant as TenantId,
  certificatePem: '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n',
  privateKeyPem: `${PRIVATE_KEY}${tenant}\n`,
  subject: `CN=${tenant}`,
  fingerprintSha256: randomBytes(32).toString('hex'),
  publicKeySha256: randomBytes(32).toString('hex'),
  notBefore: new Date('2026-01-01T00:00:00.000Z'),
  notAfter: new Date('2036-01-01T00:00:00.000Z'),
  createdAt: new Date('2026-11-27T00:00:00.000Z'),
});

// docs/decisions/0010-managed-ca-keys.md: what a copy of the database holds, and what it does not.
for (const dialect of testDialects) describeOn(dialect)(`KyselyManagedCaStore on ${dialect}: the CA private key at rest`, () => {
  let db: Kysely<Database>;
  let close: () => Promise<void>;
  const key = randomBytes(32);
  beforeEach(async () => { ({ db, close } = await openTestDatabase(dialect)); });
  afterEach(async () => { await close(); });

  it('stores the key sealed: no PEM and no key bytes in the row', async () => {
    const record = managedCa('acme');
    await new KyselyManagedCaStore(db, new AesGcmPrivateKeySealer(key)).insertIfAbsent(record);
    const row = await db.selectFrom('managed_ca_certificates').selectAll().executeTakeFirstOrThrow();
    assert.doesNotMatch(row.private_key_sealed, /PRIVATE KEY|MIGHAgEA/);
    assert.match(row.private_key_sealed, /^v1\.[0-9a-f]{16}\.[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.doesNotMatch(JSON.stringify(row), /PRIVATE KEY/);
  });

  it('opens with the same key after a restart (a new store on the same database)', async () => {
    const record = managedCa('acme');
    await new KyselyManagedCaStore(db, new AesGcmPrivateKeySealer(key)).insertIfAbsent(record);
    assert.deepEqual(await new KyselyManagedCaStore(db, new AesGcmPrivateKeySealer(Buffer.from(key))).findForSigning(record.tenant), record);
  });

  it('with another sealing key: the certificate is still readable, signing fails and names both keys', async () => {
    const record = managedCa('acme');
    const original = new AesGcmPrivateKeySealer(key);
    await new KyselyManagedCaStore(db, original).insertIfAbsent(record);
    const other = new AesGcmPrivateKeySealer(randomBytes(32));
    const store = new KyselyManagedCaStore(db, other);
    assert.equal((await store.find(record.tenant))?.id, record.id, 'trust needs only the certificate');
    assert.equal((await store.listAll()).length, 1);
    await assert.rejects(store.findForSigning(record.tenant), (error: Error) =>
      error.message.includes(original.keyId) && error.message.includes(other.keyId) && error.message.includes('managed-ca-sealing.key'));
  });

  it('a sealed key copied into another tenant\'s row does not open there', async () => {
    const store = new KyselyManagedCaStore(db, new AesGcmPrivateKeySealer(key));
    const mine = managedCa('acme');
    const theirs = managedCa('other');
    await store.insertIfAbsent(mine);
    await store.insertIfAbsent(theirs);
    const { private_key_sealed } = await db.selectFrom('managed_ca_certificates').select('private_key_sealed').where('tenant_id', '=', 'acme').executeTakeFirstOrThrow();
    await db.updateTable('managed_ca_certificates').set({ private_key_sealed }).where('tenant_id', '=', 'other').execute();
    await assert.rejects(store.findForSigning(theirs.tenant), /altered or copied from another row/);
    assert.deepEqual(await store.findForSigning(mine.tenant), mine);
  });
});
