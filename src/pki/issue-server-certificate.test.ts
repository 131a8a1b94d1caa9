import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, connect, checkServerIdentity, type ConnectionOptions, type PeerCertificate, type Server } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseCertificatePem } from './certificate.ts';
import { brokerRootCaProfile } from './certificate-profiles.ts';
import { issueCertificate, type IssuedCertificate } from './issue-certificate.ts';
import { issueServerCertificate, normalizeHostname, subjectAltNames } from './issue-server-certificate.ts';

const run = promisify(execFile);
const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

const DAY_MS = 86_400_000;
const now = new Date('2026-11-27T10:00:00.000Z');

describe('issueServerCertificate', () => {
  let root: IssuedCertificate;
  let server: IssuedCertificate;
  const hostnames = ['localhost', '127.0.0.1', '::1', 'Broker.Example.com'];
  before(async () => {
    root = await issueCertificate(brokerRootCaProfile, { subject: { CN: 'trustgate broker root CA' }, key: 'p256', validityDays: 3650, now });
    server = await issueServerCertificate({ issuer: root, hostnames, validityDays: 365, now });
  });

  test('is an end-entity certificate signed by the root, CN = first host name, EC P-256', () => {
    const rootCertificate = parseCertificatePem(root.certificatePem);
    const certificate = parseCertificatePem(server.certificatePem);
    assert.equal(certificate.version, 3);
    assert.equal(certificate.subject, 'CN=localhost');
    assert.equal(certificate.issuer, rootCertificate.subject);
    assert.ok(certificate.x509.checkIssued(rootCertificate.x509));
    assert.ok(certificate.x509.verify(rootCertificate.publicKey), 'signed by the root key');
    assert.equal(certificate.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.ok(certificate.x509.checkPrivateKey(createPrivateKey(server.privateKeyPem)));
    assert.equal(certificate.signatureHash, 'sha256');
    assert.equal(certificate.notBefore.getTime(), now.getTime() - 5 * 60_000);
    assert.equal(certificate.notAfter.getTime(), now.getTime() + 365 * DAY_MS);
  });

  test('has critical CA:FALSE, critical digitalSignature only, EKU serverAuth, AKI = root SKI and its own SKI', () => {
    const rootCertificate = parseCertificatePem(root.certificatePem);
    const certificate = parseCertificatePem(server.certificatePem);
    assert.deepEqual(certificate.basicConstraints, { isCa: false, isCritical: true });
    assert.deepEqual(certificate.keyUsage, { digitalSignature: true, keyCertSign: false, cRLSign: false });
    assert.deepEqual(certificate.x509.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'Node names the EKU list keyUsage');
    assert.equal(certificate.authorityKeyId, rootCertificate.subjectKeyId);
    assert.match(certificate.subjectKeyId ?? '', /^[0-9a-f]{40}$/);
    assert.notEqual(certificate.subjectKeyId, rootCertificate.subjectKeyId);
  });

  test('puts DNS names (lowercased) and IP addresses in the subjectAltName', () => {
    assert.equal(new X509Certificate(server.certificatePem).subjectAltName,
      'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:broker.example.com');
    assert.deepEqual(subjectAltNames(server.certificatePem), ['127.0.0.1', '::1', 'broker.example.com', 'localhost']);
    const x509 = new X509Certificate(server.certificatePem);
    assert.equal(x509.checkHost('BROKER.example.com'), 'broker.example.com');
    assert.equal(x509.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(x509.checkHost('other.example.com'), undefined);
  });

  test('de-duplicates host names that are equal once normalized', async () => {
    const issued = await issueServerCertificate({ issuer: root, hostnames: ['a.example', 'A.EXAMPLE', '::1', '0:0::1'], validityDays: 1, now });
    assert.equal(new X509Certificate(issued.certificatePem).subjectAltName, 'DNS:a.example, IP Address:0:0:0:0:0:0:0:1');
  });

  test('never outlives notAfterCap', async () => {
    const cap = new Date(now.getTime() + 10 * DAY_MS);
    const issued = await issueServerCertificate({ issuer: root, hostnames: ['localhost'], validityDays: 365, now, notAfterCap: cap });
    assert.equal(new X509Certificate(issued.certificatePem).validToDate.getTime(), cap.getTime());
  });

  test('certifies a given key, and refuses an empty host name list', async () => {
    const issued = await issueServerCertificate({ issuer: root, hostnames: ['localhost'], validityDays: 1, now, privateKeyPem: server.privateKeyPem });
    assert.ok(new X509Certificate(issued.certificatePem).checkPrivateKey(createPrivateKey(server.privateKeyPem)));
    await assert.rejects(issueServerCertificate({ issuer: root, hostnames: [], validityDays: 1, now }), /at least one host name/);
  });

  test('normalizeHostname: lowercase DNS names, compressed IPv6, IPv4 as is', () => {
    assert.equal(normalizeHostname('Broker.EXAMPLE.com'), 'broker.example.com');
    assert.equal(normalizeHostname('0:0:0:0:0:0:0:1'), '::1');
    assert.equal(normalizeHostname('FE80:0::1'), 'fe80::1');
    assert.equal(normalizeHostname('10.0.0.1'), '10.0.0.1');
  });
});

describe('the issued pair against real TLS stacks', () => {
  let dir: string;
  let root: IssuedCertificate;
  let server: IssuedCertificate;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trustgate-issue-'));
    // Issued "now" for real: OpenSSL and node:tls check validity against the wall clock.
    root = await issueCertificate(brokerRootCaProfile, { subject: { CN: 'trustgate broker root CA' }, key: 'p256', validityDays: 3650, now: new Date() });
    server = await issueServerCertificate({ issuer: root, hostnames: ['localhost', '127.0.0.1'], validityDays: 365, now: new Date() });
    await writeFile(join(dir, 'root.pem'), root.certificatePem);
    await writeFile(join(dir, 'server.pem'), server.certificatePem);
  });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  test('openssl verify -CAfile root.pem server.pem passes', { skip: !hasOpenssl && 'openssl not installed' }, async () => {
    const { stdout } = await run('openssl', ['verify', '-purpose', 'sslserver', '-CAfile', join(dir, 'root.pem'), join(dir, 'server.pem')]);
    assert.equal(stdout.trim(), `${join(dir, 'server.pem')}: OK`);
  });

  test('openssl x509 -text shows the SANs, the EKU and the CA constraints', { skip: !hasOpenssl && 'openssl not installed' }, async () => {
    const { stdout: serverText } = await run('openssl', ['x509', '-noout', '-text', '-in', join(dir, 'server.pem')]);
    assert.match(serverText, /DNS:localhost, IP Address:127\.0\.0\.1/);
    assert.match(serverText, /X509v3 Extended Key Usage: *\n *TLS Web Server Authentication/);
    assert.match(serverText, /X509v3 Basic Constraints: critical\n *CA:FALSE/);
    assert.match(serverText, /X509v3 Key Usage: critical\n *Digital Signature\n/);
    assert.match(serverText, /ecdsa-with-SHA256/);
    const { stdout: rootText } = await run('openssl', ['x509', '-noout', '-text', '-in', join(dir, 'root.pem')]);
    assert.match(rootText, /X509v3 Basic Constraints: critical\n *CA:TRUE, pathlen:0/);
    assert.match(rootText, /X509v3 Key Usage: critical\n *Certificate Sign, CRL Sign\n/);
    assert.match(rootText, /NIST CURVE: P-256/);
  });

  const withTlsServer = async (use: (port: number) => Promise<void>): Promise<void> => {
    const tlsServer: Server = createServer({ cert: server.certificatePem + root.certificatePem, key: server.privateKeyPem }, (socket) => socket.end('hello'));
    await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
    try {
      await use((tlsServer.address() as AddressInfo).port);
    } finally {
      await new Promise((resolve) => tlsServer.close(resolve));
    }
  };

  const handshake = (options: ConnectionOptions): Promise<PeerCertificate> => new Promise((resolve, reject) => {
    const socket = connect(options, () => {
      const peer = socket.getPeerCertificate();
      socket.end();
      resolve(peer);
    });
    socket.once('error', reject);
  });

  test('node:tls with ca = root accepts it for servername localhost', async () => {
    await withTlsServer(async (port) => {
      const peer = await handshake({ host: '127.0.0.1', port, ca: root.certificatePem, servername: 'localhost' });
      assert.equal(peer.subject.CN, 'localhost');
    });
  });

  test('node:tls accepts it by its IP SAN when connecting to 127.0.0.1 without a server name', async () => {
    await withTlsServer(async (port) => {
      const peer = await handshake({ host: '127.0.0.1', port, ca: root.certificatePem });
      assert.equal(checkServerIdentity('127.0.0.1', peer), undefined);
      assert.ok(checkServerIdentity('10.0.0.1', peer) instanceof Error, 'an IP not in the SAN is refused');
    });
  });

  test('node:tls refuses it for a name not in the certificate, and without the root', async () => {
    await withTlsServer(async (port) => {
      await assert.rejects(handshake({ host: '127.0.0.1', port, ca: root.certificatePem, servername: 'other.example' }),
        { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
      await assert.rejects(handshake({ host: '127.0.0.1', port, servername: 'localhost' }),
        { code: 'SELF_SIGNED_CERT_IN_CHAIN' });
    });
  });
});
