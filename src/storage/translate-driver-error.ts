import { DomainError } from '../shared/index.ts';

// The one place that knows how the drivers (node:sqlite, pg) report what the stores must tell
// apart: a unique violation, an unreachable database, a transaction to retry.

const fieldsOf = (error: unknown): Record<string, unknown> =>
  typeof error === 'object' && error !== null ? error as Record<string, unknown> : {};

// Returns a text naming the violated constraint (PostgreSQL: its name; SQLite: "table.column, ..."), or undefined.
export const uniqueViolation = (error: unknown): string | undefined => {
  const { code, errcode, constraint, message } = fieldsOf(error);
  // PostgreSQL: SQLSTATE 23505 unique_violation.
  if (code === '23505') return typeof constraint === 'string' ? constraint : String(message);
  // node:sqlite: SQLITE_CONSTRAINT_UNIQUE (2067) and SQLITE_CONSTRAINT_PRIMARYKEY (1555).
  if (code === 'ERR_SQLITE_ERROR' && (errcode === 2067 || errcode === 1555)) return String(message);
  return undefined;
};

// Socket errors of a connection that cannot be made or was lost (Node's system error codes).
const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN',
  'ENOTFOUND', 'EAI_AGAIN',
]);

// PostgreSQL SQLSTATEs (Appendix A): 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03
// cannot_connect_now (starting up or shutting down), 53300 too_many_connections; class 08 is
// "connection exception".
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);

// pg raises these as plain Errors without a code (pg/lib/client.js, pg-pool/index.js).
const PG_CONNECTION_MESSAGES = [
  'timeout exceeded when trying to connect', // pg-pool: no client within connectionTimeoutMillis
  'Connection terminated', // "... unexpectedly", "... due to connection timeout"
  'is not queryable', // a client whose connection broke earlier
];

/** True when the error says the database cannot be reached right now (down, restarting, network, pool exhausted). */
export const isDatabaseUnreachable = (error: unknown, depth = 0): boolean => {
  if (depth > 3) return false;
  const { code, message, errors, cause } = fieldsOf(error);
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || UNAVAILABLE_SQLSTATES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true;
  if (code === undefined && typeof message === 'string' && PG_CONNECTION_MESSAGES.some((text) => message.includes(text))) return true;
  // Node tries every address of a host name and reports an AggregateError of their failures.
  if (Array.isArray(errors) && errors.length > 0 && errors.every((inner) => isDatabaseUnreachable(inner, depth + 1))) return true;
  return cause !== undefined && isDatabaseUnreachable(cause, depth + 1);
};

export const storageUnavailable = (cause: unknown): DomainError => new DomainError('storage.unavailable',
  'The registry\'s database cannot be reached right now, so the request could not be completed. Try again in a few seconds; if this persists, the operator should check that the database (TRUSTGATE_DATABASE_URL) is running and reachable.',
  { cause });

// Only PostgreSQL enforces varchar(n) (SQLite ignores it). The API validates every length first;
// what can still exceed a column is a value near its limit that grew by escaping NUL
// (portable-dialect.ts): a refusal of the input, not a server failure.
const valueTooLong = (cause: unknown): DomainError => new DomainError('request.invalid',
  'A text value is too long to be stored (a NUL or U+FFFF character counts twice). Shorten it and send the request again.',
  { cause });

/** True for a conflict that a retry of the whole transaction resolves: serialization failure, deadlock. */
export const isRetryableConflict = (error: unknown): boolean => {
  const { code } = fieldsOf(error);
  return code === '40001' || code === '40P01';
};

/**
 * What a store throws for a driver error: an unreachable database becomes storage.unavailable, a
 * value too long for its column request.invalid (SQLSTATE 22001); anything else is left as it is.
 */
export const translateDriverError = (error: unknown): unknown => {
  if (error instanceof DomainError) return error;
  if (isDatabaseUnreachable(error)) return storageUnavailable(error);
  if (fieldsOf(error).code === '22001') return valueTooLong(error);
  return error;
};
