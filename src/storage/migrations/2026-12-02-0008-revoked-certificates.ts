import { PostgresAdapter, sql, type Kysely, type Migration } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new dated file instead.
// Issue 15, parts 1 and 2 (docs/decisions/0022-revocation-by-serial.md): revocations of
// certificates an uploaded CA issued, by issuer + serial number (RFC 5280 §5.3), and the CA's
// imported CRL.
//
// - revoked_certificates: one row per (CA, source, serial). `source` 'api' rows are made by
//   POST …/revokedCertificates (and removed by DELETE, for certificateHold only); 'crl' rows are
//   the entries of the CA's current CRL, replaced whole by each import.
// - certificate_revocation_lists: the CA's current CRL (one row per CA).
//
// Trust change counter (0005) and trust event outbox (0007) follow them by trigger, like every
// trust change: an 'api' row inserted or deleted, a CRL row inserted, updated or deleted, each
// writes one `caRevocationsChanged` event (tenant + CA id; the receiving node reads the CA's
// serials back). CRL entry rows fire nothing: an import of 10,000 entries is one event, carried
// by its CRL row, written in the same transaction.

const REVOKED = 'revoked_certificates';
const CRLS = 'certificate_revocation_lists';
const OUTBOX = 'trust_event_outbox';
const EVENT = 'caRevocationsChanged';

const isPostgres = (db: Kysely<unknown>): boolean => db.getExecutor().adapter instanceof PostgresAdapter;

const NOW_SQLITE = `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`;
const NOW_POSTGRES = `to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
const BUMP = 'UPDATE trust_changes SET changes = changes + 1 WHERE id = 1';

interface Watch {
  readonly name: string;
  readonly table: string;
  readonly operation: 'INSERT' | 'UPDATE' | 'DELETE';
  /** Only rows made through the API (CRL entries travel with their CRL row's event). */
  readonly apiOnly: boolean;
}

const watches: readonly Watch[] = [
  { name: 'revoked_certificates_inserted_trust', table: REVOKED, operation: 'INSERT', apiOnly: true },
  { name: 'revoked_certificates_deleted_trust', table: REVOKED, operation: 'DELETE', apiOnly: true },
  { name: 'certificate_revocation_lists_inserted_trust', table: CRLS, operation: 'INSERT', apiOnly: false },
  { name: 'certificate_revocation_lists_updated_trust', table: CRLS, operation: 'UPDATE', apiOnly: false },
  { name: 'certificate_revocation_lists_deleted_trust', table: CRLS, operation: 'DELETE', apiOnly: false },
];

const rowOf = ({ operation }: Watch): string => (operation === 'DELETE' ? 'OLD' : 'NEW');

const bodyOf = (watch: Watch, now: string): string => {
  const row = rowOf(watch);
  return `${BUMP}; INSERT INTO ${OUTBOX} (event_type, tenant_id, ca_certificate_id, created_at) `
    + `VALUES ('${EVENT}', ${row}.tenant_id, ${row}.ca_certificate_id, ${now});`;
};

export const revokedCertificatesMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    const postgres = isPostgres(db);
    await db.schema.createTable(REVOKED)
      .addColumn('ca_certificate_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('source', 'varchar(8)', (c) => c.notNull())
      // Normalised: lowercase hex, no leading zeros, no colons (at most 40 characters).
      .addColumn('serial_number', 'varchar(64)', (c) => c.notNull())
      .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('reason', 'varchar(32)', (c) => c.notNull())
      .addColumn('revoked_at', 'varchar(32)', (c) => c.notNull())
      .addPrimaryKeyConstraint('revoked_certificates_pk', ['ca_certificate_id', 'source', 'serial_number'])
      .execute();
    await db.schema.createTable(CRLS)
      .addColumn('ca_certificate_id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('this_update', 'varchar(32)', (c) => c.notNull())
      .addColumn('next_update', 'varchar(32)')
      .addColumn('crl_number', 'varchar(64)')
      .addColumn('entry_count', 'integer', (c) => c.notNull())
      .addColumn('imported_at', 'varchar(32)', (c) => c.notNull())
      .execute();
    for (const watch of watches) {
      const when = watch.apiOnly ? `${rowOf(watch)}.source = 'api'` : undefined;
      if (postgres) {
        await sql.raw(`CREATE FUNCTION ${watch.name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ${bodyOf(watch, NOW_POSTGRES)} RETURN NULL; END $$`).execute(db);
        await sql.raw(`CREATE TRIGGER ${watch.name} AFTER ${watch.operation} ON ${watch.table} FOR EACH ROW `
          + `${when ? `WHEN (${when}) ` : ''}EXECUTE FUNCTION ${watch.name}()`).execute(db);
      } else {
        await sql.raw(`CREATE TRIGGER ${watch.name} AFTER ${watch.operation} ON ${watch.table} FOR EACH ROW `
          + `${when ? `WHEN ${when} ` : ''}BEGIN ${bodyOf(watch, NOW_SQLITE)} END`).execute(db);
      }
    }
  },
  async down(db: Kysely<unknown>): Promise<void> {
    const postgres = isPostgres(db);
    for (const { name, table } of watches) {
      await sql.raw(postgres ? `DROP TRIGGER IF EXISTS ${name} ON ${table}` : `DROP TRIGGER IF EXISTS ${name}`).execute(db);
      if (postgres) await sql.raw(`DROP FUNCTION IF EXISTS ${name}()`).execute(db);
    }
    await db.schema.dropTable(CRLS).execute();
    await db.schema.dropTable(REVOKED).execute();
  },
};
