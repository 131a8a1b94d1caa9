import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { openDatabase, type Database } from '../../src/storage/index.ts';
import { describeNeeding, runsHere, testServiceUrls } from './test-services.ts';

// Every store and API test runs once per dialect (the same store contract suite on
// every dialect), each on a database of its own. Without a reachable PostgreSQL its dialect's
// suites are skipped (test-services.ts).
export type TestDialect = 'sqlite' | 'postgres';
export const testDialects: readonly TestDialect[] = ['sqlite', 'postgres'];

/** `describe` for the suite of one dialect: skipped (one skipped test) when that dialect's server cannot be reached. */
export const describeOn = (dialect: TestDialect) => (dialect === 'postgres' ? describeNeeding('postgres') : describeNeeding());

/** Whether the tests of `dialect` run; when they cannot, registers one skipped test named `name` that stands for them. */
export const runsOn = (dialect: TestDialect, name: string): boolean => (dialect === 'postgres' ? runsHere(name, 'postgres') : true);

/** A database trust-auth'd users may create databases from (PostgreSQL runs with trust auth here and in CI). */
export const testPostgresBaseUrl = testServiceUrls.postgres;

export interface TestDatabase {
  /** A TRUSTGATE_DATABASE_URL for openDatabase or the app. */
  readonly url: string;
  /** Removes the database (on PostgreSQL also closing sessions still connected to it). Idempotent. */
  drop(): Promise<void>;
}

const onAdminConnection = async (statement: string): Promise<void> => {
  const client = new pg.Client({ connectionString: testPostgresBaseUrl, connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
};

const once = (work: () => Promise<void>): (() => Promise<void>) => {
  let done: Promise<void> | undefined;
  return () => (done ??= work());
};

/** A fresh, empty database: a file in a new temporary dir, or `CREATE DATABASE tg_<random>` on PostgreSQL. */
export const createTestDatabaseUrl = async (dialect: TestDialect): Promise<TestDatabase> => {
  if (dialect === 'sqlite') {
    // A file, not :memory:, so WAL and the real locking are what is tested.
    const dir = await mkdtemp(join(tmpdir(), 'trustgate-db-'));
    return { url: `sqlite:${join(dir, 'test.db')}`, drop: once(() => rm(dir, { recursive: true, force: true })) };
  }
  const name = `tg_${randomBytes(8).toString('hex')}`;
  await onAdminConnection(`CREATE DATABASE ${name}`);
  const url = new URL(testPostgresBaseUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: once(() => onAdminConnection(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)) };
};

/** A fresh database with the current schema, and a close() that disconnects and drops it. */
export const openTestDatabase = async (dialect: TestDialect): Promise<{ db: Kysely<Database>; url: string; close(): Promise<void> }> => {
  const database = await createTestDatabaseUrl(dialect);
  try {
    const db = await openDatabase({ url: database.url });
    return {
      db,
      url: database.url,
      close: async () => {
        try {
          await db.destroy();
        } finally {
          await database.drop();
        }
      },
    };
  } catch (error) {
    await database.drop();
    throw error;
  }
};
