import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Migrator, sql, type Kysely } from 'kysely';
import { openTestDatabase, describeOn, testDialects } from '../../test/support/test-databases.ts';
import type { CrlRecord, RegistryEvent } from '../registry/index.ts';
import { isDomainError, type CaCertificateId, type TenantId } from '../shared/index.ts';
import { KyselyRevocationStore } from './kysely-revocation-store.ts';
import { KyselyTrustChangeCounter } from './kysely-trust-change-counter.ts';
import { KyselyTrustEventOutbox } from './kysely-trust-event-outbox.ts';
import { migrationProvider } from './migrations/index.ts';
import type { Database } from './tables.ts';

const tenant = 'acme' as TenantId;
const ca = 'ca-1' as CaCertificateId;
const at = new Date('2026-12-02T00:00:00.000Z');
const crl = (crlNumber: string | undefined, entryCount: number, thisUpdate = at): CrlRecord =>
  ({ tenant, caCertificateId: ca, thisUpdate, nextUpdate: undefined, crlNumber, entryCount, importedAt: at });
const entries = (count: number, prefix = 'c0') => Array.from({ length: count }, (_, i) => ({ serialNumber: `${prefix}${i.toString(16)}`, reason: 'keyCompromise', revokedAt: at }));

// Migration 0008: revocations of uploaded CAs' certificates. Every change is one trust change
// (counter, decision 0018) and one caRevocationsChanged event (outbox, decision 0019), a CRL of
// any size included; CRL imports replace atomically and refuse replays.
for (const dialect of testDialects) describeOn(dialect)(`KyselyRevocationStore on ${dialect}`, () => {
  let db: Kysely<Database>;
  let close: () => Promise<void>;
  let store: KyselyRevocationStore;
  let counter: KyselyTrustChangeCounter;
  let outbox: KyselyTrustEventOutbox;
  beforeEach(async () => {
    ({ db, close } = await openTestDatabase(dialect));
    store = new KyselyRevocationStore(db);
    counter = new KyselyTrustChangeCounter(db);
    outbox = new KyselyTrustEventOutbox(db);
  });
  afterEach(async () => { await close(); });

  const drained = async (): Promise<RegistryEvent[]> => {
    const events: RegistryEvent[] = [];
    await outbox.drain(async (event) => { events.push(event); }, 100_000);
    return events;
  };
  const changed: RegistryEvent = { type: 'caRevocationsChanged', tenant, caCertificateId: ca };

  it('an API revocation: stored once (a second insert answers false), one event and one counted change per insert and per release', async () => {
    const before = Number(await counter.read());
    assert.equal(await store.insert({ tenant, caCertificateId: ca, serialNumber: 'a1', reason: 'certificateHold', revokedAt: at }), true);
    assert.equal(await store.insert({ tenant, caCertificateId: ca, serialNumber: 'a1', reason: 'keyCompromise', revokedAt: at }), false);
    assert.equal((await store.find(tenant, ca, 'a1'))?.reason, 'certificateHold');
    assert.equal(await store.find('other' as TenantId, ca, 'a1'), undefined, 'another tenant does not see it');
    assert.equal(await store.remove(tenant, ca, 'a1', 'keyCompromise'), false, 'removes only while the reason is the one checked');
    assert.equal(await store.remove('other' as TenantId, ca, 'a1', 'certificateHold'), false);
    assert.deepEqual(await drained(), [changed]);
    assert.equal(await store.remove(tenant, ca, 'a1', 'certificateHold'), true);
    assert.deepEqual(await drained(), [changed]);
    assert.equal(Number(await counter.read()), before + 2);
  });

  it('a CRL of 5,000 entries is one event and one counted change; the next replaces its entries, API revocations stay', async () => {
    await store.insert({ tenant, caCertificateId: ca, serialNumber: 'ff', reason: 'superseded', revokedAt: at });
    await drained();
    const before = Number(await counter.read());
    await store.replaceCrl(crl('1', 5_000), entries(5_000));
    assert.deepEqual(await drained(), [changed]);
    assert.equal(Number(await counter.read()), before + 1);
    assert.equal((await store.listSerials(ca)).length, 5_001);
    await store.replaceCrl(crl('2', 2), entries(2, 'd0'));
    assert.deepEqual(await drained(), [changed]);
    assert.deepEqual((await store.listSerials(ca)).sort(), ['d00', 'd01', 'ff']);
    assert.deepEqual((await store.listAllSerials()).length, 3);
    assert.deepEqual((await store.list(tenant, ca)).map((r) => r.serialNumber), ['ff'], 'list: API-made only');
    const stored = await store.findCrl(tenant, ca);
    assert.equal(stored?.crlNumber, '2');
    assert.equal(stored?.entryCount, 2);
    assert.equal(await store.findCrl('other' as TenantId, ca), undefined);
  });

  it('replay: an older CRL (by number, else by thisUpdate) is crl.replayed and changes nothing; the same number is taken', async () => {
    await store.replaceCrl(crl('10', 1), entries(1));
    await drained();
    await assert.rejects(store.replaceCrl(crl('f', 0), []), (error) => isDomainError(error) && error.code === 'crl.replayed');
    assert.deepEqual(await drained(), []);
    assert.equal((await store.listSerials(ca)).length, 1);
    await store.replaceCrl(crl('10', 0), []);
    assert.equal((await store.listSerials(ca)).length, 0);
    const other = 'ca-2' as CaCertificateId;
    await store.replaceCrl({ ...crl(undefined, 0, new Date(at.getTime() + 1_000)), caCertificateId: other }, []);
    await assert.rejects(store.replaceCrl({ ...crl(undefined, 0), caCertificateId: other }, []), (error) => isDomainError(error) && error.code === 'crl.replayed');
  });

  describe('migration 0008', () => {
    it('rolls back (tables, triggers) and applies again', async () => {
      const migrator = new Migrator({ db, provider: migrationProvider });
      const down = await migrator.migrateTo('2026-12-02-0007-trust-event-outbox');
      assert.equal(down.error, undefined, String(down.error));
      const tables = dialect === 'postgres'
        ? (await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = 'public'`.execute(db)).rows
        : (await sql<{ name: string }>`select name from sqlite_master where type in ('table', 'trigger')`.execute(db)).rows;
      assert.ok(!tables.some(({ name }) => /revoked_certificates|certificate_revocation_lists/.test(name)), tables.map(({ name }) => name).join(', '));
      const up = await migrator.migrateToLatest();
      assert.equal(up.error, undefined, String(up.error));
      assert.equal(await store.insert({ tenant, caCertificateId: ca, serialNumber: 'a1', reason: 'unspecified', revokedAt: at }), true);
      assert.deepEqual(await drained(), [changed]);
    });
  });
});
