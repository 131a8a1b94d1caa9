import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { Registry as MetricsRegistry } from 'prom-client';
import { DomainError } from '../../src/shared/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import { startMqttBroker } from '../../src/mqtt/index.ts';
import { InMemoryAuditTrail } from '../../src/registry/index.ts';
import { connectClient } from '../support/broker-helpers.ts';
import { registryFixture } from '../support/registry-fixture.ts';
import { createCa, issueCertificate } from '../support/test-pki.ts';

// What the broker gives the audit trail (issue 16): refused connections aggregated per client id
// and reason per minute with a count (written at the latest when the broker closes), the ban with
// the refusals that earned it. A broker of its own with an in-memory trail: the database trail is
// the audit module's.

test('a storm of refusals becomes a few counted audit entries and one ban entry', async () => {
  const brokerCa = await createCa({ subject: 'CN=audit test broker CA' });
  const server = await issueCertificate(brokerCa, { subject: 'CN=localhost', extendedKeyUsage: 'serverAuth' });
  const trail = new InMemoryAuditTrail();
  const broker = await startMqttBroker({
    registry: registryFixture().registry,
    tokens: { verify: async () => { throw new DomainError('auth.tokenInvalid', 'no tokens here'); } },
    logger: pino({ level: 'silent' }), metrics: new MetricsRegistry(), host: '127.0.0.1', port: 0, nodeId: 'audit',
    quotas: loadConfig({}).mqtt,
    tls: { certificateChainPem: server.certificatePem, privateKeyPem: server.privateKeyPem },
    connectLimits: { connectPerClientId: { perSecond: 0.001, burst: 2 }, connectPerSourceAddress: { perSecond: 1000, burst: 1000 }, ban: { refusals: 3, windowMs: 60_000, banMs: 60_000 } },
    audit: trail,
  });
  let closed = false;
  try {
    const unknown = await issueCertificate(await createCa(), { subject: 'CN=pump-7' });
    const codes: (number | undefined)[] = [];
    for (let i = 0; i < 6; i += 1) {
      codes.push(await connectClient(`mqtts://localhost:${broker.port}`, {
        ca: brokerCa.certificatePem, cert: unknown.certificatePem, key: unknown.privateKeyPem, clientId: 'acme_pump-7', reconnectPeriod: 0, protocolVersion: 4,
      }, 'pump-7').then(() => undefined, (error: { code?: number }) => error.code));
    }
    // Two trust refusals (the burst), the third over the rate (banned with it), three banned.
    assert.deepEqual(codes, [5, 5, 3, 3, 3, 3]);
    await broker.close();
    closed = true;
    const refused = trail.entries.filter((entry) => entry.action === 'mqtt.connectRefused');
    const counts = Object.fromEntries(refused.map((entry) => [entry.reason, entry.count]));
    // One minute boundary may fall inside the storm: counts are summed over entries.
    const total = (reason: string) => refused.filter((entry) => entry.reason === reason).reduce((sum, entry) => sum + (entry.count ?? 0), 0);
    assert.equal(total('mqtt.unknownCa'), 2, JSON.stringify(counts));
    assert.equal(total('mqtt.connectRateLimited'), 1);
    assert.equal(total('mqtt.clientBanned'), 3);
    assert.ok(refused.length <= 6, 'aggregated, not one entry per attempt');
    for (const entry of refused) {
      assert.equal(entry.target, 'clientId:acme_pump-7');
      assert.equal(entry.tenant, undefined, 'an unknown CA proves no tenant');
      assert.equal(entry.sourceAddress, '127.0.0.1');
    }
    const bans = trail.entries.filter((entry) => entry.action === 'mqtt.clientBanned');
    assert.equal(bans.length, 1);
    assert.equal(bans[0]!.reason, 'mqtt.unknownCa');
    assert.equal(bans[0]!.count, 3);
    assert.match(bans[0]!.target, /^ban:[0-9a-f]{24}$/);
  } finally {
    if (!closed) await broker.close();
  }
});
