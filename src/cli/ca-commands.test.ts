import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDevSigningKey, loadOrCreateDevSigningKey, mintDevToken } from '../auth/index.ts';
import { spawnServer, type SpawnedServer } from '../../test/support/spawn-server.ts';
import { assertOneLineFailure, cli, cliJson, cliOk, closedPortUrl } from '../../test/support/run-cli.ts';
import { EXIT } from './cli-error.ts';

// `trustgate ca ...` as a user runs it (bin/trustgate in a child process) against a real server
// (bin/trustgate serve): the happy paths, --json, files and modes, and every failure class with
// its exit code and one line.

describe('trustgate ca', { timeout: 360_000, concurrency: 3 }, () => {
  let server: SpawnedServer;
  let dataDir: string;
  let root: string;
  let env: Record<string, string>;
  let tenantCount = 0;
  const newTenant = () => `cli-ca-${process.pid}-${++tenantCount}`;

  const workDir = async (name: string): Promise<string> => {
    const dir = join(root, name);
    await mkdir(dir, { recursive: true });
    return dir;
  };
  /** `ca create` in a fresh directory: the files of a CA of `tenant`. */
  const createCa = async (tenant: string, name = tenant) => {
    const cwd = await workDir(name);
    await cliOk(['ca', 'create', '--tenant', tenant], { cwd, env });
    return { cwd, cert: join(cwd, `${tenant}-ca.pem`), key: join(cwd, `${tenant}-ca.key`) };
  };
  const tokenFor = async (tenant: string, scopes = ['mcmqtt.admin'], ttlSeconds = 600) =>
    mintDevToken((await loadDevSigningKey(dataDir))!, { tenant, scopes, ttlSeconds });

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'trustgate-cli-ca-'));
    dataDir = join(root, 'data');
    server = await spawnServer({ dataDir, startTimeoutMs: 60_000 });
    env = { TRUSTGATE_URL: server.url, TRUSTGATE_DATA_DIR: dataDir };
  });
  after(async () => {
    await server?.stop();
    await rm(root, { recursive: true, force: true });
  });

  test('ca create writes <tenant>-ca.pem (0644) and <tenant>-ca.key (0600) of a v3 CA, and prints the next step', async () => {
    const cwd = await workDir('create');
    const result = await cliOk(['ca', 'create', '--tenant', 'acme'], { cwd, env: {} });
    assert.equal((await stat(join(cwd, 'acme-ca.key'))).mode & 0o777, 0o600);
    assert.equal((await stat(join(cwd, 'acme-ca.pem'))).mode & 0o777, 0o644);
    const certificate = new X509Certificate(await readFile(join(cwd, 'acme-ca.pem')));
    assert.equal(certificate.ca, true);
    assert.equal(certificate.subject, 'CN=acme CA');
    assert.ok(certificate.checkPrivateKey(createPrivateKey(await readFile(join(cwd, 'acme-ca.key')))));
    assert.ok(certificate.validToDate.getTime() - Date.now() > 3649 * 86_400_000, '--days 3650 by default');
    assert.match(result.stdout, /^created CA certificate "CN=acme CA" \(EC P-256, valid until \d{4}-\d\d-\d\d\)\n/);
    assert.match(result.stdout, /next: trustgate ca register --cert acme-ca\.pem --key acme-ca\.key --name "acme CA" --tenant acme\n$/);
  });

  test('ca create --json, --subject, --key-type p384, --days, --out-dir', async () => {
    const cwd = await workDir('create-json');
    const printed = await cliJson(['ca', 'create', '--tenant', 'acme', '--subject', '/C=DE/O=Acme \\/ Co/CN=Acme Root', '--key-type', 'p384', '--days', '30', '--out-dir', 'out'], { cwd });
    assert.equal(printed.subject, 'C=DE, O=Acme / Co, CN=Acme Root');
    assert.equal(printed.keyType, 'p384');
    assert.equal(printed.files.key, join(cwd, 'out', 'acme-ca.key'));
    const certificate = new X509Certificate(await readFile(printed.files.certificate));
    assert.equal(certificate.fingerprint256.replaceAll(':', '').toLowerCase(), printed.fingerprintSha256);
    assert.equal(certificate.publicKey.asymmetricKeyDetails?.namedCurve, 'secp384r1');
    assert.ok(Math.abs(Date.parse(printed.notAfter) - Date.now() - 30 * 86_400_000) < 60_000);
  });

  test('ca create refuses to overwrite (73) and keeps the files; --force replaces both, key still 0600', async () => {
    const cwd = await workDir('overwrite');
    await cliOk(['ca', 'create', '--tenant', 'acme'], { cwd });
    const key = await readFile(join(cwd, 'acme-ca.key'), 'utf8');
    assertOneLineFailure(await cli(['ca', 'create', '--tenant', 'acme'], { cwd }), EXIT.cantCreate, /acme-ca\.key already exists; add --force to overwrite it$/);
    assert.equal(await readFile(join(cwd, 'acme-ca.key'), 'utf8'), key);
    await cliOk(['ca', 'create', '--tenant', 'acme', '--force'], { cwd });
    assert.notEqual(await readFile(join(cwd, 'acme-ca.key'), 'utf8'), key);
    assert.equal((await stat(join(cwd, 'acme-ca.key'))).mode & 0o777, 0o600);
  });

  test('ca create usage errors: bad tenant, key type, days, subject (64, one line)', async () => {
    const cwd = await workDir('usage');
    assertOneLineFailure(await cli(['ca', 'create', '--tenant', 'Acme_1'], { cwd }), EXIT.usage, /--tenant "Acme_1"/);
    assertOneLineFailure(await cli(['ca', 'create', '--tenant', 'acme', '--key-type', 'dsa'], { cwd }), EXIT.usage, /--key-type "dsa" is not one of p256, p384, rsa2048/);
    assertOneLineFailure(await cli(['ca', 'create', '--tenant', 'acme', '--days', '0'], { cwd }), EXIT.usage, /--days "0"/);
    assertOneLineFailure(await cli(['ca', 'create', '--tenant', 'acme', '--subject', 'CN=x'], { cwd }), EXIT.usage, /must start with "\/"/);
    assertOneLineFailure(await cli(['ca', 'create'], { cwd }), EXIT.usage, /required option '--tenant <tenant>'/);
  });

  test('ca register: upload, registration code, verification certificate made locally, verify; the key is never sent', async () => {
    const tenant = newTenant();
    const ca = await createCa(tenant);
    // A recording proxy in front of the server sees every byte the CLI sends.
    const bodies: string[] = [];
    const proxy: Server = createServer(async (request, response) => {
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      const body = Buffer.concat(chunks).toString('utf8');
      bodies.push(`${request.method} ${request.url} ${body}`);
      const answer = await fetch(`${server.url}${request.url}`, {
        method: request.method, headers: request.headers as Record<string, string>, body: body === '' ? undefined : body,
      });
      response.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'text/plain' }).end(await answer.text());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const result = await cliOk(['ca', 'register', '--cert', ca.cert, '--key', ca.key, '--name', `${tenant} CA`, '--tenant', tenant, '--url', proxyUrl], { env });
      assert.match(result.stdout, /^registered CA certificate ".*" as [0-9a-f]{24}: isVerified true\n/);
      assert.deepEqual(bodies.map((b) => b.split(' ').slice(0, 2).join(' ').replace(/[0-9a-f]{24}/, 'ID')), [
        'POST /api/mindconnectmqtt/v3/caCertificates', 'GET /api/mindconnectmqtt/v3/caCertificates/ID/registrationCode',
        'POST /api/mindconnectmqtt/v3/caCertificates/ID/verify',
      ]);
      const keyBase64 = (await readFile(ca.key, 'utf8')).split('\n').filter((line) => line && !line.startsWith('-----')).join('');
      for (const body of bodies) {
        assert.doesNotMatch(body, /PRIVATE KEY/);
        assert.ok(!body.replaceAll('\\n', '').includes(keyBase64.slice(0, 40)), 'no part of the key in any request');
      }
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
    }
    const [listed] = await cliJson(['ca', 'list', '--tenant', tenant], { env });
    assert.equal(listed.isVerified, true);
    assert.equal(listed.name, `${tenant} CA`);
  });

  test('ca register --json prints the verified CA resource; run again it says "already registered" (exit 0)', async () => {
    const tenant = newTenant();
    const ca = await createCa(tenant);
    const registered = await cliJson(['ca', 'register', '--cert', ca.cert, '--key', ca.key, '--tenant', tenant], { env });
    assert.match(registered.id, /^[0-9a-f]{24}$/);
    assert.equal(registered.isVerified, true);
    assert.equal(registered.name, `${tenant} CA`, '--name defaults to the CN');
    assert.equal(registered.alreadyRegistered, false);
    const again = await cliJson(['ca', 'register', '--cert', ca.cert, '--key', ca.key, '--tenant', tenant], { env });
    assert.equal(again.id, registered.id);
    assert.equal(again.alreadyRegistered, true);
  });

  test('an uploaded but unverified CA: ca verify --id verifies it; ca register resumes it', async () => {
    const tenant = newTenant();
    const first = await createCa(tenant, `${tenant}-a`);
    const second = await createCa(tenant, `${tenant}-b`);
    const token = await tokenFor(tenant);
    const upload = async (cert: string) => {
      const answer = await fetch(`${server.apiUrl}/caCertificates`, {
        method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'uploaded', caCertificate: await readFile(cert, 'utf8') }),
      });
      assert.equal(answer.status, 201);
      return (await answer.json() as { id: string }).id;
    };
    const firstId = await upload(first.cert);
    const secondId = await upload(second.cert);
    assertOneLineFailure(await cli(['ca', 'verify', '--id', firstId, '--cert', second.cert, '--key', second.key, '--token', token], { env }),
      EXIT.dataError, new RegExp(`CA certificate ${firstId} is not --cert .* \\(fingerprints .* differ\\)`));
    const verified = await cliJson(['ca', 'verify', '--id', firstId, '--cert', first.cert, '--key', first.key, '--token', token], { env });
    assert.equal(verified.isVerified, true);
    const resumed = await cliJson(['ca', 'register', '--cert', second.cert, '--key', second.key, '--token', token], { env });
    assert.equal(resumed.id, secondId);
    assert.equal(resumed.isVerified, true);
  });

  test('a CA whose key another tenant verified: ca register deletes its own upload again (no slot taken) and says so; an earlier upload is named for "ca delete" (75)', async () => {
    const owner = newTenant();
    const other = newTenant();
    const ca = await createCa(owner);
    await cliOk(['ca', 'register', '--cert', ca.cert, '--key', ca.key, '--tenant', owner], { env });
    // --json: without the progress note on stderr, the failure is the only line there.
    const refused = assertOneLineFailure(await cli(['ca', 'register', '--cert', ca.cert, '--key', ca.key, '--tenant', other, '--json'], { env }), EXIT.conflict,
      /\(verification\.keyVerifiedByOtherTenant\); it can never be verified in this tenant, so its upload [0-9a-f]{24} was deleted again \(no CA slot is taken\)$/);
    assert.doesNotMatch(refused, /ca verify/, 'no retry that can never succeed');
    assert.deepEqual(await cliJson(['ca', 'list', '--tenant', other], { env }), [], 'the upload was deleted again');

    // Uploaded before (by the API, or by an older CLI): not this run's to delete; the line says what frees the slot.
    const token = await tokenFor(other);
    const answer = await fetch(`${server.apiUrl}/caCertificates`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'uploaded', caCertificate: await readFile(ca.cert, 'utf8') }),
    });
    assert.equal(answer.status, 201);
    const { id } = await answer.json() as { id: string };
    const deleteHint = new RegExp(`\\(verification\\.keyVerifiedByOtherTenant\\); it can never be verified in this tenant: free its CA slot with "trustgate ca delete ${id}"$`);
    assertOneLineFailure(await cli(['ca', 'register', '--cert', ca.cert, '--key', ca.key, '--tenant', other, '--json'], { env }), EXIT.conflict, deleteHint);
    assertOneLineFailure(await cli(['ca', 'verify', '--id', id, '--cert', ca.cert, '--key', ca.key, '--tenant', other], { env }), EXIT.conflict, deleteHint);
    assert.equal((await cliJson(['ca', 'list', '--tenant', other], { env }))[0].id, id, 'left to its owner');
    await cliOk(['ca', 'delete', id, '--tenant', other], { env });
    assert.deepEqual(await cliJson(['ca', 'list', '--tenant', other], { env }), [], 'what the line says works');
    assert.equal((await cliJson(['ca', 'list', '--tenant', owner], { env }))[0].isVerified, true, 'the owner\'s CA is untouched');
  });

  test('ca list, show, delete (human and --json); an unknown id is 67', async () => {
    const tenant = newTenant();
    assert.match((await cliOk(['ca', 'list', '--tenant', tenant], { env })).stdout, /^no CA certificates/);
    const ca = await createCa(tenant);
    const { id } = await cliJson(['ca', 'register', '--cert', ca.cert, '--key', ca.key, '--name', 'listed', '--tenant', tenant], { env });
    const table = (await cliOk(['ca', 'list', '--tenant', tenant], { env })).stdout.split('\n');
    assert.match(table[0]!, /^ID\s+NAME\s+VERIFIED\s+EXPIRES\s+SUBJECT$/);
    assert.match(table[1]!, new RegExp(`^${id}\\s+listed\\s+yes\\s+\\d{4}-`));
    const shown = await cliOk(['ca', 'show', id, '--tenant', tenant], { env });
    assert.match(shown.stdout, new RegExp(`^id\\s+${id}\\n`));
    assert.match(shown.stdout, /\nisVerified\s+true\n/);
    assert.equal((await cliJson(['ca', 'show', id, '--tenant', tenant], { env })).id, id);
    assert.deepEqual(await cliJson(['ca', 'delete', id, '--tenant', tenant], { env }), { id, deleted: true });
    assert.deepEqual(await cliJson(['ca', 'list', '--tenant', tenant], { env }), []);
    assertOneLineFailure(await cli(['ca', 'show', id, '--tenant', tenant], { env }), EXIT.notFound, /List yours with "trustgate ca list"\. \(caCertificate\.notFound\)$/);
    assertOneLineFailure(await cli(['ca', 'delete', id, '--tenant', tenant], { env }), EXIT.notFound);
  });

  test('failure: the server is down → 69, one line, no stack trace (and a stack trace with --verbose)', async () => {
    const ca = await createCa('down');
    const url = await closedPortUrl();
    const args = ['ca', 'register', '--cert', ca.cert, '--key', ca.key, '--tenant', 'down', '--url', url];
    assertOneLineFailure(await cli(args, { env }), EXIT.unavailable,
      new RegExp(`^trustgate: cannot reach trustgate at ${url}: connection refused; is "trustgate serve" running there\\? \\(ECONNREFUSED\\)$`));
    assertOneLineFailure(await cli(['ca', 'list', '--tenant', 'down'], { env: { ...env, TRUSTGATE_URL: url } }), EXIT.unavailable);
    const verbose = await cli([...args, '--verbose'], { env });
    assert.equal(verbose.code, EXIT.unavailable);
    assert.match(verbose.stderr, /^\s+at /m, 'stack trace with --verbose');
  });

  test('failure: a bad token (401) and a token without admin scope (403) → 77, with the server\'s message and code', async () => {
    const tenant = newTenant();
    const ca = await createCa(tenant);
    assertOneLineFailure(await cli(['ca', 'list', '--token', 'not.a.jwt'], { env }), EXIT.noPermission, /\(auth\.tokenInvalid\); check --token$/);
    const foreignDir = await workDir('foreign-issuer');
    const foreignToken = await mintDevToken(await loadOrCreateDevSigningKey(foreignDir), { tenant, scopes: ['mcmqtt.admin'], ttlSeconds: 600 });
    assertOneLineFailure(await cli(['ca', 'list'], { env: { ...env, TRUSTGATE_TOKEN: foreignToken } }), EXIT.noPermission, /\(auth\.tokenInvalid\); check TRUSTGATE_TOKEN$/);
    // A dev token minted from another data dir than the server's: the hint names the directory.
    assertOneLineFailure(await cli(['ca', 'list', '--tenant', tenant], { env: { ...env, TRUSTGATE_DATA_DIR: foreignDir } }), EXIT.noPermission,
      new RegExp(`the dev token was minted from ${foreignDir}: is the server running on that TRUSTGATE_DATA_DIR\\?$`));
    const reader = await tokenFor(tenant, ['mcmqtt.read']);
    assertOneLineFailure(await cli(['ca', 'register', '--cert', ca.cert, '--key', ca.key, '--token', reader], { env }), EXIT.noPermission, /\(auth\.scopeMissing\)$/);
  });

  test('failure: no token at all → 77 saying how to get one; no data dir is created on the way', async () => {
    const cwd = await workDir('no-token');
    assertOneLineFailure(await cli(['ca', 'list'], { cwd, env: { TRUSTGATE_URL: server.url } }), EXIT.noPermission, /^trustgate: no token: pass --token <jwt>, set TRUSTGATE_TOKEN, or add --tenant/);
    assertOneLineFailure(await cli(['ca', 'list', '--tenant', 'acme'], { cwd, env: { TRUSTGATE_URL: server.url } }), EXIT.noPermission,
      new RegExp(`${join(cwd, 'data')} does not exist \\(set TRUSTGATE_DATA_DIR to the directory "trustgate serve" uses; the server creates the key on its first start\\)$`));
    await assert.rejects(stat(join(cwd, 'data')), /ENOENT/);
  });

  test('failure: a token of another tenant than --tenant → 64 before anything is sent', async () => {
    const ca = await createCa('mismatch');
    assertOneLineFailure(await cli(['ca', 'register', '--cert', ca.cert, '--key', ca.key, '--tenant', 'mismatch', '--token', await tokenFor('other')], { env }),
      EXIT.usage, /the token is for tenant "other", not --tenant mismatch/);
  });

  test('failure: the wrong key for the certificate → 65, checked locally before anything is sent', async () => {
    const first = await createCa('wrong-key-a');
    const second = await createCa('wrong-key-b');
    const url = await closedPortUrl(); // proves nothing was sent: the server would be unreachable
    assertOneLineFailure(await cli(['ca', 'register', '--cert', first.cert, '--key', second.key, '--tenant', 'wrong-key-a', '--url', url], { env }), EXIT.dataError,
      new RegExp(`--key ${second.key} is not the private key of --cert ${first.cert} \\(their public keys differ\\)`));
    assertOneLineFailure(await cli(['ca', 'verify', '--id', '0'.repeat(24), '--cert', first.cert, '--key', second.key, '--tenant', 'wrong-key-a', '--url', url], { env }), EXIT.dataError);
  });

  test('failure: the CA limit reached → 75 with the server\'s message, its code and what to do', async () => {
    const tenant = newTenant();
    for (const name of ['one', 'two']) {
      const ca = await createCa(tenant, `${tenant}-${name}`);
      await cliOk(['ca', 'register', '--cert', ca.cert, '--key', ca.key, '--tenant', tenant], { env });
    }
    const third = await createCa(tenant, `${tenant}-three`);
    assertOneLineFailure(await cli(['ca', 'register', '--cert', third.cert, '--key', third.key, '--tenant', tenant], { env }), EXIT.conflict,
      /\(caCertificate\.limitReached\); see them with "trustgate ca list", remove one with "trustgate ca delete <id>"$/);
  });

  test('failure: a file missing (66), a file that is not PEM or holds the wrong kind of PEM (65)', async () => {
    const ca = await createCa('files');
    const cwd = ca.cwd;
    await writeFile(join(cwd, 'notes.txt'), 'hello\n');
    const register = (cert: string, key: string) => cli(['ca', 'register', '--cert', cert, '--key', key, '--tenant', 'files'], { cwd, env });
    assertOneLineFailure(await register('missing.pem', ca.key), EXIT.noInput, /^trustgate: --cert missing\.pem: no such file$/);
    assertOneLineFailure(await register(ca.cert, 'missing.key'), EXIT.noInput, /^trustgate: --key missing\.key: no such file$/);
    assertOneLineFailure(await register(cwd, ca.key), EXIT.noInput, /is a directory$/);
    assertOneLineFailure(await register('notes.txt', ca.key), EXIT.dataError, /^trustgate: --cert notes\.txt is not a PEM certificate; expected one -----BEGIN CERTIFICATE----- block$/);
    assertOneLineFailure(await register(ca.cert, 'notes.txt'), EXIT.dataError, /^trustgate: --key notes\.txt is not a PEM private key/);
    assertOneLineFailure(await register(ca.key, ca.key), EXIT.dataError, /holds a private key; pass the certificate file/);
    assertOneLineFailure(await register(ca.cert, ca.cert), EXIT.dataError, /--key .* is not a PEM private key \(it holds CERTIFICATE\)/);
  });
});
