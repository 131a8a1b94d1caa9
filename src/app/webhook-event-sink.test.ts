import assert from 'node:assert/strict';
import { it } from 'node:test';
import pino from 'pino';
import type { KyselyWebhookOutbox } from '../storage/index.ts';
import { createWebhookEventSink } from './webhook-event-sink.ts';

// Security review of decision 0035: a tenant creating and deleting webhooks (within its REST limits)
// makes the node read that tenant's subscriptions, not every tenant's, and a full read that started
// before the change cannot put the old subscriptions back.

it('a tenant\'s change re-reads that tenant only; a full read started earlier lands first', async () => {
  let fullReads = 0;
  let tenantReads = 0;
  let stored = new Map<string, Set<string>>([['other', new Set(['*'])]]);
  let releaseFull: (() => void) | undefined;
  const outbox = {
    subscriptions: async () => {
      fullReads += 1;
      const snapshot = new Map(stored);
      if (fullReads > 1) await new Promise<void>((resolve) => { releaseFull = resolve; });
      return snapshot;
    },
    subscriptionsOf: async (tenant: string) => {
      tenantReads += 1;
      return new Set(stored.get(tenant) ?? []);
    },
  } as unknown as KyselyWebhookOutbox;
  const sink = await createWebhookEventSink({ outbox, refreshMs: 3_600_000, log: pino({ level: 'silent' }), onEnqueued: () => undefined });
  try {
    assert.equal(fullReads, 1);
    for (let i = 0; i < 50; i++) await sink.refreshTenant('acme');
    assert.equal(fullReads, 1, 'no full read for a tenant\'s change');
    assert.equal(tenantReads, 50);
    assert.deepEqual(sink.subscribedTenants('agent.connected'), ['other']);
    // A full read starts (before acme's webhook exists), then acme creates one and its refresh runs.
    sink.refresh();
    stored = new Map([...stored, ['acme', new Set(['agent.connected'])]]);
    const refreshing = sink.refreshTenant('acme');
    releaseFull!();
    await refreshing;
    assert.deepEqual(sink.subscribedTenants('agent.connected').sort(), ['acme', 'other']);
  } finally {
    sink.close();
  }
});
