import type { Kysely, Migration } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new dated file instead.
// Issue 19 part 1 (docs/decisions/0033-agent-access-tokens.md): the keys that sign agents' access
// tokens, in the database so that every node of a cluster signs with and publishes the same ones
// and a rotation reaches them all. The private half is sealed with the data dir's sealing key (as
// managed CA keys are): a copy of the database alone signs nothing.
export const agentTokenKeysMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.createTable('agent_token_keys')
      .addColumn('kid', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('public_jwk', 'text', (c) => c.notNull())
      .addColumn('sealed_private_key', 'text', (c) => c.notNull())
      .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
      .addColumn('signs_from', 'varchar(32)', (c) => c.notNull())
      .execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('agent_token_keys').execute();
  },
};
