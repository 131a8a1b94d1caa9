import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, type TestKeyType } from '../../../../test/support/test-pki.ts';
import { parseCertificatePem } from '../../certificate.ts';
import type { LintContext } from '../lint-rule.ts';
import { caKeyMustBeStrong } from './ca-key-must-be-strong.ts';

const context: LintContext = { now: new Date('2030-06-15T12:00:00.000Z'), clockSkewMs: 300_000 };
const HINT = /use RSA with at least 2048 bits or EC P-256, P-384 or P-521 \(e\.g\. "openssl genrsa -out ca\.key 2048"\)/;

const cases: { keyType: TestKeyType; weakness?: RegExp }[] = [
  { keyType: 'p256' },
  { keyType: 'p384' },
  { keyType: 'p521' },
  { keyType: 'rsa2048' },
  { keyType: 'rsa1024', weakness: /The CA key is RSA 1024 bits;/ },
  { keyType: 'ed25519', weakness: /The CA key is ed25519;/ },
];

describe(caKeyMustBeStrong.id, () => {
  test('cites its sources', () => assert.match(caKeyMustBeStrong.citation, /NIST SP 800-57/));

  for (const { keyType, weakness } of cases) {
    test(`${keyType} ${weakness ? 'fails' : 'passes'}`, async () => {
      const finding = caKeyMustBeStrong.check(parseCertificatePem((await createCa({ keyType })).certificatePem), context);
      if (!weakness) {
        assert.equal(finding, undefined);
        return;
      }
      assert.equal(finding?.code, 'caCertificate.weakKey');
      assert.match(finding.message, weakness);
      assert.match(finding.message, HINT);
    });
  }

  describe('curves webcrypto cannot make, via openssl', () => {
    let dir: string;
    before(() => { dir = mkdtempSync(join(tmpdir(), 'ca-key-')); });
    after(() => rmSync(dir, { recursive: true, force: true }));

    const curveCases = [
      { curve: 'secp256k1', weakness: /The CA key is EC secp256k1;/ },
      { curve: 'brainpoolP256r1', weakness: /The CA key is EC brainpoolP256r1;/ },
    ];
    for (const { curve, weakness } of curveCases) {
      test(`${curve} fails`, () => {
        const out = join(dir, `${curve}.pem`);
        execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${curve}`, '-nodes',
          '-keyout', join(dir, `${curve}.key`), '-out', out, '-subj', '/CN=x', '-days', '1'], { stdio: 'ignore' });
        const finding = caKeyMustBeStrong.check(parseCertificatePem(readFileSync(out, 'utf8')), context);
        assert.equal(finding?.code, 'caCertificate.weakKey');
        assert.match(finding.message, weakness);
      });
    }
  });
});
