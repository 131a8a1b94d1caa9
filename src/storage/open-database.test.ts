import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, describe, it } from 'node:test';
import { Migrator, sql, type Kysely } from 'kysely';
import { createTestDatabaseUrl, describeOn, testDialects, testPostgresBaseUrl } from '../../test/support/test-databases.ts';
import { isDomainError } from '../shared/index.ts';
import { migrationProvider } from './migrations/index.ts';
import { openDatabase } from './open-database.ts';
import type { Database } from './tables.ts';
import { describeNeeding } from '../../test/support/test-services.ts';

const MIGRATIONS = ['2026-11-27-0001-ca-certificates', '2026-11-27-0002-agents', '2026-11-27-0003-agent-certificates', '2026-12-02-0004-certificate-identity', '2026-12-02-0005-trust-changes', '2026-12-02-0006-data-dir-keys', '2026-12-02-0007-trust-event-outbox', '2026-12-02-0008-revoked-certificates', '2026-12-02-0009-agent-certificate-validity', '2026-12-02-0010-agent-certificate-renewals', '2026-12-03-0011-audit-events', '2026-12-03-0012-delivery-jobs', '2026-12-03-0014-agent-token-keys'];

const appliedMigrations = async (db: Kysely<Database>): Promise<string[]> =>
  (await sql<{ name: string }>`select name from kysely_migration order by name`.execute(db)).rows.map((row) => row.name);

// Tables and their columns as the database reports them (Kysely's introspection, per dialect).
const schemaOf = async (db: Kysely<Database>): Promise<Record<string, string[]>> => {
  const tables = await db.introspection.getTables();
  return Object.fromEntries(tables.map((table) => [table.name, table.columns.map((column) => column.name).sort()]).sort());
};

const schemas: Partial<Record<string, Record<string, string[]>>> = {};

for (const dialect of testDialects) {
  describeOn(dialect)(`openDatabase on ${dialect}: migrations`, () => {
    it('creates the schema on an empty database; opening again runs nothing', async () => {
      const database = await createTestDatabaseUrl(dialect);
      try {
        const db = await openDatabase({ url: database.url });
        assert.deepEqual(await appliedMigrations(db), MIGRATIONS);
        schemas[dialect] = await schemaOf(db);
        await db.destroy();
        const again = await openDatabase({ url: database.url });
        assert.deepEqual(await appliedMigrations(again), MIGRATIONS);
        await again.destroy();
      } finally {
        await database.drop();
      }
    });

    it('upgrades a database left at the first migration, keeping its rows', async () => {
      const database = await createTestDatabaseUrl(dialect);
      try {
        const old = await openDatabase({ url: database.url }).then(async (db) => {
          // Back to the first version, as a node of an earlier release would have left it.
          const { error } = await new Migrator({ db, provider: migrationProvider }).migrateTo(MIGRATIONS[0]!);
          assert.equal(error, undefined);
          return db;
        });
        await old.insertInto('ca_key_claims').values({ public_key_sha256: 'k'.repeat(64), tenant_id: 'acme', claimed_at: '2026-11-27T00:00:00.000Z' }).execute();
        await old.destroy();
        const db = await openDatabase({ url: database.url });
        assert.deepEqual(await appliedMigrations(db), MIGRATIONS);
        assert.equal((await db.selectFrom('ca_key_claims').selectAll().execute()).length, 1);
        await db.destroy();
      } finally {
        await database.drop();
      }
    });
  });
}

describeNeeding('postgres')('openDatabase on postgres', () => {
  it('creates the same tables and columns as on SQLite', () => {
    assert.ok(schemas.sqlite && schemas.postgres, 'both dialects\' schemas were read above');
    assert.deepEqual(schemas.postgres, schemas.sqlite);
  });

  it('two nodes starting at once on a fresh database: both open it, each migration runs once', async () => {
    const database = await createTestDatabaseUrl('postgres');
    try {
      const nodes = await Promise.all([0, 1, 2].map(() => openDatabase({ url: database.url })));
      for (const db of nodes) assert.deepEqual(await appliedMigrations(db), MIGRATIONS);
      await nodes[0]!.insertInto('ca_key_claims').values({ public_key_sha256: 'k'.repeat(64), tenant_id: 'acme', claimed_at: '2026-11-27T00:00:00.000Z' }).execute();
      assert.equal((await nodes[2]!.selectFrom('ca_key_claims').selectAll().execute()).length, 1);
      await Promise.all(nodes.map((db) => db.destroy()));
    } finally {
      await database.drop();
    }
  });

  it('refuses another scheme instead of creating a SQLite file named like the URL', async () => {
    await assert.rejects(openDatabase({ url: 'mysql://root@127.0.0.1/test' }), /mysql:\/\/ is not a supported database/);
  });

  it('accepts postgresql:// as well', async () => {
    const database = await createTestDatabaseUrl('postgres');
    try {
      const db = await openDatabase({ url: database.url.replace(/^postgres:/, 'postgresql:') });
      assert.deepEqual(await appliedMigrations(db), MIGRATIONS);
      await db.destroy();
    } finally {
      await database.drop();
    }
  });

  describe('an unreachable server', () => {
    // A port nothing listens on: taken, then released.
    const closedPort = async (): Promise<number> => {
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as { port: number };
      await new Promise<void>((resolve) => server.close(() => resolve()));
      return port;
    };
    const silent = createServer(() => undefined);
    after(() => { silent.close(); });

    it('refused: storage.unavailable naming the database but not its password, at once', async () => {
      const url = new URL(testPostgresBaseUrl);
      url.port = String(await closedPort());
      url.password = 'secret-password';
      const started = Date.now();
      await assert.rejects(openDatabase({ url: url.toString() }), (error: unknown) => {
        assert.ok(isDomainError(error), String(error));
        assert.equal(error.code, 'storage.unavailable');
        assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${url.port}/`));
        assert.match(error.message, /ECONNREFUSED|refused/);
        assert.doesNotMatch(error.message, /secret-password/);
        return true;
      });
      assert.ok(Date.now() - started < 3_000);
    });

    it('a server that accepts TCP but never answers: storage.unavailable after the connect timeout', async () => {
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const url = new URL(testPostgresBaseUrl);
      url.port = String((silent.address() as { port: number }).port);
      url.searchParams.set('connect_timeout', '1');
      const started = Date.now();
      await assert.rejects(openDatabase({ url: url.toString() }), (error: unknown) =>
        isDomainError(error) && error.code === 'storage.unavailable' && /timeout/i.test(error.message));
      assert.ok(Date.now() - started < 3_000, 'connect_timeout=1 in the URL bounds the wait');
    });
  });
});
