import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Kysely } from 'kysely';
import { openTestDatabase, describeOn, testDialects } from '../../test/support/test-databases.ts';
import type { RegistryEvent } from '../registry/index.ts';
import { KyselyTrustEventOutbox } from './kysely-trust-event-outbox.ts';
import type { Database } from './tables.ts';

const at = '2026-12-02T00:00:00.000Z';

const caRow = (id: string) => ({
  id, tenant_id: 'acme', slot: Number(id.replace(/\D/g, '')) || 1, name: 'ca', description: null, certificate_pem: 'pem', subject: 'CN=ca', common_name: 'ca',
  fingerprint_sha256: id.padEnd(64, '0'), tbs_certificate_sha256: id.padEnd(64, '1'), public_key_sha256: id.padEnd(64, '2'),
  subject_key_id: null, not_before: at, not_after: at, registration_code: 'code', is_verified: 0, created_at: at, verified_at: null,
});

const agentRow = (id: string) => ({
  id, tenant_id: 'acme', client_id: `acme_${id}`, common_name: id, ca_certificate_id: 'ca-1', certificate_fingerprint_sha256: 'f'.repeat(64),
  is_enabled: 1, is_online: 0, session_id: null, first_connected_at: at, last_connected_at: at,
});

const agentCertificateRow = (id: string) => ({
  id, tenant_id: 'acme', name: id, active_name: id, owner: null, client_id: id, managed_ca_id: 'm-1', certificate_pem: 'pem',
  fingerprint_sha256: id.padEnd(64, '3'), serial_number: '0a', key_source: 'generated', not_before: at, not_after: at, created_at: at,
  is_revoked: 0, revoked_at: null,
});

const managedCaRow = (id: string) => ({
  id, tenant_id: 'acme', certificate_pem: 'pem', private_key_sealed: 'sealed', subject: 'CN=m', fingerprint_sha256: 'a'.repeat(64),
  public_key_sha256: 'b'.repeat(64), not_before: at, not_after: at, created_at: at,
});

