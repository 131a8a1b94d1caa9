import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { caCertificateStoreContract } from '../../test/support/ca-certificate-store-contract.ts';
import { KyselyCaCertificateStore } from './kysely-ca-certificate-store.ts';
import { openDatabase } from './open-database.ts';

// A file, not :memory:, so WAL and the real locking are what is tested.
caCertificateStoreContract('Kysely on SQLite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'trustgate-store-'));
  const db = await openDatabase({ url: `sqlite:${join(dir, 'test.db')}` });
  return {
    store: new KyselyCaCertificateStore(db),
    close: async () => {
      await db.destroy();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
