import assert from 'node:assert/strict';
import { afterEach, beforeEach, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { AesGcmPrivateKeySealer } from './private-key-sealer.ts';
import { openDatabase } from './open-database.ts';
import { describeOn, openTestDatabase, testDialects } from '../../test/support/test-databases.ts';
import type { AuditEntry, Webhook } from '../registry/index.ts';
import type { TenantId } from '../shared/index.ts';
import { writeAuditEvent } from './audit-event-rows.ts';
import { KyselyWebhookOutbox } from './kysely-webhook-outbox.ts';
import { listAgentCertificatesExpiringBetween } from './certificate-expiry-queries.ts';
import { KyselyWebhookStore } from './kysely-webhook-store.ts';
import { runTransaction } from './run-transaction.ts';
import type { Database } from './tables.ts';

// Issue 19 part 3 (decision 0035): the webhooks and their outbox on both dialects. Events commit
// or roll back with their change; only subscribed webhooks of the event's tenant get a row; a row
// is claimed by one node at a time and due again after a lost lease; an outcome recorded under a
// stale claim is refused; another tenant's webhooks are never found.

const acme = 'acme' as TenantId;
const globex = 'globex' as TenantId;
const audit = (tenant: TenantId, action: AuditEntry['action'], target: string, outcome: AuditEntry['outcome'] = 'success'): AuditEntry => ({
  time: new Date('2026-12-03T10:00:00Z'), tenant, actor: { type: 'system', id: 'trustgate' }, action, target, outcome,
});
let next = 0;
const webhook = (tenant: TenantId, events: Webhook['events']): Webhook => ({
  id: (++next).toString(16).padStart(24, '0'), tenant, url: 'https://hooks.example/x', events, createdAt: new Date(),
});

for (const dialect of testDialects) describeOn(dialect)(`KyselyWebhookStore and KyselyWebhookOutbox on ${dialect}`, () => {
  let db: Kysely<Database>;
  let url: string;
  let close: () => Promise<void>;
  let store: KyselyWebhookStore;
  let outbox: KyselyWebhookOutbox;
  beforeEach(async () => {
    ({ db, close, url } = await openTestDatabase(dialect));
    store = new KyselyWebhookStore(db);
    outbox = new KyselyWebhookOutbox(db);
  });
  afterEach(async () => { await close(); });

  const rows = () => db.selectFrom('webhook_deliveries').selectAll().orderBy('webhook_id').execute();

  it('an audited change enqueues its event for the subscribed webhooks of its tenant only, in the change\'s transaction', async () => {
    const all = webhook(acme, ['*']);
    const verifiedOnly = webhook(acme, ['caCertificate.verified']);
    const onboardedOnly = webhook(acme, ['agent.onboarded']);
    const foreign = webhook(globex, ['*']);
    for (const hook of [all, verifiedOnly, onboardedOnly, foreign]) await store.create(hook, 'secret-secret-secret', 10, audit(hook.tenant, 'webhook.created', `webhook:${hook.id}`));
    await runTransaction(db, (trx) => writeAuditEvent(trx, audit(acme, 'caCertificate.verified', 'caCertificate:ca-1')));
    // Rolled back: neither the audit entry nor the event.
    await assert.rejects(runTransaction(db, async (trx) => {
      await writeAuditEvent(trx, audit(acme, 'caCertificate.verified', 'caCertificate:ca-2'));
      throw new Error('the change failed');
    }));
    // A failure, and an action no webhook hears of: no event.
    await writeAuditEvent(db, audit(acme, 'caCertificate.verified', 'caCertificate:ca-3', 'failure'));
    await writeAuditEvent(db, audit(acme, 'caCertificate.uploaded', 'caCertificate:ca-4'));
    const queued = await rows();
    assert.deepEqual(queued.map((row) => row.webhook_id), [all.id, verifiedOnly.id]);
    const [body] = queued.map((row) => JSON.parse(row.body));
    assert.deepEqual(body, { id: queued[0]!.event_id, type: 'caCertificate.verified', time: '2026-12-03T10:00:00.000Z', tenant: 'acme', data: { caCertificateId: 'ca-1' } });
    assert.equal(queued[0]!.event_id, queued[1]!.event_id);
    // An event raised by several nodes with one id: one row per webhook.
    const expiring = { type: 'certificate.expiring' as const, tenant: acme, time: new Date(), data: { caCertificateId: 'ca-1' } };
    await outbox.enqueue(expiring, 'e'.repeat(24));
    await outbox.enqueue(expiring, 'e'.repeat(24));
    assert.equal((await rows()).filter((row) => row.event_type === 'certificate.expiring').length, 1);
  });

  it('the cap per tenant; another tenant never finds, deletes or lists a webhook or its deliveries', async () => {
    const hooks = [webhook(acme, ['*']), webhook(acme, ['*'])];
    for (const hook of hooks) await store.create(hook, 'secret-secret-secret', 2, audit(acme, 'webhook.created', `webhook:${hook.id}`));
    const third = webhook(acme, ['*']);
    await assert.rejects(store.create(third, 'secret-secret-secret', 2, audit(acme, 'webhook.created', 'webhook:x')), { code: 'webhook.tooMany' });
    assert.equal(await store.find(globex, hooks[0]!.id), undefined);
    assert.deepEqual(await store.list(globex), []);
    assert.equal(await store.delete(globex, hooks[0]!.id, audit(globex, 'webhook.deleted', 'webhook:x')), false);
    await writeAuditEvent(db, audit(acme, 'agent.deleted', 'agent:acme_pump'));
    assert.deepEqual(await store.listDeliveries(globex, hooks[0]!.id, { limit: 10 }), []);
    assert.equal((await store.listDeliveries(acme, hooks[0]!.id, { limit: 10 })).length, 1);
    assert.equal((await store.list(acme)).length, 2);
    assert.equal(await store.delete(acme, hooks[0]!.id, audit(acme, 'webhook.deleted', 'webhook:x')), true);
    assert.deepEqual(await store.listDeliveries(acme, hooks[0]!.id, { limit: 10 }), []);
    const actions = await db.selectFrom('audit_events').select('action').where('action', 'like', 'webhook.%').execute();
    assert.deepEqual(actions.map((row) => row.action).sort(), ['webhook.created', 'webhook.created', 'webhook.deleted']);
  });

  it('a claim is one node\'s until its lease ends; a stale claim cannot record an outcome; delivered is final', async () => {
    const hook = webhook(acme, ['*']);
    await store.create(hook, 'secret-secret-secret', 10, audit(acme, 'webhook.created', `webhook:${hook.id}`));
    for (let i = 0; i < 6; i++) await writeAuditEvent(db, audit(acme, 'agent.deleted', `agent:acme_${i}`));
    const now = new Date(Date.now() + 1000);
    const lease = new Date(now.getTime() + 60_000);
    // Another node: its own connection pool on the same database (SQLite: a second connection to the file).
    const otherDb = await openDatabase({ url });
    try {
      const other = new KyselyWebhookOutbox(otherDb);
      const [mine, theirs] = await Promise.all([outbox.claim(hook.id, now, lease, 4), other.claim(hook.id, now, lease, 4)]);
      const ids = [...mine, ...theirs].map((delivery) => delivery.id);
      assert.ok(mine.length <= 4 && theirs.length <= 4, `no claim takes more than its limit: ${mine.length} + ${theirs.length}`);
      assert.equal(ids.length, 6, 'every due row claimed');
      assert.equal(new Set(ids).size, 6, 'no row claimed twice');
      assert.deepEqual(await outbox.dueWebhooks(now, 10, []), []);
      // After the lease: due again (a node died mid-attempt), claimed anew with another token.
      const later = new Date(lease.getTime() + 1);
      assert.deepEqual(await outbox.dueWebhooks(later, 10, []), [{ webhookId: hook.id, tenant: acme }]);
      assert.deepEqual(await outbox.dueWebhooks(later, 10, [], [acme]), []);
      assert.deepEqual(await outbox.dueWebhooks(later, 10, [hook.id]), []);
      const first = (mine[0] ?? theirs[0])!;
      const [again] = (await other.claim(hook.id, later, new Date(later.getTime() + 60_000), 6)).filter((delivery) => delivery.id === first.id);
      assert.ok(again);
      assert.equal(again.attempts, 2);
      assert.equal(await (mine.includes(first) ? outbox : other).complete(first, { status: 'delivered', responseStatus: 200 }, later), false, 'the stale claim records nothing');
      assert.equal(await other.complete(again, { status: 'delivered', responseStatus: 204 }, later), true);
      const far = new Date(later.getTime() + 86_400_000);
      const reclaimed = await outbox.claim(hook.id, far, new Date(far.getTime() + 1), 10);
      assert.equal(reclaimed.some((delivery) => delivery.id === first.id), false, 'delivered is never claimed again');
      const [shown] = (await store.listDeliveries(acme, hook.id, { limit: 10 })).filter((delivery) => delivery.id === first.id);
      assert.equal(shown?.status, 'delivered');
      assert.equal(shown?.lastResponseStatus, 204);
    } finally {
      await otherDb.destroy();
    }
  });

  it('a secret is stored sealed to its row and opened only to sign', async () => {
    const sealer = new AesGcmPrivateKeySealer(randomBytes(32));
    const hook = webhook(acme, ['*']);
    await new KyselyWebhookStore(db, sealer).create(hook, 'the-secret-of-the-hook', 10, audit(acme, 'webhook.created', `webhook:${hook.id}`));
    const row = await db.selectFrom('webhooks').select('secret').where('id', '=', hook.id).executeTakeFirstOrThrow();
    assert.equal(row.secret.includes('the-secret'), false);
    assert.equal((await new KyselyWebhookOutbox(db, sealer).target(hook.id))?.secret, 'the-secret-of-the-hook');
    // Copied into another webhook's row, it does not open.
    const other = webhook(acme, ['*']);
    await new KyselyWebhookStore(db, sealer).create(other, 'another-secret-value', 10, audit(acme, 'webhook.created', `webhook:${other.id}`));
    await db.updateTable('webhooks').set({ secret: row.secret }).where('id', '=', other.id).execute();
    await assert.rejects(new KyselyWebhookOutbox(db, sealer).target(other.id));
  });

  it('agents expiring in a window, for the listed tenants only, soonest first', async () => {
    const at = (days: number) => new Date(Date.UTC(2027, 0, 1) + days * 86_400_000).toISOString();
    const agent = (id: string, tenant: string, notAfter: string | null) => ({
      id, tenant_id: tenant, client_id: `${tenant}_${id}`, common_name: id, ca_certificate_id: 'ca', certificate_fingerprint_sha256: id.padEnd(64, '0'),
      certificate_serial_number: null, certificate_not_before: null, certificate_not_after: notAfter, is_enabled: 1, is_online: 0, session_id: null,
      first_connected_at: at(0), last_connected_at: at(0),
    });
    await db.insertInto('agents').values([agent('in5', 'acme', at(5)), agent('in2', 'acme', at(2)), agent('in40', 'acme', at(40)), agent('past', 'acme', at(-1)),
      agent('unknown', 'acme', null), agent('foreign', 'globex', at(3))]).execute();
    const found = await listAgentCertificatesExpiringBetween(db, ['acme'], new Date(at(0)), new Date(at(30)), 10);
    assert.deepEqual(found.map((entry) => entry.clientId), ['acme_in2', 'acme_in5']);
    assert.deepEqual(await listAgentCertificatesExpiringBetween(db, [], new Date(at(0)), new Date(at(30)), 10), []);
    // Security review: 70,000 subscribed tenants (past both databases' bound-parameter limits) still find acme's, soonest first.
    const many = [...Array.from({ length: 70_000 }, (_, i) => `tenant-${i}`), 'globex', 'acme'];
    const across = await listAgentCertificatesExpiringBetween(db, many, new Date(at(0)), new Date(at(30)), 2);
    assert.deepEqual(across.map((entry) => entry.clientId), ['acme_in2', 'globex_foreign']);
  });

  it('concurrent claims never exceed their limit nor share a row (20 rounds)', async () => {
    const hook = webhook(acme, ['*']);
    await store.create(hook, 'secret-secret-secret', 10, audit(acme, 'webhook.created', `webhook:${hook.id}`));
    const otherDb = await openDatabase({ url });
    try {
      const other = new KyselyWebhookOutbox(otherDb);
      for (let round = 0; round < 20; round++) {
        for (let i = 0; i < 5; i++) await writeAuditEvent(db, audit(acme, 'agent.deleted', `agent:acme_${round}_${i}`));
        const now = new Date(Date.now() + 1000);
        const lease = new Date(now.getTime() + 3_600_000 * (round + 1));
        const [a, b] = await Promise.all([outbox.claim(hook.id, now, lease, 2), other.claim(hook.id, now, lease, 2)]);
        assert.ok(a.length <= 2 && b.length <= 2, `round ${round}: ${a.length} + ${b.length}`);
        assert.equal(new Set([...a, ...b].map((delivery) => delivery.id)).size, a.length + b.length);
        await db.updateTable('webhook_deliveries').set({ status: 'delivered' }).where('webhook_id', '=', hook.id).execute();
      }
    } finally {
      await otherDb.destroy();
    }
  });

  it('deliveries page newest first; finished ones are pruned after their time, pending ones never', async () => {
    const hook = webhook(acme, ['*']);
    await store.create(hook, 'secret-secret-secret', 10, audit(acme, 'webhook.created', `webhook:${hook.id}`));
    for (let i = 0; i < 5; i++) await writeAuditEvent(db, audit(acme, 'agent.deleted', `agent:acme_${i}`));
    const firstPage = await store.listDeliveries(acme, hook.id, { limit: 3 });
    const last = firstPage.at(-1)!;
    const secondPage = await store.listDeliveries(acme, hook.id, { limit: 3, before: { createdAt: last.createdAt, id: last.id } });
    assert.equal(firstPage.length + secondPage.length, 5);
    assert.equal(new Set([...firstPage, ...secondPage].map((delivery) => delivery.id)).size, 5);
    const now = new Date(Date.now() + 1000);
    const [claimed] = await outbox.claim(hook.id, now, new Date(now.getTime() + 1000), 1);
    await outbox.complete(claimed!, { status: 'failed', error: 'gone' }, now);
    assert.equal(await outbox.pruneFinished(new Date(now.getTime() + 1), 100), 1);
    assert.equal((await store.listDeliveries(acme, hook.id, { limit: 10 })).length, 4);
  });
  it('security review: due webhooks come oldest due first, so a flooding tenant\'s many webhooks cannot keep another\'s out of every pass', async () => {
    const old = new Date(Date.now() - 60_000).toISOString();
    const now = new Date().toISOString();
    const row = (webhookId: string, i: number, at: string) => ({
      id: `${webhookId.slice(0, 4)}${i.toString(16).padStart(20, '0')}`, event_id: `e${i.toString(16).padStart(23, '0')}`, webhook_id: webhookId, tenant_id: 'flood', event_type: 'agent.connected', body: '{}',
      status: 'pending', attempts: 0, next_attempt_at: at, claim_token: null, last_attempt_at: null,
      last_response_status: null, last_response_body: null, last_error: null, created_at: at, updated_at: at,
    });
    // 20 flood webhooks (ids sorting first) with fresh due rows; the victim (id sorting last) waited longest.
    const flood = Array.from({ length: 20 }, (_, n) => `${n.toString(16).padStart(4, '0')}${'0'.repeat(20)}`);
    for (const webhookId of flood) await db.insertInto('webhook_deliveries').values(Array.from({ length: 10 }, (_, i) => row(webhookId, i, now))).execute();
    const victim = 'f'.repeat(24);
    await db.insertInto('webhook_deliveries').values(row(victim, 0, old)).execute();
    const due = (await outbox.dueWebhooks(new Date(Date.now() + 1000), 4, [])).map((entry) => entry.webhookId);
    assert.equal(due.length, 4);
    assert.equal(due[0], victim, `the longest-waiting webhook first: ${due.join(', ')}`);
  });
});
