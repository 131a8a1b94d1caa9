import assert from 'node:assert/strict';
import { afterEach, beforeEach, it } from 'node:test';
import { Migrator, sql, type Kysely } from 'kysely';
import { captureLogs } from '../../test/support/capture-logs.ts';
import { describeOn, openTestDatabase, testDialects } from '../../test/support/test-databases.ts';
import { listAuditEvents, pruneAuditEvents, SYSTEM_ACTOR, type AuditEntry, type NewCaCertificateRecord } from '../registry/index.ts';
import { isDomainError, newResourceId, type CaCertificateId, type TenantId } from '../shared/index.ts';
import { auditEventRowOf } from './audit-event-rows.ts';
import { KyselyAuditTrail } from './kysely-audit-trail.ts';
import { KyselyCaCertificateStore } from './kysely-ca-certificate-store.ts';
import { KyselyRevocationStore } from './kysely-revocation-store.ts';
import { migrationProvider } from './migrations/index.ts';
import type { Database } from './tables.ts';

const acme = 'acme' as TenantId;
const other = 'other' as TenantId;
const at = new Date('2026-12-03T03:12:00.000Z');

const entry = (overrides: Partial<AuditEntry> = {}): AuditEntry => ({
  time: at, tenant: acme, actor: { type: 'token', id: 'ops@acme' }, action: 'caCertificate.deleted', target: 'caCertificate:c1', outcome: 'success',
  reason: undefined, sourceAddress: '203.0.113.7', requestId: 'req-1', count: 1, ...overrides,
});

let serial = 0;
const caRecord = (overrides: Partial<NewCaCertificateRecord> = {}): NewCaCertificateRecord => {
  serial += 1;
  return {
    id: newResourceId() as CaCertificateId, tenant: acme, name: `ca ${serial}`, description: undefined,
    certificatePem: `-----BEGIN CERTIFICATE-----\n${serial}\n-----END CERTIFICATE-----\n`, subject: `CN=ca ${serial}`, commonName: `ca ${serial}`,
    fingerprintSha256: serial.toString(16).padStart(64, 'f'), tbsCertificateSha256: serial.toString(16).padStart(64, 't'),
    publicKeySha256: serial.toString(16).padStart(64, 'k'), subjectKeyId: undefined,
    notBefore: new Date('2026-01-01T00:00:00.000Z'), notAfter: new Date('2031-01-01T00:00:00.000Z'),
    registrationCode: `code${serial}`.padEnd(40, '0'), createdAt: at, ...overrides,
  };
};

