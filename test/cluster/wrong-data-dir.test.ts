import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadDevSigningKey, mintDevToken } from '../../src/auth/index.ts';
import { newTenant } from '../support/api-helpers.ts';
import { callApi, spawnServer, type SpawnedServer } from '../support/spawn-server.ts';
import { createTestDatabaseUrl, type TestDatabase } from '../support/test-databases.ts';
import { describeNeeding } from '../support/test-services.ts';

// Issue 12, item 6: a node started on a PostgreSQL database with another data dir than the one the
// database was written with (an empty one against a restored database) used to answer ready, refuse
// every token of the other nodes (401) and answer 500 on POST /agentCertificates (the managed CA
// sealed with another key). It now refuses to start (exit code 78, the configuration's) with a
// message naming the data dir and TRUSTGATE_DATA_DIR, and creates no key of its own.

const CONFIG_EXIT = 78;
const DEV_SIGNING_KEY_FILE = 'dev-token-signing-key.json';

describeNeeding('postgres')('a node started with a data dir that does not belong to its database', { timeout: 120_000 }, () => {
  let database: TestDatabase;
  const dirs: string[] = [];
  const tempDir = async (label: string): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), `trustgate-${label}-`));
    dirs.push(dir);
    return dir;
  };
  const servers: SpawnedServer[] = [];
  const start = async (dataDir: string): Promise<SpawnedServer> => {
    const server = await spawnServer({ dataDir, env: { TRUSTGATE_DATABASE_URL: database.url }, startTimeoutMs: 45_000 });
    servers.push(server);
    return server;
  };
  /** Starts a node expected to refuse: answers its error. */
  const refusedStart = async (dataDir: string): Promise<string> => {
    try {
      await start(dataDir);
    } catch (error) {
      return (error as Error).message;
    }
    assert.fail(`a node with data dir ${dataDir} started`);
  };
  const issueAgentCertificate = async (server: SpawnedServer, dataDir: string, tenant: string) => {
    const token = await mintDevToken((await loadDevSigningKey(dataDir))!, { tenant, scopes: ['mcmqtt.admin'], ttlSeconds: 600 });
    return callApi(server.apiUrl, token, '/agentCertificates', { name: `pump-${Date.now()}` });
  };

  before(async () => {
    database = await createTestDatabaseUrl('postgres');
  });
  after(async () => {
    for (const server of servers) await server.kill9();
    await database?.drop();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('refuses to start (exit 78, naming the data dir), creates no key, and the right data dir still works', async () => {
    const dataDirA = await tempDir('dir-a');
    const tenant = newTenant('dd');
    const first = await start(dataDirA);
    const created = await issueAgentCertificate(first, dataDirA, tenant);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(await first.stop(), 0);

    // An empty data dir: neither the token key nor the sealing key of the database.
    const dataDirB = await tempDir('dir-b');
    const emptyRefusal = await refusedStart(dataDirB);
    assert.match(emptyRefusal, new RegExp(`exited \\(code ${CONFIG_EXIT}`));
    assert.ok(emptyRefusal.includes(`The data dir ${dataDirB} (TRUSTGATE_DATA_DIR) does not belong to this database`), emptyRefusal);
    assert.match(emptyRefusal, /dev token signing key/);
    assert.deepEqual((await readdir(dataDirB)).filter((file) => file.endsWith('.key') || file.endsWith('.json')), [],
      'the refused node created no token key and no sealing key');

    // The right token key but no sealing key: refused for the managed CAs.
    const dataDirC = await tempDir('dir-c');
    await copyFile(join(dataDirA, DEV_SIGNING_KEY_FILE), join(dataDirC, DEV_SIGNING_KEY_FILE));
    const sealingRefusal = await refusedStart(dataDirC);
    assert.match(sealingRefusal, new RegExp(`exited \\(code ${CONFIG_EXIT}`));
    assert.ok(sealingRefusal.includes(`The data dir ${dataDirC} (TRUSTGATE_DATA_DIR) does not belong to this database`), sealingRefusal);
    assert.match(sealingRefusal, /managed CA sealing key/);

    // The data dir the database was written with still starts, and its managed CA still signs.
    const again = await start(dataDirA);
    const reissued = await issueAgentCertificate(again, dataDirA, tenant);
    assert.equal(reissued.status, 201, JSON.stringify(reissued.body));
    assert.equal(await again.stop(), 0);
  });
});
