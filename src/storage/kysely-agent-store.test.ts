import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Kysely } from 'kysely';
import type { AgentConnection, RecordedConnection } from '../registry/index.ts';
import type { CaCertificateId, TenantId } from '../shared/index.ts';
import { openTestDatabase, describeOn, testDialects } from '../../test/support/test-databases.ts';
import { TcpOutageProxy } from '../../test/support/tcp-proxy.ts';
import { waitUntil } from '../../test/support/wait-until.ts';
import { KyselyAgentStore, RETRY_MAX_DELAY_MS } from './kysely-agent-store.ts';
import { openDatabase } from './open-database.ts';
import type { Database } from './tables.ts';
import { describeNeeding } from '../../test/support/test-services.ts';

const TENANT = 'acme' as TenantId;
const CA = 'ca0000000000000000000001' as CaCertificateId;

const connection = (name: string, overrides: Partial<AgentConnection> = {}): AgentConnection => ({
  tenant: TENANT,
  clientId: `${TENANT}_${name}`,
  commonName: name,
  caCertificateId: CA,
  certificateFingerprintSha256: 'a'.repeat(64),
  certificateValidity: { serialNumber: '1a', notBefore: new Date('2026-01-01T00:00:00.000Z'), notAfter: new Date('2036-01-01T00:00:00.000Z') },
  sessionId: randomUUID(),
  at: new Date(),
  ...overrides,
});

const asAgent = (outcome: RecordedConnection | { readonly isDisabled: true }): RecordedConnection => {
  assert.ok(!('isDisabled' in outcome), 'expected an agent record, got a refusal');
  return outcome;
};

