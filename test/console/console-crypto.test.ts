import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { children, fromHex, oid, readOid, readOne, time, toHex, unsignedInteger, namedBits } from '../../console/js/der.js';
import { pemBlocks, toPem } from '../../console/js/pem.js';
import { KeyFileError, importSigningKey, readPrivateKeyPem } from '../../console/js/private-key.js';
import { parseCertificatePem } from '../../console/js/certificate.js';
import { buildVerificationCertificate, ecdsaRawToDer, keyMatchesCertificate, randomSerial } from '../../console/js/verification-certificate.js';
import { createCaCertificate, checkCommonName } from '../../console/js/ca-certificate.js';
import { caCertificateRules, checkProofOfPossession, lintCertificate, parseCertificatePem as parseForServer } from '../../src/pki/index.ts';

// The console's own DER encoder and key reader (decision 0026), checked against OpenSSL: the keys
// come from openssl in every format it writes, and the verification certificate the console
// builds is read back by `openssl x509 -text`, verified by `openssl verify` and by Node, and
// passes the server's own proof-of-possession rules.

const run = promisify(execFile);
const openssl = async (...args: string[]): Promise<string> => (await run('openssl', args, { encoding: 'utf8' })).stdout;
const subtle = globalThis.crypto.subtle;
const random = <T extends ArrayBufferView>(array: T): T => globalThis.crypto.getRandomValues(array as any);

