import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { createCa, issueCertificate } from '../../test/support/test-pki.ts';
import {
  createRegistry, InMemoryAuditTrail, InMemoryRevocationStore, InMemoryAgentCertificateStore, InMemoryAgentStore, InMemoryCaCertificateStore, InMemoryManagedCaStore, TrustIndex,
  type CaCertificateRecord, type RegistryEvent, type StoredRecord,
} from '../registry/index.ts';
import { isDomainError, systemClock, type CaCertificateId, type TenantId } from '../shared/index.ts';
import { LocalEventBus } from './local-event-bus.ts';

const event: RegistryEvent = { type: 'caCertificateVerified', tenant: 'acme' as TenantId, caCertificateId: '0123456789abcdef01234567' as CaCertificateId };
const stored = { kind: 'caCertificate', record: { id: event.caCertificateId } as CaCertificateRecord } as StoredRecord;

describe('LocalEventBus', () => {
  test('delivers the event and the stored record to every listener in order; a failing listener is reported and the rest still run', async () => {
    const errors: unknown[] = [];
    const bus = new LocalEventBus((error) => errors.push(error));
    const heard: string[] = [];
    bus.subscribe(() => { heard.push('first'); throw new Error('boom'); });
    bus.subscribe((received, record) => { heard.push('second'); assert.equal(received, event); assert.equal(record, stored); });
    await bus.publish(event, stored);
    assert.deepEqual(heard, ['first', 'second']);
    assert.equal(errors.length, 1);
  });

  test('a single node: nothing to start, catch up with, resync from or report to /readyz', async () => {
    const bus = new LocalEventBus(() => assert.fail('no listener failed'));
    let resyncs = 0;
    bus.onResync(() => { resyncs += 1; });
    await bus.start();
    assert.equal(await bus.catchUp(1000), false, 'asking the trust index again would give the same answer');
    assert.equal(bus.readiness(), undefined);
    await bus.close();
    assert.equal(resyncs, 0);
  });
  // Issue 11 review: the catch-up moved from the app (cluster only) into the registry (every
  // node). A single node must still refuse an agent of an unknown CA at once: waiting up to the
  // 1 s bound on every such CONNECT would be a free delay an attacker could pile up.
  test('a single node refuses an agent of an unknown or unverified CA at once: no catch-up wait', async () => {
    const trustIndex = new TrustIndex();
    const registry = createRegistry({
      caCertificates: new InMemoryCaCertificateStore(), agents: new InMemoryAgentStore(), managedCas: new InMemoryManagedCaStore(),
      agentCertificates: new InMemoryAgentCertificateStore(), revocations: new InMemoryRevocationStore(), trustIndex, events: new LocalEventBus(() => undefined), clock: systemClock, audit: new InMemoryAuditTrail(),
      settings: { maxCaCertificatesPerTenant: 2, clockSkewMs: 300_000 },
    });
    const ca = await createCa({ subject: 'CN=acme-ca' });
    const agent = await issueCertificate(ca, { subject: 'CN=pump-1' });
    const refusalOf = async () => {
      const started = performance.now();
      const code = await registry.admitAgent({ certificateDer: agent.certificateDer, clientId: 'acme_pump-1', sessionId: randomUUID() })
        .then(() => 'admitted', (error: unknown) => (isDomainError(error) ? error.code : String(error)));
      return { code, ms: performance.now() - started };
    };
    const unknown = await refusalOf();
    trustIndex.upsert({ id: 'ca-1' as CaCertificateId, tenant: 'acme' as TenantId, isVerified: false, certificatePem: ca.certificatePem });
    const unverified = await refusalOf();
    assert.deepEqual([unknown.code, unverified.code], ['mqtt.unknownCa', 'mqtt.caNotVerified']);
    assert.ok(unknown.ms < 250 && unverified.ms < 250, `refused at once, not after the 1 s bound: ${unknown.ms.toFixed(0)} ms, ${unverified.ms.toFixed(0)} ms`);
  });
});
