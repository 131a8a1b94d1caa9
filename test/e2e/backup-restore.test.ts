import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { promisify } from 'node:util';
import { after, describe, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { loadDevSigningKey, mintDevToken } from '../../src/auth/index.ts';
import { newTenant } from '../support/api-helpers.ts';
import { cli } from '../support/run-cli.ts';
import { callApi, spawnServer, type SpawnedServer } from '../support/spawn-server.ts';
import { createCa, issueCertificate, type TestCertificate } from '../support/test-pki.ts';
import { createTestDatabaseUrl, type TestDatabase } from '../support/test-databases.ts';
import { waitUntil } from '../support/wait-until.ts';
import { withTimeout } from '../support/with-timeout.ts';
import { testNeeding } from '../support/test-services.ts';

// Issue 14, item 4: backup and restore as docs/deployment.md ("Backup and restore") tells an
// operator. A running node is backed up while it serves (`trustgate backup`: a SQLite snapshot by
// VACUUM INTO and the data dir's files; with PostgreSQL, pg_dump for the database), the backup is
// restored into fresh directories (and a fresh database), and a node started on it still has the
// CAs, agents and managed CA (it issues: the sealing key matches), accepts a token minted before
// the backup, and serves the same broker root CA to agents that connect again.

const execFileAsync = promisify(execFile);
const KEY_FILES = ['broker-root-ca.key', 'broker-root-ca.pem', 'broker-server.key', 'broker-server.pem', 'dev-token-signing-key.json', 'managed-ca-sealing.key'];

const dirs: string[] = [];
const clients = new Set<MqttClient>();
const databases: TestDatabase[] = [];
after(async () => {
  await Promise.all([...clients].map((client) => client.endAsync(true).catch(() => undefined)));
  for (const database of databases) await database.drop();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true, maxRetries: 3 })));
});
const tempDir = async (label: string): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), `trustgate-backup-${label}-`));
  dirs.push(dir);
  return dir;
};

interface Node {
  readonly server: SpawnedServer;
  readonly tenant: string;
  readonly token: string;
  api(path: string, body?: unknown): Promise<{ status: number; body: any }>;
  brokerRootCa(): Promise<string>;
  connect(agent: { certificatePem: string; privateKeyPem: string }, name: string): Promise<MqttClient>;
}

const nodeOf = (server: SpawnedServer, tenant: string, token: string): Node => {
  const brokerRootCa = async () => {
    const answer = await fetch(`${server.url}/broker-ca.pem`, { signal: AbortSignal.timeout(5_000) });
    assert.equal(answer.status, 200);
    return answer.text();
  };
  return {
    server, tenant, token, brokerRootCa,
    api: (path, body) => callApi(server.apiUrl, token, path, body),
    connect: async (agent, name) => {
      const client = await withTimeout(mqtt.connectAsync(`mqtts://127.0.0.1:${server.mqttPort}`, {
        ca: await brokerRootCa(), servername: 'localhost', reconnectPeriod: 0, connectTimeout: 5_000, protocolVersion: 4,
        clientId: `${tenant}_${name}`, cert: agent.certificatePem, key: agent.privateKeyPem,
      }), 7_000, `agent ${name} connecting`);
      clients.add(client);
      return client;
    },
  };
};

const ok = (answer: { status: number; body: any }, status = 200): any => {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  return answer.body;
};

/** What the restored node must show: an uploaded and verified CA, two agents (one per CA), a managed CA. */
interface Populated {
  readonly ca: TestCertificate;
  readonly ownAgent: TestCertificate;
  readonly managedAgent: { certificatePem: string; privateKeyPem: string };
  readonly caCertificates: any[];
  readonly agents: any[];
  readonly agentCertificates: any[];
  readonly managedCaId: string;
  readonly brokerRootCaPem: string;
}

