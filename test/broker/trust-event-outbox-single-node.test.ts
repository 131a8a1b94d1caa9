import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql, type Kysely } from 'kysely';
import { openDatabase, type Database } from '../../src/storage/index.ts';
import { newTenant } from '../support/api-helpers.ts';
import { registerVerifiedCa } from '../support/broker-helpers.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { describeOn, testDialects } from '../support/test-databases.ts';

// Decision 0019 on a single node (no Redis): the triggers write every trust event to the outbox
// there too, and the node's relay, which has no other node to tell, deletes each one when its
// change's API call answers. The table never grows.

/** How many events the triggers have written so far (the id sequence), and how many wait. */
const outboxOf = async (db: Kysely<Database>, dialect: string): Promise<{ written: number; waiting: number }> => {
  const written = dialect === 'sqlite'
    ? Number((await sql<{ seq: number }>`select seq from sqlite_sequence where name = 'trust_event_outbox'`.execute(db)).rows[0]?.seq ?? 0)
    : Number((await sql<{ n: string }>`select case when is_called then last_value else 0 end as n from trust_event_outbox_id_seq`.execute(db)).rows[0]!.n);
  const waiting = Number((await db.selectFrom('trust_event_outbox').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
  return { written, waiting };
};

for (const dialect of testDialects) describeOn(dialect)(`the trust event outbox of a single node on ${dialect}`, () => {
  let server: TestServer;
  let db: Kysely<Database>;
  before(async () => {
    server = await startTestServer({}, { dialect });
    db = await openDatabase({ url: server.databaseUrl });
  });
  after(async () => {
    await db?.destroy();
    await server?.close();
  });

  it('is empty once a trust change\'s API call answered: each event was written, and deleted since', async () => {
    const tenant = newTenant('obsingle');
    const { id } = await registerVerifiedCa(server, tenant);
    const answer = await server.api(tenant, `/caCertificates/${id}`, { method: 'DELETE' });
    assert.equal(answer.status, 204);
    const { written, waiting } = await outboxOf(db, dialect);
    assert.ok(written >= 3, `registered, verified, deleted: ${written} events written`);
    assert.equal(waiting, 0);
  });
});
