import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Kysely } from 'kysely';
import { openTestDatabase, describeOn, testDialects } from '../../test/support/test-databases.ts';
import type { Database } from './tables.ts';

// What the stores may rely on, on every dialect (docs/decisions/0011-postgresql-dialect.md).
for (const dialect of testDialects) {
  describeOn(dialect)(`portableDialect on ${dialect}`, () => {
    let db: Kysely<Database>;
    let close: () => Promise<void>;
    beforeEach(async () => { ({ db, close } = await openTestDatabase(dialect)); });
    afterEach(async () => { await close(); });

    const agent = (id: string, commonName: string) => ({
      id, tenant_id: 'acme', client_id: `acme_${id}`, common_name: commonName, ca_certificate_id: 'c'.repeat(24),
      certificate_fingerprint_sha256: 'f'.repeat(64), is_enabled: 1, is_online: 0, session_id: null,
      first_connected_at: '2026-11-27T00:00:00.000Z', last_connected_at: '2026-11-27T00:00:00.000Z',
    });

    it('binds a boolean as 0/1 and a Date as ISO 8601 UTC text, as the columns hold them', async () => {
      const at = new Date('2026-11-27T10:11:12.345Z');
      await db.insertInto('agents').values({ ...agent('a1', 'x'), is_online: true as unknown as number, first_connected_at: at as unknown as string }).execute();
      const row = await db.selectFrom('agents').select(['is_online', 'first_connected_at']).where('is_online', '=', true as unknown as number).executeTakeFirstOrThrow();
      assert.deepEqual({ ...row }, { is_online: 1, first_connected_at: '2026-11-27T10:11:12.345Z' });
    });

    it('stores, finds and keeps apart text with NUL and U+FFFF', async () => {
      const names = ['a\u0000', 'a\uFFFF0', 'a\uFFFF', 'a\uFFFF\uFFFF', 'a\u0000\uFFFF\u0000', 'a'];
      for (const [i, name] of names.entries()) await db.insertInto('agents').values(agent(`a${i}`, name)).execute();
      for (const [i, name] of names.entries()) {
        const rows = await db.selectFrom('agents').select(['id', 'common_name']).where('common_name', '=', name).execute();
        assert.deepEqual(rows.map((row) => ({ ...row })), [{ id: `a${i}`, common_name: name }], JSON.stringify(name));
      }
    });
  });
}
