import { DatabaseSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';
import { openSqliteConnection, preparedStatements, returnsRows, toSqlite } from './node-sqlite-database.ts';

// The body of the database worker thread (sqlite-worker-driver.ts): it owns the one connection
// that writes, so a statement's work, and above all a COMMIT's fsync (synchronous=FULL), blocks
// this thread instead of the event loop that serves TLS, MQTT and HTTP
// (docs/decisions/0030-sqlite-writes-off-the-event-loop.md). It runs the statements of each
// message in order and answers them in one message (the driver gathers what it sends in one tick:
// a message each way costs more than an UPDATE); transactions and group commits are decided by
// the driver.

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

port.on('message', (requests: readonly SqliteRequest[] | 'close') => {
  if (requests === 'close') {
    database.close();
    port.close();
    return;
  }
  // Each statement stands alone, as if sent by itself: one that fails does not stop the next.
  port.postMessage(requests.map(run));
});

function run({ id, sql, parameters }: SqliteRequest): SqliteReply {
  try {
    if (commitDelayMs && commitDelayMs[0]! > 0 && /^\s*commit\b/i.test(sql)) Atomics.wait(sleeper, 0, 0, commitDelayMs[0]);
    const statement = prepare(sql);
    const values = toSqlite(parameters);
    if (returnsRows(statement)) return { id, rows: statement.all(...values), inTransaction: database.isTransaction };
    const { changes, lastInsertRowid } = statement.run(...values);
    return { id, rows: [], numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), inTransaction: database.isTransaction };
  } catch (error) {
    return { id, error: serialize(error), inTransaction: database.isTransaction };
  }
}

function serialize(error: unknown): SerializedSqliteError {
  const { message, code, errcode, errstr } = (typeof error === 'object' && error !== null ? error : { message: String(error) }) as Record<string, unknown>;
  return { message: String(message), code, errcode, errstr };
}
