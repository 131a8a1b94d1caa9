import type { DatabaseSync } from 'node:sqlite';
import { Worker } from 'node:worker_threads';
import {
  SelectQueryNode, SqliteAdapter, SqliteIntrospector, SqliteQueryCompiler,
  type CompiledQuery, type DatabaseConnection, type Dialect, type Driver, type Kysely, type QueryResult,
} from 'kysely';
import { openSqliteConnection, preparedStatements, returnsRows, toSqlite } from './node-sqlite-database.ts';
import type { SerializedSqliteError, SqliteReply, SqliteRequest, SqliteWorkerData } from './sqlite-worker.ts';
import type { ConcurrentStatements } from './run-transaction.ts';
import { storageUnavailable } from './translate-driver-error.ts';

// SQLite without blocking the event loop (docs/decisions/0030-sqlite-writes-off-the-event-loop.md).
// node:sqlite is synchronous and every commit fsyncs (synchronous=FULL), so on the event loop each
// onboarding and REST write stalled every TLS handshake, MQTT message and HTTP request of the node.
// - Writes run on a worker thread that owns the one writing connection (sqlite-worker.ts); this
//   side sends it statements and awaits their answers. What is sent in one tick (the statements
//   of transactions that do not await each other, e.g. the agent store's batched updates) goes
//   as one message, answered by one: a postMessage each way cost more than the UPDATE it carried.
// - Group commit: a store transaction is a SAVEPOINT inside one open SQLite transaction (a batch).
//   Its "commit" releases the savepoint and resolves only when the batch's COMMIT (one fsync for
//   every transaction in it) has returned, so a CONNACK or 201 is still sent only for a durable
//   row. The batch commits as soon as no transaction waits for the writer (so a lone write costs
//   what it did), else after MAX_BATCH_UNITS transactions or MAX_BATCH_AGE_MS; transactions
//   queued meanwhile form the next batch while this one's fsync runs.
// - A statement outside a transaction that may write (anything but a SELECT) is a transaction of
//   its own; a SELECT outside a transaction runs on a read-only connection on the event loop (a
//   read is microseconds and WAL readers never wait for the writer or its fsync) and sees only
//   committed batches, so nothing not yet durable is ever read back to a client.
// - Fail closed: if the worker dies, every waiting and later query fails with storage.unavailable
//   (HTTP 503, CONNACK 3, /readyz not ready); what the batch held was never acknowledged and is
//   rolled back by SQLite on the next open.
// `:memory:` (a database per connection) has no reader and no batches: every query goes to the worker.

/** At most this many store transactions share one fsync... */
const MAX_BATCH_UNITS = 256;
/** ...and the first of them waits at most about this long for it. */
const MAX_BATCH_AGE_MS = 20;
const UNIT = 'trustgate_unit';

export interface SqliteWorkerDialectOptions {
  readonly path: string;
  /** Tests only: over a SharedArrayBuffer; the worker sleeps cell 0's ms before each COMMIT (a slow fsync). */
  readonly commitDelayMs?: Int32Array;
  /** Tests only: the worker thread, to stop it as a crash would. */
  readonly onWorker?: (worker: Worker) => void;
}

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
}

interface Batch {
  readonly startedAt: number;
  readonly units: Waiter[];
}

const SQLITE_OK: QueryResult<never> = { rows: [] };

class WorkerConnection implements DatabaseConnection, ConcurrentStatements {
  readonly #driver: SqliteWorkerDriver;
  /** Statements are queued to the worker in call order, so they may be sent without awaiting each other. */
  readonly takesConcurrentStatements = true;
  /** True from BEGIN to COMMIT/ROLLBACK: this connection holds the writer. */
  holdsWriter = false;

  constructor(driver: SqliteWorkerDriver) {
    this.#driver = driver;
  }

  executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    return this.#driver.execute<R>(this, compiledQuery);
  }

  async *streamQuery<R>(compiledQuery: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    if (!SelectQueryNode.is(compiledQuery.query)) throw new Error('Sqlite driver only supports streaming of select queries');
    const { rows } = await this.#driver.execute<R>(this, compiledQuery);
    for (const row of rows) yield { rows: [row] };
  }
}

