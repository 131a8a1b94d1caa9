import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

// Adapts Node's built-in node:sqlite (no native addon to compile) to the small interface
// Kysely's SqliteDialect drives. Booleans become 0/1 and undefined becomes NULL, as SQLite stores them.
const toSqlite = (parameters: ReadonlyArray<unknown>): SQLInputValue[] => parameters.map((value) => {
  if (value === undefined) return null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value instanceof Date) return value.toISOString();
  return value as SQLInputValue;
});

class NodeSqliteStatement implements SqliteStatement {
  readonly #statement: StatementSync;
  readonly reader: boolean;

  constructor(statement: StatementSync) {
    this.#statement = statement;
    this.reader = statement.columns().length > 0;
  }

  all(parameters: ReadonlyArray<unknown>): unknown[] {
    return this.#statement.all(...toSqlite(parameters));
  }

  run(parameters: ReadonlyArray<unknown>): { changes: number | bigint; lastInsertRowid: number | bigint } {
    return this.#statement.run(...toSqlite(parameters));
  }

  iterate(parameters: ReadonlyArray<unknown>): IterableIterator<unknown> {
    return this.#statement.iterate(...toSqlite(parameters));
  }
}

const MAX_CACHED_STATEMENTS = 256;

export const openNodeSqliteDatabase = (path: string): SqliteDatabase => {
  const database = new DatabaseSync(path);
  // WAL + synchronous=FULL: an acknowledged write survives SIGKILL and power loss; busy_timeout lets
  // a second process (the CLI) wait for the server's write lock instead of failing.
  database.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;');
  // Kysely emits the same few SQL shapes over and over; preparing each once saves ~10 % of a
  // request's CPU. Bounded in case a caller ever builds SQL with inline values.
  const statements = new Map<string, NodeSqliteStatement>();
  return {
    close: () => database.close(),
    prepare: (sql) => {
      let statement = statements.get(sql);
      if (!statement) {
        if (statements.size >= MAX_CACHED_STATEMENTS) statements.clear();
        statement = new NodeSqliteStatement(database.prepare(sql));
        statements.set(sql, statement);
      }
      return statement;
    },
  };
};

/**
 * A consistent copy of a SQLite database that another process may be writing (the running server):
 * `VACUUM INTO` reads one snapshot in a single read transaction, WAL content included, so writers
 * are not blocked and the copy is never torn. Opened read-only: nothing is created or migrated.
 * `targetPath` must not exist. The copy is in rollback-journal mode; the server sets WAL on open.
 */
export const snapshotSqliteDatabase = (sourcePath: string, targetPath: string): void => {
  const database = new DatabaseSync(sourcePath, { readOnly: true });
  try {
    database.exec('PRAGMA busy_timeout = 5000;');
    database.prepare('VACUUM INTO ?').run(targetPath);
  } finally {
    database.close();
  }
};
