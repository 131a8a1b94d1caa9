import { agentCertificateStoreContract } from '../../test/support/agent-certificate-store-contract.ts';
import { InMemoryAgentCertificateStore } from './in-memory-agent-certificate-store.ts';

agentCertificateStoreContract('in memory', async () => ({ agentCertificates: new InMemoryAgentCertificateStore(), close: async () => {} }));
