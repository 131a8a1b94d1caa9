import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readlink, realpath, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { killAllSpawnedServers, REPO_ROOT, spawnServer, TRUSTGATE_BIN, type SpawnedServer } from '../support/spawn-server.ts';
import { api, makeTempDir, opensslCa, removeDir, run, sleep } from './e2e-helpers.ts';

// `trustgate token` as a user runs it (bin/trustgate, npx), checked against a real server on the
// same data dir.

const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const BUNDLED_NODE = join(REPO_ROOT, 'node_modules', 'node', 'bin', 'node');

describe('trustgate token', { timeout: 120_000, concurrency: true }, () => {
  let dataDir: string;
  let pkiDir: string;
  let server: SpawnedServer;

  const token = (args: readonly string[], env: NodeJS.ProcessEnv = process.env) =>
    run(TRUSTGATE_BIN, ['token', ...args], { env: { ...env, TRUSTGATE_DATA_DIR: dataDir } });

  before(async () => {
    dataDir = await makeTempDir('cli-token-data');
    pkiDir = await makeTempDir('cli-token-pki');
    server = await spawnServer({ dataDir });
  });

  after(async () => {
    try {
      await server?.stop('SIGTERM');
    } finally {
      await killAllSpawnedServers();
      await Promise.all([dataDir, pkiDir].filter(Boolean).map(removeDir));
    }
  });

  test('--tenant acme prints only a JWT on stdout, and the server on the same data dir accepts it', async () => {
    const result = await token(['--tenant', 'acme']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '');
    assert.match(result.stdout, /\n$/);
    assert.equal(result.stdout.split('\n').length, 2, 'one line');
    const jwt = result.stdout.trim();
    assert.match(jwt, JWT);
    const payload = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8'));
    assert.equal(payload.ten, 'acme');
    assert.equal(payload.scope, 'mcmqtt.admin');
    const listed = await api(`${server.apiUrl}/caCertificates`, jwt);
    assert.equal(listed.status, 200, listed.text);
    assert.deepEqual(listed.body, []);
  });

  test('--scope mcmqtt.read gives a token that can GET but gets 403 auth.scopeMissing on POST', async () => {
    const result = await token(['--tenant', 'reader', '--scope', 'mcmqtt.read']);
    assert.equal(result.code, 0, result.stderr);
    const jwt = result.stdout.trim();
    assert.match(jwt, JWT);
    const listed = await api(`${server.apiUrl}/caCertificates`, jwt);
    assert.equal(listed.status, 200, listed.text);
    const ca = await opensslCa(pkiDir, 'reader-ca');
    const posted = await api(`${server.apiUrl}/caCertificates`, jwt, { body: { name: 'reader CA', caCertificate: ca.pem } });
    assert.equal(posted.status, 403, posted.text);
    assert.equal(posted.body.errors[0].code, 'auth.scopeMissing');
  });

  test('--ttl 1 gives a token that is refused with 401 auth.tokenExpired about 2 s later', async () => {
    const result = await token(['--tenant', 'shortlived', '--ttl', '1']);
    assert.equal(result.code, 0, result.stderr);
    const jwt = result.stdout.trim();
    const payload = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8'));
    assert.equal(payload.exp - payload.iat, 1);
    await sleep(2_500);
    const listed = await api(`${server.apiUrl}/caCertificates`, jwt);
    assert.equal(listed.status, 401,
      `a --ttl 1 token is still accepted 2.5 s after it was minted (clock tolerance in the dev token verifier?): ${listed.text}`);
    assert.equal(listed.body.errors[0].code, 'auth.tokenExpired');
  });

  test('a dev token that would live for a year: --ttl 366d exits 64 naming the 7-day limit and mints nothing; --ttl 7d still works', async () => {
    const refused = await token(['--tenant', 'acme', '--ttl', '366d']);
    assert.equal(refused.code, 64, `exit code; stdout: ${refused.stdout}`);
    assert.equal(refused.stdout, '');
    const lines = refused.stderr.split('\n').filter((line) => line !== '');
    assert.equal(lines.length, 1, `stderr: ${refused.stderr}`);
    assert.match(lines[0]!, /--ttl 366d .*7d/);
    const longest = await token(['--tenant', 'acme', '--ttl', '7d']);
    assert.equal(longest.code, 0, longest.stderr);
    const listed = await api(`${server.apiUrl}/caCertificates`, longest.stdout.trim());
    assert.equal(listed.status, 200, listed.text);
  });

  test('--tenant Bad_Name exits 64 with one line on stderr, nothing on stdout and no stack trace', async () => {
    const result = await token(['--tenant', 'Bad_Name']);
    assert.equal(result.code, 64);
    assert.equal(result.stdout, '');
    const lines = result.stderr.split('\n').filter((line) => line !== '');
    assert.equal(lines.length, 1, `stderr: ${result.stderr}`);
    assert.match(lines[0]!, /^trustgate: .*Bad_Name/);
    assert.doesNotMatch(result.stderr, /^\s+at /m);
    assert.doesNotMatch(result.stderr, /Error:/);
  });

  test('--scope with an unknown scope (a typo) exits 64 with one line naming the valid scopes, instead of minting a useless token', async () => {
    const result = await token(['--tenant', 'acme', '--scope', 'mcmqtt.raed']);
    assert.equal(result.code, 64, `exit code; stdout: ${result.stdout}`);
    assert.equal(result.stdout, '');
    const lines = result.stderr.split('\n').filter((line) => line !== '');
    assert.equal(lines.length, 1, `stderr: ${result.stderr}`);
    assert.match(lines[0]!, /mcmqtt\.raed/);
    assert.match(lines[0]!, /mcmqtt\.read/);
  });

  test('an empty dev-token-signing-key.json (left by an interrupted first run) is reported in one line that names the file', async () => {
    const brokenDir = await makeTempDir('cli-token-empty-key');
    try {
      await writeFile(join(brokenDir, 'dev-token-signing-key.json'), '', { mode: 0o600 });
      const result = await run(TRUSTGATE_BIN, ['token', '--tenant', 'acme'], { env: { ...process.env, TRUSTGATE_DATA_DIR: brokenDir } });
      assert.notEqual(result.code, 0);
      assert.equal(result.stdout, '');
      const lines = result.stderr.split('\n').filter((line) => line !== '');
      assert.equal(lines.length, 1, `stderr: ${result.stderr}`);
      assert.match(lines[0]!, /dev-token-signing-key\.json/, `the message should name the broken file: ${lines[0]}`);
    } finally {
      await removeDir(brokenDir);
    }
  });

  test('a first run that finds the dev key file being written by a concurrent first run uses that key instead of failing', async () => {
    // Makes the race window of two first runs deterministic: the preload holds every exclusive
    // ('wx') writeFile open for 1.5 s between creating the file and writing its content, as a
    // slow disk or a busy machine can. A key file must never be visible half-written.
    const dir = await makeTempDir('cli-token-race');
    try {
      const dataDir = join(dir, 'data');
      const preload = join(dir, 'slow-exclusive-write.mjs');
      await writeFile(preload, [
        "import fs from 'node:fs/promises';",
        "import { syncBuiltinESMExports } from 'node:module';",
        'const original = fs.writeFile;',
        'fs.writeFile = async (path, data, options) => {',
        "  if (typeof options !== 'object' || options?.flag !== 'wx') return original(path, data, options);",
        "  const handle = await fs.open(path, 'wx', options.mode);",
        '  try { await new Promise((r) => setTimeout(r, 1500)); await handle.writeFile(data); } finally { await handle.close(); }',
        '};',
        'syncBuiltinESMExports();',
      ].join('\n'));
      const slowEnv = { ...process.env, TRUSTGATE_DATA_DIR: dataDir, NODE_OPTIONS: `--import=${preload}` };
      const first = run(TRUSTGATE_BIN, ['token', '--tenant', 'acme'], { env: slowEnv });
      const keyFile = join(dataDir, 'dev-token-signing-key.json');
      const deadline = Date.now() + 10_000;
      while (!existsSync(keyFile) && Date.now() < deadline) await sleep(20);
      assert.ok(existsSync(keyFile), 'the first run created the key file');
      const second = await run(TRUSTGATE_BIN, ['token', '--tenant', 'acme'], { env: { ...process.env, TRUSTGATE_DATA_DIR: dataDir } });
      const firstResult = await first;
      assert.equal(firstResult.code, 0, firstResult.stderr);
      assert.equal(second.code, 0, `the second first run failed while the first one was writing the key: ${second.stderr.trim()}`);
      const kidOf = (jwt: string) => JSON.parse(Buffer.from(jwt.trim().split('.')[0]!, 'base64url').toString('utf8')).kid;
      assert.equal(kidOf(second.stdout), kidOf(firstResult.stdout), 'both runs sign with the one key of the data dir');
    } finally {
      await removeDir(dir);
    }
  });

  test('--json prints {token, tenant, scopes, expiresAt} with expiresAt about an hour ahead', async () => {
    const before = Date.now();
    const result = await token(['--tenant', 'acme', '--json']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim().split('\n').length, 1);
    const printed = JSON.parse(result.stdout);
    assert.match(printed.token, JWT);
    assert.equal(printed.tenant, 'acme');
    assert.deepEqual(printed.scopes, ['mcmqtt.admin']);
    assert.match(printed.expiresAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const expiresIn = Date.parse(printed.expiresAt) - before;
    assert.ok(expiresIn > 3_590_000 && expiresIn < 3_610_000, `expires in ${expiresIn} ms`);
    const payload = JSON.parse(Buffer.from(printed.token.split('.')[1], 'base64url').toString('utf8'));
    assert.ok(Math.abs(payload.exp * 1000 - Date.parse(printed.expiresAt)) <= 2_000, 'expiresAt is the token\'s exp');
    const listed = await api(`${server.apiUrl}/caCertificates`, printed.token);
    assert.equal(listed.status, 200, listed.text);
  });

  test('bin/trustgate runs on the bundled Node 24 when PATH holds only /usr/bin:/bin (whose node is another version)', async (t) => {
    const systemNode = existsSync('/usr/bin/node') ? await run('/usr/bin/node', ['--version']) : undefined;
    if (systemNode) t.diagnostic(`system node on /usr/bin: ${systemNode.stdout.trim()}`);
    const env = { ...process.env, PATH: '/usr/bin:/bin' };
    const result = await token(['--tenant', 'acme'], env);
    assert.equal(result.code, 0, result.stderr);
    const jwt = result.stdout.trim();
    assert.match(jwt, JWT);
    assert.equal((await api(`${server.apiUrl}/caCertificates`, jwt)).status, 200);

    // The server started the same way is the bundled node binary itself (bin/trustgate execs it).
    const otherDataDir = await makeTempDir('cli-token-path');
    try {
      const restricted = await spawnServer({ dataDir: otherDataDir, env: { PATH: '/usr/bin:/bin' }, t });
      const exe = await readlink(`/proc/${restricted.process.pid}/exe`);
      assert.equal(exe, await realpath(BUNDLED_NODE));
      const version = await run(exe, ['--version']);
      assert.match(version.stdout, /^v24\./);
      const restrictedToken = (await run(TRUSTGATE_BIN, ['token', '--tenant', 'acme'], { env: { ...env, TRUSTGATE_DATA_DIR: otherDataDir } })).stdout.trim();
      assert.equal((await api(`${restricted.apiUrl}/caCertificates`, restrictedToken)).status, 200);
      assert.equal(await restricted.stop('SIGTERM', { timeoutMs: 5_000 }), 0);
    } finally {
      await removeDir(otherDataDir);
    }
  });

  test('npx trustgate token --tenant acme from the repo root prints a token the server accepts', async () => {
    const result = await run('npx', ['--no-install', 'trustgate', 'token', '--tenant', 'acme'], {
      cwd: REPO_ROOT,
      env: { ...process.env, TRUSTGATE_DATA_DIR: dataDir },
      timeoutMs: 60_000,
    });
    assert.equal(result.code, 0, result.stderr);
    const jwt = result.stdout.trim();
    assert.match(jwt, JWT);
    assert.equal((await api(`${server.apiUrl}/caCertificates`, jwt)).status, 200);
  });
});
