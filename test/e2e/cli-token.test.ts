import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, readlink, realpath, writeFile } from 'node:fs/promises';
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

  test('--ttl 1 gives a token that is refused with 401 auth.tokenExpired as soon as its exp has passed', async () => {
    const result = await token(['--tenant', 'shortlived', '--ttl', '1']);
    assert.equal(result.code, 0, result.stderr);
    const jwt = result.stdout.trim();
    const payload = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8'));
    assert.equal(payload.exp - payload.iat, 1);
    // The server reads the same system clock: once exp has passed here, it has passed there.
    while (Date.now() < payload.exp * 1000) await sleep(payload.exp * 1000 - Date.now());
    const listed = await api(`${server.apiUrl}/caCertificates`, jwt);
    assert.equal(listed.status, 401,
      `a --ttl 1 token is still accepted after its exp (clock tolerance in the dev token verifier?): ${listed.text}`);
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

  test('without the server\'s data dir (a directory with none, TRUSTGATE_DATA_DIR=/nonexistent): exit 77 naming the data dir, and no key is created', async () => {
    const cwd = await makeTempDir('cli-token-elsewhere');
    try {
      // Run where no server ever started: the default ./data does not exist.
      const here = await run(TRUSTGATE_BIN, ['token', '--tenant', 'acme'], { cwd, env: { ...process.env, TRUSTGATE_DATA_DIR: undefined } });
      assert.equal(here.code, 77, `exit code; stderr: ${here.stderr}`);
      assert.equal(here.stdout, '', 'no token printed');
      const lines = here.stderr.split('\n').filter((line) => line !== '');
      assert.equal(lines.length, 1, `stderr: ${here.stderr}`);
      assert.equal(lines[0], `trustgate: trustgate token needs the dev issuer key of the server's data dir, and ${join(await realpath(cwd), 'data')} does not exist `
        + '(set TRUSTGATE_DATA_DIR to the directory "trustgate serve" uses; the server creates the key on its first start)');
      assert.equal(existsSync(join(cwd, 'data')), false, 'no data dir created');

      const nowhere = await run(TRUSTGATE_BIN, ['token', '--tenant', 'acme'], { cwd, env: { ...process.env, TRUSTGATE_DATA_DIR: '/nonexistent' } });
      assert.equal(nowhere.code, 77, `exit code; stderr: ${nowhere.stderr}`);
      assert.equal(nowhere.stdout, '');
      assert.match(nowhere.stderr, /^trustgate: .*\/nonexistent does not exist \(set TRUSTGATE_DATA_DIR to the directory "trustgate serve" uses/);
      assert.equal(existsSync('/nonexistent'), false);

      // An existing directory without the key (not the server's): refused too, and left as it was.
      const empty = await run(TRUSTGATE_BIN, ['token', '--tenant', 'acme', '--json'], { cwd, env: { ...process.env, TRUSTGATE_DATA_DIR: cwd } });
      assert.equal(empty.code, 77, `exit code; stderr: ${empty.stderr}`);
      assert.equal(empty.stdout, '');
      assert.match(empty.stderr, new RegExp(`^trustgate: .*, and ${cwd} has none \\(`));
      assert.deepEqual(await readdir(cwd), []);
    } finally {
      await removeDir(cwd);
    }
  });

  test('two concurrent first starts on an empty data dir both get the one dev issuer key that was published', async () => {
    // Makes the race of two first runs deterministic, with no timing: a preload stops each run just
    // before it makes the key file visible until the other run got there too, so both generated a
    // key and exactly one publishes. Should the key ever be written in place again (an exclusive
    // writeFile), the winner's file stays empty until the loser has read it: a key file must never
    // be visible half-written.
    const dir = await makeTempDir('cli-token-race');
    try {
      const dataDir = join(dir, 'data');
      const meeting = join(dir, 'meeting');
      await mkdir(meeting);
      const preload = join(dir, 'meet-before-publishing.mjs');
      await writeFile(preload, [
        "import fs from 'node:fs/promises';",
        "import { basename, join } from 'node:path';",
        "import { syncBuiltinESMExports } from 'node:module';",
        "const KEY_FILE = 'dev-token-signing-key.json';",
        `const meeting = ${JSON.stringify(meeting)};`,
        'const original = { link: fs.link, readFile: fs.readFile, writeFile: fs.writeFile };',
        'const isKeyFile = (path) => basename(String(path)) === KEY_FILE;',
        'const until = async (what, condition) => {',
        '  const deadline = Date.now() + 60_000;',
        '  while (!(await condition())) {',
        "    if (Date.now() > deadline) throw new Error(`race preload: gave up waiting for ${what}`);",
        '    await new Promise((resolve) => setTimeout(resolve, 10));',
        '  }',
        '};',
        'const mark = (name) => original.writeFile(join(meeting, name), String(process.pid));',
        "const meet = async () => { await mark(`at-publish-${process.pid}`); await until('the other run', async () => (await fs.readdir(meeting)).filter((name) => name.startsWith('at-publish-')).length >= 2); };",
        'fs.link = async (existing, path) => { if (isKeyFile(path)) await meet(); return original.link(existing, path); };',
        'fs.readFile = async (path, options) => { const text = await original.readFile(path, options); if (isKeyFile(path)) await mark(`read-${process.pid}`); return text; };',
        'fs.writeFile = async (path, data, options) => {',
        "  if (!isKeyFile(path) || typeof options !== 'object' || options?.flag !== 'wx') return original.writeFile(path, data, options);",
        '  await meet();',
        "  const handle = await fs.open(path, 'wx', options.mode);",
        "  try { await until('the other run to read the key file', async () => (await fs.readdir(meeting)).some((name) => name.startsWith('read-') && name !== `read-${process.pid}`)); await handle.writeFile(data); } finally { await handle.close(); }",
        '};',
        'syncBuiltinESMExports();',
      ].join('\n'));
      // What a server's first start runs (the CLI never creates the key): load it, or create and publish it.
      const firstStart = join(dir, 'first-start.ts');
      await writeFile(firstStart, [
        `import { loadOrCreateDevSigningKey, mintDevToken } from ${JSON.stringify(join(REPO_ROOT, 'src', 'auth', 'index.ts'))};`,
        `const key = await loadOrCreateDevSigningKey(${JSON.stringify(dataDir)});`,
        "process.stdout.write(await mintDevToken(key, { tenant: 'acme', scopes: ['mcmqtt.admin'], ttlSeconds: 600 }));",
      ].join('\n'));
      const racingEnv = { ...process.env, NODE_OPTIONS: `--import=${preload}` };
      const [first, second] = await Promise.all([0, 1].map(() => run(BUNDLED_NODE, [firstStart], { env: racingEnv, timeoutMs: 90_000 })));
      assert.equal(first!.code, 0, `a first start failed while the other one published the key: ${first!.stderr.trim()}`);
      assert.equal(second!.code, 0, `a first start failed while the other one published the key: ${second!.stderr.trim()}`);
      const atPublish = (await readdir(meeting)).filter((name) => name.startsWith('at-publish-'));
      assert.equal(atPublish.length, 2, 'both runs generated a key and reached the point of publishing it');
      const kidOf = (jwt: string) => JSON.parse(Buffer.from(jwt.trim().split('.')[0]!, 'base64url').toString('utf8')).kid;
      assert.equal(kidOf(second!.stdout), kidOf(first!.stdout), 'both runs sign with the one key of the data dir');
      const stored = JSON.parse(await readFile(join(dataDir, 'dev-token-signing-key.json'), 'utf8'));
      assert.equal(stored.kid, kidOf(first!.stdout), 'the published key is the one both signed with');
    } finally {
      await removeDir(dir);
    }
  });

  test('--json prints {token, tenant, scopes, expiresAt} with expiresAt about an hour ahead', async () => {
    const startedAt = Date.now();
    const result = await token(['--tenant', 'acme', '--json']);
    const endedAt = Date.now();
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim().split('\n').length, 1);
    const printed = JSON.parse(result.stdout);
    assert.match(printed.token, JWT);
    assert.equal(printed.tenant, 'acme');
    assert.deepEqual(printed.scopes, ['mcmqtt.admin']);
    assert.match(printed.expiresAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    // Minted between startedAt and endedAt, with exp in whole seconds (rounded down): an hour from the
    // minting, however long the command took to start on a busy machine.
    const expiresAtMs = Date.parse(printed.expiresAt);
    assert.ok(expiresAtMs > startedAt + 3_599_000 && expiresAtMs <= endedAt + 3_600_000,
      `expiresAt ${printed.expiresAt} is not an hour after the command ran (${new Date(startedAt).toISOString()} .. ${new Date(endedAt).toISOString()})`);
    const payload = JSON.parse(Buffer.from(printed.token.split('.')[1], 'base64url').toString('utf8'));
    assert.equal(payload.exp * 1000, expiresAtMs, 'expiresAt is the token\'s exp');
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
