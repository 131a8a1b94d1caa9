import type { Kysely } from 'kysely';
import type { Database } from './tables.ts';

/** Which key of the data dir: the dev token issuer's signing key, the managed CAs' sealing key. */
export type DataDirKeyPurpose = 'devTokenIssuer' | 'managedCaSealing';

// The ids of the data dir's keys that wrote this database, recorded by the first node that starts
// on it: a node started with another data dir compares its own ids and refuses to start.
export class KyselyDataDirKeys {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async find(purpose: DataDirKeyPurpose): Promise<string | undefined> {
    const row = await this.#db.selectFrom('data_dir_keys').select('key_id').where('purpose', '=', purpose).executeTakeFirst();
    return row?.key_id;
  }

  /** Records `keyId` unless one is recorded already; answers the recorded one (of two concurrent first starts, one wins). */
  async recordIfAbsent(purpose: DataDirKeyPurpose, keyId: string, now: Date): Promise<string> {
    await this.#db.insertInto('data_dir_keys').values({ purpose, key_id: keyId, recorded_at: now.toISOString() })
      .onConflict((conflict) => conflict.column('purpose').doNothing()).execute();
    return (await this.find(purpose))!;
  }
}
