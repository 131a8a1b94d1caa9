import type { Kysely, Migration } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new dated file instead.
// Issue 12, item 6: the ids (never the keys) of the data dir's keys that wrote this database's
// data — the dev token issuer's key id and the managed CA sealing key's id — so that a node started
// with another data dir (an empty one against a restored database) refuses to start instead of
// refusing every token and failing every managed CA signature.
export const dataDirKeysMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.createTable('data_dir_keys')
      .addColumn('purpose', 'varchar(32)', (c) => c.primaryKey())
      .addColumn('key_id', 'varchar(128)', (c) => c.notNull())
      .addColumn('recorded_at', 'varchar(32)', (c) => c.notNull())
      .execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('data_dir_keys').execute();
  },
};
