import { createRegistry, InMemoryAgentStore, InMemoryCaCertificateStore, TrustIndex, type RegistryEvent } from '../../src/registry/index.ts';
import type { Clock } from '../../src/shared/index.ts';

// A registry on the in-memory store with a settable clock and a recorded event log.
export const registryFixture = (options: { now?: Date; maxCaCertificatesPerTenant?: number } = {}) => {
  let now = options.now ?? new Date();
  const clock: Clock = { now: () => new Date(now) };
  const events: RegistryEvent[] = [];
  const caCertificates = new InMemoryCaCertificateStore();
  const agents = new InMemoryAgentStore();
  const trustIndex = new TrustIndex();
  const registry = createRegistry({
    caCertificates,
    agents,
    trustIndex,
    events: { publish: (event) => { events.push(event); } },
    clock,
    settings: { maxCaCertificatesPerTenant: options.maxCaCertificatesPerTenant ?? 2, clockSkewMs: 300_000 },
  });
  return { registry, events, caCertificates, agents, trustIndex, setNow: (date: Date) => { now = date; } };
};
