import type { Kysely } from 'kysely';
import { createRegistry, InMemoryAuditTrail, TrustIndex, type Registry } from '../../src/registry/index.ts';
import { systemClock } from '../../src/shared/index.ts';
import {
  KyselyAgentCertificateStore, KyselyAgentStore, KyselyCaCertificateStore, KyselyManagedCaStore, KyselyRevocationStore, type Database,
} from '../../src/storage/index.ts';

const noManagedCa = (): never => {
  throw new Error('an offline registry creates no managed CAs (it has no sealing key)');
};

/** The registry's use cases on a data dir's database while no server runs there: for seeding many
 *  tenants' CAs faster than through HTTP (bench/lib/seed-data-dir.ts, test/broker/trust-index-scale). */
export const createOfflineRegistry = (db: Kysely<Database>): Registry => createRegistry({
  caCertificates: new KyselyCaCertificateStore(db),
  agents: new KyselyAgentStore(db),
  managedCas: new KyselyManagedCaStore(db, { seal: noManagedCa, open: noManagedCa }),
  agentCertificates: new KyselyAgentCertificateStore(db),
  revocations: new KyselyRevocationStore(db),
  trustIndex: new TrustIndex(),
  events: { publish: () => undefined, catchUp: async () => false },
  clock: systemClock,
  // Seeding has no log to write to; the stores still write each change's audit row (actor: trustgate).
  audit: new InMemoryAuditTrail(),
  settings: { maxCaCertificatesPerTenant: 2, clockSkewMs: 300_000 },
});
