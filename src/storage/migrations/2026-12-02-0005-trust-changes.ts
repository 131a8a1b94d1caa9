import { PostgresAdapter, sql, type Kysely, type Migration } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new dated file instead.
// Issue 12, item 1 (docs/decisions/0018-trust-convergence.md): one counter that every
// trust-relevant write bumps in its own transaction, so each node of a cluster can tell, by
// reading one row, that the database's trust state moved past what it has loaded.
// Triggers, not store code: no write path (today's stores, a later one, a hand-run SQL fix) can
// change trust without bumping it, and it commits or rolls back with the change.
//
// What counts as a trust change (what a node's trust index or live sessions follow):
// - ca_certificates: any insert, update (verification) or delete;
// - managed_ca_certificates: any insert, update or delete;
// - agent_certificates: a change of is_revoked, a delete;
// - agents: a change of is_enabled, a delete (both close sessions). Not the online/last-connected
//   updates, which happen at every connect and change no trust.

const COUNTER_TABLE = 'trust_changes';

interface Watched {
  readonly table: string;
  readonly name: string;
  /** The column whose change is a trust change; undefined = any update. */
  readonly column?: string;
}

const watched: readonly Watched[] = [
  { table: 'ca_certificates', name: 'ca_certificates_trust_change' },
  { table: 'managed_ca_certificates', name: 'managed_ca_certificates_trust_change' },
  { table: 'agent_certificates', name: 'agent_certificates_trust_change', column: 'is_revoked' },
  { table: 'agents', name: 'agents_trust_change', column: 'is_enabled' },
];

const bump = `UPDATE ${COUNTER_TABLE} SET changes = changes + 1 WHERE id = 1`;

const isPostgres = (db: Kysely<unknown>): boolean => db.getExecutor().adapter instanceof PostgresAdapter;

export const trustChangesMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.createTable(COUNTER_TABLE)
      .addColumn('id', 'integer', (c) => c.primaryKey())
      .addColumn('changes', 'bigint', (c) => c.notNull().defaultTo(0))
      .execute();
    await sql.raw(`INSERT INTO ${COUNTER_TABLE} (id, changes) VALUES (1, 0)`).execute(db);
    if (isPostgres(db)) {
      await sql.raw(`CREATE FUNCTION trust_changes_bump() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ${bump}; RETURN NULL; END $$`).execute(db);
      for (const { table, name, column } of watched) {
        if (column) {
          await sql.raw(`CREATE TRIGGER ${name}_update AFTER UPDATE OF ${column} ON ${table} FOR EACH ROW `
            + `WHEN (OLD.${column} IS DISTINCT FROM NEW.${column}) EXECUTE FUNCTION trust_changes_bump()`).execute(db);
          await sql.raw(`CREATE TRIGGER ${name}_delete AFTER DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION trust_changes_bump()`).execute(db);
        } else {
          await sql.raw(`CREATE TRIGGER ${name} AFTER INSERT OR UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION trust_changes_bump()`).execute(db);
        }
      }
      return;
    }
    for (const { table, name, column } of watched) {
      if (column) {
        await sql.raw(`CREATE TRIGGER ${name}_update AFTER UPDATE OF ${column} ON ${table} FOR EACH ROW `
          + `WHEN OLD.${column} IS NOT NEW.${column} BEGIN ${bump}; END`).execute(db);
      } else {
        await sql.raw(`CREATE TRIGGER ${name}_insert AFTER INSERT ON ${table} BEGIN ${bump}; END`).execute(db);
        await sql.raw(`CREATE TRIGGER ${name}_update AFTER UPDATE ON ${table} BEGIN ${bump}; END`).execute(db);
      }
      await sql.raw(`CREATE TRIGGER ${name}_delete AFTER DELETE ON ${table} BEGIN ${bump}; END`).execute(db);
    }
  },
  async down(db: Kysely<unknown>): Promise<void> {
    for (const { table, name, column } of watched) {
      const names = column ? [`${name}_update`, `${name}_delete`] : isPostgres(db) ? [name] : [`${name}_insert`, `${name}_update`, `${name}_delete`];
      for (const trigger of names) {
        await sql.raw(isPostgres(db) ? `DROP TRIGGER IF EXISTS ${trigger} ON ${table}` : `DROP TRIGGER IF EXISTS ${trigger}`).execute(db);
      }
    }
    if (isPostgres(db)) await sql.raw('DROP FUNCTION IF EXISTS trust_changes_bump()').execute(db);
    await db.schema.dropTable(COUNTER_TABLE).execute();
  },
};
