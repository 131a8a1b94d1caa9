import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { migrationProvider } from './migrations/index.ts';
import { openNodeSqliteDatabase } from './node-sqlite-database.ts';
import type { Database } from './tables.ts';

export interface OpenDatabaseOptions {
  /** `sqlite:<path>` or a bare file path; `:memory:` for tests. */
  readonly url: string;
}

export const sqlitePathOf = (url: string): string => url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : url;

// Opens the database and brings its schema up to date. Factories elsewhere do no I/O; this is
// called from the app's start().
export const openDatabase = async ({ url }: OpenDatabaseOptions): Promise<Kysely<Database>> => {
  const db = new Kysely<Database>({
    dialect: new SqliteDialect({ database: async () => openNodeSqliteDatabase(sqlitePathOf(url)) }),
  });
  try {
    await migrateToLatest(db);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return db;
};

export const migrateToLatest = async (db: Kysely<Database>): Promise<void> => {
  const { error } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
  if (error) throw error;
};
