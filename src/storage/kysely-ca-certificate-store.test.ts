import { caCertificateStoreContract } from '../../test/support/ca-certificate-store-contract.ts';
import { openTestDatabase, testDialects } from '../../test/support/test-databases.ts';
import { KyselyCaCertificateStore } from './kysely-ca-certificate-store.ts';
import { openDatabase } from './open-database.ts';

for (const dialect of testDialects) {
  caCertificateStoreContract(`Kysely on ${dialect}`, async () => {
    const { db, url, close } = await openTestDatabase(dialect);
    if (dialect === 'sqlite') return { store: new KyselyCaCertificateStore(db), close };
    // PostgreSQL serves several nodes: a second pool on the same database stands for another node.
    const peerDb = await openDatabase({ url });
    return {
      store: new KyselyCaCertificateStore(db),
      peer: new KyselyCaCertificateStore(peerDb),
      close: async () => {
        await peerDb.destroy();
        await close();
      },
    };
  });
}
