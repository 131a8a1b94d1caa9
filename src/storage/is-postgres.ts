import { PostgresAdapter, type Kysely } from 'kysely';

/** Whether `db` runs on PostgreSQL (row locks, advisory locks) rather than SQLite. Migrations keep
 *  their own copy: they are frozen and import nothing that may change. */
export const isPostgres = <DB>(db: Kysely<DB>): boolean => db.getExecutor().adapter instanceof PostgresAdapter;
