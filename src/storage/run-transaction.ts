import type { Kysely, Transaction } from 'kysely';
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

/**
 * Runs `work` on every item at once inside one transaction (their statements share a message to
 * SQLite's worker) and settles only when every one has: a transaction must not roll back while a
 * sibling still sends statements, which would then land after the rollback and be kept. Throws
 * the first failure in time (on PostgreSQL the later ones only say the transaction is aborted).
 */
export const inParallel = async <I, T>(items: readonly I[], work: (item: I) => Promise<T>): Promise<T[]> => {
  let failure: { error: unknown } | undefined;
  const results = await Promise.all(items.map((item) => work(item).catch((error: unknown) => {
    failure ??= { error };
    return undefined as T;
  })));
  if (failure) throw failure.error;
  return results;
};
