import { managedCaStoreContract } from '../../test/support/agent-certificate-store-contract.ts';
import { InMemoryManagedCaStore } from './in-memory-managed-ca-store.ts';

managedCaStoreContract('in memory', async () => ({ managedCas: new InMemoryManagedCaStore(), close: async () => {} }));
