import { sql, type Kysely, type Migration } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new dated file instead.
// Issue 19 part 3 (docs/decisions/0035-webhooks-outbox.md): a tenant's webhooks and the outbox of
// their deliveries. A delivery row is inserted in the transaction of the change it reports (or on
// its own for an event no change carries), with the body as first built: the signature is over
// those exact bytes, on every attempt. A node claims a due row by moving its next_attempt_at past
// a lease (and stamping claim_token); a node that dies mid-attempt leaves the row due again once
// the lease is over.
//
// Indexes: (tenant_id) serves the webhooks of a tenant (the enqueue, in every change's
// transaction); (status, next_attempt_at) the claim of due rows; (webhook_id, created_at desc,
// id desc) GET /webhooks/{id}/deliveries, newest first; unique (webhook_id, event_id) one delivery of an event per webhook; (updated_at) the pruning of finished rows.

export const webhooksMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.createTable('webhooks')
      .addColumn('id', 'varchar(24)', (c) => c.primaryKey())
      .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('url', 'varchar(2048)', (c) => c.notNull())
      // The subscribed event types (or "*"), comma-separated.
      .addColumn('events', 'varchar(1024)', (c) => c.notNull())
      // Sealed with the data dir's sealing key (like managed CA keys); opened only to sign. Never
      // returned by the API (write-only, like GitHub's).
      .addColumn('secret', 'varchar(1024)', (c) => c.notNull())
      .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
      .execute();
    await sql.raw('CREATE INDEX webhooks_tenant ON webhooks (tenant_id)').execute(db);

    await db.schema.createTable('webhook_deliveries')
      .addColumn('id', 'varchar(24)', (c) => c.primaryKey())
      // The event's id: the same for every webhook the event went to (the Trustgate-Event-Id header).
      .addColumn('event_id', 'varchar(24)', (c) => c.notNull())
      .addColumn('webhook_id', 'varchar(24)', (c) => c.notNull())
      .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('event_type', 'varchar(64)', (c) => c.notNull())
      .addColumn('body', 'text', (c) => c.notNull())
      // pending | delivered | failed
      .addColumn('status', 'varchar(16)', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('next_attempt_at', 'varchar(32)', (c) => c.notNull())
      .addColumn('claim_token', 'varchar(32)')
      .addColumn('last_attempt_at', 'varchar(32)')
      .addColumn('last_response_status', 'integer')
      .addColumn('last_response_body', 'varchar(256)')
      .addColumn('last_error', 'varchar(256)')
      .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
      .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
      .execute();
    await sql.raw('CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at)').execute(db);
    await sql.raw('CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at DESC, id DESC)').execute(db);
    // An event reaches a webhook once: an event every node raises on its own (certificate.expiring,
    // with an id derived from the object and the day) is inserted by the first node only.
    await sql.raw('CREATE UNIQUE INDEX webhook_deliveries_event ON webhook_deliveries (webhook_id, event_id)').execute(db);
    await sql.raw('CREATE INDEX webhook_deliveries_updated ON webhook_deliveries (updated_at)').execute(db);
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('webhook_deliveries').execute();
    await db.schema.dropTable('webhooks').execute();
  },
};
