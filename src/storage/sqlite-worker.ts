import { DatabaseSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';
import { openSqliteConnection, preparedStatements, returnsRows, toSqlite } from './node-sqlite-database.ts';

// The body of the database worker thread (sqlite-worker-driver.ts): it owns the one connection
// that writes, so a statement's work, and above all a COMMIT's fsync (synchronous=FULL), blocks
// this thread instead of the event loop that serves TLS, MQTT and HTTP
// (docs/decisions/0030-sqlite-writes-off-the-event-loop.md). It runs one statement per message,
// in arrival order; transactions and group commits are decided by the driver.

export interface SqliteWorkerData {
  readonly path: string;
  /** Tests only: cell 0 says how many ms this thread sleeps before each COMMIT (a slow fsync); tests change it at will. */
  readonly commitDelayMs?: Int32Array;
}

export interface SqliteRequest {
  readonly id: number;
  readonly sql: string;
  readonly parameters: readonly unknown[];
}

export type SqliteReply =
  | { readonly id: number; readonly rows: unknown[]; readonly numAffectedRows?: bigint; readonly insertId?: bigint; readonly inTransaction: boolean }
  | { readonly id: number; readonly error: SerializedSqliteError; readonly inTransaction: boolean };

/** What the stores read from a node:sqlite error (translate-driver-error.ts); a structured clone keeps only message and name. */
export interface SerializedSqliteError {
  readonly message: string;
  readonly code?: unknown;
  readonly errcode?: unknown;
  readonly errstr?: unknown;
}

const { path, commitDelayMs } = workerData as SqliteWorkerData;
const port = parentPort;
if (!port) throw new Error('sqlite-worker.ts runs as a worker thread');

let database: DatabaseSync;
try {
  database = openSqliteConnection(path);
} catch (error) {
  port.postMessage({ opened: false, error: serialize(error) });
  process.exit(1);
}
const prepare = preparedStatements(database);
const sleeper = new Int32Array(new SharedArrayBuffer(4));
port.postMessage({ opened: true });

port.on('message', (request: SqliteRequest | 'close') => {
  if (request === 'close') {
    database.close();
    port.close();
    return;
  }
  const { id, sql, parameters } = request;
  try {
    if (commitDelayMs && commitDelayMs[0]! > 0 && /^\s*commit\b/i.test(sql)) Atomics.wait(sleeper, 0, 0, commitDelayMs[0]);
    const statement = prepare(sql);
    const values = toSqlite(parameters);
    if (returnsRows(statement)) {
      port.postMessage({ id, rows: statement.all(...values), inTransaction: database.isTransaction } satisfies SqliteReply);
    } else {
      const { changes, lastInsertRowid } = statement.run(...values);
      port.postMessage({ id, rows: [], numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), inTransaction: database.isTransaction } satisfies SqliteReply);
    }
  } catch (error) {
    port.postMessage({ id, error: serialize(error), inTransaction: database.isTransaction } satisfies SqliteReply);
  }
});

function serialize(error: unknown): SerializedSqliteError {
  const { message, code, errcode, errstr } = (typeof error === 'object' && error !== null ? error : { message: String(error) }) as Record<string, unknown>;
  return { message: String(message), code, errcode, errstr };
}
