import { caCertificateStoreContract } from '../../test/support/ca-certificate-store-contract.ts';
import { InMemoryCaCertificateStore } from './in-memory-ca-certificate-store.ts';

caCertificateStoreContract('in memory', async () => ({ store: new InMemoryCaCertificateStore(), close: async () => {} }));
