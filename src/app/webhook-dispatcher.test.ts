import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { Registry as MetricsRegistry } from 'prom-client';
import { openTestDatabase } from '../../test/support/test-databases.ts';
import { waitUntil } from '../../test/support/wait-until.ts';
import type { TenantId } from '../shared/index.ts';
import { KyselyWebhookOutbox, KyselyWebhookStore } from '../storage/index.ts';
import { nextAttemptAfter, startWebhookDispatcher } from './webhook-dispatcher.ts';
import { signWebhookBody } from './post-webhook.ts';
import { createHmac } from 'node:crypto';

// Backoff: doubling from the base, jittered down by at most half, capped at an hour, never past the
// event's maximum age (then failed).

it('retries back off exponentially with jitter, until the maximum age', () => {
  const createdAt = new Date('2026-12-03T00:00:00Z');
  const base = { createdAt, retryBaseMs: 10_000, maxAgeMs: 86_400_000 };
  const delay = (attempts: number, random: number, now = createdAt) =>
    nextAttemptAfter({ ...base, attempts, now, random: () => random })!.getTime() - now.getTime();
  assert.equal(delay(1, 1), 10_000);
  assert.equal(delay(1, 0), 5_000);
  assert.equal(delay(4, 1), 80_000);
  assert.equal(delay(40, 1), 3_600_000);
  const late = new Date(createdAt.getTime() + 86_400_000 - 1000);
  assert.equal(delay(30, 1, late), 1000, 'the last attempt at the maximum age');
  assert.equal(nextAttemptAfter({ ...base, attempts: 31, now: new Date(createdAt.getTime() + 86_400_000), random: () => 1 }), undefined);
});

it('signs "<t>.<raw body>" with HMAC-SHA256', () => {
  const body = '{"id":"x"}';
  assert.equal(signWebhookBody('k'.repeat(16), body, 1_764_720_000), `t=1764720000,v1=${createHmac('sha256', 'k'.repeat(16)).update(`1764720000.${body}`).digest('hex')}`);
});

describe('the dispatcher against a real outbox (SQLite)', () => {
  it('a target that never answers holds at most its 2 slots: another tenant\'s delivery goes through at once', async () => {
    const { db, close } = await openTestDatabase('sqlite');
    const dispatcherMetrics = new MetricsRegistry();
    const store = new KyselyWebhookStore(db);
    const outbox = new KyselyWebhookOutbox(db);
    const created = (tenant: string, id: string) => store.create({ id, tenant: tenant as TenantId, url: `https://${tenant}.example/in`, events: ['*'], createdAt: new Date() }, 's'.repeat(16),
      10, { time: new Date(), tenant: tenant as TenantId, actor: { type: 'system', id: 'trustgate' }, action: 'webhook.created', target: `webhook:${id}`, outcome: 'success' });
    const slowId = 'a'.repeat(24);
    const fastId = 'b'.repeat(24);
    await created('slow', slowId);
    await created('fast', fastId);
    const event = (tenant: string) => ({ type: 'agent.connected' as const, tenant: tenant as TenantId, time: new Date(), data: {} });
    for (let i = 0; i < 10; i++) await outbox.enqueue(event('slow'));
    let hanging = 0;
    const delivered: string[] = [];
    const dispatcher = startWebhookDispatcher({
      outbox, log: pino({ level: 'silent' }), metrics: dispatcherMetrics,
      settings: { policy: { allowedHosts: ['slow.example', 'fast.example'], allowsHttp: false }, timeoutMs: 60_000, pollMs: 20, retryBaseMs: 100, maxAgeMs: 86_400_000, concurrency: 4, perTarget: 2, keepFinishedMs: 86_400_000 },
      post: (post) => {
        if (post.url.includes('slow')) {
          hanging += 1;
          return new Promise((_resolve, reject) => post.signal?.addEventListener('abort', () => reject(new Error('aborted'))));
        }
        delivered.push(post.eventId);
        return Promise.resolve({ status: 200, body: '' });
      },
    });
    try {
      await waitUntil(() => hanging === 2, 5_000, 'the slow target holds its two slots');
      await outbox.enqueue(event('fast'));
      dispatcher.kick();
      await waitUntil(() => delivered.length === 1, 2_000, 'the other tenant\'s delivery is sent');
      assert.equal(hanging, 2, 'no third attempt to the slow target');
    } finally {
      await dispatcher.close();
      // Aborted by the shutdown: due again at once, not counted as failed.
      const rows = await db.selectFrom('webhook_deliveries').select(['status', 'last_error']).where('webhook_id', '=', slowId).execute();
      assert.ok(rows.every((row) => row.status === 'pending'));
      assert.equal(rows.filter((row) => row.last_error === 'interrupted by shutdown').length, 2);
      await close();
    }
  });
});

