import type { Kysely, Migration } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new dated file instead.
export const agentCertificatesMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    // One managed CA per tenant (the unique tenant_id makes concurrent first uses agree on one).
    // Apart from ca_certificates: it takes no upload slot and needs no proof of possession.
    await db.schema.createTable('managed_ca_certificates')
      .addColumn('id', 'varchar(24)', (c) => c.primaryKey())
      .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('certificate_pem', 'text', (c) => c.notNull())
      // Sealed (AES-256-GCM under a key in the data dir), never the plain PEM:
      // docs/decisions/0010-managed-ca-keys.md.
      .addColumn('private_key_sealed', 'text', (c) => c.notNull())
      .addColumn('subject', 'text', (c) => c.notNull())
      .addColumn('fingerprint_sha256', 'varchar(64)', (c) => c.notNull())
      .addColumn('not_before', 'varchar(32)', (c) => c.notNull())
      .addColumn('not_after', 'varchar(32)', (c) => c.notNull())
      .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
      .addUniqueConstraint('managed_ca_certificates_tenant_unique', ['tenant_id'])
      .execute();

    await db.schema.createTable('agent_certificates')
      .addColumn('id', 'varchar(24)', (c) => c.primaryKey())
      .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('name', 'varchar(64)', (c) => c.notNull())
      // = name while the certificate is active, NULL once revoked: a plain unique constraint over
      // (tenant_id, active_name) then allows one active certificate per name on every dialect
      // (NULLs never collide), where a partial index would be dialect-specific.
      .addColumn('active_name', 'varchar(64)')
      .addColumn('owner', 'varchar(256)')
      .addColumn('client_id', 'varchar(160)', (c) => c.notNull())
      .addColumn('managed_ca_id', 'varchar(24)', (c) => c.notNull())
      .addColumn('certificate_pem', 'text', (c) => c.notNull())
      .addColumn('fingerprint_sha256', 'varchar(64)', (c) => c.notNull())
      .addColumn('serial_number', 'varchar(64)', (c) => c.notNull())
      .addColumn('key_source', 'varchar(16)', (c) => c.notNull())
      .addColumn('not_before', 'varchar(32)', (c) => c.notNull())
      .addColumn('not_after', 'varchar(32)', (c) => c.notNull())
      .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
      .addColumn('is_revoked', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('revoked_at', 'varchar(32)')
      .addUniqueConstraint('agent_certificates_tenant_active_name_unique', ['tenant_id', 'active_name'])
      .addUniqueConstraint('agent_certificates_fingerprint_unique', ['fingerprint_sha256'])
      .execute();
    await db.schema.createIndex('agent_certificates_tenant_idx').on('agent_certificates').columns(['tenant_id', 'created_at']).execute();
    // Loading the broker's revocation list at start reads only revoked rows.
    await db.schema.createIndex('agent_certificates_revoked_idx').on('agent_certificates').columns(['is_revoked', 'not_after']).execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('agent_certificates').execute();
    await db.schema.dropTable('managed_ca_certificates').execute();
  },
};
