import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Migrator } from 'kysely';
import { createTestDatabaseUrl, describeOn, testDialects } from '../../test/support/test-databases.ts';
import type { TenantId } from '../shared/index.ts';
import { KyselyAgentStore } from './kysely-agent-store.ts';
import { migrationProvider } from './migrations/index.ts';
import { openDatabase } from './open-database.ts';

const at = '2026-11-27T00:00:00.000Z';

// Agents written by the previous release (schema at migration 0007) keep working after 0009: their
// certificate validity is unknown (null in the API) until their next connection; 0009 rolls back.
for (const dialect of testDialects) describeOn(dialect)(`migration 0009 (agent certificate validity) on ${dialect}`, () => {
  it('keeps the previous release\'s agents (validity unknown until their next connection) and rolls back to the old columns', async () => {
    const database = await createTestDatabaseUrl(dialect);
    try {
      const old = await openDatabase({ url: database.url });
      const migrator = new Migrator({ db: old, provider: migrationProvider });
      assert.equal((await migrator.migrateTo('2026-12-02-0007-trust-event-outbox')).error, undefined);
      const row = {
        id: 'agent-1', tenant_id: 'acme', client_id: 'acme_pump-1', common_name: 'pump-1', ca_certificate_id: 'ca-1',
        certificate_fingerprint_sha256: 'f'.repeat(64), is_enabled: 1, is_online: 0, session_id: null, first_connected_at: at, last_connected_at: at,
      };
      // Typed as today's schema; the row is the previous release's (no validity columns yet).
      await old.insertInto('agents').values(row as never).execute();
      assert.equal((await migrator.migrateToLatest()).error, undefined);

      const store = new KyselyAgentStore(old);
      const agent = await store.find('acme' as TenantId, 'agent-1' as never);
      assert.equal(agent?.certificateFingerprintSha256, 'f'.repeat(64), 'what it had is kept');
      assert.equal(agent?.certificateValidity, undefined);
      assert.deepEqual((await store.list('acme' as TenantId, { expiringBefore: new Date('2100-01-01T00:00:00.000Z') })), [], 'unknown validity never counts as expiring');
      await store.close();

      assert.equal((await migrator.migrateTo('2026-12-02-0007-trust-event-outbox')).error, undefined, 'rollback');
      const columns = (await old.introspection.getTables()).find((table) => table.name === 'agents')?.columns.map((column) => column.name);
      assert.ok(columns && !columns.includes('certificate_not_after') && !columns.includes('certificate_serial_number'));
      assert.equal((await old.selectFrom('agents').select('id').execute()).length, 1, 'the rollback keeps the rows');
      assert.equal((await migrator.migrateToLatest()).error, undefined, 'and migrates up again');
      await old.destroy();
    } finally {
      await database.drop();
    }
  });
});
