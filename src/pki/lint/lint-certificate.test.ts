import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, issueCertificate, sharedTestKeyPair } from '../../../test/support/test-pki.ts';
import { parseCertificatePem, type Certificate } from '../certificate.ts';
import { caCertificateRules } from './ca-certificate-rules.ts';
import { lintCertificate } from './lint-certificate.ts';
import type { LintContext, LintRule } from './lint-rule.ts';

const now = new Date('2030-06-15T12:00:00.000Z');
const context: LintContext = { now, clockSkewMs: 300_000 };
const validity = { notBefore: new Date('2030-06-01T00:00:00.000Z'), notAfter: new Date('2031-06-01T00:00:00.000Z') };

const codesOf = (certificate: Certificate, rules = caCertificateRules, at = context) =>
  lintCertificate(certificate, rules, at).findings.map((finding) => finding.code);

describe('lintCertificate with caCertificateRules', () => {
  test('the rule list: unique ids, each with a citation, well-formed before what-it-is before how-well-made', () => {
    const ids = caCertificateRules.map((rule) => rule.id);
    assert.deepEqual(ids, [
      'certificate-must-be-strict-der',
      'serial-number-must-be-valid',
      'extensions-must-be-unique',
      'ca-must-not-have-name-constraints',
      'critical-extensions-must-be-known',
      'ca-must-be-v3',
      'ca-must-have-ca-basic-constraint',
      'ca-key-usage-must-allow-cert-sign',
      'ca-must-be-self-signed',
      'ca-must-be-valid-now',
      'ca-key-must-be-strong',
      'ca-signature-hash-must-be-strong',
    ]);
    assert.equal(new Set(ids).size, ids.length);
    for (const rule of caCertificateRules) assert.ok(rule.citation.length > 0, `${rule.id} has a citation`);
  });

  const goodCases = [
    { name: 'P-256 CA', keyType: 'p256' },
    { name: 'P-384 CA', keyType: 'p384' },
    { name: 'RSA-2048 CA', keyType: 'rsa2048' },
  ] as const;
  for (const { name, keyType } of goodCases) {
    test(`a good ${name} passes with no findings`, async () => {
      const certificate = parseCertificatePem((await createCa({ ...validity, keyPair: await sharedTestKeyPair(keyType) })).certificatePem);
      assert.deepEqual(lintCertificate(certificate, caCertificateRules, context), { isPassing: true, findings: [] });
    });
  }

  test('a v1, SHA-1, RSA-1024 root yields every problem it has, notV3 first, each naming its rule', async () => {
    const certificate = parseCertificatePem((await createCa({ ...validity, version: 1, hash: 'SHA-1', keyType: 'rsa1024' })).certificatePem);
    const report = lintCertificate(certificate, caCertificateRules, context);
    assert.equal(report.isPassing, false);
    assert.deepEqual(report.findings.map(({ rule, code }) => ({ rule, code })), [
      { rule: 'ca-must-be-v3', code: 'caCertificate.notV3' },
      { rule: 'ca-must-have-ca-basic-constraint', code: 'caCertificate.notCa' },
      { rule: 'ca-key-must-be-strong', code: 'caCertificate.weakKey' },
      { rule: 'ca-signature-hash-must-be-strong', code: 'caCertificate.weakSignature' },
    ]);
    for (const finding of report.findings) assert.ok(finding.message.length > 40, `${finding.code} has a real message`);
  });

  test('an expired intermediate with keyUsage digitalSignature: structure findings before validity', async () => {
    const root = await createCa({ ...validity });
    const intermediate = await issueCertificate(root, {
      notBefore: new Date('2029-01-01T00:00:00.000Z'), notAfter: new Date('2030-01-01T00:00:00.000Z'),
      basicConstraints: { ca: true }, keyUsage: ['digitalSignature'],
    });
    assert.deepEqual(codesOf(parseCertificatePem(intermediate.certificatePem)), [
      'caCertificate.keyCertSignMissing',
      'caCertificate.intermediateNotSupported',
      'caCertificate.expired',
    ]);
  });

  test('findings follow the order of the rules given', async () => {
    const certificate = parseCertificatePem((await createCa({ ...validity, version: 1, hash: 'SHA-1', keyType: 'ed25519' })).certificatePem);
    const reversed: LintRule[] = [...caCertificateRules].reverse();
    assert.deepEqual(codesOf(certificate, reversed), [...codesOf(certificate)].reverse());
  });

  test('the context decides validity: the same certificate passes today and fails after notAfter', async () => {
    const certificate = parseCertificatePem((await createCa({ ...validity })).certificatePem);
    assert.deepEqual(codesOf(certificate), []);
    assert.deepEqual(codesOf(certificate, caCertificateRules, { now: new Date('2032-01-01T00:00:00.000Z'), clockSkewMs: 0 }), ['caCertificate.expired']);
  });

  test('no rules: passing, no findings', async () => {
    const certificate = parseCertificatePem((await createCa({ ...validity, version: 1 })).certificatePem);
    assert.deepEqual(lintCertificate(certificate, [], context), { isPassing: true, findings: [] });
  });

  describe('certificates made by the real openssl binary', () => {
    let dir: string;
    before(() => { dir = mkdtempSync(join(tmpdir(), 'lint-openssl-')); });
    after(() => rmSync(dir, { recursive: true, force: true }));

    const opensslCa = (name: string, ...args: string[]): Certificate => {
      const out = join(dir, `${name}.pem`);
      execFileSync('openssl', ['req', '-x509', '-nodes', '-keyout', join(dir, `${name}.key`), '-out', out, ...args], { stdio: 'ignore' });
      return parseCertificatePem(readFileSync(out, 'utf8'));
    };
    // openssl stamps its own "now"; lint at a fixed minute after notBefore so the result cannot drift.
    const justAfterCreation = (certificate: Certificate): LintContext => ({ now: new Date(certificate.notBefore.getTime() + 60_000), clockSkewMs: 0 });

    test('"openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=x" passes every CA rule', () => {
      const certificate = opensslCa('rsa', '-newkey', 'rsa:2048', '-subj', '/CN=x');
      assert.equal(certificate.version, 3);
      assert.deepEqual(lintCertificate(certificate, caCertificateRules, justAfterCreation(certificate)), { isPassing: true, findings: [] });
    });

    test('an openssl EC P-384 CA with -sha384 passes every CA rule', () => {
      const certificate = opensslCa('ec', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-sha384', '-subj', '/CN=acme-ca/O=Acme', '-days', '1825');
      assert.equal(certificate.signatureHash, 'sha384');
      assert.deepEqual(codesOf(certificate, caCertificateRules, justAfterCreation(certificate)), []);
    });

    test('an openssl RSA-PSS (SHA-256) CA passes every CA rule', () => {
      const certificate = opensslCa('pss', '-newkey', 'rsa-pss', '-pkeyopt', 'rsa_keygen_bits:2048', '-sha256', '-subj', '/CN=pss-ca');
      assert.equal(certificate.signatureAlgorithmOid, '1.2.840.113549.1.1.10');
      assert.equal(certificate.signatureHash, 'sha256');
      assert.deepEqual(codesOf(certificate, caCertificateRules, justAfterCreation(certificate)), []);
    });

    test('an openssl CA signed with -sha1 fails only on the hash', () => {
      const certificate = opensslCa('sha1', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-sha1', '-subj', '/CN=old-ca');
      assert.deepEqual(codesOf(certificate, caCertificateRules, justAfterCreation(certificate)), ['caCertificate.weakSignature']);
    });
  });
});
