import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { KeyObject, randomBytes } from 'node:crypto';
import { DomainError, type ErrorCode } from '../shared/index.ts';
import { catchDomainError } from '../../test/support/catch-domain-error.ts';
import { createCa, createCsr, generateTestKeyPair, type TestCertificate } from '../../test/support/test-pki.ts';
import { containsPrivateKey, derToPem, normalizePemText, parsePemBlocks, readSingleCertificatePem } from './pem.ts';
import { parseCertificatePem } from './certificate.ts';

// PEM is the first thing an attacker (or a tired operator) controls. parseCertificatePem is the
// edge everyone calls, so most cases go through it; readSingleCertificatePem is checked on its own
// where it decides alone.

const base64Lines = (pem: string): string[] =>
  pem.split('\n').filter((line) => line.length >= 16 && !line.startsWith('-----'));

const jsonEscaped = (text: string): string => text.replaceAll('\n', '\\n');

describe('PEM input', () => {
  let ca: TestCertificate;
  let otherCa: TestCertificate;
  let csrPem: string;
  const keys: Record<string, string> = {};

  before(async () => {
    [ca, otherCa] = await Promise.all([createCa({ subject: 'CN=acme-ca' }), createCa({ subject: 'CN=other-ca' })]);
    csrPem = (await createCsr({ subject: 'CN=registration-code' })).csrPem;
    const rsa = KeyObject.from((await generateTestKeyPair('rsa1024')).privateKey);
    const ec = KeyObject.from((await generateTestKeyPair('p256')).privateKey);
    keys['PRIVATE KEY'] = ca.privateKeyPem;
    keys['RSA PRIVATE KEY'] = rsa.export({ type: 'pkcs1', format: 'pem' }).toString();
    keys['EC PRIVATE KEY'] = ec.export({ type: 'sec1', format: 'pem' }).toString();
    keys['ENCRYPTED PRIVATE KEY'] = ec.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }).toString();
    keys['OPENSSH PRIVATE KEY'] = derToPem(randomBytes(300), 'OPENSSH PRIVATE KEY');
  });

  describe('accepted shapes of one certificate', () => {
    const cases: { name: string; shape: (pem: string) => string }[] = [
      { name: 'plain PEM', shape: (pem) => pem },
      { name: 'JSON-escaped literal \\n (awk style, with trailing \\n)', shape: (pem) => jsonEscaped(pem) },
      { name: 'JSON-escaped literal \\r\\n', shape: (pem) => pem.replaceAll('\n', '\\r\\n') },
      { name: 'CRLF line ends', shape: (pem) => pem.replaceAll('\n', '\r\n') },
      { name: 'surrounding whitespace', shape: (pem) => `  \n\t\n${pem}\n\n   \t` },
      { name: 'missing final newline', shape: (pem) => pem.trimEnd() },
      { name: 'escaped and missing final newline', shape: (pem) => jsonEscaped(pem.trimEnd()) },
      { name: 'body on one line', shape: (pem) => pem.replace(/\n(?!-----)/g, '').replace('-----BEGIN CERTIFICATE-----', '-----BEGIN CERTIFICATE-----\n') },
      { name: 'text around the block (openssl "Bag Attributes")', shape: (pem) => `Bag Attributes\n    friendlyName: acme\nsubject=CN = acme-ca\n${pem}trailer` },
    ];
    for (const { name, shape } of cases) {
      test(name, () => {
        const parsed = parseCertificatePem(shape(ca.certificatePem));
        assert.deepEqual(parsed.der, ca.certificateDer);
        assert.equal(parsed.pem, ca.certificatePem);
      });
    }
  });

  describe('private keys are refused, wherever and however they appear, and never echoed', () => {
    const labels = ['PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY', 'ENCRYPTED PRIVATE KEY', 'OPENSSH PRIVATE KEY'];
    const placements: { name: string; place: (certificate: string, key: string) => string }[] = [
      { name: 'key alone', place: (_certificate, key) => key },
      { name: 'key before the certificate', place: (certificate, key) => key + certificate },
      { name: 'key after the certificate', place: (certificate, key) => certificate + key },
      { name: 'key after, JSON-escaped', place: (certificate, key) => jsonEscaped(certificate + key) },
      { name: 'key before, CRLF', place: (certificate, key) => (key + certificate).replaceAll('\n', '\r\n') },
    ];
    for (const label of labels) {
      for (const { name, place } of placements) {
        test(`${label}: ${name}`, () => {
          const key = keys[label]!;
          assert.ok(key.startsWith(`-----BEGIN ${label}-----`), 'fixture has the intended label');
          const input = place(ca.certificatePem, key);
          assert.equal(containsPrivateKey(input), true);
          const error = catchDomainError(() => parseCertificatePem(input, 'caCertificate'));
          assert.equal(error.code, 'pem.privateKeyIncluded');
          assert.match(error.message, /^caCertificate contains a private key\. Send only the certificate/);
          const everything = `${error.message} ${error.stack ?? ''} ${JSON.stringify(error)} ${String(error.cause)} ${String(error.details)}`;
          for (const line of base64Lines(key)) assert.ok(!everything.includes(line), 'key material leaked into the error');
        });
      }
    }

    test('an unterminated BEGIN header (truncated paste) still counts as a key', () => {
      const key = keys['PRIVATE KEY']!;
      const truncated = key.slice(0, key.indexOf('\n', 40));
      const error = catchDomainError(() => parseCertificatePem(`${ca.certificatePem}${truncated}`));
      assert.equal(error.code, 'pem.privateKeyIncluded');
      for (const line of base64Lines(truncated)) assert.ok(!error.message.includes(line));
    });

    test('a private key without any certificate reports the key, not "no certificate"', () => {
      assert.equal(catchDomainError(() => readSingleCertificatePem(keys['EC PRIVATE KEY']!, 'caCertificate')).code, 'pem.privateKeyIncluded');
    });
  });

  describe('more than one certificate', () => {
    const cases: { name: string; input: () => string; count: number }[] = [
      { name: 'CA and another CA (bundle)', input: () => ca.certificatePem + otherCa.certificatePem, count: 2 },
      { name: 'the same certificate twice', input: () => ca.certificatePem + ca.certificatePem, count: 2 },
      { name: 'a chain of three, JSON-escaped', input: () => jsonEscaped(ca.certificatePem + otherCa.certificatePem + ca.certificatePem), count: 3 },
      { name: 'two certificates without newline between', input: () => ca.certificatePem.trimEnd() + otherCa.certificatePem, count: 2 },
    ];
    for (const { name, input, count } of cases) {
      test(name, () => {
        const error = catchDomainError(() => parseCertificatePem(input(), 'caCertificate'));
        assert.equal(error.code, 'pem.multipleCertificates');
        assert.match(error.message, new RegExp(`contains ${count} certificates\\. Send exactly one certificate`));
      });
    }
  });

  describe('not a certificate', () => {
    const frame = (body: string, label = 'CERTIFICATE'): string => `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
    const cases: { name: string; input: () => string; message?: RegExp }[] = [
      { name: 'empty string', input: () => '', message: /holds no PEM certificate\. Send one block from -----BEGIN CERTIFICATE-----/ },
      { name: 'only whitespace and escapes', input: () => ' \\n \r\n\t ' },
      { name: 'garbage text', input: () => 'hello, this is not a certificate' },
      { name: 'a CSR only', input: () => csrPem, message: /found CERTIFICATE REQUEST/ },
      { name: 'certificate + CSR', input: () => ca.certificatePem + csrPem, message: /other PEM blocks besides the certificate \(CERTIFICATE, CERTIFICATE REQUEST\)\. Send only the certificate/ },
      { name: 'unterminated certificate', input: () => ca.certificatePem.slice(0, 200) },
      { name: 'END label does not match', input: () => ca.certificatePem.replace('END CERTIFICATE', 'END X509 CRL') },
      { name: 'TRUSTED CERTIFICATE label', input: () => ca.certificatePem.replaceAll(' CERTIFICATE-----', ' TRUSTED CERTIFICATE-----'), message: /found TRUSTED CERTIFICATE/ },
      { name: 'characters outside base64 in the body', input: () => ca.certificatePem.replace(/\n([A-Za-z0-9+/]{10})/, '\n!!$1') },
      { name: 'truncated base64 in a well-formed frame', input: () => frame(ca.certificateDer.subarray(0, ca.certificateDer.length >> 1).toString('base64')), message: /not a readable X\.509 certificate/ },
      { name: 'base64 of random bytes', input: () => frame(randomBytes(400).toString('base64')), message: /not a readable X\.509 certificate/ },
      { name: 'empty body', input: () => frame('') },
      { name: 'raw DER pasted as text', input: () => ca.certificateDer.toString('latin1') },
      { name: 'a public key labelled as certificate', input: () => frame(KeyObject.from(ca.publicKey).export({ type: 'spki', format: 'der' }).toString('base64')) },
    ];
    for (const { name, input, message } of cases) {
      test(name, () => {
        const error = catchDomainError(() => parseCertificatePem(input(), 'caCertificate'));
        assert.equal(error.code, 'pem.invalid' satisfies ErrorCode);
        assert.match(error.message, /^caCertificate /, 'the message names the field to fix');
        if (message) assert.match(error.message, message);
      });
    }
  });

  describe('building blocks', () => {
    test('normalizePemText turns every newline spelling into \\n and trims', () => {
      assert.equal(normalizePemText('  a\\nb\\r\\nc\r\nd\re\\rf\n  '), 'a\nb\nc\nd\ne\nf');
    });

    test('parsePemBlocks returns labels and decoded DER in order, skipping blocks with a non-base64 body', () => {
      const blocks = parsePemBlocks(`${ca.certificatePem}-----BEGIN FOO-----\n@@\n-----END FOO-----\n${csrPem}`);
      assert.deepEqual(blocks.map((block) => block.label), ['CERTIFICATE', 'CERTIFICATE REQUEST']);
      assert.deepEqual(blocks[0]?.der, ca.certificateDer);
    });

    test('containsPrivateKey is false for certificates and CSRs', () => {
      assert.equal(containsPrivateKey(ca.certificatePem + csrPem), false);
    });

    test('derToPem wraps at 64 characters and ends with a newline', () => {
      const pem = derToPem(ca.certificateDer);
      assert.equal(pem, ca.certificatePem);
      assert.ok(pem.split('\n').every((line) => line.length <= 64));
      assert.equal(derToPem(Buffer.from('hi'), 'X'), '-----BEGIN X-----\naGk=\n-----END X-----\n');
    });

    test('readSingleCertificatePem returns the DER of the only certificate', () => {
      assert.deepEqual(readSingleCertificatePem(jsonEscaped(ca.certificatePem), 'caCertificate'), ca.certificateDer);
    });
  });
});

describe('readSingleCertificatePem with a corrupted second block', () => {
  test('counts a second certificate header whose body is not base64 as a bundle', async () => {
    const ca = await createCa();
    const text = `${ca.certificatePem}-----BEGIN CERTIFICATE-----\nnot*base64!\n-----END CERTIFICATE-----\n`;
    assert.throws(() => readSingleCertificatePem(text, 'caCertificate'), (error: DomainError) => error.code === 'pem.multipleCertificates');
  });
});
