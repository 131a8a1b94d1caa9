import type { Kysely } from 'kysely';
import type { TrustChangeCounter } from '../registry/index.ts';
import type { Database } from './tables.ts';

/** The trust_changes row that triggers bump with every trust-relevant write (migration 0005):
 *  one primary-key read. */
export class KyselyTrustChangeCounter implements TrustChangeCounter {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async read(): Promise<string> {
    const row = await this.#db.selectFrom('trust_changes').select('changes').where('id', '=', 1).executeTakeFirstOrThrow();
    // bigint: a string on PostgreSQL, a number on SQLite; compared as text, never as arithmetic.
    return String(row.changes);
  }
}
