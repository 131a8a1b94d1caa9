import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentCertificateStoreContract } from '../../test/support/agent-certificate-store-contract.ts';
import { KyselyAgentCertificateStore } from './kysely-agent-certificate-store.ts';
import { openDatabase } from './open-database.ts';

// A file, not :memory:, so WAL and the real locking are what is tested.
agentCertificateStoreContract('Kysely on SQLite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'trustgate-store-'));
  const db = await openDatabase({ url: `sqlite:${join(dir, 'test.db')}` });
  return {
    agentCertificates: new KyselyAgentCertificateStore(db),
    close: async () => {
      await db.destroy();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
