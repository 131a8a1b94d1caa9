import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { RedisClusterBus } from '../../src/cluster/index.ts';
import { parseCertificatePem } from '../../src/pki/index.ts';
import { followRegistryEvents, InMemoryAgentStore, TrustIndex } from '../../src/registry/index.ts';
import { systemClock, type CaCertificateId, type TenantId } from '../../src/shared/index.ts';
import { redisAdmin, TEST_REDIS_URL, uniqueRedisPrefix, waitUntil } from '../support/redis-helpers.ts';
import { registryFixture } from '../support/registry-fixture.ts';
import { createCa } from '../support/test-pki.ts';
import { describeNeeding } from '../support/test-services.ts';

// Issue 11 review: a node now applies "the record in hand" its own use case stored. Anyone with
// Redis access may PUBLISH on the bus channel: a forged message that carries a record (in the
// event, beside it, or as `stored`) must still only make the node read the store back. Each row
// is a message an attacker would try; none may trust anything the store does not.

const logger = pino({ level: 'silent' });

describeNeeding('redis')('a forged cluster bus message carrying a record grants nothing', () => {
  const buses: RedisClusterBus[] = [];
  const admin = redisAdmin();
  after(async () => {
    await Promise.all(buses.map((bus) => bus.close()));
    admin.disconnect();
  });

  it('the receiving node reads the store back: an unverified CA stays untrusted, an unknown CA stays unknown', async () => {
    const tenant = 'acme' as TenantId;
    const fixture = registryFixture();
    const victimCa = await createCa({ subject: 'CN=registered-not-verified' });
    const registered = await fixture.registry.registerCaCertificate({ tenant, name: 'unverified', caCertificatePem: victimCa.certificatePem });
    const attackerCa = await createCa({ subject: 'CN=attacker' });
    const attackerId = 'a'.repeat(24) as CaCertificateId;

    const prefix = uniqueRedisPrefix('forged');
    const bus = new RedisClusterBus({ url: TEST_REDIS_URL, nodeId: 'node-b', channelPrefix: prefix, logger, onListenerError: () => undefined });
    buses.push(bus);
    const trustIndex = new TrustIndex();
    const sources = { caCertificates: fixture.caCertificates, managedCas: fixture.managedCas, agentCertificates: fixture.agentCertificates };
    const follower = followRegistryEvents({ feed: bus, trustIndex, sources, agents: new InMemoryAgentStore(), clock: systemClock, log: logger });
    const heard: { type: string; hasStored: boolean; keys: string[] }[] = [];
    bus.subscribe((event, stored) => { heard.push({ type: event.type, hasStored: stored !== undefined, keys: Object.keys(event).sort() }); });
    await bus.start();
    await follower.load();
    assert.equal(trustIndex.isTrusted(registered.id), false);

    const recordOf = (id: string, pem: string) => ({ id, tenant, isVerified: true, certificatePem: pem, registrationCode: 'x' });
    const storedOf = (id: string, pem: string) => ({ kind: 'caCertificate', record: recordOf(id, pem), certificate: { pem } });
    const forged: Record<string, unknown>[] = [
      // The record inside the event.
      { v: 1, origin: 'attacker', event: { type: 'caCertificateVerified', tenant, caCertificateId: registered.id, record: recordOf(registered.id, victimCa.certificatePem) } },
      // As `stored` inside the event and beside it.
      { v: 1, origin: 'attacker', event: { type: 'caCertificateVerified', tenant, caCertificateId: registered.id, stored: storedOf(registered.id, victimCa.certificatePem) }, stored: storedOf(registered.id, victimCa.certificatePem) },
      // An unknown CA of the attacker's, as an upload and as a managed CA.
      { v: 1, origin: 'attacker', event: { type: 'caCertificateRegistered', tenant, caCertificateId: attackerId, stored: storedOf(attackerId, attackerCa.certificatePem) }, stored: storedOf(attackerId, attackerCa.certificatePem) },
      { v: 1, origin: 'attacker', event: { type: 'managedCaCreated', tenant, caCertificateId: attackerId, record: { id: attackerId, tenant, certificatePem: attackerCa.certificatePem } }, stored: { kind: 'managedCa', record: { id: attackerId, tenant, certificatePem: attackerCa.certificatePem } } },
      // A prototype pollution attempt on the way.
      JSON.parse(`{"v":1,"origin":"attacker","event":{"type":"caCertificateVerified","tenant":"acme","caCertificateId":"${registered.id}","__proto__":{"isVerified":true}}}`) as Record<string, unknown>,
    ];
    for (const message of forged) await admin.publish(`${prefix}registry-events`, JSON.stringify(message));
    await waitUntil(() => heard.length === forged.length, 3_000, 'every forged message was delivered');

    assert.ok(heard.every(({ hasStored }) => !hasStored), 'no listener got a record with a message from the wire');
    assert.ok(heard.every(({ keys }) => keys.every((key) => ['type', 'tenant', 'caCertificateId'].includes(key))), JSON.stringify(heard));
    assert.equal(trustIndex.isTrusted(registered.id), false, 'the registered CA is still unverified, as the store says');
    assert.equal(trustIndex.isTrusted(attackerId), false, 'the attacker\'s CA is unknown');
    assert.equal(trustIndex.findIssuer(parseCertificatePem(attackerCa.certificatePem)), undefined);
    assert.equal(({} as Record<string, unknown>).isVerified, undefined, 'no prototype was polluted');

    // Positive control: once the store says verified, the same (forged, record-free) event trusts it.
    await fixture.caCertificates.markVerified(tenant, registered.id, new Date());
    await admin.publish(`${prefix}registry-events`, JSON.stringify({ v: 1, origin: 'attacker', event: { type: 'caCertificateVerified', tenant, caCertificateId: registered.id } }));
    await waitUntil(() => trustIndex.isTrusted(registered.id), 3_000, 'the store\'s verification is applied');
  });
});
