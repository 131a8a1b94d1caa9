import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { sql, type Kysely } from 'kysely';
import { describeOn, openTestDatabase, testDialects } from '../../test/support/test-databases.ts';
import { precompile } from './precompiled-query.ts';
import type { Database } from './tables.ts';

for (const dialect of testDialects) {
  describeOn(dialect)(`precompile on ${dialect} (decision 0032)`, () => {
    let db: Kysely<Database>;
    let close: () => Promise<void>;
    beforeEach(async () => { ({ db, close } = await openTestDatabase(dialect)); });
    afterEach(async () => { await close(); });

    const agent = (id: string, clientId: string, isEnabled = 1) => ({
      id, tenant_id: 'acme', client_id: clientId, common_name: 'pump', ca_certificate_id: 'c'.repeat(24),
      certificate_fingerprint_sha256: 'f'.repeat(64), is_enabled: isEnabled, is_online: 0, session_id: null,
      first_connected_at: '2026-11-27T00:00:00.000Z', last_connected_at: '2026-11-27T00:00:00.000Z',
    });

    it('runs with each call\'s values, as the query built each time does (text with NUL and U+FFFF too)', async () => {
      const clientIds = ['acme_a', 'acme_a\u0000', 'acme_a\uFFFF', "acme_a' OR '1'='1"];
      for (const [index, clientId] of clientIds.entries()) await db.insertInto('agents').values(agent(`a${index}`, clientId)).execute();
      const select = precompile(2, (tenant: string, clientId: string) =>
        db.selectFrom('agents').select(['id', 'client_id']).where('tenant_id', '=', tenant).where('client_id', '=', clientId));
      for (const [index, clientId] of clientIds.entries()) {
        const { rows } = await db.executeQuery(select('acme', clientId));
        assert.deepEqual(rows.map((row) => ({ ...row })), [{ id: `a${index}`, client_id: clientId }], JSON.stringify(clientId));
      }
      assert.deepEqual((await db.executeQuery(select('other', 'acme_a'))).rows, []);
      // Constants of the statement stay as they were compiled.
      await db.insertInto('agents').values(agent('d', 'acme_d', 0)).execute();
      const update = precompile(2, (tenant: string, id: string) =>
        db.updateTable('agents').set({ is_online: 1 }).where('tenant_id', '=', tenant).where('id', '=', id).where('is_enabled', '=', 1));
      await db.executeQuery(update('acme', 'd'));
      await db.executeQuery(update('acme', 'a1'));
      const online = await db.selectFrom('agents').select('id').where('is_online', '=', 1).execute();
      assert.deepEqual(online.map((row) => row.id), ['a1'], 'the disabled agent was not written');
    });

    it('refuses a statement that would not bind every value', () => {
      assert.throws(() => precompile(2, (tenant: string, _unused: string) =>
        db.selectFrom('agents').select('id').where('tenant_id', '=', tenant)), /every value must be a bound parameter/);
      assert.throws(() => precompile(1, (tenant: string) =>
        db.selectFrom('agents').select('id').where('tenant_id', '=', sql.lit(tenant))), /every value must be a bound parameter/);
    });
  });
}