export class SqliteWorkerDriver implements Driver {
  readonly #options: SqliteWorkerDialectOptions;
  readonly #groupCommit: boolean;
  #worker: Worker | undefined;
  #reader: { database: DatabaseSync; prepare: ReturnType<typeof preparedStatements> } | undefined;
  readonly #pending = new Map<number, { resolve(reply: SqliteReply): void; reject(error: unknown): void }>();
  #nextId = 1;
  /** Statements of this tick, posted together at its end. */
  #outbox: SqliteRequest[] = [];
  /** Set when the worker is gone: every query fails with it from then on. */
  #failure: Error | undefined;
  // The writer is held by one transaction (or one statement, or a batch COMMIT) at a time.
  #writerHeld = false;
  readonly #writerQueue: Array<() => void> = [];
  #batch: Batch | undefined;

  constructor(options: SqliteWorkerDialectOptions) {
    this.#options = options;
    this.#groupCommit = options.path !== ':memory:' && options.path !== '';
  }

  async init(): Promise<void> {
    const worker = new Worker(new URL('./sqlite-worker.ts', import.meta.url), {
      workerData: { path: this.#options.path, commitDelayMs: this.#options.commitDelayMs } satisfies SqliteWorkerData,
    });
    this.#worker = worker;
    await new Promise<void>((resolve, reject) => {
      const onExit = (code: number): void => reject(new Error(`the SQLite worker exited with code ${code} while opening ${this.#options.path}`));
      worker.once('error', reject);
      worker.once('exit', onExit);
      worker.once('message', (message: { opened: boolean; error?: SerializedSqliteError }) => {
        worker.off('error', reject);
        worker.off('exit', onExit);
        if (message.opened) resolve();
        else reject(deserialize(message.error ?? { message: 'the SQLite worker could not open the database' }));
      });
    });
    worker.on('message', (replies: readonly SqliteReply[]) => {
      for (const reply of replies) this.#onReply(reply);
    });
    worker.on('error', (error) => this.#fail(error));
    worker.on('exit', (code) => this.#fail(new Error(`the SQLite worker thread exited (code ${code})`)));
    // Referenced only while a statement is in flight: an idle database does not keep a CLI alive.
    worker.unref();
    this.#options.onWorker?.(worker);
    // The writer created the file and set WAL; the reader sees every committed batch.
    if (this.#groupCommit) {
      const database = openSqliteConnection(this.#options.path, { readOnly: true });
      this.#reader = { database, prepare: preparedStatements(database) };
    }
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    if (this.#failure) throw this.#failure;
    return new WorkerConnection(this);
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    const worker = connection as WorkerConnection;
    await this.#acquireWriter();
    try {
      if (this.#groupCommit) {
        await this.#ensureBatch();
        await this.#send(`savepoint ${UNIT}`);
      } else {
        await this.#send('begin immediate');
      }
      worker.holdsWriter = true;
    } catch (error) {
      this.#releaseWriter();
      throw error;
    }
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    const worker = connection as WorkerConnection;
    if (!worker.holdsWriter) return;
    if (!this.#groupCommit) {
      try {
        await this.#send('commit');
      } finally {
        worker.holdsWriter = false;
        this.#releaseWriter();
      }
      return;
    }
    // If this fails, Kysely rolls back next, which finds the writer still held.
    await this.#send(`release ${UNIT}`);
    const durable = this.#joinBatch();
    worker.holdsWriter = false;
    this.#releaseWriter();
    await durable;
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    const worker = connection as WorkerConnection;
    if (!worker.holdsWriter) return;
    let seen: Promise<void> | undefined;
    try {
      if (!this.#groupCommit) {
        await this.#send('rollback');
      } else if (this.#batch) {
        // Undoes this transaction only; the others in the batch stay.
        await this.#send(`rollback to ${UNIT}`);
        await this.#send(`release ${UNIT}`);
        seen = this.#joinBatch();
      }
    } catch (error) {
      // The savepoint could not be undone: nothing in this batch may be kept.
      this.#abandonBatch(error);
    } finally {
      worker.holdsWriter = false;
      this.#releaseWriter();
    }
    // What this transaction read, and what made it fail (the winner of a unique race, say), may
    // be rows of the open batch: its caller answers only once they are durable, and then reads
    // them on the reader. A failed batch changes nothing for a transaction that wrote nothing.
    await seen?.catch(() => undefined);
  }

  async releaseConnection(): Promise<void> {}

  async destroy(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    if (worker && !this.#failure) {
      // Let the transactions already queued finish and their batch commit.
      await this.#acquireWriter();
      if (this.#batch) await this.#commitBatch(false);
      this.#failure = storageUnavailable(new Error('the database is closed'));
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      // Referenced until it has closed the file: else a process whose last work is this close
      // would end with the await unsettled (exit code 13).
      worker.ref();
      this.#post();
      worker.postMessage('close');
      await exited;
    } else {
      await worker?.terminate();
    }
    this.#reader?.database.close();
    this.#reader = undefined;
  }

  async execute<R>(connection: WorkerConnection, compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    if (this.#failure) throw this.#failure;
    if (connection.holdsWriter) {
      // SQLite ended the batch under this transaction (see #send): its statements must not run on in autocommit.
      if (this.#groupCommit && !this.#batch) throw storageUnavailable(new Error('the batch transaction ended'));
      return this.#query<R>(compiledQuery);
    }
    if (this.#reader && SelectQueryNode.is(compiledQuery.query)) return this.#read<R>(compiledQuery);
    // A PRAGMA (a setting of the writing connection: the bench's seeder turns fsync off) runs
    // outside any batch: SQLite ignores or refuses some inside a transaction.
    if (/^\s*pragma\b/i.test(compiledQuery.sql)) {
      await this.#acquireWriter();
      try {
        if (this.#batch) await this.#commitBatch(false);
        return await this.#query<R>(compiledQuery);
      } finally {
        this.#releaseWriter();
      }
    }
    // A statement that may write, outside a transaction: a transaction of its own. Inside a
    // batch no savepoint is needed: a failing statement undoes only itself. Its answer, a
    // failure too (a unique violation by a row of the open batch), waits for the batch's COMMIT.
    await this.#acquireWriter();
    let outcome: { result: QueryResult<R> } | { error: unknown };
    let durable: Promise<void> | undefined;
    try {
      if (this.#groupCommit) await this.#ensureBatch();
      try {
        outcome = { result: await this.#query<R>(compiledQuery) };
      } catch (error) {
        outcome = { error };
      }
      if (this.#groupCommit) durable = this.#joinBatch();
    } finally {
      this.#releaseWriter();
    }
    if ('error' in outcome) {
      await durable?.catch(() => undefined);
      throw outcome.error;
    }
    await durable;
    return outcome.result;
  }

  #read<R>(compiledQuery: CompiledQuery): QueryResult<R> {
    const statement = this.#reader!.prepare(compiledQuery.sql);
    const values = toSqlite(compiledQuery.parameters);
    if (returnsRows(statement)) return { rows: statement.all(...values) as R[] };
    statement.run(...values);
    return SQLITE_OK;
  }

  async #query<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const reply = await this.#send(compiledQuery.sql, compiledQuery.parameters);
    return { rows: reply.rows as R[], numAffectedRows: reply.numAffectedRows, insertId: reply.insertId };
  }

  #send(sql: string, parameters: readonly unknown[] = []): Promise<Extract<SqliteReply, { rows: unknown[] }>> {
    const worker = this.#worker;
    if (this.#failure || !worker) return Promise.reject(this.#failure ?? storageUnavailable(new Error('the database is closed')));
    const id = this.#nextId++;
    if (this.#pending.size === 0) worker.ref();
    return new Promise((resolve, reject) => {
      this.#pending.set(id, {
        resolve: (reply) => {
          // SQLite ended the batch itself (an I/O error, a full disk): none of it may be acknowledged.
          if (this.#batch && !reply.inTransaction) this.#abandonBatch('error' in reply ? deserialize(reply.error) : new Error('the batch transaction ended'));
          if ('error' in reply) reject(deserialize(reply.error));
          else resolve(reply);
        },
        reject,
      });
      if (this.#outbox.length === 0) queueMicrotask(() => this.#post());
      this.#outbox.push({ id, sql, parameters });
    });
  }

  #post(): void {
    if (this.#outbox.length === 0) return;
    const requests = this.#outbox;
    this.#outbox = [];
    // Gone meanwhile: #fail has rejected every pending statement, these included.
    if (!this.#failure) this.#worker?.postMessage(requests);
  }

  #onReply(reply: SqliteReply): void {
    const pending = this.#pending.get(reply.id);
    this.#pending.delete(reply.id);
    if (this.#pending.size === 0) this.#worker?.unref();
    pending?.resolve(reply);
  }

  #fail(error: unknown): void {
    if (this.#failure) return;
    this.#failure = storageUnavailable(error);
    for (const { reject } of this.#pending.values()) reject(this.#failure);
    this.#pending.clear();
    this.#abandonBatch(this.#failure);
    // Whoever waits for the writer gets the failure from #send.
    for (const next of this.#writerQueue.splice(0)) next();
  }

  async #ensureBatch(): Promise<void> {
    if (this.#batch) return;
    await this.#send('begin immediate');
    this.#batch = { startedAt: performance.now(), units: [] };
  }

  #joinBatch(): Promise<void> {
    const batch = this.#batch;
    if (!batch) return Promise.reject(this.#failure ?? storageUnavailable(new Error('the batch transaction ended')));
    return new Promise((resolve, reject) => batch.units.push({ resolve, reject }));
  }

  #abandonBatch(error: unknown): void {
    const batch = this.#batch;
    this.#batch = undefined;
    if (!batch) return;
    const failure = this.#failure ?? storageUnavailable(error);
    for (const unit of batch.units) unit.reject(failure);
    // If the transaction is still open in the worker, nothing of it may be committed later.
    if (!this.#failure) this.#send('rollback').catch(() => undefined);
  }

  #acquireWriter(): Promise<void> {
    if (!this.#writerHeld) {
      this.#writerHeld = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#writerQueue.push(resolve));
  }

  #releaseWriter(): void {
    const batch = this.#batch;
    if (batch && !this.#failure && (this.#writerQueue.length === 0 || batch.units.length >= MAX_BATCH_UNITS
      || performance.now() - batch.startedAt >= MAX_BATCH_AGE_MS)) {
      // Still holding the writer: COMMIT goes before the transactions that queued meanwhile.
      void this.#commitBatch(true);
      return;
    }
    const next = this.#writerQueue.shift();
    if (next) next();
    else this.#writerHeld = false;
  }

  async #commitBatch(thenRelease: boolean): Promise<void> {
    const batch = this.#batch!;
    this.#batch = undefined;
    try {
      await this.#send('commit');
      for (const unit of batch.units) unit.resolve();
    } catch (error) {
      const failure = this.#failure ?? storageUnavailable(error);
      for (const unit of batch.units) unit.reject(failure);
      if (!this.#failure) await this.#send('rollback').catch(() => undefined);
    } finally {
      if (thenRelease) this.#releaseWriter();
    }
  }
}

const deserialize = ({ message, code, errcode, errstr }: SerializedSqliteError): Error =>
  Object.assign(new Error(message), { code, errcode, errstr });

/** Kysely's SQLite dialect with its driver replaced by the worker-thread driver above. */
export const sqliteWorkerDialect = (options: SqliteWorkerDialectOptions): Dialect => ({
  createDriver: (): Driver => new SqliteWorkerDriver(options),
  createQueryCompiler: () => new SqliteQueryCompiler(),
  createAdapter: () => new SqliteAdapter(),
  createIntrospector: (db: Kysely<any>) => new SqliteIntrospector(db),
});
