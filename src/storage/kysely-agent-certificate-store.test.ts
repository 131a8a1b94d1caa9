import { agentCertificateStoreContract } from '../../test/support/agent-certificate-store-contract.ts';
import { openTestDatabase, runsOn, testDialects } from '../../test/support/test-databases.ts';
import { KyselyAgentCertificateStore } from './kysely-agent-certificate-store.ts';

for (const dialect of testDialects) {
  if (runsOn(dialect, `Kysely on ${dialect}`)) agentCertificateStoreContract(`Kysely on ${dialect}`, async () => {
    const { db, close } = await openTestDatabase(dialect);
    return { agentCertificates: new KyselyAgentCertificateStore(db), close };
  });
}
