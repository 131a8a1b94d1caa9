import type { Kysely, Migration } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new dated file instead.
// Issue 15, part 3 (expiry you can see coming): the agent record keeps its current certificate's
// serial number (normalised lowercase hex, as src/pki/der.ts writes it) and validity, written at
// onboarding and whenever the agent connects with another certificate. Rows written before this
// migration hold NULL until the agent's next connection (the API answers null for those fields);
// nothing is backfilled, since only the fingerprint of that certificate was kept.
// An index on (tenant_id, not_after) serves GET /agents?expiringBefore=… and the expiry gauges;
// GET /agents?caCertificateId=… is a tenant's own rows, few enough to filter without one.

const COLUMNS = ['certificate_serial_number', 'certificate_not_before', 'certificate_not_after'] as const;

export const agentCertificateValidityMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('agents').addColumn('certificate_serial_number', 'varchar(64)').execute();
    // ISO 8601 UTC text with milliseconds, as every timestamp is stored (decision 0003).
    await db.schema.alterTable('agents').addColumn('certificate_not_before', 'varchar(32)').execute();
    await db.schema.alterTable('agents').addColumn('certificate_not_after', 'varchar(32)').execute();
    await db.schema.createIndex('agents_tenant_certificate_not_after_idx').on('agents').columns(['tenant_id', 'certificate_not_after']).execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropIndex('agents_tenant_certificate_not_after_idx').ifExists().execute();
    // One column per statement: SQLite's ALTER TABLE drops one at a time.
    for (const column of [...COLUMNS].reverse()) await db.schema.alterTable('agents').dropColumn(column).execute();
  },
};
