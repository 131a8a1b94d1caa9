import type { CompiledQuery, DatabaseConnection, Kysely, QueryResult, Transaction } from 'kysely';
import type { Database } from './tables.ts';
import { isRetryableConflict } from './translate-driver-error.ts';

export interface RunTransactionOptions {
  /**
   * For a transaction whose decision rests on rows it read (read, check, write): PostgreSQL then
   * runs it as if alone, as SQLite (one connection) always does, and aborts one of two
   * conflicting transactions, which is retried here. Without it: READ COMMITTED, which suffices
   * where a unique constraint decides.
   */
  readonly isSerializable?: boolean;
}

// Enough for 20 concurrent requests on one row: every round commits at least one of them.
const MAX_ATTEMPTS = 30;

const pause = (attempt: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(50, 2 * attempt)));

// Every store transaction goes through here. On SQLite the isolation level is ignored (Kysely's
// SQLite driver issues a plain BEGIN on the single connection, which is serializable anyway) and
// no retryable conflict occurs. On PostgreSQL a serialization failure (40001) or a deadlock
// (40P01) rolls back the whole transaction, and the work runs again from the start: `work` must
// have no effect outside the transaction.
export const runTransaction = async <T>(
  db: Kysely<Database>, work: (trx: Transaction<Database>) => Promise<T>, { isSerializable = false }: RunTransactionOptions = {},
): Promise<T> => {
  for (let attempt = 1; ; attempt++) {
    try {
      const transaction = db.transaction();
      return await (isSerializable ? transaction.setIsolationLevel('serializable') : transaction).execute(work);
    } catch (error) {
      if (attempt >= MAX_ATTEMPTS || !isRetryableConflict(error)) throw error;
      await pause(attempt);
    }
  }
};

/** Runs a compiled statement on the transaction's connection directly (see inParallel). */
export type ExecuteOnConnection = <R>(query: CompiledQuery) => Promise<QueryResult<R>>;

/**
 * Runs `work` on every item at once on the transaction's connection. Kysely sends a transaction's
 * statements one after the other; on SQLite these go out together, so those of one tick share one
 * message to the worker thread (a message each way costs more CPU than an UPDATE). On a
 * connection that takes one statement at a time (pg's client: concurrent queries are deprecated),
 * they still go one after the other. Settles only when every item has: a transaction must not
 * roll back while a sibling still sends statements, which would then land after the rollback and
 * be kept. Throws the first failure in time (on PostgreSQL the later ones only say the
 * transaction is aborted). For compiled statements only: no Kysely plugin runs on them
 * (trustgate's Kysely has none).
 */
export const inParallel = <I, T>(trx: Transaction<Database>, items: readonly I[], work: (item: I, execute: ExecuteOnConnection) => Promise<T>): Promise<T[]> =>
  trx.getExecutor().provideConnection((connection) => {
    const execute = takesConcurrentStatements(connection) ? <R>(query: CompiledQuery) => connection.executeQuery<R>(query) : oneAtATime(connection);
    return settleAll(items.map((item) => work(item, execute)));
  });

/** A connection that says it takes statements while others are in flight (sqlite-worker-driver.ts). */
const takesConcurrentStatements = (connection: DatabaseConnection): boolean =>
  (connection as Partial<ConcurrentStatements>).takesConcurrentStatements === true;

export interface ConcurrentStatements {
  readonly takesConcurrentStatements: boolean;
}

const oneAtATime = (connection: DatabaseConnection): ExecuteOnConnection => {
  let last: Promise<unknown> = Promise.resolve();
  return <R>(query: CompiledQuery) => {
    const result = last.then(() => connection.executeQuery<R>(query));
    last = result.catch(() => undefined);
    return result;
  };
};

/** Statements through Kysely's own queue (`db` a Kysely or a Transaction): what inParallel's `execute` stands in for. */
export const executeWith = (db: Kysely<Database> | Transaction<Database>): ExecuteOnConnection =>
  <R>(query: CompiledQuery) => db.executeQuery<R>(query as CompiledQuery<R>);

/** Promise.all that waits for every promise (see inParallel) and then throws the first failure in time. */
export const settleAll = async <T>(promises: readonly Promise<T>[]): Promise<T[]> => {
  let failure: { error: unknown } | undefined;
  const results = await Promise.all(promises.map((promise) => promise.catch((error: unknown) => {
    failure ??= { error };
    return undefined as T;
  })));
  if (failure) throw failure.error;
  return results;
};
