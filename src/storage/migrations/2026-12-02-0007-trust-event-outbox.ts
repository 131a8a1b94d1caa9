import { PostgresAdapter, sql, type Kysely, type Migration } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new dated file instead.
// Issue 12, item 1 (docs/decisions/0019-trust-event-outbox.md): the trust events, written by
// triggers in the transaction of the change itself, so an event exists exactly when its change
// committed. A relay on every node sends them over the cluster bus and deletes each row once Redis
// took it (registry/relay-trust-events.ts). Triggers, as for the counter of migration 0005: no
// write path (today's stores, a later one, a hand-run SQL fix) can change trust without its event.
//
// One row per event, with the fields its RegistryEvent carries (registry/events.ts):
// - ca_certificates: inserted (caCertificateRegistered), verified (is_verified 0 → 1:
//   caCertificateVerified), deleted (caCertificateDeleted);
// - managed_ca_certificates: inserted (managedCaCreated);
// - agent_certificates: revoked (is_revoked 0 → 1: agentCertificateRevoked, with issuer and serial);
// - agents: disabled (is_enabled 1 → 0: agentDisabled), deleted (agentDeleted).

const OUTBOX = 'trust_event_outbox';

interface EventTrigger {
  readonly name: string;
  readonly table: string;
  readonly operation: 'INSERT' | 'DELETE' | 'UPDATE';
  /** UPDATE: the column whose change fires it, and the change. */
  readonly column?: string;
  readonly from?: number;
  readonly to?: number;
  readonly eventType: string;
  /** Outbox column → the row's column (of NEW, or OLD for a delete). */
  readonly values: Readonly<Record<string, string>>;
}

const triggers: readonly EventTrigger[] = [
  { name: 'ca_certificates_registered_event', table: 'ca_certificates', operation: 'INSERT', eventType: 'caCertificateRegistered', values: { ca_certificate_id: 'id' } },
  {
    name: 'ca_certificates_verified_event', table: 'ca_certificates', operation: 'UPDATE', column: 'is_verified', from: 0, to: 1,
    eventType: 'caCertificateVerified', values: { ca_certificate_id: 'id' },
  },
  { name: 'ca_certificates_deleted_event', table: 'ca_certificates', operation: 'DELETE', eventType: 'caCertificateDeleted', values: { ca_certificate_id: 'id' } },
  { name: 'managed_ca_certificates_created_event', table: 'managed_ca_certificates', operation: 'INSERT', eventType: 'managedCaCreated', values: { ca_certificate_id: 'id' } },
  {
    name: 'agent_certificates_revoked_event', table: 'agent_certificates', operation: 'UPDATE', column: 'is_revoked', from: 0, to: 1,
    eventType: 'agentCertificateRevoked', values: { agent_certificate_id: 'id', ca_certificate_id: 'managed_ca_id', serial_number: 'serial_number' },
  },
  {
    name: 'agents_disabled_event', table: 'agents', operation: 'UPDATE', column: 'is_enabled', from: 1, to: 0,
    eventType: 'agentDisabled', values: { agent_id: 'id', client_id: 'client_id' },
  },
  { name: 'agents_deleted_event', table: 'agents', operation: 'DELETE', eventType: 'agentDeleted', values: { agent_id: 'id', client_id: 'client_id' } },
];

const isPostgres = (db: Kysely<unknown>): boolean => db.getExecutor().adapter instanceof PostgresAdapter;

// ISO 8601 UTC text with milliseconds, as every timestamp is stored (decision 0003).
const NOW_SQLITE = `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`;
const NOW_POSTGRES = `to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

const insertOf = ({ operation, eventType, values }: EventTrigger, now: string): string => {
  const row = operation === 'DELETE' ? 'OLD' : 'NEW';
  const columns = ['event_type', 'tenant_id', ...Object.keys(values), 'created_at'];
  const sources = [`'${eventType}'`, `${row}.tenant_id`, ...Object.values(values).map((column) => `${row}.${column}`), now];
  return `INSERT INTO ${OUTBOX} (${columns.join(', ')}) VALUES (${sources.join(', ')})`;
};

const eventOf = ({ operation, column }: EventTrigger): string => (column ? `UPDATE OF ${column}` : operation);

export const trustEventOutboxMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    const postgres = isPostgres(db);
    await db.schema.createTable(OUTBOX)
      // Written in commit order closely enough: the relay sends by id, and a node applies an event
      // by reading its record back, so an order swapped by concurrent commits changes nothing.
      .addColumn('id', postgres ? 'bigserial' : 'integer', (c) => (postgres ? c.primaryKey() : c.primaryKey().autoIncrement()))
      .addColumn('event_type', 'varchar(64)', (c) => c.notNull())
      .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('ca_certificate_id', 'varchar(64)')
      .addColumn('agent_certificate_id', 'varchar(64)')
      .addColumn('agent_id', 'varchar(64)')
      .addColumn('client_id', 'varchar(256)')
      .addColumn('serial_number', 'varchar(64)')
      .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
      .execute();
    for (const trigger of triggers) {
      const when = trigger.column ? `OLD.${trigger.column} = ${trigger.from} AND NEW.${trigger.column} = ${trigger.to}` : undefined;
      if (postgres) {
        await sql.raw(`CREATE FUNCTION ${trigger.name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ${insertOf(trigger, NOW_POSTGRES)}; RETURN NULL; END $$`).execute(db);
        await sql.raw(`CREATE TRIGGER ${trigger.name} AFTER ${eventOf(trigger)} ON ${trigger.table} FOR EACH ROW `
          + `${when ? `WHEN (${when}) ` : ''}EXECUTE FUNCTION ${trigger.name}()`).execute(db);
      } else {
        await sql.raw(`CREATE TRIGGER ${trigger.name} AFTER ${eventOf(trigger)} ON ${trigger.table} FOR EACH ROW `
          + `${when ? `WHEN ${when} ` : ''}BEGIN ${insertOf(trigger, NOW_SQLITE)}; END`).execute(db);
      }
    }
  },
  async down(db: Kysely<unknown>): Promise<void> {
    const postgres = isPostgres(db);
    for (const { name, table } of triggers) {
      await sql.raw(postgres ? `DROP TRIGGER IF EXISTS ${name} ON ${table}` : `DROP TRIGGER IF EXISTS ${name}`).execute(db);
      if (postgres) await sql.raw(`DROP FUNCTION IF EXISTS ${name}()`).execute(db);
    }
    await db.schema.dropTable(OUTBOX).execute();
  },
};
