import type { Kysely, Migration } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new dated file instead.
export const caCertificatesMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.createTable('ca_certificates')
      .addColumn('id', 'varchar(24)', (c) => c.primaryKey())
      .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
      // Slots 1..max make the per-tenant limit a unique constraint, so it holds under concurrent
      // uploads on any dialect without table locks (docs/decisions/0002-ca-limit-as-slots.md).
      .addColumn('slot', 'integer', (c) => c.notNull())
      .addColumn('name', 'varchar(128)', (c) => c.notNull())
      .addColumn('description', 'text')
      .addColumn('certificate_pem', 'text', (c) => c.notNull())
      .addColumn('subject', 'text', (c) => c.notNull())
      .addColumn('common_name', 'text')
      .addColumn('fingerprint_sha256', 'varchar(64)', (c) => c.notNull())
      .addColumn('public_key_sha256', 'varchar(64)', (c) => c.notNull())
      .addColumn('subject_key_id', 'text')
      .addColumn('not_before', 'varchar(32)', (c) => c.notNull())
      .addColumn('not_after', 'varchar(32)', (c) => c.notNull())
      .addColumn('registration_code', 'varchar(64)', (c) => c.notNull())
      .addColumn('is_verified', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
      .addColumn('verified_at', 'varchar(32)')
      .addUniqueConstraint('ca_certificates_tenant_slot_unique', ['tenant_id', 'slot'])
      .addUniqueConstraint('ca_certificates_tenant_fingerprint_unique', ['tenant_id', 'fingerprint_sha256'])
      .execute();
    await db.schema.createIndex('ca_certificates_public_key_idx').on('ca_certificates').column('public_key_sha256').execute();

    // One row per verified CA public key: the tenant that may use it (one tenant at a time).
    await db.schema.createTable('ca_key_claims')
      .addColumn('public_key_sha256', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('claimed_at', 'varchar(32)', (c) => c.notNull())
      .execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('ca_key_claims').execute();
    await db.schema.dropTable('ca_certificates').execute();
  },
};