const populate = async (node: Node): Promise<Populated> => {
  const ca = await createCa({ subject: `CN=${node.tenant}-ca` });
  const uploaded = ok(await node.api('/caCertificates', { name: 'plant CA', caCertificate: ca.certificatePem }), 201);
  const { registrationCode } = ok(await node.api(`/caCertificates/${uploaded.id}/registrationCode`));
  const proof = await issueCertificate(ca, { subject: `CN=${registrationCode}`, version: 1 });
  ok(await node.api(`/caCertificates/${uploaded.id}/verify`, { verificationCertificate: proof.certificatePem }));
  const ownAgent = await issueCertificate(ca, { subject: 'CN=pump-1' });
  const issued = ok(await node.api('/agentCertificates', { name: 'valve-1' }), 201);
  const managedAgent = { certificatePem: issued.publicKey, privateKeyPem: issued.privateKey };
  // Agents are onboarded by connecting.
  const connected = [await node.connect(ownAgent, 'pump-1'), await node.connect(managedAgent, 'valve-1')];
  let agents: any[] = [];
  await waitUntil(async () => (agents = ok(await node.api('/agents'))).length === 2 && agents.every((agent) => agent.online), 5_000, 'two agents online');
  for (const client of connected) {
    await client.endAsync();
    clients.delete(client);
  }
  return {
    ca, ownAgent, managedAgent, managedCaId: issued.caCertificateId,
    caCertificates: ok(await node.api('/caCertificates')),
    agents: ok(await node.api('/agents')),
    agentCertificates: ok(await node.api('/agentCertificates')),
    brokerRootCaPem: await node.brokerRootCa(),
  };
};

const byId = (items: any[]) => [...items].sort((a, b) => String(a.id).localeCompare(String(b.id)));
const stable = (agent: any) => ({ id: agent.id, clientId: agent.clientId, caCertificateId: agent.caCertificateId, certificateFingerprint: agent.certificateFingerprint, enabled: agent.enabled });

/** Everything `populate` made is on the restored node, with the token minted before the backup. */
const checkRestored = async (restored: Node, before: Populated): Promise<void> => {
  assert.equal(await restored.brokerRootCa(), before.brokerRootCaPem, 'the same broker root CA: agents keep trusting the broker');
  const caCertificates = ok(await restored.api('/caCertificates'));
  assert.deepEqual(byId(caCertificates), byId(before.caCertificates), 'the CA certificates, verified, as before (the token minted before the backup is accepted)');
  const agents = ok(await restored.api('/agents'));
  assert.deepEqual(byId(agents).map(stable), byId(before.agents).map(stable), 'the same agents, same ids');
  const agentCertificates = ok(await restored.api('/agentCertificates'));
  for (const certificate of before.agentCertificates) {
    assert.ok(agentCertificates.some((restoredOne: any) => restoredOne.id === certificate.id && restoredOne.fingerprint === certificate.fingerprint),
      `agent certificate ${certificate.name} restored`);
  }
  // The managed CA signs again: the restored sealing key opens its private key.
  const issued = ok(await restored.api('/agentCertificates', { name: 'after-restore' }), 201);
  assert.equal(issued.caCertificateId, before.managedCaId, 'issued by the same managed CA');
  // Agents of both CAs connect to the restored node with their old certificates and root.
  await restored.connect(before.ownAgent, 'pump-1');
  await restored.connect(before.managedAgent, 'valve-1');
  await restored.connect({ certificatePem: issued.publicKey, privateKeyPem: issued.privateKey }, 'after-restore');
};

const startNode = async (t: { after(fn: () => unknown): void }, dataDir: string, env: Record<string, string>, tenant: string, token?: string): Promise<Node> => {
  const server = await spawnServer({ dataDir, env, t });
  const key = await loadDevSigningKey(dataDir);
  assert.ok(key);
  return nodeOf(server, tenant, token ?? await mintDevToken(key, { tenant, scopes: ['mcmqtt.admin'], ttlSeconds: 3600 }));
};

/** `trustgate backup --out <dir>` with the server's settings. */
const backUp = async (dataDir: string, out: string, env: Record<string, string> = {}) => {
  const result = await cli(['backup', '--out', out, '--json'], { env: { TRUSTGATE_DATA_DIR: dataDir, ...env } });
  assert.equal(result.code, 0, `trustgate backup: ${result.stderr}`);
  return JSON.parse(result.stdout);
};

