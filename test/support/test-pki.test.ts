import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, createCsr, issueCertificate, type TestCertificate } from './test-pki.ts';

// The helpers are only worth something if real tools read their output the way the options say,
// so each case is checked against `openssl x509 -text` as well as Node's parser.

let dir: string;
before(() => { dir = mkdtempSync(join(tmpdir(), 'test-pki-')); });
after(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
const writeTemp = (text: string): string => {
  const path = join(dir, `f${fileCount++}.pem`);
  writeFileSync(path, text);
  return path;
};
const openssl = (...args: string[]): string => execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const opensslText = (certificate: TestCertificate): string =>
  openssl('x509', '-noout', '-text', '-in', writeTemp(certificate.certificatePem));

describe('test-pki', () => {
  let rsaCa: TestCertificate;
  before(async () => { rsaCa = await createCa({ subject: 'CN=acme-ca,O=Acme', keyType: 'rsa2048' }); });

  test('createCa makes a v3 self-signed CA with critical CA:TRUE, keyCertSign, SKI and AKI', () => {
    const text = opensslText(rsaCa);
    assert.match(text, /Version: 3 \(0x2\)/);
    assert.match(text, /Issuer: CN = acme-ca, O = Acme/);
    assert.match(text, /Subject: CN = acme-ca, O = Acme/);
    assert.match(text, /X509v3 Basic Constraints: critical\s+CA:TRUE/);
    assert.match(text, /X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
    assert.match(text, /Signature Algorithm: sha256WithRSAEncryption/);
    assert.match(text, /Public-Key: \(2048 bit\)/);
    assert.equal(new X509Certificate(rsaCa.certificatePem).verify(new X509Certificate(rsaCa.certificatePem).publicKey), true);
    assert.equal(rsaCa.subject, 'CN=acme-ca,O=Acme');
  });

  test('the private key is PKCS#8 PEM and belongs to the certificate', () => {
    assert.match(rsaCa.privateKeyPem, /^-----BEGIN PRIVATE KEY-----\n/);
    assert.equal(new X509Certificate(rsaCa.certificatePem).checkPrivateKey(createPrivateKey(rsaCa.privateKeyPem)), true);
  });

  test('version 1 is real v1 DER: no version field, no extensions', async () => {
    const v1 = await createCa({ version: 1 });
    const text = opensslText(v1);
    assert.match(text, /Version: 1 \(0x0\)/);
    assert.doesNotMatch(text, /X509v3/);
    // In DER the explicit [0] version tag would be the first element of the TBSCertificate.
    const structure = openssl('asn1parse', '-in', writeTemp(v1.certificatePem));
    assert.doesNotMatch(structure, /cont \[ 0 \]/);
    assert.doesNotMatch(structure, /cont \[ 3 \]/);
  });

  test('SHA-1 really signs with SHA-1, for RSA and ECDSA', async () => {
    const rsa = await createCa({ keyPair: rsaCa, hash: 'SHA-1' });
    const ec = await createCa({ keyType: 'p256', hash: 'SHA-1' });
    assert.match(opensslText(rsa), /Signature Algorithm: sha1WithRSAEncryption/);
    assert.match(opensslText(ec), /Signature Algorithm: ecdsa-with-SHA1/);
    // and the signature is a valid SHA-1 signature, not a SHA-256 one under a SHA-1 label
    for (const certificate of [rsa, ec]) {
      const x509 = new X509Certificate(certificate.certificatePem);
      assert.equal(x509.verify(x509.publicKey), true);
    }
  });

  const keyCases = [
    { keyType: 'p256', hash: 'SHA-256', key: /NIST CURVE: P-256/, signature: /ecdsa-with-SHA256/ },
    { keyType: 'p384', hash: 'SHA-384', key: /NIST CURVE: P-384/, signature: /ecdsa-with-SHA384/ },
    { keyType: 'p521', hash: 'SHA-512', key: /NIST CURVE: P-521/, signature: /ecdsa-with-SHA512/ },
    { keyType: 'rsa1024', hash: 'SHA-384', key: /Public-Key: \(1024 bit\)/, signature: /sha384WithRSAEncryption/ },
    { keyType: 'ed25519', hash: 'SHA-1', key: /ED25519 Public-Key/, signature: /Signature Algorithm: ED25519/ },
  ] as const;
  for (const { keyType, hash, key, signature } of keyCases) {
    test(`${keyType} with ${hash}`, async () => {
      const ca = await createCa({ keyType, hash });
      const text = opensslText(ca);
      assert.match(text, key);
      assert.match(text, signature);
      assert.equal(ca.keyType, keyType);
    });
  }

  test('issueCertificate makes a leaf: issuer name and AKI from the CA, no basicConstraints, digitalSignature', async () => {
    const leaf = await issueCertificate(rsaCa, { subject: 'CN=agent-1', extendedKeyUsage: 'clientAuth', serialNumber: 'ff01' });
    const text = opensslText(leaf);
    const caText = opensslText(rsaCa);
    assert.match(text, /Issuer: CN = acme-ca, O = Acme/);
    assert.match(text, /Subject: CN = agent-1/);
    assert.match(text, /Serial Number: 65281 \(0xff01\)/);
    assert.doesNotMatch(text, /Basic Constraints/);
    assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature\n/);
    assert.match(text, /TLS Web Client Authentication/);
    const caSki = /Subject Key Identifier: *\n\s+([0-9A-F:]+)/.exec(caText)?.[1];
    const leafAki = /Authority Key Identifier: *\n\s+(?:keyid:)?([0-9A-F:]+)/.exec(text)?.[1];
    assert.ok(caSki);
    assert.equal(leafAki, caSki);
    assert.equal(openssl('verify', '-CAfile', writeTemp(rsaCa.certificatePem), writeTemp(leaf.certificatePem)).trim().endsWith(': OK'), true);
  });

  test('options: null omits basicConstraints and keyUsage, non-critical CA:FALSE is kept as given', async () => {
    const bare = await createCa({ basicConstraints: null, keyUsage: null });
    const bareText = opensslText(bare);
    assert.doesNotMatch(bareText, /Basic Constraints|Key Usage/);
    assert.match(bareText, /Subject Key Identifier/);
    const notCa = await createCa({ basicConstraints: { ca: false, critical: false }, keyUsage: ['digitalSignature', 'keyEncipherment'] });
    const notCaText = opensslText(notCa);
    assert.match(notCaText, /X509v3 Basic Constraints: *\n\s+CA:FALSE/);
    assert.match(notCaText, /Digital Signature, Key Encipherment/);
  });

  test('dates are kept to the second, GeneralizedTime after 2049', async () => {
    const notBefore = new Date('2030-01-02T03:04:05.678Z');
    const notAfter = new Date('2061-02-03T04:05:06.000Z');
    const x509 = new X509Certificate((await createCa({ notBefore, notAfter })).certificatePem);
    assert.equal(x509.validFromDate.toISOString(), '2030-01-02T03:04:05.000Z');
    assert.equal(x509.validToDate.toISOString(), '2061-02-03T04:05:06.000Z');
  });

  test('signWith keeps the issuer name and AKI but signs with another key', async () => {
    const other = await createCa({ keyType: 'p256' });
    const forged = await issueCertificate(rsaCa, { subject: 'CN=x', signWith: other });
    const x509 = new X509Certificate(forged.certificatePem);
    assert.equal(x509.issuer, 'CN=acme-ca\nO=Acme');
    assert.match(opensslText(forged), /ecdsa-with-SHA256/);
    assert.equal(x509.verify(new X509Certificate(rsaCa.certificatePem).publicKey), false);
    assert.equal(x509.verify(new X509Certificate(other.certificatePem).publicKey), true);
  });

  test('certificateDer is the DER of certificatePem', async () => {
    const ca = await createCa();
    assert.deepEqual(new X509Certificate(ca.certificatePem).raw, ca.certificateDer);
    assert.equal(createHash('sha256').update(ca.certificateDer).digest('hex').length, 64);
  });

  test('createCsr makes a CSR that openssl verifies', async () => {
    const csr = await createCsr({ subject: 'CN=registration-code', keyType: 'p256' });
    const out = execFileSync('openssl', ['req', '-in', writeTemp(csr.csrPem), '-noout', '-verify', '-subject'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.match(out, /subject=CN = registration-code/);
    assert.match(csr.privateKeyPem, /^-----BEGIN PRIVATE KEY-----/);
  });
});
