import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, createCsr, issueCertificate, sharedTestKeyPair, type IssueOptions, type TestCertificate } from '../../test/support/test-pki.ts';
import { parseCertificatePem, type Certificate } from './certificate.ts';
import { checkProofOfPossession } from './check-proof-of-possession.ts';
import type { LintContext } from './lint/lint-rule.ts';
import { addExtension, reissue } from '../../test/support/hostile-certificate.ts';

const now = new Date('2030-06-15T12:00:00.000Z');
const clockSkewMs = 5 * 60_000;
const context: LintContext = { now, clockSkewMs };
const at = (offsetMs: number): Date => new Date(now.getTime() + offsetMs);
const DAY_MS = 86_400_000;
// The verification certificate of the how-to: "-days 7", made a minute ago.
const validity = { notBefore: at(-60_000), notAfter: at(7 * DAY_MS) };
const registrationCode = 'a3f09c2e5b7d41e8a6c2f0b9d8e7c6a5';

describe('checkProofOfPossession', () => {
  let ca: TestCertificate;
  let caCertificate: Certificate;
  let otherCa: TestCertificate;
  let sameNameOtherKey: TestCertificate;
  before(async () => {
    [ca, otherCa, sameNameOtherKey] = await Promise.all([
      createCa({ subject: 'CN=acme-ca,O=Acme', notBefore: at(-DAY_MS), notAfter: at(365 * DAY_MS) }),
      createCa({ subject: 'CN=other-ca,O=Other', notBefore: at(-DAY_MS), notAfter: at(365 * DAY_MS) }),
      createCa({ subject: 'CN=acme-ca,O=Acme', notBefore: at(-DAY_MS), notAfter: at(365 * DAY_MS) }),
    ]);
    caCertificate = parseCertificatePem(ca.certificatePem);
  });

  const proof = async (issuer: () => TestCertificate, options: IssueOptions = {}): Promise<Certificate> =>
    parseCertificatePem((await issueCertificate(issuer(), {
      subject: `CN=${registrationCode}`, ...validity, keyPair: await sharedTestKeyPair(), ...options,
    })).certificatePem, 'verificationCertificate');

  const cases: { name: string; make: () => Promise<Certificate>; expected?: { code: string; message: RegExp[] } }[] = [
    { name: 'correct v3 proof passes', make: () => proof(() => ca) },
    { name: 'correct X.509 v1 proof passes (openssl x509 -req makes v1)', make: () => proof(() => ca, { version: 1 }) },
    { name: 'correct proof with an RSA key and more name parts passes', make: async () => proof(() => ca, { subject: `CN=${registrationCode},O=Acme`, keyPair: await sharedTestKeyPair('rsa2048') }) },
    { name: 'not yet valid but within the clock skew passes', make: () => proof(() => ca, { notBefore: at(clockSkewMs - 1000) }) },
    {
      name: 'wrong CN fails and shows both values',
      make: () => proof(() => ca, { subject: 'CN=my-device' }),
      expected: {
        code: 'verification.registrationCodeMismatch',
        message: [/has CN "my-device", but this CA certificate's registration code is "a3f09c2e5b7d41e8a6c2f0b9d8e7c6a5"/, /-subj "\/CN=a3f09c2e5b7d41e8a6c2f0b9d8e7c6a5"/],
      },
    },
    {
      name: 'the code with different case fails',
      make: () => proof(() => ca, { subject: `CN=${registrationCode.toUpperCase()}` }),
      expected: { code: 'verification.registrationCodeMismatch', message: [/CN "A3F09C2E5B7D41E8A6C2F0B9D8E7C6A5"/] },
    },
    {
      name: 'no CN fails',
      make: () => proof(() => ca, { subject: `O=${registrationCode}` }),
      expected: { code: 'verification.registrationCodeMismatch', message: [/has no CN, but this CA certificate's registration code is "a3f09c2e5b7d41e8a6c2f0b9d8e7c6a5"/] },
    },
    {
      name: 'two CNs fail even if one is the code',
      make: () => proof(() => ca, { subject: `CN=${registrationCode},CN=extra` }),
      expected: { code: 'verification.registrationCodeMismatch', message: [/has CN "a3f09c2e5b7d41e8a6c2f0b9d8e7c6a5", "extra", but/] },
    },
    {
      name: 'issued by another CA fails with both names',
      make: () => proof(() => otherCa),
      expected: {
        code: 'verification.issuerMismatch',
        message: [/issued by "CN=other-ca, O=Other", but this CA certificate's subject is "CN=acme-ca, O=Acme"/, /-CA <this CA>\.pem -CAkey <this CA>\.key/],
      },
    },
    {
      name: 'the CA certificate itself as proof fails (its CN is not the code)',
      make: async () => caCertificate,
      expected: { code: 'verification.registrationCodeMismatch', message: [/CN "acme-ca"/] },
    },
    {
      name: 'same issuer name, but issued by another CA with that name (another key) fails',
      make: () => proof(() => sameNameOtherKey),
      expected: { code: 'verification.signatureMismatch', message: [/names this CA as issuer but was signed by another key\. Sign it with the private key of this CA certificate \(-CAkey\)/] },
    },
    {
      name: 'names this CA but signed with another key (signWith) fails',
      make: () => proof(() => ca, { signWith: otherCa }),
      expected: { code: 'verification.signatureMismatch', message: [/signed by another key/] },
    },
    {
      name: 'expired fails',
      make: () => proof(() => ca, { notBefore: at(-8 * DAY_MS), notAfter: at(-DAY_MS) }),
      expected: { code: 'verification.expired', message: [/expired at 2030-06-14T12:00:00\.000Z\. Issue a new one \(e\.g\. -days 7\)/] },
    },
    {
      name: 'not yet valid beyond the skew fails',
      make: () => proof(() => ca, { notBefore: at(clockSkewMs + 1000) }),
      expected: { code: 'verification.notYetValid', message: [/not valid before 2030-06-15T12:05:01\.000Z \(server time 2030-06-15T12:00:00\.000Z\)\. Check the clock/] },
    },
    {
      name: 'wrong CN and expired: the CN is reported first',
      make: () => proof(() => ca, { subject: 'CN=wrong', notBefore: at(-8 * DAY_MS), notAfter: at(-DAY_MS) }),
      expected: { code: 'verification.registrationCodeMismatch', message: [/CN "wrong"/] },
    },
    {
      name: 'another CA, wrong CN, expired: the issuer is reported first',
      make: () => proof(() => otherCa, { subject: 'CN=wrong', notAfter: at(-DAY_MS), notBefore: at(-2 * DAY_MS) }),
      expected: { code: 'verification.issuerMismatch', message: [/CN=other-ca/] },
    },
    // Finding 6 of issue 10: the verification certificate is held to the key and hash rules too.
    {
      name: 'weak proof: an RSA-1024 verification key fails with verification.weakKey',
      make: async () => proof(() => ca, { keyPair: await sharedTestKeyPair('rsa1024') }),
      expected: { code: 'verification.weakKey', message: [/RSA 1024 bits/, /rsa:2048/] },
    },
    {
      name: 'weak proof: a SHA-1 signature fails with verification.weakSignature',
      make: () => proof(() => ca, { hash: 'SHA-1' }),
      expected: { code: 'verification.weakSignature', message: [/SHA1/, /-sha256/] },
    },
    {
      name: 'weak proof: a SHA-224 signature fails with verification.weakSignature',
      make: async () => parseCertificatePem(reissue(await issueCertificate(ca, { subject: `CN=${registrationCode}`, ...validity }), { signer: ca, hash: 'SHA-224' }).certificatePem),
      expected: { code: 'verification.weakSignature', message: [/SHA224/] },
    },
    // Finding 10: the same RFC 5280 structure rules as every other certificate.
    {
      name: 'a proof with an unknown critical extension fails with certificate.unknownCriticalExtension',
      make: async () => parseCertificatePem(reissue(await issueCertificate(ca, { subject: `CN=${registrationCode}`, ...validity }), {
        signer: ca, tbs: (tbs) => addExtension(tbs, '1.2.3.4', true, Buffer.from([5, 0])),
      }).certificatePem),
      expected: { code: 'certificate.unknownCriticalExtension', message: [/1\.2\.3\.4/] },
    },
    {
      name: 'a proof re-encoded outside the signed part fails with certificate.notDer',
      make: async () => parseCertificatePem(reissue(await issueCertificate(ca, { subject: `CN=${registrationCode}`, ...validity }), {
        signer: ca, outerTree: (certificate) => { certificate.longLengthOctets = 3; },
      }).certificatePem),
      expected: { code: 'certificate.notDer', message: [/not strict DER/] },
    },
  ];

  for (const { name, make, expected } of cases) {
    test(name, async () => {
      const failure = checkProofOfPossession({ caCertificate, verificationCertificate: await make(), registrationCode }, context);
      if (!expected) {
        assert.equal(failure, undefined);
        return;
      }
      assert.equal(failure?.code, expected.code);
      for (const message of expected.message) assert.match(failure.message, message);
    });
  }

  describe('the how-to, with the real openssl binary', () => {
    let dir: string;
    before(() => { dir = mkdtempSync(join(tmpdir(), 'pop-openssl-')); });
    after(() => rmSync(dir, { recursive: true, force: true }));

    const openssl = (...args: string[]): void => { execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' }); };
    const signCsr = (caName: string, cn: string, extra: string[] = []): Certificate => {
      openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'verificationCert.key', '-out', 'verificationCert.csr', '-subj', `/CN=${cn}`);
      openssl('x509', '-req', '-in', 'verificationCert.csr', '-CA', `${caName}.pem`, '-CAkey', `${caName}.key`, '-CAcreateserial',
        '-out', 'verificationCert.pem', '-days', '7', '-sha256', ...extra);
      return parseCertificatePem(readFileSync(join(dir, 'verificationCert.pem'), 'utf8'), 'verificationCertificate');
    };
    // openssl stamps the real time; check at a fixed minute after the proof was made.
    const justAfter = (certificate: Certificate): LintContext => ({ now: new Date(certificate.notBefore.getTime() + 60_000), clockSkewMs: 0 });

    test('an openssl CA and "openssl x509 -req ... -CAcreateserial -days 7 -sha256" (a v1 certificate) pass', () => {
      openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'rootCA.key', '-out', 'rootCA.pem', '-subj', '/CN=x', '-days', '365');
      const opensslCa = parseCertificatePem(readFileSync(join(dir, 'rootCA.pem'), 'utf8'));
      const verification = signCsr('rootCA', registrationCode);
      assert.equal(verification.version, 1, 'OpenSSL 3.0 makes v1 here; the check must accept it');
      assert.equal(checkProofOfPossession({ caCertificate: opensslCa, verificationCertificate: verification, registrationCode }, justAfter(verification)), undefined);

      const wrongCn = signCsr('rootCA', 'not-the-code');
      assert.equal(checkProofOfPossession({ caCertificate: opensslCa, verificationCertificate: wrongCn, registrationCode }, justAfter(wrongCn))?.code,
        'verification.registrationCodeMismatch');
    });

    test('a test-pki CA key signs an openssl CSR that passes; a test-pki CSR signed by openssl passes too', async () => {
      writeFileSync(join(dir, 'acme.pem'), ca.certificatePem);
      writeFileSync(join(dir, 'acme.key'), ca.privateKeyPem);
      const fromOpensslCsr = signCsr('acme', registrationCode);
      assert.equal(checkProofOfPossession({ caCertificate, verificationCertificate: fromOpensslCsr, registrationCode }, justAfter(fromOpensslCsr)), undefined);

      writeFileSync(join(dir, 'verificationCert.csr'), (await createCsr({ subject: `CN=${registrationCode}` })).csrPem);
      openssl('x509', '-req', '-in', 'verificationCert.csr', '-CA', 'acme.pem', '-CAkey', 'acme.key', '-CAcreateserial', '-out', 'fromCsr.pem', '-days', '7', '-sha256');
      const fromTestCsr = parseCertificatePem(readFileSync(join(dir, 'fromCsr.pem'), 'utf8'));
      assert.equal(checkProofOfPossession({ caCertificate, verificationCertificate: fromTestCsr, registrationCode }, justAfter(fromTestCsr)), undefined);
    });

    test('signed by another openssl CA that copies this CA\'s name: signatureMismatch', () => {
      openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'impostor.key', '-out', 'impostor.pem',
        '-subj', '/CN=acme-ca/O=Acme', '-days', '365');
      const forged = signCsr('impostor', registrationCode);
      assert.equal(forged.issuer, caCertificate.subject);
      assert.equal(checkProofOfPossession({ caCertificate, verificationCertificate: forged, registrationCode }, justAfter(forged))?.code,
        'verification.signatureMismatch');
    });
  });
});