// Migration 0011 and the audit trail: append-only, listed per tenant newest first with keyset
// paging, pruned in batches, and written in the transaction of the change it records.
for (const dialect of testDialects) describeOn(dialect)(`KyselyAuditTrail on ${dialect}`, () => {
  let db: Kysely<Database>;
  let close: () => Promise<void>;
  let logs: ReturnType<typeof captureLogs>;
  let trail: KyselyAuditTrail;
  beforeEach(async () => {
    ({ db, close } = await openTestDatabase(dialect));
    logs = captureLogs('info');
    trail = new KyselyAuditTrail(db, logs.logger.child({ component: 'audit' }));
  });
  afterEach(async () => { await close(); });

  const rowCount = async (): Promise<number> => Number((await db.selectFrom('audit_events').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
  const insertMany = async (entries: readonly AuditEntry[]): Promise<void> => {
    for (let start = 0; start < entries.length; start += 500) {
      await db.insertInto('audit_events').values(entries.slice(start, start + 500).map(auditEventRowOf)).execute();
    }
  };

  it('records an entry as a row and as one log line with audit: true, and lists it for its tenant only', async () => {
    await trail.record(entry({ reason: 'verification.cnMismatch', outcome: 'failure', action: 'caCertificate.verificationFailed' }));
    await trail.record(entry({ tenant: other, target: 'caCertificate:theirs' }));
    await trail.record(entry({ tenant: undefined, target: 'route:none' }));
    const [event, ...more] = await trail.list({ tenant: acme, limit: 10 });
    assert.equal(more.length, 0, 'another tenant\'s event and a tenant-less one are not listed');
    assert.match(event!.id, /^[0-9a-f]{24}$/);
    assert.deepEqual({ ...event, id: undefined }, {
      id: undefined, time: at, tenant: acme, actor: { type: 'token', id: 'ops@acme' }, action: 'caCertificate.verificationFailed', target: 'caCertificate:c1',
      outcome: 'failure', reason: 'verification.cnMismatch', sourceAddress: '203.0.113.7', requestId: 'req-1', count: 1,
    });
    const lines = logs.lines.filter((line) => line.audit === true);
    assert.equal(lines.length, 3);
    assert.equal(lines[0]!.component, 'audit');
    assert.equal(lines[0]!.msg, 'audit: caCertificate.verificationFailed');
    assert.deepEqual(lines[0]!.actor, { type: 'token', id: 'ops@acme' });
  });

  it('filters by since (inclusive), until (exclusive) and action; newest first', async () => {
    const times = [0, 1, 2, 3].map((minutes) => new Date(at.getTime() + minutes * 60_000));
    await insertMany(times.map((time, i) => entry({ time, action: i % 2 === 0 ? 'agent.disabled' : 'agent.enabled', target: `agent:a${i}` })));
    const targets = async (query: { since?: Date; until?: Date; action?: 'agent.disabled' }) =>
      (await trail.list({ tenant: acme, limit: 10, ...query })).map((event) => event.target);
    assert.deepEqual(await targets({}), ['agent:a3', 'agent:a2', 'agent:a1', 'agent:a0']);
    assert.deepEqual(await targets({ since: times[1], until: times[3] }), ['agent:a2', 'agent:a1']);
    assert.deepEqual(await targets({ action: 'agent.disabled' }), ['agent:a2', 'agent:a0']);
  });

  it('pages with the cursor: every event once, in order, also when many share one timestamp and new ones arrive meanwhile', async () => {
    await insertMany(Array.from({ length: 45 }, (_, i) => entry({ time: i < 30 ? at : new Date(at.getTime() - i), target: `t:${i}` })));
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await listAuditEvents(trail, { tenant: acme, limit: 10, cursor });
      seen.push(...page.auditEvents.map((event) => event.id));
      cursor = page.nextCursor;
      pages += 1;
      // Newer events arriving between pages do not shift the pages still to come.
      await trail.record(entry({ time: new Date(at.getTime() + 60_000 * pages), target: 'late' }));
    } while (cursor !== undefined);
    assert.equal(pages, 5);
    assert.equal(seen.length, 45);
    assert.equal(new Set(seen).size, 45, 'no event twice');
    const all = await trail.list({ tenant: acme, limit: 1000 });
    assert.deepEqual(seen, all.filter((event) => event.target !== 'late').map((event) => event.id), 'the same order as one big page');
  });

  it('a cursor is bound to its tenant: another tenant\'s cursor is refused, not read as a position', async () => {
    await insertMany([entry(), entry({ tenant: other })]);
    await insertMany([entry(), entry({ tenant: other })]);
    const { nextCursor } = await listAuditEvents(trail, { tenant: other, limit: 1 });
    assert.ok(nextCursor);
    await assert.rejects(listAuditEvents(trail, { tenant: acme, cursor: nextCursor }), (error) => isDomainError(error) && error.code === 'auditEvent.cursorInvalid');
  });

  it('prunes only events older than the retention, in batches of the given size, also with two nodes pruning at once', async () => {
    const old = new Date(at.getTime() - 400 * 86_400_000);
    await insertMany(Array.from({ length: 2_500 }, (_, i) => entry({ time: new Date(old.getTime() + i), target: `old:${i}` })));
    await insertMany(Array.from({ length: 5 }, (_, i) => entry({ target: `recent:${i}` })));
    const before = new Date(at.getTime() - 365 * 86_400_000);
    assert.equal(await trail.pruneBatch(before, 1000), 1000, 'one statement deletes one batch');
    const [first, second] = await Promise.all([pruneAuditEvents(trail, before, 200), pruneAuditEvents(trail, before, 200)]);
    assert.equal(first! + second!, 1_500, 'the two prunes share the work; none fails');
    assert.equal(await rowCount(), 5);
    assert.deepEqual((await trail.list({ tenant: acme, limit: 10 })).map((event) => event.target).sort(), ['recent:0', 'recent:1', 'recent:2', 'recent:3', 'recent:4']);
  });

  it('is append-only: an UPDATE is refused by the database; the row stays as written', async () => {
    await trail.record(entry());
    await assert.rejects(db.updateTable('audit_events').set({ actor_id: 'someone-else' }).execute(), /append-only/);
    assert.equal((await trail.list({ tenant: acme, limit: 1 }))[0]!.actor.id, 'ops@acme');
  });

  it('record never throws when the database is away: the log line stands and the failure is logged', async () => {
    const broken = new KyselyAuditTrail(db, logs.logger);
    await sql`DROP TABLE audit_events`.execute(db);
    await broken.record(entry({ action: 'agent.deleted' }));
    assert.equal(logs.lines.filter((line) => line.audit === true && line.action === 'agent.deleted').length, 1);
    assert.equal(logs.find('could not store an audit event (its log line above stands)').length, 1);
  });

  it('a store writes the entry in the transaction of its change: once when it changes, never when the change fails or is a no-op', async () => {
    const cas = new KyselyCaCertificateStore(db);
    const record = caRecord();
    await cas.insert(record, 2, entry({ action: 'caCertificate.uploaded', target: `caCertificate:${record.id}` }));
    // A duplicate (the unique constraint rolls the transaction back): no entry.
    await assert.rejects(cas.insert({ ...record, id: newResourceId() as CaCertificateId }, 2, entry({ action: 'caCertificate.uploaded', target: 'caCertificate:dup' })));
    // The limit reached (refused inside the transaction): no entry.
    await cas.insert(caRecord(), 2);
    await assert.rejects(cas.insert(caRecord(), 2, entry({ action: 'caCertificate.uploaded', target: 'caCertificate:third' })));
    await cas.markVerified(acme, record.id, at, entry({ action: 'caCertificate.verified' }));
    await cas.markVerified(acme, record.id, at, entry({ action: 'caCertificate.verified', target: 'again' }));
    await cas.remove(acme, 'missing' as CaCertificateId, entry({ target: 'caCertificate:missing' }));
    const revocations = new KyselyRevocationStore(db);
    const revocation = { tenant: acme, caCertificateId: record.id, serialNumber: 'a1', reason: 'certificateHold', revokedAt: at };
    assert.equal(await revocations.insert(revocation, entry({ action: 'certificate.revoked', target: 'certificate:1' })), true);
    assert.equal(await revocations.insert(revocation, entry({ action: 'certificate.revoked', target: 'certificate:dup' })), false);
    const actions = (await trail.list({ tenant: acme, limit: 100 })).map((event) => `${event.action} ${event.target}`).sort();
    assert.deepEqual(actions, [`caCertificate.uploaded caCertificate:${record.id}`, 'caCertificate.verified caCertificate:c1', 'certificate.revoked certificate:1']);
  });

  it('an entry longer than its columns is cut, never refused (it must not fail the change it records)', async () => {
    await trail.record(entry({ actor: { ...SYSTEM_ACTOR, id: 'x'.repeat(5000) }, target: 'y'.repeat(5000), reason: 'z'.repeat(5000), sourceAddress: 'a'.repeat(500), requestId: 'r'.repeat(500) }));
    const [event] = await trail.list({ tenant: acme, limit: 1 });
    assert.equal(event!.actor.id.length, 256);
    assert.equal(event!.target.length, 512);
  });

  it('migration 0011 rolls back (table, indexes and trigger gone) and applies again', async () => {
    const migrator = new Migrator({ db, provider: migrationProvider });
    assert.equal((await migrator.migrateTo('2026-12-02-0010-agent-certificate-renewals')).error, undefined, 'rollback');
    await assert.rejects(db.selectFrom('audit_events').selectAll().execute());
    assert.equal((await migrator.migrateToLatest()).error, undefined);
    await trail.record(entry());
    assert.equal(await rowCount(), 1);
  });
});
