import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { issueServerCertificate } from '../../src/pki/index.ts';
import { cliOk } from '../support/run-cli.ts';
import { run, runOk } from './e2e-helpers.ts';

// Issue 4, item 2: what the CLI creates are standard certificates. OpenSSL verifies them and shows
// the expected extensions, and an agent certificate it issued connects to a plain Mosquitto that
// trusts the CLI's CA: the files work outside trustgate too.

const freePort = async (): Promise<number> => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
};

/** Waits (bounded) until `child` has written `pattern` to stderr; fails with its output if it exits first. */
const waitForOutput = (child: ChildProcess, pattern: RegExp, what: string, ms = 30_000): Promise<void> => new Promise((resolve, reject) => {
  let output = '';
  const timer = setTimeout(() => reject(new Error(`${what}: no ${pattern} within ${ms} ms. Output:\n${output}`)), ms);
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    if (pattern.test(output)) {
      clearTimeout(timer);
      resolve();
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  child.once('exit', (code) => {
    clearTimeout(timer);
    reject(new Error(`${what} exited (${code}) early. Output:\n${output}`));
  });
});

describe('the CLI makes standard certificates', { timeout: 120_000, concurrency: true }, () => {
  let dir: string;
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => runOk('openssl', args, { cwd: dir });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trustgate-e2e-standard-'));
    await cliOk(['ca', 'create', '--tenant', 'acme', '--subject', '/C=DE/O=Acme/CN=Acme Agents CA'], { cwd: dir });
    await cliOk(['agent', 'issue', '--name', 'pump-1', '--ca-cert', 'acme-ca.pem', '--ca-key', 'acme-ca.key', '--tenant', 'acme'], { cwd: dir });
    await cliOk(['agent', 'issue', '--name', 'reader', '--ca-cert', 'acme-ca.pem', '--ca-key', 'acme-ca.key', '--tenant', 'acme'], { cwd: dir });
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('openssl verify -CAfile accepts the agent certificate and the chain file, for TLS client use', async () => {
    assert.equal((await openssl('verify', '-CAfile', 'acme-ca.pem', 'pump-1.pem')).stdout.trim(), 'pump-1.pem: OK');
    assert.equal((await openssl('verify', '-CAfile', 'acme-ca.pem', '-purpose', 'sslclient', 'pump-1.pem')).stdout.trim(), 'pump-1.pem: OK');
    // The chain file's first certificate is the agent's; openssl reads that one.
    assert.equal((await openssl('verify', '-CAfile', 'acme-ca.pem', 'pump-1-chain.pem')).stdout.trim(), 'pump-1-chain.pem: OK');
    // The key matches the certificate, as OpenSSL sees it.
    const certificateKey = (await openssl('x509', '-in', 'pump-1.pem', '-noout', '-pubkey')).stdout;
    assert.equal((await openssl('pkey', '-in', 'pump-1.key', '-pubout')).stdout, certificateKey);
  });

  test('openssl x509 -text: the CA has critical CA:TRUE, Certificate Sign and an SKI; the agent has clientAuth and an AKI = that SKI', async () => {
    const ca = (await openssl('x509', '-in', 'acme-ca.pem', '-noout', '-text')).stdout;
    assert.match(ca, /Version: 3 \(0x2\)/);
    assert.match(ca, /X509v3 Basic Constraints: critical\s+CA:TRUE/);
    assert.match(ca, /X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
    assert.match(ca, /Subject: C ?= ?DE, O ?= ?Acme, CN ?= ?Acme Agents CA/);
    assert.match(ca, /Signature Algorithm: ecdsa-with-SHA256/);
    const ski = /X509v3 Subject Key Identifier:\s+([0-9A-F:]+)/.exec(ca)?.[1];
    assert.ok(ski, ca);

    const agent = (await openssl('x509', '-in', 'pump-1.pem', '-noout', '-text')).stdout;
    assert.match(agent, /X509v3 Extended Key Usage:\s+TLS Web Client Authentication/);
    assert.match(agent, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
    assert.match(agent, /Subject: CN ?= ?pump-1/);
    const aki = /X509v3 Authority Key Identifier:\s+(?:keyid:)?([0-9A-F:]+)/.exec(agent)?.[1];
    assert.equal(aki, ski, 'the AKI names the CA\'s key');
  });

  test('an RSA CA (--key-type rsa2048) and an RSA agent: openssl verifies them too', async () => {
    await cliOk(['ca', 'create', '--tenant', 'rsa', '--key-type', 'rsa2048'], { cwd: dir });
    await cliOk(['agent', 'issue', '--name', 'rsa-agent', '--key-type', 'rsa2048', '--ca-cert', 'rsa-ca.pem', '--ca-key', 'rsa-ca.key', '--tenant', 'rsa'], { cwd: dir });
    assert.equal((await openssl('verify', '-CAfile', 'rsa-ca.pem', 'rsa-agent.pem')).stdout.trim(), 'rsa-agent.pem: OK');
    const ca = (await openssl('x509', '-in', 'rsa-ca.pem', '-noout', '-text')).stdout;
    assert.match(ca, /Public-Key: \(2048 bit\)/);
    assert.match(ca, /Signature Algorithm: sha256WithRSAEncryption/);
  });

  test('a CSR made by OpenSSL (the key stays on the device) is signed into a certificate openssl verifies', async () => {
    await openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'device.key', '-subj', '/CN=device-1', '-out', 'device.csr');
    await cliOk(['agent', 'issue', '--csr', 'device.csr', '--ca-cert', 'acme-ca.pem', '--ca-key', 'acme-ca.key', '--tenant', 'acme'], { cwd: dir });
    assert.equal((await openssl('verify', '-CAfile', 'acme-ca.pem', 'device-1.pem')).stdout.trim(), 'device-1.pem: OK');
    assert.equal((await openssl('x509', '-in', 'device-1.pem', '-noout', '-pubkey')).stdout, (await openssl('pkey', '-in', 'device.key', '-pubout')).stdout);
    await assert.rejects(readFile(file('device-1.key')), /ENOENT/);
  });

  test('an agent certificate the CLI issued connects to a plain Mosquitto that trusts the CLI\'s CA', async () => {
    // Mosquitto's own server certificate, from the same CA (any CA would do; this one is at hand).
    const server = await issueServerCertificate({
      issuer: { certificatePem: await readFile(file('acme-ca.pem'), 'utf8'), privateKeyPem: await readFile(file('acme-ca.key'), 'utf8') },
      hostnames: ['localhost', '127.0.0.1'], validityDays: 1, now: new Date(),
    });
    await writeFile(file('mosquitto-server.pem'), server.certificatePem);
    await writeFile(file('mosquitto-server.key'), server.privateKeyPem, { mode: 0o600 });
    const port = await freePort();
    await writeFile(file('mosquitto.conf'), [
      `listener ${port} 127.0.0.1`,
      `cafile ${file('acme-ca.pem')}`,
      `certfile ${file('mosquitto-server.pem')}`,
      `keyfile ${file('mosquitto-server.key')}`,
      'require_certificate true',
      'use_identity_as_username true',
      'allow_anonymous false',
      'persistence false',
      // Mosquitto started as root switches to this user; keep ours so it can read the 0600 key.
      `user ${userInfo().username}`,
      'log_dest stderr',
      'log_type all',
      '',
    ].join('\n'));
    const mosquitto = spawn('mosquitto', ['-c', file('mosquitto.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      // Mosquitto says "Opening … listen socket" before it binds; "running" comes once every listener is open.
      await waitForOutput(mosquitto, /mosquitto version \S+ running/, 'mosquitto');
      const tls = ['--cafile', 'acme-ca.pem', '-h', 'localhost', '-p', String(port)];
      const clientId = await readFile(file('pump-1.clientid'), 'utf8');
      // Retained, so the subscriber gets it whenever its subscription lands: no race to wait out.
      const published = await run('mosquitto_pub', [...tls, '--cert', 'pump-1.pem', '--key', 'pump-1.key', '-i', clientId, '-t', `tc/acme/${clientId}/o/x`, '-m', 'hi from pump-1', '-r'], { cwd: dir });
      assert.equal(published.code, 0, published.stderr);
      const received = await run('mosquitto_sub', [...tls, '--cert', 'reader.pem', '--key', 'reader.key', '-i', 'acme_reader', '-t', 'tc/acme/#', '-C', '1', '-W', '10', '-v'], { cwd: dir });
      assert.equal(received.code, 0, received.stderr);
      assert.equal(received.stdout, `tc/acme/${clientId}/o/x hi from pump-1\n`);
      // And one whose certificate another CA issued is refused by the same Mosquitto.
      await cliOk(['ca', 'create', '--tenant', 'stranger'], { cwd: dir });
      await cliOk(['agent', 'issue', '--name', 'stranger-1', '--ca-cert', 'stranger-ca.pem', '--ca-key', 'stranger-ca.key', '--tenant', 'stranger'], { cwd: dir });
      const refused = await run('mosquitto_pub', [...tls, '--cert', 'stranger-1.pem', '--key', 'stranger-1.key', '-i', 'stranger_stranger-1', '-t', 'x', '-m', 'no'], { cwd: dir });
      assert.notEqual(refused.code, 0);
    } finally {
      mosquitto.kill('SIGTERM');
      await new Promise((resolve) => (mosquitto.exitCode === null ? mosquitto.once('exit', resolve) : resolve(undefined)));
    }
  });
});
