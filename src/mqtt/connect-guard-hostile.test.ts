import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import type { Aedes, Client } from 'aedes';
import pino from 'pino';
import { Registry as MetricsRegistry } from 'prom-client';
import { InMemoryAuditTrail } from '../registry/index.ts';
import { MAX_BAN_ENTRIES_PER_MINUTE } from './ban-audit.ts';
import { createBrokerMetrics } from './broker-metrics.ts';
import { InMemoryConnectBanStore } from './connect-ban-store.ts';
import { installConnectGuard } from './connect-guard.ts';

// Review of issue 16 (MQTT connect limits), as an outsider: earning bans for random client ids is
// cheap for anyone (a few refused CONNECTs each); the audit trail must not take one row per ban.
// The guard on a stand-in broker whose inner authenticate refuses every token.

type Done = (error: Error | null, success: boolean | null) => void;

const guardedBroker = (trail: InMemoryAuditTrail, refusal: { reason: string; issuerTenant?: string } = { reason: 'auth.tokenInvalid' }) => {
  const broker = {
    authenticate(_client: Client, _username: string | undefined, _password: Buffer | undefined, done: Done) {
      done(Object.assign(new Error('no'), { returnCode: 5, ...refusal }), false);
    },
  };
  const metricsRegistry = new MetricsRegistry();
  const guard = installConnectGuard(broker as unknown as Aedes, {
    policy: { connectPerClientId: { perSecond: 0.001, burst: 1 }, connectPerSourceAddress: { perSecond: 1e6, burst: 1e6 }, ban: { refusals: 2, windowMs: 60_000, banMs: 600_000 } },
    bans: new InMemoryConnectBanStore(), audit: trail, metrics: createBrokerMetrics(metricsRegistry), metricsRegistry,
    logger: pino({ level: 'silent' }), tenantOf: () => undefined,
  });
  const connect = (clientId: string, address: string) => new Promise<Error | null>((resolve) => {
    (broker.authenticate as (c: Client, u: string | undefined, p: Buffer | undefined, d: Done) => void)(
      { id: clientId, conn: { remoteAddress: address } } as unknown as Client, undefined, Buffer.from('junk'), (error) => resolve(error));
  });
  return { guard, connect };
};

test('a storm of bans for random client ids writes a bounded number of audit entries, the rest summed with their count', async () => {
  const trail = new InMemoryAuditTrail();
  const { guard, connect } = guardedBroker(trail);
  await guard.start();
  const BANS = MAX_BAN_ENTRIES_PER_MINUTE + 150;
  for (let i = 0; i < BANS; i += 1) {
    // A trust refusal, then one over the rate: two refusals, a ban.
    await connect(`acme_random-${i}`, '198.51.100.7');
    await connect(`acme_random-${i}`, '198.51.100.7');
  }
  await guard.close();
  const banned = trail.entries.filter((entry) => entry.action === 'mqtt.clientBanned');
  // The minute may turn during the storm: at most the cap per minute, plus one summary per minute.
  assert.ok(banned.length <= 2 * (MAX_BAN_ENTRIES_PER_MINUTE + 1), `${banned.length} ban entries for ${BANS} bans`);
  assert.equal(banned.reduce((sum, entry) => sum + (entry.target === 'ban:*' ? entry.count ?? 0 : 1), 0), BANS, 'every ban is accounted for');
  assert.ok(banned.some((entry) => entry.target === 'ban:*'), 'positive control: the storm passed the cap');
  assert.ok(banned.filter((entry) => entry.target !== 'ban:*').every((entry) => /^ban:[0-9a-f]{24}$/.test(entry.target)));
});

test('refusals by a ban stay in the tenant\'s trail for as long as the ban lasts, also after the limiter forgot the idle subject', async () => {
  mock.timers.enable({ apis: ['Date', 'setInterval'], now: Date.UTC(2026, 11, 3, 3, 0, 0) });
  try {
    const trail = new InMemoryAuditTrail();
    // A certificate of acme's CA, revoked, under acme's client id: the refusals prove acme.
    const { guard, connect } = guardedBroker(trail, { reason: 'mqtt.certificateRevoked', issuerTenant: 'acme' });
    await guard.start();
    await connect('acme_pump-7', '10.0.0.7');
    await connect('acme_pump-7', '10.0.0.7');
    assert.equal((await guard.bans.list('acme' as never)).length, 1, 'banned, as acme\'s');
    // Two minutes on (the ban lasts one more): the limiter has swept the idle subject meanwhile.
    mock.timers.tick(120_000);
    await connect('acme_pump-7', '10.0.0.7');
    await guard.close();
    const banned = trail.entries.filter((entry) => entry.action === 'mqtt.connectRefused' && entry.reason === 'mqtt.clientBanned');
    assert.equal(banned.reduce((sum, entry) => sum + (entry.count ?? 0), 0), 1, 'positive control: the banned attempt is recorded');
    assert.deepEqual(banned.map((entry) => entry.tenant), ['acme']);
  } finally {
    mock.timers.reset();
  }
});