let dir: string;
before(async () => { dir = await mkdtemp(join(tmpdir(), 'console-crypto-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

interface OpensslCa { name: string; keyFile: string; certFile: string; keyPem: string; certPem: string }

/** A self-signed CA from OpenSSL: `makeKey` writes the key file in the format under test. */
const opensslCa = async (name: string, makeKey: string[][], subject = `/C=DE/O=Acme ${name}/CN=${name} root`): Promise<OpensslCa> => {
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.pem`);
  for (const args of makeKey) await openssl(...args.map((a) => a.replace('KEY', keyFile)));
  await openssl('req', '-x509', '-new', '-key', keyFile, '-subj', subject, '-days', '30', '-sha256', '-out', certFile,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  return { name, keyFile, certFile, keyPem: await readFile(keyFile, 'utf8'), certPem: await readFile(certFile, 'utf8') };
};

const FORMATS: Record<string, { label: string; type: 'RSA' | 'EC'; curve?: string; make: string[][] }> = {
  'rsa-pkcs8': { label: 'PRIVATE KEY', type: 'RSA', make: [['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'KEY']] },
  'rsa-pkcs1': { label: 'RSA PRIVATE KEY', type: 'RSA', make: [['genrsa', '-traditional', '-out', 'KEY', '2048']] },
  'p256-sec1': { label: 'EC PRIVATE KEY', type: 'EC', curve: 'P-256', make: [['ecparam', '-name', 'prime256v1', '-genkey', '-out', 'KEY']] },
  'p256-pkcs8': { label: 'PRIVATE KEY', type: 'EC', curve: 'P-256', make: [['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'KEY']] },
  'p384-sec1': { label: 'EC PRIVATE KEY', type: 'EC', curve: 'P-384', make: [['ecparam', '-name', 'secp384r1', '-genkey', '-noout', '-out', 'KEY']] },
  'p521-sec1': { label: 'EC PRIVATE KEY', type: 'EC', curve: 'P-521', make: [['ecparam', '-name', 'secp521r1', '-genkey', '-noout', '-out', 'KEY']] },
  'p384-pkcs8': { label: 'PRIVATE KEY', type: 'EC', curve: 'P-384', make: [['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384', '-out', 'KEY']] },
};

describe('the console\'s DER encoder', () => {
  test('encodes lengths, integers, OIDs, times and named bits as DER', () => {
    assert.equal(toHex(unsignedInteger(fromHex('0080'))), '02020080');
    assert.equal(toHex(unsignedInteger(fromHex('000001'))), '020101');
    assert.equal(toHex(unsignedInteger(fromHex('ff'))), '020200ff');
    assert.equal(toHex(oid('1.2.840.113549.1.1.11')), '06092a864886f70d01010b');
    assert.equal(readOid(readOne(oid('2.5.29.35')).contents), '2.5.29.35');
    assert.equal(toHex(time(new Date('2049-12-31T23:59:59Z'))), `170d${Buffer.from('491231235959Z').toString('hex')}`);
    assert.equal(toHex(time(new Date('2050-01-01T00:00:00Z'))), `180f${Buffer.from('20500101000000Z').toString('hex')}`);
    assert.equal(toHex(namedBits(0)), '03020780', 'digitalSignature');
    assert.equal(toHex(namedBits(5, 6)), '03020106', 'keyCertSign, cRLSign');
    const long = unsignedInteger(new Uint8Array(300).fill(1));
    assert.equal(toHex(long.subarray(0, 4)), '0282012c');
  });

  test('the reader refuses non-minimal, indefinite and overrunning lengths', () => {
    assert.throws(() => readOne(fromHex('3081050500')), /not minimal/);
    assert.throws(() => readOne(fromHex('30800000')), /indefinite/);
    assert.throws(() => readOne(fromHex('3005')), /past the end/);
    assert.throws(() => readOne(fromHex('0500ff')), /bytes after/);
  });

  test('converts WebCrypto\'s raw r||s into a DER Ecdsa-Sig-Value (leading zeros dropped, sign byte added)', () => {
    const raw = fromHex(`${'00'.repeat(31)}01${'80'}${'11'.repeat(31)}`);
    assert.equal(toHex(ecdsaRawToDer(raw)), `3026020101022100${'80'}${'11'.repeat(31)}`);
  });

  test('a random serial is positive and 16 bytes', () => {
    for (let i = 0; i < 50; i++) {
      const serial = randomSerial(random);
      assert.equal(serial.length, 16);
      assert.ok(serial[0]! > 0 && serial[0]! < 0x80);
    }
  });
});

describe('the console reads private keys in every format OpenSSL writes and makes a verification certificate OpenSSL accepts', { timeout: 120_000 }, () => {
  for (const [name, format] of Object.entries(FORMATS)) {
    test(`${name}: ${format.label}`, async () => {
      const ca = await opensslCa(name, format.make);
      assert.match(ca.keyPem, new RegExp(`BEGIN ${format.label}-----`));
      const key = readPrivateKeyPem(ca.keyPem);
      assert.equal(key.type, format.type);
      assert.equal(key.curve?.name, format.curve);
      // The PKCS#8 the console hands WebCrypto is the same key as OpenSSL's own PKCS#8 of the file.
      const opensslPkcs8 = pemBlocks(await openssl('pkcs8', '-topk8', '-nocrypt', '-in', ca.keyFile))[0]!.der!;
      const ours = join(dir, `${name}.ours.key`);
      await writeFile(ours, toPem('PRIVATE KEY', key.pkcs8));
      assert.equal(await openssl('pkey', '-in', ours, '-pubout'), await openssl('pkey', '-in', ca.keyFile, '-pubout'));
      if (format.type === 'RSA') assert.deepEqual(Buffer.from(key.pkcs8), Buffer.from(opensslPkcs8));

      const caCertificate = parseCertificatePem(ca.certPem);
      const signingKey = await importSigningKey(subtle, key);
      assert.equal(signingKey.extractable, false);
      assert.deepEqual(await keyMatchesCertificate(subtle, key, signingKey, caCertificate), { matches: true, how: 'public key' });

      const registrationCode = toHex(random(new Uint8Array(16)));
      const now = new Date();
      const built = await buildVerificationCertificate({ subtle, random, caCertificate, key, signingKey, registrationCode, now });
      const file = join(dir, `${name}.verification.pem`);
      await writeFile(file, built.pem);
      const text = await openssl('x509', '-in', file, '-text', '-noout');
      assert.match(text, /Version: 3 \(0x2\)/);
      assert.match(text, new RegExp(`Subject: CN\\s?=\\s?${registrationCode}\\n`));
      const issuerLine = /Issuer: (.*)\n/.exec(text)![1];
      const caSubjectLine = /Subject: (.*)\n/.exec(await openssl('x509', '-in', ca.certFile, '-text', '-noout'))![1];
      assert.equal(issuerLine, caSubjectLine);
      assert.match(text, /Public Key Algorithm: id-ecPublicKey[\s\S]*NIST CURVE: P-256/);
      assert.match(text, format.type === 'RSA' ? /Signature Algorithm: sha256WithRSAEncryption/
        : new RegExp(`Signature Algorithm: ecdsa-with-${({ 'P-256': 'SHA256', 'P-384': 'SHA384', 'P-521': 'SHA512' } as Record<string, string>)[format.curve!]}`));
      assert.match(text, /X509v3 Basic Constraints: critical\n\s+CA:FALSE/);
      assert.match(text, /X509v3 Key Usage: critical\n\s+Digital Signature/);
      assert.match(text, /X509v3 Authority Key Identifier:/);
      const notBefore = new Date(/Not Before: (.*)\n/.exec(text)![1]!);
      const notAfter = new Date(/Not After : (.*)\n/.exec(text)![1]!);
      assert.ok(Math.abs(notBefore.getTime() - (now.getTime() - 300_000)) < 1_000);
      assert.ok(Math.abs(notAfter.getTime() - (now.getTime() + 86_400_000)) < 1_000);
      // The issuer is the CA's subject, byte for byte.
      const issuerDer = children(children(readOne(built.der).contents)[0]!.contents)[3]!.raw;
      assert.deepEqual(Buffer.from(issuerDer), Buffer.from(caCertificate.subjectDer));

      assert.match(await openssl('verify', '-CAfile', ca.certFile, file), /: OK/);
      const x509 = new X509Certificate(built.pem);
      assert.ok(x509.verify(new X509Certificate(ca.certPem).publicKey));
      // And the server's own rules accept it as the proof of possession.
      const problem = checkProofOfPossession({ caCertificate: parseForServer(ca.certPem, 'ca'), verificationCertificate: parseForServer(built.pem, 'proof'), registrationCode },
        { now: new Date(), clockSkewMs: 0 });
      assert.equal(problem, undefined, JSON.stringify(problem));
    });
  }

  test('a key that is not the CA\'s is told apart before anything is signed (by public key, or by a test signature when the file has no public point)', async () => {
    const rsa = await opensslCa('mismatch-rsa', FORMATS['rsa-pkcs1']!.make);
    const other = await opensslCa('mismatch-rsa-other', FORMATS['rsa-pkcs8']!.make);
    const key = readPrivateKeyPem(other.keyPem);
    const signingKey = await importSigningKey(subtle, key);
    assert.deepEqual(await keyMatchesCertificate(subtle, key, signingKey, parseCertificatePem(rsa.certPem)), { matches: false, how: 'public key' });

    const ec = await opensslCa('mismatch-ec', FORMATS['p256-sec1']!.make);
    const ecOther = await opensslCa('mismatch-ec-other', FORMATS['p256-sec1']!.make);
    const pointless = await openssl('ec', '-in', ecOther.keyFile, '-no_public');
    const withoutPoint = readPrivateKeyPem(pointless);
    assert.equal(withoutPoint.spki, undefined);
    const ecKey = await importSigningKey(subtle, withoutPoint);
    assert.deepEqual(await keyMatchesCertificate(subtle, withoutPoint, ecKey, parseCertificatePem(ec.certPem)), { matches: false, how: 'test signature' });
    const own = readPrivateKeyPem(await openssl('ec', '-in', ec.keyFile, '-no_public'));
    assert.deepEqual(await keyMatchesCertificate(subtle, own, await importSigningKey(subtle, own), parseCertificatePem(ec.certPem)), { matches: true, how: 'test signature' });
    // An RSA key for an EC CA: told by type.
    assert.equal((await keyMatchesCertificate(subtle, key, signingKey, parseCertificatePem(ec.certPem))).matches, false);
  });

  test('refuses what is not a usable key with a message that says what to pick', async () => {
    const ca = await opensslCa('refusals', FORMATS['p256-pkcs8']!.make);
    assert.throws(() => readPrivateKeyPem(ca.certPem), (e: unknown) => e instanceof KeyFileError && /holds CERTIFICATE, not a private key/.test(e.message));
    assert.throws(() => readPrivateKeyPem('hello'), /not a PEM private key/);
    const encrypted = await openssl('pkcs8', '-topk8', '-in', ca.keyFile, '-passout', 'pass:secret');
    assert.throws(() => readPrivateKeyPem(encrypted), /encrypted with a passphrase/);
    const legacyEncrypted = await openssl('ec', '-in', ca.keyFile, '-aes128', '-passout', 'pass:secret');
    assert.throws(() => readPrivateKeyPem(legacyEncrypted), /encrypted with a passphrase/);
    const ed = await openssl('genpkey', '-algorithm', 'ed25519');
    assert.throws(() => readPrivateKeyPem(ed), /1\.3\.101\.112 are not supported/);
    assert.throws(() => readPrivateKeyPem('-----BEGIN PRIVATE KEY-----\nMAA*\n-----END PRIVATE KEY-----'), /not valid base64/);
    assert.throws(() => readPrivateKeyPem('-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n-----END PRIVATE KEY-----'), KeyFileError);
  });
});

describe('the console creates a CA in the browser (review of issue 17): OpenSSL and the server accept it, and it verifies itself', () => {
  test('a P-256 key as PKCS#8 PEM and a self-signed v3 CA certificate: openssl reads and verifies it, the upload rules pass, a proof made with the saved key passes', async () => {
    const now = new Date();
    const created = await createCaCertificate({ subtle, random, commonName: 'Acme devices CA', days: 365, now });
    const certFile = join(dir, 'browser-ca.pem');
    const keyFile = join(dir, 'browser-ca.key');
    await writeFile(certFile, created.certificatePem);
    await writeFile(keyFile, created.keyPem);
    assert.match(created.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
    const text = await openssl('x509', '-in', certFile, '-text', '-noout');
    assert.match(text, /Version: 3 \(0x2\)/);
    assert.match(text, /Issuer: CN\s?=\s?Acme devices CA\n/);
    assert.match(text, /Subject: CN\s?=\s?Acme devices CA\n/);
    assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
    assert.match(text, /Public Key Algorithm: id-ecPublicKey[\s\S]*NIST CURVE: P-256/);
    assert.match(text, /X509v3 Basic Constraints: critical\n\s+CA:TRUE\n/);
    assert.match(text, /X509v3 Key Usage: critical\n\s+Certificate Sign, CRL Sign\n/);
    const ski = /X509v3 Subject Key Identifier: *\n\s+([0-9A-F:]+)/.exec(text)![1];
    assert.match(text, new RegExp(`X509v3 Authority Key Identifier: *\\n\\s+(keyid:)?${ski}`));
    const notAfter = new Date(/Not After : (.*)\n/.exec(text)![1]!);
    assert.ok(Math.abs(notAfter.getTime() - (now.getTime() + 365 * 86_400_000)) < 1_000);
    // Self-signed and a CA by OpenSSL's own checks; the key file is the certificate's key.
    assert.match(await openssl('verify', '-x509_strict', '-check_ss_sig', '-CAfile', certFile, certFile), /: OK/);
    assert.equal(await openssl('pkey', '-in', keyFile, '-pubout'), await openssl('x509', '-in', certFile, '-pubkey', '-noout'));
    // The server's upload rules.
    const report = lintCertificate(parseForServer(created.certificatePem, 'ca'), caCertificateRules, { now: new Date(), clockSkewMs: 0 });
    assert.deepEqual(report.findings, []);
    // The operator picks the saved key file to verify: the console's own reader takes it, and the proof passes.
    const key = readPrivateKeyPem(created.keyPem);
    assert.equal(key.format, 'PKCS#8');
    const signingKey = await importSigningKey(subtle, key);
    const caCertificate = parseCertificatePem(created.certificatePem);
    assert.deepEqual(await keyMatchesCertificate(subtle, key, signingKey, caCertificate), { matches: true, how: 'public key' });
    const registrationCode = toHex(random(new Uint8Array(16)));
    const built = await buildVerificationCertificate({ subtle, random, caCertificate, key, signingKey, registrationCode });
    const problem = checkProofOfPossession({ caCertificate: parseForServer(created.certificatePem, 'ca'), verificationCertificate: parseForServer(built.pem, 'proof'), registrationCode },
      { now: new Date(), clockSkewMs: 0 });
    assert.equal(problem, undefined, JSON.stringify(problem));
    // Two CAs never share a key or a serial.
    const other = await createCaCertificate({ subtle, random, commonName: 'Acme devices CA' });
    assert.notEqual(other.keyPem, created.keyPem);
    assert.notEqual(new X509Certificate(other.certificatePem).serialNumber, new X509Certificate(created.certificatePem).serialNumber);
  });

  test('a name is 1-64 characters without control or text-direction characters; nothing is generated otherwise', async () => {
    assert.equal(checkCommonName('Acme'), undefined);
    assert.match(checkCommonName('  ')!, /Give the CA a name/);
    assert.match(checkCommonName('x'.repeat(65))!, /at most 64/);
    assert.match(checkCommonName('evil\u202Egpj.exe')!, /control or text-direction/);
    assert.match(checkCommonName('a\nb')!, /control/);
    await assert.rejects(createCaCertificate({ subtle, random, commonName: '' }), /Give the CA a name/);
  });
});
