import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { killAllSpawnedServers, spawnServer, TRUSTGATE_BIN, type SpawnedServer } from '../support/spawn-server.ts';
import { waitUntil } from '../support/wait-until.ts';
import { makeTempDir, removeDir, runOk } from './e2e-helpers.ts';

// Issue 13, item 3: an agent that came back with another certificate, or one of its tenant's other
// CA, was admitted and its record switched CA and fingerprint without a word in the log. Now the
// server logs one info line with the client id and the old and new CA id and fingerprint.

const fingerprintOf = async (file: string): Promise<string> =>
  new X509Certificate(await readFile(file)).fingerprint256.replaceAll(':', '').toLowerCase();

describe('an agent reconnecting with another certificate', { timeout: 180_000 }, () => {
  let server: SpawnedServer | undefined;
  const dirs: string[] = [];

  after(async () => {
    try {
      await server?.stop('SIGTERM');
    } finally {
      await killAllSpawnedServers();
      await Promise.all(dirs.map(removeDir));
    }
  });

  test('is logged at info: renewed by the same CA, then issued by the tenant\'s other CA; the same certificate again is not', async () => {
    const dataDir = await makeTempDir('switch-data');
    const work = await makeTempDir('switch-work');
    dirs.push(dataDir, work);
    server = await spawnServer({ dataDir, startTimeoutMs: 60_000 });
    const env = { ...process.env, TRUSTGATE_DATA_DIR: dataDir, TRUSTGATE_URL: server.url };
    const cli = async (...args: string[]) => (await runOk(TRUSTGATE_BIN, ['--json', ...args], { cwd: work, env })).stdout;
    const caIds: Record<string, string> = {};
    for (const dir of ['first', 'second']) {
      await cli('ca', 'create', '--tenant', 'acme', '--out-dir', dir);
      caIds[dir] = JSON.parse(await cli('ca', 'register', '--cert', `${dir}/acme-ca.pem`, '--key', `${dir}/acme-ca.key`, '--name', `acme ${dir} CA`, '--tenant', 'acme')).id;
    }
    await cli('broker-ca', '--out', 'broker-ca.pem');
    const issue = (dir: string) => cli('agent', 'issue', '--name', 'pump-1', '--ca-cert', `${dir}/acme-ca.pem`, '--ca-key', `${dir}/acme-ca.key`,
      '--tenant', 'acme', '--out-dir', dir, '--force');
    let connections = 0;
    const connect = async (dir: string) => {
      await runOk('mosquitto_pub', ['--cafile', 'broker-ca.pem', '--cert', `${dir}/pump-1.pem`, '--key', `${dir}/pump-1.key`, '-i', 'acme_pump-1',
        '-t', 'tc/acme/acme_pump-1/o/x', '-m', 'hi', '-h', 'localhost', '-p', String(server!.mqttPort)], { cwd: work });
      connections++;
      // Each accepted connection is logged: the positive control that this one was looked at.
      await waitUntil(() => server!.logLines().filter((line) => line.msg === 'mqtt connection accepted' && line.clientId === 'acme_pump-1').length === connections,
        10_000, `connection ${connections} accepted`);
    };
    const switches = () => server!.logLines().filter((line) => /than its record held/.test(String(line.msg)));

    await issue('first');
    const original = await fingerprintOf(join(work, 'first/pump-1.pem'));
    await connect('first'); // onboarding
    await connect('first'); // the same certificate again
    assert.deepEqual(switches(), [], 'onboarding and the same certificate again are not a switch');

    await issue('first'); // renewed: same CA, new key and certificate
    const renewed = await fingerprintOf(join(work, 'first/pump-1.pem'));
    await connect('first');
    await issue('second');
    const moved = await fingerprintOf(join(work, 'second/pump-1.pem'));
    await connect('second');

    const [renewal, move, ...more] = switches();
    assert.deepEqual(more, []);
    assert.equal(renewal?.level, 30, 'info');
    assert.equal(renewal?.msg, 'agent connected with another certificate than its record held; the record now holds it');
    assert.deepEqual([renewal?.clientId, renewal?.tenant, renewal?.previousCaCertificateId, renewal?.caCertificateId, renewal?.previousFingerprint, renewal?.fingerprint],
      ['acme_pump-1', 'acme', caIds.first, caIds.first, original, renewed]);
    assert.equal(move?.msg, 'agent connected with a certificate from another CA than its record held; the record now holds it');
    assert.deepEqual([move?.clientId, move?.previousCaCertificateId, move?.caCertificateId, move?.previousFingerprint, move?.fingerprint],
      ['acme_pump-1', caIds.first, caIds.second, renewed, moved]);
  });
});
