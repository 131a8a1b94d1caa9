import type { RegistryEvent } from './events.ts';
import type { AgentCertificateStore, CaCertificateStore, ManagedCaStore } from './ports.ts';
import type { TrustIndex } from './trust-index.ts';

/** The stores the trust index is loaded from and reads records back from. */
export interface TrustSources {
  readonly caCertificates: CaCertificateStore;
  readonly managedCas: ManagedCaStore;
  readonly agentCertificates: AgentCertificateStore;
}

export const loadTrustIndex = async (index: TrustIndex, sources: TrustSources, now: Date): Promise<void> => {
  for (const record of await sources.caCertificates.listAll()) index.upsert(record);
  for (const ca of await sources.managedCas.listAll()) index.upsertManagedCa(ca);
  for (const fingerprint of await sources.agentCertificates.listRevokedFingerprints(now)) index.revoke(fingerprint);
};

// Keeps the index equal to the store: events carry ids, the record is read back, so a node that
// receives the event from another node (cluster bus) ends up with the same state. A revocation is
// final and carries its fingerprint, so it needs no read-back.
export const applyToTrustIndex = async (index: TrustIndex, sources: TrustSources, event: RegistryEvent): Promise<void> => {
  switch (event.type) {
    case 'caCertificateRegistered':
    case 'caCertificateVerified': {
      const record = await sources.caCertificates.find(event.tenant, event.caCertificateId);
      if (record) index.upsert(record);
      else index.remove(event.caCertificateId);
      return;
    }
    case 'caCertificateDeleted':
      index.remove(event.caCertificateId);
      return;
    case 'managedCaCreated': {
      // The certificate only: keeping trust current never needs the CA's (sealed) private key.
      const ca = await sources.managedCas.find(event.tenant);
      if (ca) index.upsertManagedCa(ca);
      return;
    }
    case 'agentCertificateRevoked':
      index.revoke(event.fingerprintSha256);
      return;
    default:
      return;
  }
};
