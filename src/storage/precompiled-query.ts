import { createQueryId, type Compilable, type CompiledQuery } from 'kysely';

// Kysely builds a query's operation tree and compiles it to SQL on every call: for the connect
// path's statements (an agent's SELECT on every reconnect, its UPDATE in every batch) that was ~4 %
// of a reconnect's CPU (decision 0032). A precompiled statement is built and compiled once, through
// the same dialect, with a placeholder for each value; a call only puts its values in their places.
// The SQL stays the dialect's own (portable), and the values stay bound parameters, never inlined.
export type Precompiled<Args extends readonly unknown[], Row> = (...values: Args) => CompiledQuery<Row>;

const placeholderOf = (slot: number): string => `\u0000precompiled-value-${slot}\u0000`;

export const precompile = <Args extends readonly unknown[], Row>(
  arity: Args['length'], build: (...placeholders: Args) => Compilable<Row>,
): Precompiled<Args, Row> => {
  const placeholders = Array.from({ length: arity }, (_, slot) => placeholderOf(slot));
  const compiled = build(...(placeholders as unknown as Args)).compile();
  // Each parameter is either a caller's value (its slot) or a constant of the statement (say is_enabled = 1).
  const slots = compiled.parameters.map((parameter) => (typeof parameter === 'string' ? placeholders.indexOf(parameter) : -1));
  const unused = placeholders.filter((_, slot) => !slots.includes(slot));
  // A placeholder inlined into the SQL, or never bound, would be a statement that ignores its value.
  if (unused.length > 0 || placeholders.some((placeholder) => compiled.sql.includes(placeholder))) {
    throw new Error(`precompile: every value must be a bound parameter (${compiled.sql})`);
  }
  const { sql, query } = compiled;
  // A query id of its own per execution, as Kysely gives every query (plugins key their state by it).
  return (...values) => ({ sql, query, queryId: createQueryId(), parameters: slots.map((slot, index) => (slot < 0 ? compiled.parameters[index] : values[slot])) });
};
