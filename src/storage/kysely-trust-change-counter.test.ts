import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Kysely } from 'kysely';
import { openTestDatabase, describeOn, testDialects } from '../../test/support/test-databases.ts';
import { KyselyTrustChangeCounter } from './kysely-trust-change-counter.ts';
import type { Database } from './tables.ts';

const at = '2026-12-02T00:00:00.000Z';

const caRow = (id: string) => ({
  id, tenant_id: 'acme', slot: 1, name: 'ca', description: null, certificate_pem: 'pem', subject: 'CN=ca', common_name: 'ca',
  fingerprint_sha256: id.padEnd(64, '0'), tbs_certificate_sha256: id.padEnd(64, '1'), public_key_sha256: id.padEnd(64, '2'),
  subject_key_id: null, not_before: at, not_after: at, registration_code: 'code', is_verified: 0, created_at: at, verified_at: null,
});

const agentRow = (id: string) => ({
  id, tenant_id: 'acme', client_id: id, common_name: id, ca_certificate_id: 'ca-1', certificate_fingerprint_sha256: 'f'.repeat(64),
  is_enabled: 1, is_online: 0, session_id: null, first_connected_at: at, last_connected_at: at,
});

const agentCertificateRow = (id: string) => ({
  id, tenant_id: 'acme', name: id, active_name: id, owner: null, client_id: id, managed_ca_id: 'm-1', certificate_pem: 'pem',
  fingerprint_sha256: id.padEnd(64, '3'), serial_number: '0a', key_source: 'generated', not_before: at, not_after: at, created_at: at,
  is_revoked: 0, revoked_at: null,
});

// Decision 0018: every trust-relevant write moves the counter in its own transaction, nothing else does.
for (const dialect of testDialects) describeOn(dialect)(`KyselyTrustChangeCounter on ${dialect}`, () => {
  let db: Kysely<Database>;
  let close: () => Promise<void>;
  let counter: KyselyTrustChangeCounter;
  beforeEach(async () => {
    ({ db, close } = await openTestDatabase(dialect));
    counter = new KyselyTrustChangeCounter(db);
  });
  afterEach(async () => { await close(); });

  /** Whether `write` moved the counter. */
  const moves = async (write: () => Promise<unknown>): Promise<boolean> => {
    const before = await counter.read();
    await write();
    return (await counter.read()) !== before;
  };

  it('moves with a CA registered, verified and deleted, and with a managed CA created', async () => {
    assert.equal(await moves(() => db.insertInto('ca_certificates').values(caRow('ca-1')).execute()), true);
    assert.equal(await moves(() => db.updateTable('ca_certificates').set({ is_verified: 1, verified_at: at }).where('id', '=', 'ca-1').execute()), true);
    assert.equal(await moves(() => db.deleteFrom('ca_certificates').where('id', '=', 'ca-1').execute()), true);
    assert.equal(await moves(() => db.insertInto('managed_ca_certificates').values({
      id: 'm-1', tenant_id: 'acme', certificate_pem: 'pem', private_key_sealed: 'sealed', subject: 'CN=m', fingerprint_sha256: 'a'.repeat(64),
      public_key_sha256: 'b'.repeat(64), not_before: at, not_after: at, created_at: at,
    }).execute()), true);
  });

  it('moves with an agent certificate revoked, not with one issued', async () => {
    assert.equal(await moves(() => db.insertInto('agent_certificates').values(agentCertificateRow('c-1')).execute()), false);
    assert.equal(await moves(() => db.updateTable('agent_certificates').set({ is_revoked: 1, revoked_at: at, active_name: null }).where('id', '=', 'c-1').execute()), true);
  });

  it('moves with an agent disabled or deleted, not with its connections', async () => {
    assert.equal(await moves(() => db.insertInto('agents').values(agentRow('a-1')).execute()), false);
    assert.equal(await moves(() => db.updateTable('agents').set({ is_online: 1, session_id: 's', last_connected_at: at }).where('id', '=', 'a-1').execute()), false);
    assert.equal(await moves(() => db.updateTable('agents').set({ is_enabled: 1 }).where('id', '=', 'a-1').execute()), false, 'enabled again: no change');
    assert.equal(await moves(() => db.updateTable('agents').set({ is_enabled: 0 }).where('id', '=', 'a-1').execute()), true);
    assert.equal(await moves(() => db.deleteFrom('agents').where('id', '=', 'a-1').execute()), true);
  });

  it('does not move when the change is rolled back', async () => {
    await db.insertInto('agents').values(agentRow('a-2')).execute();
    assert.equal(await moves(() => db.transaction().execute(async (trx) => {
      await trx.updateTable('agents').set({ is_enabled: 0 }).where('id', '=', 'a-2').execute();
      throw new Error('rolled back');
    }).catch(() => undefined)), false);
  });
});
