import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Kysely } from 'kysely';
import type { AgentConnection, AgentRecord } from '../registry/index.ts';
import type { CaCertificateId, TenantId } from '../shared/index.ts';
import { openTestDatabase, testDialects } from '../../test/support/test-databases.ts';
import { waitUntil } from '../../test/support/wait-until.ts';
import { KyselyAgentStore } from './kysely-agent-store.ts';
import type { Database } from './tables.ts';

const TENANT = 'acme' as TenantId;
const CA = 'ca0000000000000000000001' as CaCertificateId;

const connection = (name: string, overrides: Partial<AgentConnection> = {}): AgentConnection => ({
  tenant: TENANT,
  clientId: `${TENANT}_${name}`,
  commonName: name,
  caCertificateId: CA,
  certificateFingerprintSha256: 'a'.repeat(64),
  sessionId: randomUUID(),
  at: new Date(),
  ...overrides,
});

const asAgent = (outcome: AgentRecord | { readonly isDisabled: true }): AgentRecord => {
  assert.ok(!('isDisabled' in outcome), 'expected an agent record, got a refusal');
  return outcome;
};

for (const dialect of testDialects) describe(`KyselyAgentStore on ${dialect}: onboardings committed before they answer, reconnection updates batched`, () => {
  let closeDatabase: () => Promise<void>;
  let db: Kysely<Database>;
  let store: KyselyAgentStore;
  const deferredErrors: unknown[] = [];
  // Straight from the database, without the store's flush: what a crash right now would leave.
  const committedRow = (clientId: string) => db.selectFrom('agents').selectAll().where('client_id', '=', clientId).executeTakeFirst();

  beforeEach(async () => {
    ({ db, close: closeDatabase } = await openTestDatabase(dialect));
    deferredErrors.length = 0;
    store = new KyselyAgentStore(db, { onDeferredWriteError: (error) => deferredErrors.push(error) });
  });
  afterEach(async () => {
    await store.close();
    await closeDatabase();
    assert.deepEqual(deferredErrors, []);
  });

  it('a first connection is in the database when recordConnection resolves', async () => {
    const agent = asAgent(await store.recordConnection(connection('pump-1')));
    const row = await committedRow('acme_pump-1');
    assert.equal(row?.id, agent.id);
    assert.equal(row?.is_online, 1);
    assert.equal(agent.isOnline, true);
    assert.equal(agent.isEnabled, true);
    assert.deepEqual(agent.firstConnectedAt, agent.lastConnectedAt);
  });

  it('concurrent first connections of one agent (and of others) share commits and make one record per agent', async () => {
    const outcomes = await Promise.all([
      store.recordConnection(connection('pump-1')), store.recordConnection(connection('pump-1')), store.recordConnection(connection('pump-2')),
    ]);
    const [first, second, other] = outcomes.map(asAgent);
    assert.equal(first!.id, second!.id);
    assert.notEqual(first!.id, other!.id);
    assert.equal((await store.list(TENANT)).length, 2);
  });

  it('a reconnection answers at once; its update is written later, and every read of the store sees it', async () => {
    const onboarded = asAgent(await store.recordConnection(connection('pump-1', { at: new Date('2030-01-01T00:00:00.000Z') })));
    const later = new Date('2030-01-02T00:00:00.000Z');
    const reconnected = asAgent(await store.recordConnection(connection('pump-1', { at: later, certificateFingerprintSha256: 'b'.repeat(64) })));
    assert.equal(reconnected.id, onboarded.id);
    assert.deepEqual(reconnected.lastConnectedAt, later);
    assert.deepEqual(reconnected.firstConnectedAt, onboarded.firstConnectedAt);
    assert.equal(reconnected.certificateFingerprintSha256, 'b'.repeat(64));
    assert.equal((await committedRow('acme_pump-1'))?.last_connected_at, '2030-01-01T00:00:00.000Z', 'not written yet');

    const found = await store.find(TENANT, onboarded.id);
    assert.deepEqual(found, reconnected);
    assert.equal((await committedRow('acme_pump-1'))?.last_connected_at, later.toISOString());
  });

  it('queued updates are written within a short delay without any read', async () => {
    const { id } = asAgent(await store.recordConnection(connection('pump-1')));
    const session = randomUUID();
    await store.recordConnection(connection('pump-1', { sessionId: session }));
    await store.recordDisconnection(TENANT, id, session);
    // committedRow reads the database directly, not through the store (which would flush first).
    await waitUntil(async () => (await committedRow('acme_pump-1'))?.is_online === 0, 5_000, 'the queued disconnection is committed');
  });

  it('a disabled agent is refused, also with its own updates still queued, and nothing changes', async () => {
    const { id } = asAgent(await store.recordConnection(connection('pump-1')));
    await store.recordConnection(connection('pump-1'));
    const disabled = await store.setEnabled(TENANT, id, false);
    assert.equal(disabled?.isEnabled, false);
    const before = await committedRow('acme_pump-1');

    assert.deepEqual(await store.recordConnection(connection('pump-1', { at: new Date('2031-01-01T00:00:00.000Z') })), { isDisabled: true });
    await store.flush();
    assert.deepEqual(await committedRow('acme_pump-1'), before);
  });

  it('writes land in order: a taken-over session\'s disconnection leaves the agent online', async () => {
    const first = connection('pump-1');
    const { id } = asAgent(await store.recordConnection(first));
    await store.recordConnection(connection('pump-1'));
    await store.recordDisconnection(TENANT, id, first.sessionId);
    assert.equal((await store.find(TENANT, id))?.isOnline, true);
  });

  it('an update queued for a deleted agent does not touch the agent onboarded anew under its client id', async () => {
    const { id: oldId } = asAgent(await store.recordConnection(connection('pump-1')));
    const stale = connection('pump-1', { at: new Date('2031-01-01T00:00:00.000Z'), certificateFingerprintSha256: 'c'.repeat(64) });
    await store.recordConnection(stale);
    await store.recordDisconnection(TENANT, oldId, stale.sessionId);
    // Deleting flushes first, so the queued writes hit the old record; a new onboarding follows.
    assert.equal((await store.remove(TENANT, oldId))?.certificateFingerprintSha256, 'c'.repeat(64));
    const renewed = asAgent(await store.recordConnection(connection('pump-1', { at: new Date('2032-01-01T00:00:00.000Z') })));
    assert.notEqual(renewed.id, oldId);
    assert.equal((await store.find(TENANT, renewed.id))?.isOnline, true);
    assert.deepEqual((await store.list(TENANT)).map((a) => a.id), [renewed.id]);
  });

  it('close() writes what is queued; later updates are dropped and later onboardings refused', async () => {
    const { id } = asAgent(await store.recordConnection(connection('pump-1')));
    const reconnection = connection('pump-1', { at: new Date('2031-01-01T00:00:00.000Z') });
    await store.recordConnection(reconnection);
    await store.close();
    assert.equal((await committedRow('acme_pump-1'))?.last_connected_at, reconnection.at.toISOString());
    await store.recordDisconnection(TENANT, id, reconnection.sessionId);
    await assert.rejects(store.recordConnection(connection('pump-2')), /closed/);
    assert.equal((await committedRow('acme_pump-1'))?.is_online, 1);
  });
});