describe('backup and restore (docs/deployment.md)', { timeout: 120_000 }, () => {
  test('SQLite: `trustgate backup` of a node while it serves and writes, restored into a fresh data dir', async (t) => {
    const dataDir = await tempDir('sqlite');
    const tenant = newTenant('bk');
    const original = await startNode(t, dataDir, {}, tenant);
    const before = await populate(original);

    // The node keeps writing while the backup runs: the snapshot is consistent, whatever it caught.
    const backupDir = join(await tempDir('sqlite-out'), 'backup');
    let writing = true;
    const written: string[] = [];
    const writer = (async () => {
      for (let i = 0; writing; i++) written.push(ok(await original.api('/agentCertificates', { name: `during-${i}` }), 201).id);
    })();
    await waitUntil(() => written.length >= 2, 10_000, 'writes under way');
    const summary = await backUp(dataDir, backupDir);
    writing = false;
    await writer;
    t.diagnostic(`backup of ${summary.database.bytes} bytes while ${written.length} agent certificates were being issued`);
    assert.equal(summary.database.kind, 'sqlite');
    assert.deepEqual([...summary.files].sort(), KEY_FILES);
    assert.deepEqual((await readdir(backupDir)).sort(), [...KEY_FILES, 'trustgate.db'].sort());
    assert.deepEqual((await readdir(dataDir)).filter((file) => !/^trustgate\.db-(wal|shm)$/.test(file)).sort(), (await readdir(backupDir)).sort(),
      'the backup holds every file the running node keeps in its data dir');
    assert.equal((await stat(backupDir)).mode & 0o777, 0o700);
    for (const file of ['broker-root-ca.key', 'broker-server.key', 'dev-token-signing-key.json', 'managed-ca-sealing.key']) {
      assert.equal((await stat(join(backupDir, file))).mode & 0o777, 0o600, `${file} stays private`);
    }
    const snapshot = new DatabaseSync(join(backupDir, 'trustgate.db'), { readOnly: true });
    assert.equal((snapshot.prepare('PRAGMA integrity_check').get() as { integrity_check: string }).integrity_check, 'ok');
    const inSnapshot = (snapshot.prepare('SELECT count(*) AS n FROM agent_certificates').get() as { n: number }).n;
    snapshot.close();

    const after = ok(await original.api('/agentCertificates', { name: 'after-backup' }), 201);
    assert.equal(await original.server.stop(), 0);

    // Restore: the backup's files into a fresh data dir, then start.
    const restoredDir = await tempDir('sqlite-restored');
    await cp(backupDir, restoredDir, { recursive: true });
    const restored = await startNode(t, restoredDir, {}, tenant, original.token);
    await checkRestored(restored, before);
    const certificates = ok(await restored.api('/agentCertificates'));
    assert.equal(certificates.some((certificate: any) => certificate.id === after.id), false, 'what was written after the backup is not in it');
    assert.equal(certificates.length, inSnapshot + 1, 'the snapshot\'s agent certificates, and the one just issued');
    assert.ok(certificates.filter((certificate: any) => written.includes(certificate.id)).length >= 2, 'the writes before the backup are in it');
    assert.equal(await restored.server.stop(), 0);
  });

  testNeeding('postgres')('PostgreSQL: pg_dump and `trustgate backup` (the data dir\'s files), restored into a fresh database and data dir', async (t) => {
    const [{ stdout: pgDumpVersion }] = await Promise.all([execFileAsync('pg_dump', ['--version'])]);
    const source = await createTestDatabaseUrl('postgres');
    databases.push(source);
    const { stdout: serverVersion } = await execFileAsync('psql', ['-Atc', 'SHOW server_version_num', source.url]);
    const dumpMajor = Number(/(\d+)\.\d+/.exec(pgDumpVersion)![1]);
    assert.ok(dumpMajor >= Math.floor(Number(serverVersion.trim()) / 10_000), `pg_dump ${pgDumpVersion.trim()} is older than the server (${serverVersion.trim()})`);

    const dataDir = await tempDir('pg');
    const tenant = newTenant('bkpg');
    const env = { TRUSTGATE_DATABASE_URL: source.url };
    const original = await startNode(t, dataDir, env, tenant);
    const before = await populate(original);

    const backupDir = join(await tempDir('pg-out'), 'backup');
    const summary = await backUp(dataDir, backupDir, env);
    assert.deepEqual(summary.database, { kind: 'postgres' });
    assert.deepEqual((await readdir(backupDir)).sort(), KEY_FILES, 'the data dir\'s files, no database file');
    const dump = join(backupDir, 'trustgate.pgdump');
    await execFileAsync('pg_dump', ['--format=custom', '--no-owner', `--file=${dump}`, `--dbname=${source.url}`]);
    assert.equal(await original.server.stop(), 0);

    const target = await createTestDatabaseUrl('postgres');
    databases.push(target);
    await execFileAsync('pg_restore', ['--no-owner', '--exit-on-error', `--dbname=${target.url}`, dump]);
    const restoredDir = await tempDir('pg-restored');
    await cp(backupDir, restoredDir, { recursive: true, filter: (path) => !path.endsWith('.pgdump') });
    const restored = await startNode(t, restoredDir, { TRUSTGATE_DATABASE_URL: target.url }, tenant, original.token);
    await checkRestored(restored, before);
    assert.equal(await restored.server.stop(), 0);
  });
});
