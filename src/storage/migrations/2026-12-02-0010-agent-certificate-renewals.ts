import type { Kysely, Migration } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new dated file instead.
// Issue 15 part 4: at most one renewal of an agent's certificate per hour (MQTT o/cert_v1/csr or
// POST /agentCertificates/{id}/renew). One row per agent (tenant + client id) with its last
// renewal: a conditional upsert on this row decides, in the transaction that stores the renewed
// certificate, so the limit holds across restarts and across the nodes of a cluster.
export const agentCertificateRenewalsMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.createTable('agent_certificate_renewals')
      .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('client_id', 'varchar(160)', (c) => c.notNull())
      // ISO 8601 UTC with milliseconds, like every other instant: compared as text.
      .addColumn('renewed_at', 'varchar(32)', (c) => c.notNull())
      .addColumn('agent_certificate_id', 'varchar(24)', (c) => c.notNull())
      .addPrimaryKeyConstraint('agent_certificate_renewals_pk', ['tenant_id', 'client_id'])
      .execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('agent_certificate_renewals').execute();
  },
};
