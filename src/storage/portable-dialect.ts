import type {
  CompiledQuery, DatabaseConnection, DatabaseIntrospector, Dialect, DialectAdapter, Driver, Kysely, QueryCompiler, QueryResult,
  TransactionSettings,
} from 'kysely';
import type { ConcurrentStatements } from './run-transaction.ts';
import { translateDriverError } from './translate-driver-error.ts';

// Every store reaches the database through this wrapper around the dialect's driver, so no store
// method can forget what it does (docs/decisions/0011-postgresql-dialect.md):
// - an unreachable database (connection refused or lost, server shutting down, no pooled
//   connection in time) surfaces as DomainError storage.unavailable (HTTP 503, CONNACK 3) instead
//   of a driver error that would answer 500; other errors pass through unchanged, so the stores
//   still read unique violations from them (translate-driver-error.ts);
// - on PostgreSQL, which cannot store NUL in text (SQLite can), NUL is escaped in every string
//   parameter and unescaped in every string read, so text round-trips alike on both dialects;
// - on PostgreSQL, booleans and Dates are bound as node-sqlite-database.ts binds them on SQLite
//   (0/1 and ISO 8601 UTC text, docs/decisions/0003-portable-column-types.md): pg would send
//   'true' to an integer column (an error) and a Date in local time with an offset.

export interface PortableDialectOptions {
  /** PostgreSQL: escape NUL, bind booleans and Dates as SQLite does. */
  readonly isPostgres: boolean;
}

// NUL is written as ESC '0', ESC itself as ESC ESC. ESC is the noncharacter U+FFFF (Unicode §23.7:
// never interchanged as text), so almost no real value needs escaping and equality, uniqueness and
// the order of the ISO timestamps and hex ids the stores sort by are unchanged.
const ESC = '\uFFFF';
const NEEDS_ESCAPE = /[\u0000\uFFFF]/;
const escapeText = (text: string): string =>
  NEEDS_ESCAPE.test(text) ? text.replace(/[\u0000\uFFFF]/g, (char) => (char === ESC ? ESC + ESC : `${ESC}0`)) : text;
const unescapeText = (text: string): string =>
  text.includes(ESC) ? text.replace(/\uFFFF([0\uFFFF])/g, (_, char: string) => (char === '0' ? '\u0000' : ESC)) : text;

const needsConversion = (value: unknown): boolean =>
  typeof value === 'boolean' || value instanceof Date || (typeof value === 'string' && NEEDS_ESCAPE.test(value));

const toPostgres = (value: unknown): unknown => {
  if (typeof value === 'string') return escapeText(value);
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value instanceof Date) return value.toISOString();
  return value;
};

const translated = async <T>(work: () => Promise<T>): Promise<T> => {
  try {
    return await work();
  } catch (error) {
    throw translateDriverError(error);
  }
};

class PortableConnection implements DatabaseConnection {
  readonly inner: DatabaseConnection;
  readonly #isPostgres: boolean;

  constructor(inner: DatabaseConnection, { isPostgres }: PortableDialectOptions) {
    this.inner = inner;
    this.#isPostgres = isPostgres;
  }

  get takesConcurrentStatements(): boolean {
    return (this.inner as Partial<ConcurrentStatements>).takesConcurrentStatements === true;
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const result = await translated(() => this.inner.executeQuery<R>(this.#bound(compiledQuery)));
    return this.#unescaped(result);
  }

  async *streamQuery<R>(compiledQuery: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    try {
      for await (const result of this.inner.streamQuery<R>(this.#bound(compiledQuery), chunkSize)) yield this.#unescaped(result);
    } catch (error) {
      throw translateDriverError(error);
    }
  }

  #bound(compiledQuery: CompiledQuery): CompiledQuery {
    if (!this.#isPostgres || !compiledQuery.parameters.some(needsConversion)) return compiledQuery;
    return { ...compiledQuery, parameters: compiledQuery.parameters.map(toPostgres) };
  }

  #unescaped<R>(result: QueryResult<R>): QueryResult<R> {
    if (!this.#isPostgres) return result;
    for (const row of result.rows) {
      if (typeof row !== 'object' || row === null) continue;
      const fields = row as Record<string, unknown>;
      for (const [key, value] of Object.entries(fields)) if (typeof value === 'string' && value.includes(ESC)) fields[key] = unescapeText(value);
    }
    return result;
  }
}

class PortableDriver implements Driver {
  readonly #inner: Driver;
  readonly #options: PortableDialectOptions;
  // The driver's own connection object goes back to it (pg's driver keeps private state on it).
  readonly #wrappers = new WeakMap<DatabaseConnection, PortableConnection>();

  constructor(inner: Driver, options: PortableDialectOptions) {
    this.#inner = inner;
    this.#options = options;
  }

  init(): Promise<void> {
    return translated(() => this.#inner.init());
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const connection = await translated(() => this.#inner.acquireConnection());
    let wrapper = this.#wrappers.get(connection);
    if (!wrapper) {
      wrapper = new PortableConnection(connection, this.#options);
      this.#wrappers.set(connection, wrapper);
    }
    return wrapper;
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return translated(() => this.#inner.beginTransaction(innerOf(connection), settings));
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return translated(() => this.#inner.commitTransaction(innerOf(connection)));
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return translated(() => this.#inner.rollbackTransaction(innerOf(connection)));
  }

  savepoint(connection: DatabaseConnection, name: string, compileQuery: QueryCompiler['compileQuery']): Promise<void> {
    return translated(() => required(this.#inner.savepoint, 'savepoint').call(this.#inner, innerOf(connection), name, compileQuery));
  }

  rollbackToSavepoint(connection: DatabaseConnection, name: string, compileQuery: QueryCompiler['compileQuery']): Promise<void> {
    return translated(() => required(this.#inner.rollbackToSavepoint, 'rollbackToSavepoint').call(this.#inner, innerOf(connection), name, compileQuery));
  }

  releaseSavepoint(connection: DatabaseConnection, name: string, compileQuery: QueryCompiler['compileQuery']): Promise<void> {
    return translated(() => required(this.#inner.releaseSavepoint, 'releaseSavepoint').call(this.#inner, innerOf(connection), name, compileQuery));
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.#inner.releaseConnection(innerOf(connection));
  }

  destroy(): Promise<void> {
    return this.#inner.destroy();
  }
}

const innerOf = (connection: DatabaseConnection): DatabaseConnection =>
  connection instanceof PortableConnection ? connection.inner : connection;

const required = <T>(method: T | undefined, name: string): T => {
  if (method === undefined) throw new Error(`this database driver does not support ${name}`);
  return method;
};

export const portableDialect = (dialect: Dialect, options: PortableDialectOptions): Dialect => ({
  createDriver: (): Driver => new PortableDriver(dialect.createDriver(), options),
  createQueryCompiler: (): QueryCompiler => dialect.createQueryCompiler(),
  createAdapter: (): DialectAdapter => dialect.createAdapter(),
  createIntrospector: (db: Kysely<any>): DatabaseIntrospector => dialect.createIntrospector(db),
});
