import { Kysely, Migrator, PostgresDialect, type Dialect } from 'kysely';
import pg from 'pg';
import { DomainError, isDomainError } from '../shared/index.ts';
import { portableDialect } from './portable-dialect.ts';
import { migrationProvider } from './migrations/index.ts';
import { sqliteWorkerDialect, type SqliteWorkerDialectOptions } from './sqlite-worker-driver.ts';
import type { Database } from './tables.ts';

export interface OpenDatabaseOptions {
  /** `postgres://…` / `postgresql://…`, or `sqlite:<path>` or a bare file path; `:memory:` for tests. */
  readonly url: string;
  /**
   * A pooled PostgreSQL connection failed outside a query (the server restarted, the network
   * dropped an idle connection). The pool has already discarded it and opens a new one on the
   * next query, and the query that meets the outage fails with storage.unavailable: this is only
   * for logging. Without a listener such an error would crash the process.
   */
  readonly onConnectionError?: (error: Error) => void;
  /** Tests only: a slow fsync, or a handle on the SQLite worker thread to stop it. */
  readonly sqliteWorkerForTests?: Omit<SqliteWorkerDialectOptions, 'path'>;
}

export const isPostgresUrl = (url: string): boolean => /^postgres(ql)?:\/\//i.test(url);

export const sqlitePathOf = (url: string): string => url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : url;

// Per node: a request holds one connection for a statement or a short transaction, so ten serve
// hundreds of requests a second, and a few nodes stay far below PostgreSQL's default
// max_connections (100).
const POOL_SIZE = 10;
// A request waits at most this long for a connection (new or pooled) before it is answered 503;
// `?connect_timeout=<seconds>` in the URL (libpq's parameter) overrides it.
const CONNECT_TIMEOUT_MS = 5_000;
const IDLE_TIMEOUT_MS = 30_000;

const connectTimeoutMsOf = (url: string): number => {
  try {
    const seconds = Number(new URL(url).searchParams.get('connect_timeout') ?? Number.NaN);
    return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : CONNECT_TIMEOUT_MS;
  } catch {
    return CONNECT_TIMEOUT_MS;
  }
};

const postgresDialect = (url: string, onConnectionError: (error: Error) => void): Dialect => {
  const pool = new pg.Pool({
    connectionString: url,
    max: POOL_SIZE,
    connectionTimeoutMillis: connectTimeoutMsOf(url),
    idleTimeoutMillis: IDLE_TIMEOUT_MS,
    // TCP keepalive finds connections a firewall or a failover dropped silently.
    keepAlive: true,
    application_name: 'trustgate',
  });
  // An idle client's error is emitted by the pool; a checked-out client's by the client itself
  // (pg-pool removes its own listener while a client is lent out). Both need a listener, or the
  // 'error' event crashes the process; the query in flight fails on its own.
  pool.on('error', onConnectionError);
  pool.on('connect', (client) => client.on('error', onConnectionError));
  return new PostgresDialect({ pool });
};

// SQLite: one writing connection on a worker thread, transactions grouped into shared commits, and
// a read-only connection for reads (sqlite-worker-driver.ts, docs/decisions/0030-sqlite-writes-off-the-event-loop.md).
const sqliteDialect = (url: string, testing: OpenDatabaseOptions['sqliteWorkerForTests']): Dialect =>
  sqliteWorkerDialect({ ...testing, path: sqlitePathOf(url) });

// Opens the database and brings its schema up to date. Factories elsewhere do no I/O; this is
// called from the app's start().
export const openDatabase = async ({ url, onConnectionError = () => undefined, sqliteWorkerForTests }: OpenDatabaseOptions): Promise<Kysely<Database>> => {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1];
  if (scheme !== undefined && !isPostgresUrl(url) && scheme.toLowerCase() !== 'sqlite') {
    // Not a file path to create a SQLite database at.
    throw new Error(`TRUSTGATE_DATABASE_URL: ${scheme}:// is not a supported database; use postgres://user@host:5432/db or sqlite:<path>`);
  }
  const isPostgres = isPostgresUrl(url);
  const dialect = isPostgres ? postgresDialect(url, onConnectionError) : sqliteDialect(url, sqliteWorkerForTests);
  const db = new Kysely<Database>({ dialect: portableDialect(dialect, { isPostgres }) });
  try {
    await migrateToLatest(db);
  } catch (error) {
    await db.destroy();
    // At start there is no API client to keep internals from: name the database and the cause.
    if (isDomainError(error) && error.code === 'storage.unavailable') {
      const cause = error.cause instanceof Error ? error.cause.message || (error.cause as { code?: string }).code : String(error.cause);
      throw new DomainError('storage.unavailable', `Cannot reach the database ${describeDatabase(url)} (${cause}). Start it, or fix TRUSTGATE_DATABASE_URL.`, { cause: error.cause });
    }
    throw error;
  }
  return db;
};

// Host, port and database name, never the password.
const describeDatabase = (url: string): string => {
  if (!isPostgresUrl(url)) return sqlitePathOf(url);
  try {
    const { hostname, port, pathname } = new URL(url);
    return `postgres://${hostname || 'localhost'}:${port || '5432'}${pathname}`;
  } catch {
    return 'at TRUSTGATE_DATABASE_URL';
  }
};

// Nodes starting together against one PostgreSQL are safe: Kysely's Migrator creates its tables
// tolerating a concurrent creator, then holds a PostgreSQL advisory lock (pg_advisory_lock) on a
// dedicated connection while it reads which migrations ran and runs the rest in one transaction;
// the second node waits, then finds nothing left to run (docs/decisions/0011-postgresql-dialect.md).
export const migrateToLatest = async (db: Kysely<Database>): Promise<void> => {
  const { error } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
  if (error) throw error;
};
