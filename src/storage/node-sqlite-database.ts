import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';

// Node's built-in node:sqlite (no native addon to compile), opened as trustgate uses it: by the
// database worker thread (the one connection that writes) and by the event loop's read-only
// connection (sqlite-worker-driver.ts). Booleans become 0/1, undefined NULL and Dates ISO 8601
// text, as SQLite stores them (docs/decisions/0003-portable-column-types.md).
export const toSqlite = (parameters: ReadonlyArray<unknown>): SQLInputValue[] => parameters.map((value) => {
  if (value === undefined) return null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value instanceof Date) return value.toISOString();
  return value as SQLInputValue;
});

export interface SqliteConnectionOptions {
  /** The event loop's reader: it never writes, so it never waits for a write lock or an fsync. */
  readonly readOnly?: boolean;
}

export const openSqliteConnection = (path: string, { readOnly = false }: SqliteConnectionOptions = {}): DatabaseSync => {
  const database = new DatabaseSync(path, { readOnly });
  // WAL + synchronous=FULL: an acknowledged write survives SIGKILL and power loss; WAL also lets
  // the reader read the last commit while the writer writes. busy_timeout lets a second process
  // (the CLI) wait for the server's write lock instead of failing. journal_mode is stored in the
  // file: data dirs from before 0030 are already WAL, and the reader cannot and need not set it.
  database.exec(readOnly
    ? 'PRAGMA busy_timeout = 5000;'
    : 'PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;');
  return database;
};

const MAX_CACHED_STATEMENTS = 256;

// Kysely emits the same few SQL shapes over and over; preparing each once saves ~10 % of a
// request's CPU. Bounded in case a caller ever builds SQL with inline values.
export const preparedStatements = (database: DatabaseSync): ((sql: string) => StatementSync) => {
  const statements = new Map<string, StatementSync>();
  return (sql) => {
    let statement = statements.get(sql);
    if (!statement) {
      if (statements.size >= MAX_CACHED_STATEMENTS) statements.clear();
      statement = database.prepare(sql);
      statements.set(sql, statement);
    }
    return statement;
  };
};

const returnsRowsOf = new WeakMap<StatementSync, boolean>();

/** Whether a statement answers rows (a SELECT, a RETURNING) or only changes. columns() describes
 *  every column anew on each call (~10 µs for a CA row, as much as the SELECT itself), so it is
 *  asked once per prepared statement. */
export const returnsRows = (statement: StatementSync): boolean => {
  let answer = returnsRowsOf.get(statement);
  if (answer === undefined) {
    answer = statement.columns().length > 0;
    returnsRowsOf.set(statement, answer);
  }
  return answer;
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
