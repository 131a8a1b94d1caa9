import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killAllSpawnedServers, spawnServer, TRUSTGATE_BIN, type SpawnedServer } from '../support/spawn-server.ts';
import { api, makeTempDir, removeDir, run, runOk } from './e2e-helpers.ts';

// The public MindConnect how-to, verbatim (openssl + awk + curl), against the real CLI server.
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'mindconnect-walkthrough.sh');

describe('the MindConnect how-to, run verbatim as a bash script against trustgate serve', { timeout: 120_000 }, () => {
  let dataDir: string;
  let server: SpawnedServer;
  const workDirs: string[] = [];

  before(async () => {
    dataDir = await makeTempDir('walkthrough-data');
    server = await spawnServer({ dataDir });
  });

  after(async () => {
    try {
      await server?.stop('SIGTERM');
    } finally {
      await killAllSpawnedServers();
      await Promise.all([dataDir, ...workDirs].filter(Boolean).map(removeDir));
    }
  });

  const walkThrough = async (tenant: string, caKeyType: 'rsa' | 'ec') => {
    const workDir = await makeTempDir(`walkthrough-${tenant}`);
    workDirs.push(workDir);
    // As the how-to's user: TOKEN=$(bin/trustgate token --tenant $TENANT), same data dir as the server.
    const tokenRun = await runOk(TRUSTGATE_BIN, ['token', '--tenant', tenant], { env: { ...process.env, TRUSTGATE_DATA_DIR: dataDir } });
    const token = tokenRun.stdout.trim();
    const result = await run('bash', ['-euo', 'pipefail', SCRIPT], {
      cwd: workDir,
      env: { ...process.env, TENANT: tenant, TOKEN: token, BASE_URL: server.url, CA_KEY_TYPE: caKeyType },
      timeoutMs: 60_000,
    });
    const explain = `script exited ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}\nserver:\n${server.output().slice(-4000)}`;
    assert.equal(result.code, 0, explain);
    const lines = result.stdout.trim().split('\n');
    const last = lines.at(-1) ?? '';
    assert.match(last, /^verify: /, explain);
    assert.ok(last.includes('"isVerified":true'), explain);

    const id = /^id: ([0-9a-f]{24})$/m.exec(result.stdout)?.[1];
    assert.ok(id, explain);
    const code = /^registrationCode: \{"registrationCode":"([^"]+)"\}$/m.exec(result.stdout)?.[1];
    const shorthand = /^registrationCode \(shorthand path\): \{"registrationCode":"([^"]+)"\}$/m.exec(result.stdout)?.[1];
    assert.ok(code, explain);
    assert.equal(shorthand, code, 'the how-to sample\'s shorthand path answers the same registration code');

    const listed = await api(`${server.apiUrl}/caCertificates`, token);
    assert.equal(listed.status, 200, listed.text);
    assert.equal(listed.body.length, 1, listed.text);
    assert.equal(listed.body[0].id, id);
    assert.equal(listed.body[0].isVerified, true, listed.text);
    assert.equal(listed.body[0].name, `${tenant} OpenSSL CA`);
    assert.equal(listed.body[0].description, `CA of ${tenant}, made with OpenSSL`);
    assert.equal(listed.body[0].commonName, `${tenant} OpenSSL CA`);
    assert.match(listed.body[0].expiration, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
    return { id, token };
  };

  test('the RSA 2048 CA of the how-to ends verified', async () => {
    await walkThrough('acme', 'rsa');
  });

  test('the same script with an EC P-256 CA (openssl ecparam -genkey -name prime256v1) ends verified', async () => {
    await walkThrough('acme-ec', 'ec');
  });
});
