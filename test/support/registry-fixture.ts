import {
  applyToTrustIndex, createRegistry, InMemoryAgentCertificateStore, InMemoryAuditTrail, InMemoryAgentStore, InMemoryCaCertificateStore, InMemoryManagedCaStore, InMemoryRevocationStore,
  TrustIndex, type RegistryEvent,
} from '../../src/registry/index.ts';
import type { Clock } from '../../src/shared/index.ts';

// A registry on the in-memory stores with a settable clock and a recorded event log. The trust
// index follows the events (with the stored record in hand), as the registry's event follower does.
export const registryFixture = (options: { now?: Date; maxCaCertificatesPerTenant?: number } = {}) => {
  let now = options.now ?? new Date();
  const clock: Clock = { now: () => new Date(now) };
  const events: RegistryEvent[] = [];
  const caCertificates = new InMemoryCaCertificateStore();
  const agents = new InMemoryAgentStore();
  const managedCas = new InMemoryManagedCaStore();
  const agentCertificates = new InMemoryAgentCertificateStore();
  const revocations = new InMemoryRevocationStore();
  const trustIndex = new TrustIndex();
  const audit = new InMemoryAuditTrail();
  const registry = createRegistry({
    caCertificates,
    agents,
    managedCas,
    agentCertificates,
    revocations,
    trustIndex,
    events: {
      publish: async (event, stored) => {
        events.push(event);
        await applyToTrustIndex(trustIndex, { caCertificates, managedCas, agentCertificates, revocations }, event, stored);
      },
      // One node: nothing to catch up with.
      catchUp: async () => false,
    },
    clock,
    audit,
    settings: { maxCaCertificatesPerTenant: options.maxCaCertificatesPerTenant ?? 2, clockSkewMs: 300_000 },
  });
  return { registry, events, audit, caCertificates, agents, managedCas, agentCertificates, revocations, trustIndex, setNow: (date: Date) => { now = date; } };
};