// Decision 0019: every trust change writes its event in its own transaction (triggers), and the
// outbox hands them out until they were sent.
for (const dialect of testDialects) describeOn(dialect)(`KyselyTrustEventOutbox on ${dialect}`, () => {
  let db: Kysely<Database>;
  let close: () => Promise<void>;
  let url: string;
  let outbox: KyselyTrustEventOutbox;
  beforeEach(async () => {
    ({ db, close, url } = await openTestDatabase(dialect));
    outbox = new KyselyTrustEventOutbox(db);
  });
  afterEach(async () => { await close(); });

  /** Drains everything, returning the events in the order sent. */
  const drained = async (target = outbox): Promise<RegistryEvent[]> => {
    const events: RegistryEvent[] = [];
    await target.drain(async (event) => { events.push(event); }, 1_000);
    return events;
  };

  it('a CA registered, verified and deleted, a managed CA created: their events, in order', async () => {
    await db.insertInto('ca_certificates').values(caRow('ca-1')).execute();
    await db.updateTable('ca_certificates').set({ is_verified: 1, verified_at: at }).where('id', '=', 'ca-1').execute();
    await db.updateTable('ca_certificates').set({ name: 'renamed' }).where('id', '=', 'ca-1').execute();
    await db.deleteFrom('ca_certificates').where('id', '=', 'ca-1').execute();
    await db.insertInto('managed_ca_certificates').values(managedCaRow('m-1')).execute();
    assert.deepEqual(await drained(), [
      { type: 'caCertificateRegistered', tenant: 'acme', caCertificateId: 'ca-1' },
      { type: 'caCertificateVerified', tenant: 'acme', caCertificateId: 'ca-1' },
      { type: 'caCertificateDeleted', tenant: 'acme', caCertificateId: 'ca-1' },
      { type: 'managedCaCreated', tenant: 'acme', caCertificateId: 'm-1' },
    ]);
    assert.deepEqual(await drained(), [], 'sent events are deleted');
  });

  it('an agent certificate revoked (with issuer and serial), an agent disabled and deleted; not issuing, connecting or enabling', async () => {
    await db.insertInto('agent_certificates').values(agentCertificateRow('c-1')).execute();
    await db.updateTable('agent_certificates').set({ is_revoked: 1, revoked_at: at, active_name: null }).where('id', '=', 'c-1').execute();
    await db.updateTable('agent_certificates').set({ revoked_at: at }).where('id', '=', 'c-1').execute();
    await db.insertInto('agents').values(agentRow('a-1')).execute();
    await db.updateTable('agents').set({ is_online: 1, session_id: 's', last_connected_at: at }).where('id', '=', 'a-1').execute();
    await db.updateTable('agents').set({ is_enabled: 1 }).where('id', '=', 'a-1').execute();
    await db.updateTable('agents').set({ is_enabled: 0 }).where('id', '=', 'a-1').execute();
    await db.updateTable('agents').set({ is_enabled: 1 }).where('id', '=', 'a-1').execute();
    await db.deleteFrom('agents').where('id', '=', 'a-1').execute();
    assert.deepEqual(await drained(), [
      { type: 'agentCertificateRevoked', tenant: 'acme', agentCertificateId: 'c-1', caCertificateId: 'm-1', serialNumber: '0a' },
      { type: 'agentDisabled', tenant: 'acme', agentId: 'a-1', clientId: 'acme_a-1' },
      { type: 'agentDeleted', tenant: 'acme', agentId: 'a-1', clientId: 'acme_a-1' },
    ]);
  });

  it('a change rolled back leaves no event', async () => {
    await db.transaction().execute(async (trx) => {
      await trx.insertInto('ca_certificates').values(caRow('ca-2')).execute();
      throw new Error('rolled back');
    }).catch(() => undefined);
    assert.deepEqual(await drained(), []);
  });

  it('keeps what could not be sent: the events before the failure are deleted, the failed one and those after stay, in order', async () => {
    for (const id of ['ca-1', 'ca-2', 'ca-3']) await db.insertInto('ca_certificates').values(caRow(id)).execute();
    const sent: string[] = [];
    await assert.rejects(outbox.drain(async (event) => {
      if (event.type === 'caCertificateRegistered' && event.caCertificateId === 'ca-2') throw new Error('Redis unreachable');
      sent.push((event as { caCertificateId: string }).caCertificateId);
    }, 100), /Redis unreachable/);
    assert.deepEqual(sent, ['ca-1']);
    assert.deepEqual((await drained()).map((event) => (event as { caCertificateId: string }).caCertificateId), ['ca-2', 'ca-3']);
  });

  it('drains at most `limit` events at a time', async () => {
    for (const id of ['ca-1', 'ca-2', 'ca-3']) await db.insertInto('ca_certificates').values(caRow(id)).execute();
    assert.deepEqual(await outbox.drain(async () => undefined, 2), { sent: 2, dropped: 0 });
    assert.deepEqual(await outbox.drain(async () => undefined, 2), { sent: 1, dropped: 0 });
  });

  it('drops a row no trigger writes (unknown type, missing field) instead of stopping at it', async () => {
    await db.insertInto('trust_event_outbox').values({ event_type: 'somethingNew', tenant_id: 'acme', created_at: at } as never).execute();
    await db.insertInto('trust_event_outbox').values({ event_type: 'caCertificateDeleted', tenant_id: 'acme', created_at: at } as never).execute();
    await db.insertInto('ca_certificates').values(caRow('ca-1')).execute();
    const events: RegistryEvent[] = [];
    assert.deepEqual(await outbox.drain(async (event) => { events.push(event); }, 100), { sent: 1, dropped: 2 });
    assert.deepEqual(events, [{ type: 'caCertificateRegistered', tenant: 'acme', caCertificateId: 'ca-1' }]);
  });

  it('trim keeps the newest events', async () => {
    for (const id of ['ca-1', 'ca-2', 'ca-3', 'ca-4']) await db.insertInto('ca_certificates').values(caRow(id)).execute();
    assert.equal(await outbox.trim(10), 0);
    assert.equal(await outbox.trim(2), 2);
    assert.deepEqual((await drained()).map((event) => (event as { caCertificateId: string }).caCertificateId), ['ca-3', 'ca-4']);
  });

  it('the migration rolls back (table, triggers, functions gone) and applies again', async () => {
    const { trustEventOutboxMigration } = await import('./migrations/2026-12-02-0007-trust-event-outbox.ts');
    await trustEventOutboxMigration.down!(db as Kysely<unknown>);
    assert.ok(!(await db.introspection.getTables()).some((table) => table.name === 'trust_event_outbox'));
    // Without the triggers, trust writes still work.
    await db.insertInto('ca_certificates').values(caRow('ca-1')).execute();
    await db.deleteFrom('ca_certificates').where('id', '=', 'ca-1').execute();
    await trustEventOutboxMigration.up(db as Kysely<unknown>);
    await db.insertInto('ca_certificates').values(caRow('ca-2')).execute();
    assert.deepEqual(await drained(), [{ type: 'caCertificateRegistered', tenant: 'acme', caCertificateId: 'ca-2' }]);
  });

  if (dialect === 'postgres') {
    it('two nodes\' drains take turns: each event is sent once, by whichever drains first', async () => {
      const { openDatabase } = await import('./open-database.ts');
      const other = await openDatabase({ url });
      try {
        for (const id of ['ca-1', 'ca-2', 'ca-3']) await db.insertInto('ca_certificates').values(caRow(id)).execute();
        const sent: string[] = [];
        let releaseFirst!: () => void;
        const firstHolds = new Promise<void>((resolve) => { releaseFirst = resolve; });
        let firstStarted!: () => void;
        const started = new Promise<void>((resolve) => { firstStarted = resolve; });
        const first = outbox.drain(async (event) => {
          firstStarted();
          await firstHolds;
          sent.push(`first ${(event as { caCertificateId: string }).caCertificateId}`);
        }, 100);
        await started;
        const second = new KyselyTrustEventOutbox(other).drain(async (event) => { sent.push(`second ${(event as { caCertificateId: string }).caCertificateId}`); }, 100);
        // The second waits for the first's lock; let it try for a moment, then release the first.
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.deepEqual(sent, [], 'the second drain waits while the first holds the outbox');
        releaseFirst();
        assert.deepEqual(await first, { sent: 3, dropped: 0 });
        assert.deepEqual(await second, { sent: 0, dropped: 0 });
        assert.deepEqual(sent, ['first ca-1', 'first ca-2', 'first ca-3']);
      } finally {
        await other.destroy();
      }
    });

    it('a node that dies mid-drain (its connection gone) leaves its events to the others', async () => {
      const { openDatabase } = await import('./open-database.ts');
      const dying = await openDatabase({ url });
      await db.insertInto('ca_certificates').values(caRow('ca-1')).execute();
      let sentByDying!: () => void;
      const wasSent = new Promise<void>((resolve) => { sentByDying = resolve; });
      let afterDeath!: () => void;
      const dead = new Promise<void>((resolve) => { afterDeath = resolve; });
      // Sent (Redis took it), then the node dies before its deletion commits: its connection,
      // which holds the drain's transaction and lock, is gone.
      const dyingDrain = new KyselyTrustEventOutbox(dying).drain(async () => { sentByDying(); await dead; }, 100);
      await wasSent;
      const { sql } = await import('kysely');
      await sql`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and state = 'idle in transaction'`.execute(db);
      afterDeath();
      await assert.rejects(dyingDrain);
      await dying.destroy().catch(() => undefined);
      assert.deepEqual(await drained(), [{ type: 'caCertificateRegistered', tenant: 'acme', caCertificateId: 'ca-1' }], 'sent again: at least once');
    });
  }
});
