// The one place that knows how drivers report a unique violation. Returns a text naming the
// violated constraint (PostgreSQL: its name; SQLite: "table.column, ..."), or undefined.
export const uniqueViolation = (error: unknown): string | undefined => {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, errcode, constraint, message } = error as Record<string, unknown>;
  // PostgreSQL: SQLSTATE 23505 unique_violation.
  if (code === '23505') return typeof constraint === 'string' ? constraint : String(message);
  // node:sqlite: SQLITE_CONSTRAINT_UNIQUE (2067) and SQLITE_CONSTRAINT_PRIMARYKEY (1555).
  if (code === 'ERR_SQLITE_ERROR' && (errcode === 2067 || errcode === 1555)) return String(message);
  return undefined;
};