for (const dialect of testDialects) describeOn(dialect)(`KyselyAgentStore on ${dialect}: onboardings committed before they answer, reconnection updates batched`, () => {
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
    const { certificateChange, ...record } = reconnected;
    assert.deepEqual(found, record);
    assert.deepEqual(certificateChange, { previousCaCertificateId: CA, previousFingerprintSha256: 'a'.repeat(64) }, 'the answer says what the record held');
    assert.equal((await committedRow('acme_pump-1'))?.last_connected_at, later.toISOString());
  });

  // Issue 13, item 3: the record switched CA and fingerprint silently; the broker logs this fact.
  it('a reconnection says which certificate and CA the record held when it brings others, also over a queued one', async () => {
    const OTHER_CA = 'ca0000000000000000000002' as CaCertificateId;
    const onboarded = asAgent(await store.recordConnection(connection('pump-1')));
    assert.equal(onboarded.certificateChange, undefined, 'an onboarding replaces nothing');
    assert.equal(asAgent(await store.recordConnection(connection('pump-1'))).certificateChange, undefined, 'the same certificate again');
    // Not flushed in between: the second compares with the first's queued update, not the row.
    const renewed = asAgent(await store.recordConnection(connection('pump-1', { certificateFingerprintSha256: 'b'.repeat(64) })));
    assert.deepEqual(renewed.certificateChange, { previousCaCertificateId: CA, previousFingerprintSha256: 'a'.repeat(64) });
    const moved = asAgent(await store.recordConnection(connection('pump-1', { caCertificateId: OTHER_CA, certificateFingerprintSha256: 'c'.repeat(64) })));
    assert.deepEqual(moved.certificateChange, { previousCaCertificateId: CA, previousFingerprintSha256: 'b'.repeat(64) });
    assert.equal(asAgent(await store.recordConnection(connection('pump-1', { caCertificateId: OTHER_CA, certificateFingerprintSha256: 'c'.repeat(64) }))).certificateChange, undefined);
    const stored = await store.find(TENANT, onboarded.id);
    assert.equal(stored?.caCertificateId, OTHER_CA);
    assert.equal(stored?.certificateFingerprintSha256, 'c'.repeat(64));
  });

  // Issue 15, part 3: the record carries its current certificate's serial and validity.
  it('keeps the current certificate\'s serial and validity: at onboarding, and replaced by a reconnection with another certificate', async () => {
    const onboarded = asAgent(await store.recordConnection(connection('pump-1')));
    assert.deepEqual(onboarded.certificateValidity, { serialNumber: '1a', notBefore: new Date('2026-01-01T00:00:00.000Z'), notAfter: new Date('2036-01-01T00:00:00.000Z') });
    const row = await committedRow('acme_pump-1');
    assert.deepEqual([row?.certificate_serial_number, row?.certificate_not_before, row?.certificate_not_after], ['1a', '2026-01-01T00:00:00.000Z', '2036-01-01T00:00:00.000Z']);
    const renewed = { serialNumber: '2b', notBefore: new Date('2027-01-01T00:00:00.000Z'), notAfter: new Date('2027-03-01T00:00:00.000Z') };
    assert.deepEqual(asAgent(await store.recordConnection(connection('pump-1', { certificateFingerprintSha256: 'b'.repeat(64), certificateValidity: renewed }))).certificateValidity, renewed);
    assert.deepEqual((await store.find(TENANT, onboarded.id))?.certificateValidity, renewed);
    assert.equal((await committedRow('acme_pump-1'))?.certificate_not_after, '2027-03-01T00:00:00.000Z');
  });

  it('list filters by expiringBefore and caCertificateId, each alone and both together; an unknown validity never matches expiringBefore', async () => {
    const OTHER_CA = 'ca0000000000000000000002' as CaCertificateId;
    const validity = (notAfter: string) => ({ serialNumber: '1', notBefore: new Date('2026-01-01T00:00:00.000Z'), notAfter: new Date(notAfter) });
    await store.recordConnection(connection('soon-old', { certificateValidity: validity('2027-01-10T00:00:00.000Z') }));
    await store.recordConnection(connection('soon-new', { caCertificateId: OTHER_CA, certificateValidity: validity('2027-01-20T00:00:00.000Z') }));
    await store.recordConnection(connection('late-old', { certificateValidity: validity('2030-01-01T00:00:00.000Z') }));
    const { id: legacyId } = asAgent(await store.recordConnection(connection('legacy')));
    // A row as written before migration 0009.
    await store.flush();
    await db.updateTable('agents').set({ certificate_serial_number: null, certificate_not_before: null, certificate_not_after: null }).where('id', '=', legacyId).execute();
    await store.recordConnection({ ...connection('pump-x'), tenant: 'other' as TenantId, clientId: 'other_pump-x', certificateValidity: validity('2027-01-01T00:00:00.000Z') });
    const names = async (filter: Parameters<KyselyAgentStore['list']>[1]) => (await store.list(TENANT, filter)).map((agent) => agent.commonName).sort();
    assert.deepEqual(await names({}), ['late-old', 'legacy', 'soon-new', 'soon-old']);
    assert.deepEqual(await names({ expiringBefore: new Date('2027-02-01T00:00:00.000Z') }), ['soon-new', 'soon-old']);
    assert.deepEqual(await names({ expiringBefore: new Date('2027-01-10T00:00:00.000Z') }), [], 'before, not at');
    assert.deepEqual(await names({ caCertificateId: CA }), ['late-old', 'legacy', 'soon-old']);
    assert.deepEqual(await names({ caCertificateId: CA, expiringBefore: new Date('2027-02-01T00:00:00.000Z') }), ['soon-old']);
    assert.deepEqual(await names({ caCertificateId: 'ca-of-nobody' as CaCertificateId }), []);
    assert.equal((await store.find(TENANT, legacyId))?.certificateValidity, undefined, 'an old row: unknown until the next connection');
  });

  it('queued updates are written within a short delay without any read', async () => {
    const first = connection('pump-1');
    const { id } = asAgent(await store.recordConnection(first));
    const session = randomUUID();
    await store.recordConnection(connection('pump-1', { sessionId: session }));
    // The second session took the first over: the first ended (as a broker records it), then the second.
    await store.recordDisconnection(TENANT, id, first.sessionId);
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

  it('a session that ended before its reconnection was written leaves the online state of the session the row holds (taken over on another node)', async () => {
    const { id } = asAgent(await store.recordConnection(connection('pump-1')));
    // The session that won on the other node, as that node's store wrote it.
    const winner = connection('pump-1');
    await store.recordConnection(winner);
    await store.flush();
    // The one that lost here: its reconnection and its end, queued together.
    const loser = connection('pump-1');
    await store.recordConnection(loser);
    await store.recordDisconnection(TENANT, id, loser.sessionId);
    await store.flush();
    const row = await committedRow('acme_pump-1');
    assert.equal(row?.is_online, 1, 'still online: the row holds the winner\'s session');
    assert.equal(row?.session_id, winner.sessionId);
    await store.recordDisconnection(TENANT, id, winner.sessionId);
    assert.equal((await store.find(TENANT, id))?.isOnline, false, 'offline once the winner leaves');
  });

  it('a session taken over hands the row to the session that took it, even written after it (the same agent on two nodes at once)', async () => {
    const { id } = asAgent(await store.recordConnection(connection('pump-1')));
    // Two nodes' stores, one database: the loser's node writes its reconnection after the winner's
    // node wrote the winner's, so the row holds the loser.
    const loserNode = new KyselyAgentStore(db, { onDeferredWriteError: (error) => deferredErrors.push(error) });
    try {
      const winner = connection('pump-1');
      const loser = connection('pump-1');
      await store.recordConnection(winner);
      await store.flush();
      await loserNode.recordConnection(loser);
      await loserNode.flush();
      assert.equal((await committedRow('acme_pump-1'))?.session_id, loser.sessionId, 'the bad interleaving: the row holds the loser');
      // The loser ends, taken over by the winner.
      await loserNode.recordDisconnection(TENANT, id, loser.sessionId, new Date(), winner.sessionId);
      await loserNode.flush();
      const row = await committedRow('acme_pump-1');
      assert.equal(row?.is_online, 1, 'online: the winner is connected');
      assert.equal(row?.session_id, winner.sessionId, 'the row holds the winner\'s session');
      await store.recordDisconnection(TENANT, id, winner.sessionId);
      assert.equal((await store.find(TENANT, id))?.isOnline, false, 'offline once the winner leaves');
    } finally {
      await loserNode.close();
    }
  });

  it('a taken-over session\'s hand-over and the ends after it apply in order, in one batch', async () => {
    const { id } = asAgent(await store.recordConnection(connection('pump-1')));
    const loser = connection('pump-1');
    await store.recordConnection(loser);
    await store.flush();
    const winner = connection('pump-1');
    // Both queued together: the loser hands the row to the winner, then the winner leaves.
    await store.recordDisconnection(TENANT, id, loser.sessionId, new Date(), winner.sessionId);
    await store.recordDisconnection(TENANT, id, winner.sessionId);
    assert.equal((await store.find(TENANT, id))?.isOnline, false);
    assert.equal((await committedRow('acme_pump-1'))?.session_id, null);
  });

  it('a taken-over session of a disabled agent marks it offline: no hand-over', async () => {
    const { id } = asAgent(await store.recordConnection(connection('pump-1')));
    const loser = connection('pump-1');
    await store.recordConnection(loser);
    await store.setEnabled(TENANT, id, false);
    await store.recordDisconnection(TENANT, id, loser.sessionId, new Date(), connection('pump-1').sessionId);
    assert.equal((await store.find(TENANT, id))?.isOnline, false);
    assert.equal((await committedRow('acme_pump-1'))?.session_id, null);
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
describeNeeding('postgres')('KyselyAgentStore on postgres: one bad onboarding in a batch fails alone', () => {
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

// Issue 12, item 3: the deferred updates of a batch that met an unreachable database were dropped,
// and after a 2.3 s cut 26 of 70 disconnected agents stayed online until a restart. The store
// reaches PostgreSQL through a proxy the test cuts; the test reads the database directly.
describeNeeding('postgres')('KyselyAgentStore on postgres: deferred updates survive a database outage', () => {
  let closeDatabase: () => Promise<void>;
  let db: Kysely<Database>;
  let proxied: Kysely<Database>;
  let proxy: TcpOutageProxy;
  let store: KyselyAgentStore;
  const deferredErrors: unknown[] = [];
  let dropped = 0;
  const committedRow = (clientId: string) => db.selectFrom('agents').selectAll().where('client_id', '=', clientId).executeTakeFirst();

  beforeEach(async () => {
    let url: string;
    ({ db, url, close: closeDatabase } = await openTestDatabase('postgres'));
    proxy = TcpOutageProxy.forUrl(url, 5432);
    await proxy.start();
    proxied = await openDatabase({ url: proxy.urlThrough(url) });
    deferredErrors.length = 0;
    dropped = 0;
    store = new KyselyAgentStore(proxied, { onDeferredWriteError: (error) => deferredErrors.push(error), onDeferredWriteDropped: () => { dropped++; } });
  });
  afterEach(async () => {
    await proxy.restore();
    await store.close();
    await proxied.destroy();
    await proxy.close();
    await closeDatabase();
  });

  it('disconnections queued while the database is cut are all written once it is back, without a read, each agent\'s order kept', async () => {
    const N = 40;
    const onboarded = await Promise.all(Array.from({ length: N }, async (_, i) => {
      const first = connection(`pump-${i}`);
      return { first, agent: asAgent(await store.recordConnection(first)) };
    }));
    // Half of them reconnected just before the cut (updates still queued), with the session that
    // then ends during the cut; one more reconnected and stays connected, its old session ending.
    const reconnected = onboarded.slice(0, N / 2).map(({ first, agent }) => ({ agent, sessionId: randomUUID(), first }));
    for (const { sessionId, first } of reconnected) await store.recordConnection({ ...first, sessionId, at: new Date('2031-01-01T00:00:00.000Z') });
    const keeper = connection('keeper');
    const keeperAgent = asAgent(await store.recordConnection(keeper));
    const keeperSession = randomUUID();
    await store.recordConnection({ ...keeper, sessionId: keeperSession });

    await proxy.cut();
    await store.recordDisconnection(TENANT, keeperAgent.id, keeper.sessionId);
    for (const { agent, sessionId } of reconnected) await store.recordDisconnection(TENANT, agent.id, sessionId);
    for (const { agent, first } of onboarded.slice(N / 2)) await store.recordDisconnection(TENANT, agent.id, first.sessionId);
    await waitUntil(() => deferredErrors.length > 0, 10_000, 'the batch met the unreachable database');
    assert.equal(deferredErrors.length, 1, 'the outage is reported once, not at every retry');
    const stillOnline = await db.selectFrom('agents').select('client_id').where('is_online', '=', 1).execute();
    assert.equal(stillOnline.length, N + 1, 'nothing written during the cut');

    await proxy.restore();
    const restoredAt = performance.now();
    // The database alone is read (not the store, whose reads flush): the store's own retry writes.
    await waitUntil(async () => (await db.selectFrom('agents').select('id').where('is_online', '=', 1).execute()).length === 1,
      RETRY_MAX_DELAY_MS + 3_000, 'every agent whose session ended during the cut is offline');
    const convergedMs = performance.now() - restoredAt;
    assert.ok(convergedMs < RETRY_MAX_DELAY_MS + 3_000, `converged ${convergedMs.toFixed(0)} ms after the restore`);
    const keeperRow = await committedRow('acme_keeper');
    assert.equal(keeperRow?.is_online, 1, 'the agent still connected is online');
    assert.equal(keeperRow?.session_id, keeperSession, 'its old session\'s end did not overtake its reconnection');
    for (const { first } of reconnected) {
      assert.equal((await committedRow(first.clientId))?.last_connected_at, '2031-01-01T00:00:00.000Z', 'the reconnection before the cut is written too');
    }
    assert.equal(deferredErrors.length, 1);
    assert.equal(dropped, 0);
  });

  it('a reconnection during a retry is coalesced with the pending disconnection of its agent, and a read after the outage sees both', async () => {
    const first = connection('pump-1');
    const { id } = asAgent(await store.recordConnection(first));
    await proxy.cut();
    await store.recordDisconnection(TENANT, id, first.sessionId);
    await waitUntil(() => deferredErrors.length > 0, 10_000, 'the batch met the unreachable database');
    await proxy.restore();
    // The agent comes back (its read works again) before the retry: one pending update per agent.
    const second = connection('pump-1', { at: new Date('2031-01-01T00:00:00.000Z') });
    await store.recordConnection(second);
    const found = await store.find(TENANT, id);
    assert.equal(found?.isOnline, true);
    assert.equal((await committedRow('acme_pump-1'))?.session_id, second.sessionId);
    assert.equal(dropped, 0);
  });

  it('an agent\'s update that fails for its own reason is dropped and counted alone; the other agents\' updates are written', async () => {
    const agents = await Promise.all(['pump-1', 'pump-2', 'pump-3'].map(async (name) => {
      const first = connection(name);
      return { first, agent: asAgent(await store.recordConnection(first)) };
    }));
    const [bad, ...good] = agents;
    // Made directly through the store (admission refuses such a name): 65 characters, one too many for PostgreSQL.
    await store.recordConnection({ ...bad!.first, commonName: 'x'.repeat(65), sessionId: randomUUID() });
    for (const { agent, first } of good) await store.recordDisconnection(TENANT, agent.id, first.sessionId);
    await store.flush();
    for (const { first } of good) assert.equal((await committedRow(first.clientId))?.is_online, 0);
    assert.equal((await committedRow(bad!.first.clientId))?.common_name, 'pump-1', 'the bad update was not written');
    assert.equal(dropped, 1);
    assert.equal(deferredErrors.length, 1);
    // Dropped, not retried: the next flush has nothing left of it.
    await store.flush();
    assert.equal(dropped, 1);
  });
});

// Decision 0032: a single node keeps the enabled agents it read, so a known agent's reconnect
// costs no SELECT; its own disable and delete are seen at once. A cluster node keeps nothing.
for (const dialect of testDialects) describeOn(dialect)(`KyselyAgentStore on ${dialect}: known agents kept on a single node (keepsKnownAgents)`, () => {
  let closeDatabase: () => Promise<void>;
  let db: Kysely<Database>;
  let selects: number;
  /** The database as the store sees it, counting the statements that read agents. */
  const counting = (inner: Kysely<Database>): Kysely<Database> => new Proxy(inner, {
    get(target, property) {
      if (property === 'executeQuery') {
        return (query: { sql: string }) => {
          if (/^select .* from "agents"/i.test(query.sql)) selects += 1;
          return target.executeQuery(query as never);
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  const stores: KyselyAgentStore[] = [];
  const open = (keepsKnownAgents: boolean) => {
    const store = new KyselyAgentStore(counting(db), { keepsKnownAgents });
    stores.push(store);
    return store;
  };

  beforeEach(async () => {
    ({ db, close: closeDatabase } = await openTestDatabase(dialect));
    selects = 0;
  });
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    await closeDatabase();
  });

  it('a known agent\'s reconnect reads nothing once read; the record is the same as read from the database', async () => {
    const store = open(true);
    const onboarded = asAgent(await store.recordConnection(connection('pump-1')));
    const first = asAgent(await store.recordConnection(connection('pump-1')));
    const before = selects;
    const second = asAgent(await store.recordConnection(connection('pump-1', { certificateFingerprintSha256: 'b'.repeat(64) })));
    assert.equal(selects, before, 'no SELECT for a known agent');
    assert.equal(second.id, onboarded.id);
    assert.deepEqual(second.certificateChange, { previousCaCertificateId: CA, previousFingerprintSha256: 'a'.repeat(64) });
    assert.deepEqual(second.firstConnectedAt, first.firstConnectedAt);
    await store.flush();
    assert.equal((await store.find(TENANT, onboarded.id))?.certificateFingerprintSha256, 'b'.repeat(64));
    // Still the change is told against what the record holds, after the flush too.
    assert.equal(asAgent(await store.recordConnection(connection('pump-1', { certificateFingerprintSha256: 'b'.repeat(64) }))).certificateChange, undefined);
  });

  it('hostile: its own disable is seen at once (also by a connect whose read ran meanwhile), enable again admits; a delete onboards anew', async () => {
    const store = open(true);
    const { id } = asAgent(await store.recordConnection(connection('pump-1')));
    asAgent(await store.recordConnection(connection('pump-1')));
    assert.ok(await store.setEnabled(TENANT, id, false));
    assert.deepEqual(await store.recordConnection(connection('pump-1')), { isDisabled: true });
    assert.deepEqual(await store.recordConnection(connection('pump-1')), { isDisabled: true }, 'a disabled agent is never kept');
    assert.ok(await store.setEnabled(TENANT, id, true));
    asAgent(await store.recordConnection(connection('pump-1')));

    // A connect and a disable at once: whichever the read saw, the next connect is refused.
    const racing = store.recordConnection(connection('pump-2'));
    const onboarded2 = asAgent(await racing);
    const reconnect = store.recordConnection(connection('pump-2'));
    const disabling = store.setEnabled(TENANT, onboarded2.id, false);
    await Promise.all([reconnect, disabling]);
    assert.deepEqual(await store.recordConnection(connection('pump-2')), { isDisabled: true });

    assert.ok(await store.remove(TENANT, id));
    const again = asAgent(await store.recordConnection(connection('pump-1')));
    assert.notEqual(again.id, id, 'a deleted agent comes back as a new record, never the old one');
    assert.equal((await store.find(TENANT, again.id))?.isEnabled, true);
  });

  it('a cluster node (the default) keeps nothing: another node\'s disable is seen by the next connect', async () => {
    const node = open(false);
    const other = open(false);
    const { id } = asAgent(await node.recordConnection(connection('pump-1')));
    asAgent(await node.recordConnection(connection('pump-1')));
    const before = selects;
    asAgent(await node.recordConnection(connection('pump-1')));
    assert.equal(selects, before + 1, 'each reconnect reads the shared database');
    assert.ok(await other.setEnabled(TENANT, id, false));
    assert.deepEqual(await node.recordConnection(connection('pump-1')), { isDisabled: true });
  });
});