// Issue 10, finding 11: on PostgreSQL one tenant's row that breaks a column limit (varchar(64))
// failed the shared batch transaction, and every other tenant's first connection in it was refused.
describe('KyselyAgentStore on postgres: one bad onboarding in a batch fails alone', () => {
  it('a tenant\'s row that overflows a column cannot refuse other tenants\' first connections batched with it', async () => {
    const { db, close } = await openTestDatabase('postgres');
    const deferred: unknown[] = [];
    const store = new KyselyAgentStore(db, { onDeferredWriteError: (error) => deferred.push(error) });
    try {
      const known = asAgent(await store.recordConnection(connection('known')));
      const good = Array.from({ length: 15 }, (_, i) => connection(`pump-${i}`, { tenant: `tenant${i}` as TenantId, clientId: `tenant${i}_pump-${i}` }));
      // Made directly through the store (not through admission, whose CN rule is another fix): 65 characters.
      const bad = connection('x'.repeat(65), { tenant: 'evil' as TenantId, clientId: `evil_${'x'.repeat(65)}` });
      // Issued in one turn of the event loop, so they share one batch with a queued reconnection.
      const reconnection = store.recordConnection(connection('known', { at: new Date('2031-01-01T00:00:00.000Z') }));
      const outcomes = await Promise.allSettled([...good.slice(0, 7), bad, ...good.slice(7)].map((c) => store.recordConnection(c)));
      await reconnection;
      const badOutcome = outcomes.splice(7, 1)[0]!;
      assert.equal(badOutcome.status, 'rejected', 'the overflowing row fails');
      assert.deepEqual(outcomes.map((o) => o.status), good.map(() => 'fulfilled'), 'every other tenant\'s onboarding commits');
      for (const c of good) assert.equal((await db.selectFrom('agents').select('is_online').where('client_id', '=', c.clientId).executeTakeFirst())?.is_online, 1);
      assert.equal((await store.find(TENANT, known.id))?.lastConnectedAt.toISOString(), '2031-01-01T00:00:00.000Z', 'the queued reconnection is written too');
      assert.deepEqual(deferred, []);
    } finally {
      await store.close();
      await close();
    }
  });
});
