import type { Kysely, Migration } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new dated file instead.
export const agentsMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.createTable('agents')
      .addColumn('id', 'varchar(24)', (c) => c.primaryKey())
      .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('client_id', 'varchar(160)', (c) => c.notNull())
      .addColumn('common_name', 'varchar(64)', (c) => c.notNull())
      // No foreign key: agent records outlive the CA that issued them (CA rotation keeps identities).
      .addColumn('ca_certificate_id', 'varchar(24)', (c) => c.notNull())
      .addColumn('certificate_fingerprint_sha256', 'varchar(64)', (c) => c.notNull())
      .addColumn('is_enabled', 'integer', (c) => c.notNull().defaultTo(1))
      .addColumn('is_online', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('session_id', 'varchar(64)')
      .addColumn('first_connected_at', 'varchar(32)', (c) => c.notNull())
      .addColumn('last_connected_at', 'varchar(32)', (c) => c.notNull())
      .addUniqueConstraint('agents_tenant_client_id_unique', ['tenant_id', 'client_id'])
      .execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('agents').execute();
  },
};
