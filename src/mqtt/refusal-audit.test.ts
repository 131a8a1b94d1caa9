import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InMemoryAuditTrail } from '../registry/index.ts';
import { MAX_REFUSAL_ENTRIES_PER_MINUTE, RefusalAudit } from './refusal-audit.ts';

test('refusals are written once their minute is over: one entry per client id, reason and tenant, with the count', async () => {
  let now = Date.UTC(2026, 11, 3, 3, 12, 5);
  const trail = new InMemoryAuditTrail();
  const audit = new RefusalAudit(trail, () => now);
  for (let i = 0; i < 1000; i += 1) audit.add({ clientId: 'acme_pump-7', sourceAddress: '10.0.0.7', reason: 'mqtt.certificateRevoked', tenant: 'acme' });
  audit.add({ clientId: 'acme_pump-7', sourceAddress: '10.0.0.7', reason: 'mqtt.connectRateLimited', tenant: 'acme' });
  audit.add({ clientId: undefined, sourceAddress: '10.0.0.9', reason: 'mqtt.connectRateLimited', tenant: undefined });
  await audit.flush(false);
  assert.equal(trail.entries.length, 0, 'the minute is not over');
  now += 60_000;
  await audit.flush(false);
  assert.equal(trail.entries.length, 3);
  const revoked = trail.entries.find((entry) => entry.reason === 'mqtt.certificateRevoked')!;
  assert.deepEqual({ ...revoked }, {
    time: new Date(Date.UTC(2026, 11, 3, 3, 12)), tenant: 'acme', actor: { type: 'agent', id: 'acme_pump-7' }, action: 'mqtt.connectRefused',
    target: 'clientId:acme_pump-7', outcome: 'failure', reason: 'mqtt.certificateRevoked', sourceAddress: '10.0.0.7', count: 1000,
  });
  assert.equal(trail.entries.find((entry) => entry.target === 'sourceAddress:10.0.0.9')?.tenant, undefined);
  await audit.close();
});

test('a storm of distinct client ids is bounded: past the cap, the rest of the minute is one entry per reason', async () => {
  const now = Date.UTC(2026, 11, 3, 3, 12, 5);
  const trail = new InMemoryAuditTrail();
  const audit = new RefusalAudit(trail, () => now);
  for (let i = 0; i < MAX_REFUSAL_ENTRIES_PER_MINUTE + 500; i += 1) audit.add({ clientId: `acme_${i}`, sourceAddress: '10.0.0.7', reason: 'mqtt.unknownCa', tenant: undefined });
  await audit.close();
  assert.equal(trail.entries.length, MAX_REFUSAL_ENTRIES_PER_MINUTE + 1);
  assert.equal(trail.entries.find((entry) => entry.target === 'clientId:*')?.count, 500);
});

test('a storm of random client ids that proves no tenant cannot push a tenant\'s refusals out of its trail (the cap is per tenant)', async () => {
  const now = Date.UTC(2026, 11, 3, 3, 12, 5);
  const trail = new InMemoryAuditTrail();
  const audit = new RefusalAudit(trail, () => now);
  for (let i = 0; i < MAX_REFUSAL_ENTRIES_PER_MINUTE + 10; i += 1) audit.add({ clientId: `acme_${i}`, sourceAddress: '198.51.100.1', reason: 'mqtt.unknownCa', tenant: undefined });
  audit.add({ clientId: 'acme_pump-7', sourceAddress: '10.0.0.7', reason: 'mqtt.certificateRevoked', tenant: 'acme' });
  audit.add({ clientId: 'acme_pump-7', sourceAddress: '10.0.0.7', reason: 'mqtt.certificateRevoked', tenant: 'acme' });
  // Past acme's own cap, its refusals are summed, still acme's.
  for (let i = 0; i < MAX_REFUSAL_ENTRIES_PER_MINUTE + 3; i += 1) audit.add({ clientId: `acme_x${i}`, sourceAddress: '10.0.0.8', reason: 'mqtt.certificateRevoked', tenant: 'acme' });
  await audit.close();
  const pump = trail.entries.filter((entry) => entry.target === 'clientId:acme_pump-7');
  assert.deepEqual(pump.map((entry) => [entry.tenant, entry.count]), [['acme', 2]]);
  const summed = trail.entries.filter((entry) => entry.target === 'clientId:*');
  assert.deepEqual(Object.fromEntries(summed.map((entry) => [entry.tenant ?? 'none', entry.count])), { acme: 4, none: 10 });
  assert.equal(trail.entries.filter((entry) => entry.tenant === 'acme').length, MAX_REFUSAL_ENTRIES_PER_MINUTE + 1);
});
