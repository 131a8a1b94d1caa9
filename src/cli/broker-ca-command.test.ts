import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brokerRootCaProfile, issueCertificate, issueServerCertificate, type IssuedCertificate } from '../pki/index.ts';

// `trustgate broker-ca` as a user runs it: bin/trustgate in a child process against a tiny HTTP
// server standing in for trustgate.

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'trustgate');

interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

const trustgate = (args: readonly string[], env: NodeJS.ProcessEnv = {}, before: readonly string[] = [], cwd?: string): Promise<Result> => new Promise((resolve) => {
  const { TRUSTGATE_URL: _ignored, ...inherited } = process.env;
  execFile(BIN, [...before, 'broker-ca', ...args], { env: { ...inherited, ...env }, timeout: 30_000, cwd }, (error, stdout, stderr) => {
    resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
  });
});

type Handler = (url: string) => { status: number; type: string; body: string };

describe('trustgate broker-ca', { concurrency: true }, () => {
  let root: IssuedCertificate;
  let leaf: IssuedCertificate;
  let dir: string;
  let server: Server;
  let url: string;
  let closedPortUrl: string;
  const routes = new Map<string, Handler>();

  before(async () => {
    root = await issueCertificate(brokerRootCaProfile, { subject: { CN: 'trustgate broker root CA cli' }, key: 'p256', validityDays: 10, now: new Date() });
    leaf = await issueServerCertificate({ issuer: root, hostnames: ['localhost'], validityDays: 10, now: new Date() });
    dir = await mkdtemp(join(tmpdir(), 'trustgate-broker-ca-cli-'));
    // Each test gets its own path prefix ("/<name>/broker-ca.pem"), so they can run concurrently.
    server = createServer((request, response) => {
      const [, prefix = ''] = /^\/([^/]*)\//.exec(request.url ?? '') ?? [];
      const answer = routes.get(prefix)?.(request.url ?? '') ?? { status: 404, type: 'text/plain', body: 'nothing here' };
      response.writeHead(answer.status, { 'content-type': answer.type }).end(answer.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    closedPortUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((resolve) => closed.close(resolve));
  });
  after(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  const serve = (prefix: string, handler: Handler): string => {
    routes.set(prefix, handler);
    return `${url}/${prefix}`;
  };
  const pem = (body: string): Handler => () => ({ status: 200, type: 'application/x-pem-file', body });

  test('prints the root CA PEM, and nothing else, on stdout', async () => {
    const base = serve('ok', pem(root.certificatePem));
    const result = await trustgate(['--url', base]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '');
    assert.equal(result.stdout, root.certificatePem);
    assert.ok(new X509Certificate(result.stdout).ca);
  });

  test('--url and --json are global options: they work before the command too', async () => {
    const base = serve('global', pem(root.certificatePem));
    const result = await trustgate([], {}, ['--url', base, '--json']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout).pem, root.certificatePem);
  });

  test('takes the URL from TRUSTGATE_URL, and a trailing slash does no harm', async () => {
    const base = serve('env', pem(root.certificatePem));
    const result = await trustgate([], { TRUSTGATE_URL: `${base}/` });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, root.certificatePem);
  });

  test('--out writes the file and says so; it refuses to overwrite without --force', async () => {
    const base = serve('out', pem(root.certificatePem));
    const file = join(dir, 'broker-ca.pem');
    const first = await trustgate(['--url', base, '--out', file]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(await readFile(file, 'utf8'), root.certificatePem);
    assert.equal((await stat(file)).mode & 0o777, 0o644);
    assert.match(first.stdout, /^wrote the broker root CA "CN=trustgate broker root CA cli" \(SHA-256 [0-9a-f]{64}, valid until \d{4}-\d\d-\d\d\) to .*broker-ca\.pem\n$/);

    await writeFile(file, 'keep me');
    const refused = await trustgate(['--url', base, '--out', file]);
    assert.equal(refused.code, 73);
    assert.equal(refused.stderr, `trustgate: ${file} already exists; add --force to overwrite it\n`);
    assert.equal(await readFile(file, 'utf8'), 'keep me');

    const forced = await trustgate(['--url', base, '--out', file, '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(await readFile(file, 'utf8'), root.certificatePem);
  });

  test('--out into a directory that does not exist: exit 73, naming the path given (not a temporary file)', async () => {
    const base = serve('nodir', pem(root.certificatePem));
    const result = await trustgate(['--url', base, '--out', 'nodir-xyz/x.pem'], {}, [], dir);
    assert.equal(result.code, 73, result.stderr);
    assert.equal(result.stderr, 'trustgate: cannot write nodir-xyz/x.pem: the directory nodir-xyz does not exist\n');
  });

  test('--json prints a summary with the PEM', async () => {
    const base = serve('json', pem(root.certificatePem));
    const result = await trustgate(['--url', base, '--json']);
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout);
    assert.equal(summary.subject, 'CN=trustgate broker root CA cli');
    assert.equal(summary.pem, root.certificatePem);
    assert.match(summary.fingerprintSha256, /^[0-9a-f]{64}$/);
    assert.equal(summary.file, null);
  });

  test('a server that is down: exit 69 and one line on stderr, no stack trace', async () => {
    const result = await trustgate(['--url', closedPortUrl]);
    assert.equal(result.code, 69);
    assert.equal(result.stdout, '');
    assert.equal(result.stderr, `trustgate: cannot reach trustgate at ${closedPortUrl}: connection refused; is "trustgate serve" running there? (ECONNREFUSED)\n`);
  });

  test('404 with trustgate\'s error body (operator\'s own certificate): the server\'s message, exit 69', async () => {
    const message = 'This server uses the operator\'s own TLS certificate (TRUSTGATE_TLS_CERT_FILE); get its CA from the operator.';
    const base = serve('own', () => ({
      status: 404, type: 'application/json', body: JSON.stringify({ errors: [{ code: 'request.routeNotFound', logref: 'x', message }] }),
    }));
    const result = await trustgate(['--url', base]);
    assert.equal(result.code, 69);
    assert.equal(result.stdout, '');
    assert.equal(result.stderr, `trustgate: ${message}\n`);
  });

  test('404 brokerCa.notGenerated (the broker has its own TLS certificate): what to use instead, exit 67 (not 69: nothing is down)', async () => {
    const message = 'This broker uses the operator\'s own TLS certificate (TRUSTGATE_TLS_CERT_FILE), issued by "CN=Plant CA", so it has no generated broker root CA. '
      + 'Agents trust the root CA of that certificate\'s chain: get it from whoever issued the certificate (your PKI or the operator), not from trustgate.';
    const base = serve('notgenerated', () => ({
      status: 404, type: 'application/json', body: JSON.stringify({ errors: [{ code: 'brokerCa.notGenerated', logref: 'x', message }] }),
    }));
    const result = await trustgate(['--url', base]);
    assert.equal(result.code, 67);
    assert.equal(result.stdout, '');
    assert.equal(result.stderr, `trustgate: ${message} Give agents that CA's certificate (PEM) as their broker CA, e.g. mosquitto_pub --cafile <that CA>.pem (brokerCa.notGenerated)\n`);
  });

  test('a server that is not trustgate, or answers junk: one clear line each', async () => {
    const notFound = await trustgate(['--url', `${url}/nothing`]);
    assert.equal(notFound.code, 69);
    assert.equal(notFound.stderr, `trustgate: ${url}/nothing/broker-ca.pem answered HTTP 404; is this a trustgate server?\n`);

    const junk = await trustgate(['--url', serve('junk', pem('<html>hello</html>'))]);
    assert.equal(junk.code, 65);
    assert.match(junk.stderr, /^trustgate: .*\/junk\/broker-ca\.pem did not answer with one PEM certificate \(found 0\); is this a trustgate server\?\n$/);

    const notCa = await trustgate(['--url', serve('leaf', pem(leaf.certificatePem))]);
    assert.equal(notCa.code, 65);
    assert.match(notCa.stderr, /^trustgate: .* answered with a certificate that is not a CA \(CN=localhost\)\n$/);

    const failing = await trustgate(['--url', serve('fail', () => ({ status: 500, type: 'text/plain', body: 'boom' }))]);
    assert.equal(failing.code, 69);
    assert.match(failing.stderr, /^trustgate: .*answered HTTP 500\n$/);
  });

  test('a URL that is not http(s): usage error', async () => {
    const result = await trustgate(['--url', 'ftp://example.com']);
    assert.equal(result.code, 64);
    assert.equal(result.stderr, 'trustgate: "ftp://example.com" is not an http:// or https:// URL\n');
  });
});
