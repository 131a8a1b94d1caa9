import type { RegistryEvent } from './events.ts';
import type { CaCertificateStore } from './ports.ts';
import type { TrustIndex } from './trust-index.ts';

export const loadTrustIndex = async (index: TrustIndex, caCertificates: CaCertificateStore): Promise<void> => {
  for (const record of await caCertificates.listAll()) index.upsert(record);
};

// Keeps the index equal to the store: events carry ids, the record is read back, so a node that
// receives the event from another node (cluster bus) ends up with the same state.
export const applyToTrustIndex = async (index: TrustIndex, caCertificates: CaCertificateStore, event: RegistryEvent): Promise<void> => {
  switch (event.type) {
    case 'caCertificateRegistered':
    case 'caCertificateVerified': {
      const record = await caCertificates.find(event.tenant, event.caCertificateId);
      if (record) index.upsert(record);
      else index.remove(event.caCertificateId);
      return;
    }
    case 'caCertificateDeleted':
      index.remove(event.caCertificateId);
      return;
    default:
      return;
  }
};
