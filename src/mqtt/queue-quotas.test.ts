import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CapHits } from './cap-hits.ts';
import { createBrokerMetrics } from './broker-metrics.ts';
import { applyQueueQuotas, type QueuePersistence } from './queue-quotas.ts';
import { InMemoryQuotaLedger } from './quota-ledger.ts';
import { Registry } from 'prom-client';
import pino from 'pino';

const fakePersistence = (enqueued: string[][]): QueuePersistence => ({
  async outgoingEnqueueCombi(subs) { enqueued.push(subs.map((sub) => sub.clientId)); },
  async outgoingClearMessageId() { return undefined; },
  async cleanSubscriptions() { return undefined; },
  async removeSubscriptions() { return undefined; },
});

test('a message whose queue places cannot be counted is not queued, and each session it missed is reported', async () => {
  const enqueued: string[][] = [];
  const persistence = fakePersistence(enqueued);
  const ledger = new InMemoryQuotaLedger();
  ledger.reserveQueued = () => Promise.reject(new Error('Redis away'));
  const notQueued: number[] = [];
  const errors: unknown[] = [];
  applyQueueQuotas(persistence, {
    caps: { perClient: 10, perTenant: 10 }, ledger, hits: new CapHits(createBrokerMetrics(new Registry()), pino({ level: 'silent' })),
    connectedClient: () => undefined, onLedgerError: (error) => errors.push(error), onNotQueued: (count) => notQueued.push(count),
  });
  await persistence.outgoingEnqueueCombi([{ clientId: 't_a' }, { clientId: 't_b' }], { topic: 'tc/t/t_x/o/data' });
  assert.deepEqual(enqueued, []);
  assert.deepEqual(notQueued, [2]);
  assert.equal(errors.length, 1);
});

test('the in-memory ledger counts what is queued and released (trustgate_mqtt_queued_messages)', async () => {
  const ledger = new InMemoryQuotaLedger();
  const caps = { perClient: 2, perTenant: 10 };
  await ledger.reserveQueued([{ clientId: 't_a', tenant: 't', isConnected: false }, { clientId: 't_b', tenant: 't', isConnected: false }], caps);
  await ledger.reserveQueued([{ clientId: 't_a', tenant: 't', isConnected: false }], caps);
  assert.deepEqual(await ledger.reserveQueued([{ clientId: 't_a', tenant: 't', isConnected: false }], caps), ['queuedPerClient']);
  assert.equal(ledger.queuedMessages(), 3);
  ledger.releaseQueued('t_a', 't');
  ledger.releaseQueued('t_unknown', 't');
  assert.equal(ledger.queuedMessages(), 2);
});

test('an agent\'s access token answer is queued for that agent only, and counts for no one else (security review of decision 0033)', async () => {
  const enqueued: string[][] = [];
  const persistence = fakePersistence(enqueued);
  const ledger = new InMemoryQuotaLedger();
  applyQueueQuotas(persistence, {
    caps: { perClient: 10, perTenant: 10 }, ledger, hits: new CapHits(createBrokerMetrics(new Registry()), pino({ level: 'silent' })),
    connectedClient: () => undefined, onLedgerError: (error) => assert.fail(String(error)),
  });
  const subscribers = [{ clientId: 't_app' }, { clientId: 't_pump-1' }, { clientId: 't_pump-2' }, { clientId: 'aedes_x' }];
  const rows: [topic: string, queuedFor: string[]][] = [
    ['tc/t/t_pump-1/i/agm_v3/tr', ['t_pump-1']],
    ['tc/t/t_pump-9/i/agm_v3/tr', []],
    ['tc/t/t_pump-1/i/agm_v3/trx', ['t_app', 't_pump-1', 't_pump-2', 'aedes_x']],
    ['tc/t/t_pump-1/i/cert_v1/cert', ['t_app', 't_pump-1', 't_pump-2', 'aedes_x']],
  ];
  for (const [topic, queuedFor] of rows) {
    enqueued.length = 0;
    await persistence.outgoingEnqueueCombi(subscribers, { topic });
    assert.deepEqual(enqueued, queuedFor.length === 0 ? [] : [queuedFor], topic);
  }
  assert.equal(ledger.queuedMessages(), 1 + 0 + 4 + 4, 'places reserved only for what was queued');
});