describe('security review: the outbox stays bounded', () => {
  it('finished deliveries past their keep are all pruned, not 1000 an hour (a flood leaves more)', async () => {
    const { db, close } = await openTestDatabase('sqlite');
    const outbox = new KyselyWebhookOutbox(db);
    const old = new Date(Date.now() - 8 * 86_400_000).toISOString();
    const rows = Array.from({ length: 2_500 }, (_, i) => ({
      id: i.toString(16).padStart(24, '0'), event_id: `e${i.toString(16).padStart(23, '0')}`, webhook_id: 'c'.repeat(24), tenant_id: 'flood', event_type: 'agent.connected', body: '{}',
      status: i % 2 === 0 ? 'delivered' : 'failed', attempts: 1, next_attempt_at: old, claim_token: null, last_attempt_at: old,
      last_response_status: 200, last_response_body: null, last_error: null, created_at: old, updated_at: old,
    }));
    for (let i = 0; i < rows.length; i += 250) await db.insertInto('webhook_deliveries').values(rows.slice(i, i + 250)).execute();
    const count = async () => Number((await db.selectFrom('webhook_deliveries').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
    const dispatcher = startWebhookDispatcher({
      outbox, log: pino({ level: 'silent' }), metrics: new MetricsRegistry(),
      settings: { policy: { allowedHosts: ['x.example'], allowsHttp: false }, timeoutMs: 1_000, pollMs: 10, retryBaseMs: 100, maxAgeMs: 86_400_000, concurrency: 4, perTarget: 2, keepFinishedMs: 7 * 86_400_000 },
      post: () => Promise.reject(new Error('not called')),
    });
    try {
      await waitUntil(async () => await count() === 0, 5_000, 'every finished row past its keep is pruned');
    } finally {
      await dispatcher.close();
      await close();
    }
  });
});

describe('security review: one tenant cannot hold the whole node', () => {
  it('10 webhooks of one tenant that never answer hold at most half the slots: another tenant\'s delivery goes through at once', async () => {
    const { db, close } = await openTestDatabase('sqlite');
    const store = new KyselyWebhookStore(db);
    const outbox = new KyselyWebhookOutbox(db);
    const create = (tenant: string, id: string) => store.create({ id, tenant: tenant as TenantId, url: `https://${tenant}.example/in`, events: ['*'], createdAt: new Date() }, 's'.repeat(16),
      10, { time: new Date(), tenant: tenant as TenantId, actor: { type: 'system', id: 'trustgate' }, action: 'webhook.created', target: `webhook:${id}`, outcome: 'success' });
    for (let i = 0; i < 10; i++) await create('hog', i.toString(16).padStart(24, '0'));
    await create('victim', 'f'.repeat(24));
    const event = (tenant: string) => ({ type: 'agent.connected' as const, tenant: tenant as TenantId, time: new Date(), data: {} });
    for (let i = 0; i < 3; i++) await outbox.enqueue(event('hog'));
    let hanging = 0;
    const delivered: string[] = [];
    const dispatcher = startWebhookDispatcher({
      outbox, log: pino({ level: 'silent' }), metrics: new MetricsRegistry(),
      settings: { policy: { allowedHosts: ['hog.example', 'victim.example'], allowsHttp: false }, timeoutMs: 60_000, pollMs: 20, retryBaseMs: 100, maxAgeMs: 86_400_000, concurrency: 8, perTarget: 2, keepFinishedMs: 86_400_000 },
      post: (post) => {
        if (post.url.includes('hog')) {
          hanging += 1;
          return new Promise((_resolve, reject) => post.signal?.addEventListener('abort', () => reject(new Error('aborted'))));
        }
        delivered.push(post.eventId);
        return Promise.resolve({ status: 200, body: '' });
      },
    });
    try {
      await waitUntil(() => hanging === 4, 5_000, 'the hog holds half the slots');
      await outbox.enqueue(event('victim'));
      dispatcher.kick();
      await waitUntil(() => delivered.length === 1, 2_000, 'the other tenant\'s delivery is sent');
      assert.equal(hanging, 4, 'never more than half the slots for one tenant');
    } finally {
      await dispatcher.close();
      await close();
    }
  });
});
