import { sql, type Kysely, type Migration } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new dated file instead.
// Issue 19 part 2 (docs/decisions/0034-command-delivery.md): MindConnect commanding. A delivery job
// (POST /api/commanding/v3/deliveryJobs) holds one command per client id; each command is a row
// whose status the broker moves (PENDING → SENT → DELIVERED → EXECUTING → EXECUTED | FAILED, or
// CANCELED / EXPIRED). `data` and `response` are JSON text (bounded by the use cases).
//
// Indexes: (tenant_id, created_at desc, id desc) serves GET /deliveryJobs (newest first, keyset
// paging); (tenant_id, client_id, status) the broker's "undelivered commands of client id X" on
// every connect and subscribe; (job_id) a job's commands; (status, expires_at) the expiry sweep.

export const deliveryJobsMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.createTable('delivery_jobs')
      .addColumn('id', 'varchar(24)', (c) => c.primaryKey())
      .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('name', 'varchar(128)', (c) => c.notNull())
      // The client ids as a JSON array, in the order given.
      .addColumn('client_ids', 'text', (c) => c.notNull())
      .addColumn('data', 'text', (c) => c.notNull())
      .addColumn('status', 'varchar(16)', (c) => c.notNull())
      .addColumn('created_by', 'varchar(256)', (c) => c.notNull())
      // ISO 8601 UTC with milliseconds, compared as text (decision 0003).
      .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
      .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
      .execute();
    await sql.raw('CREATE INDEX delivery_jobs_tenant_created ON delivery_jobs (tenant_id, created_at DESC, id DESC)').execute(db);

    await db.schema.createTable('delivery_commands')
      .addColumn('id', 'varchar(24)', (c) => c.primaryKey())
      .addColumn('job_id', 'varchar(24)', (c) => c.notNull().references('delivery_jobs.id').onDelete('cascade'))
      .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('client_id', 'varchar(256)', (c) => c.notNull())
      .addColumn('status', 'varchar(16)', (c) => c.notNull())
      .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
      .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
      .addColumn('expires_at', 'varchar(32)', (c) => c.notNull())
      // When a node last handed it to the broker (NULL: never published).
      .addColumn('sent_at', 'varchar(32)')
      .addColumn('delivered_at', 'varchar(32)')
      // The agent's last update: its JSON `response` (bounded) and `timestamp`.
      .addColumn('response', 'text')
      .addColumn('agent_timestamp', 'varchar(64)')
      .execute();
    await sql.raw('CREATE INDEX delivery_commands_client_status ON delivery_commands (tenant_id, client_id, status)').execute(db);
    await sql.raw('CREATE INDEX delivery_commands_job ON delivery_commands (job_id)').execute(db);
    await sql.raw('CREATE INDEX delivery_commands_status_expires ON delivery_commands (status, expires_at)').execute(db);
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('delivery_commands').execute();
    await db.schema.dropTable('delivery_jobs').execute();
  },
};
