import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCa, issueCertificate, sharedTestKeyPair, type TestCertificate } from '../../../../test/support/test-pki.ts';
import { parseCertificatePem } from '../../certificate.ts';
import type { LintContext } from '../lint-rule.ts';
import { caMustBeV3 } from './ca-must-be-v3.ts';

const context: LintContext = { now: new Date('2030-06-15T12:00:00.000Z'), clockSkewMs: 300_000 };
const validity = { notBefore: new Date('2030-06-01T00:00:00.000Z'), notAfter: new Date('2031-06-01T00:00:00.000Z') };

const cases: { name: string; make: () => Promise<TestCertificate>; expected?: RegExp }[] = [
  { name: 'v3 CA passes', make: async () => createCa({ ...validity, keyPair: await sharedTestKeyPair() }) },
  { name: 'v3 without basicConstraints still passes this rule', make: async () => createCa({ ...validity, basicConstraints: null, keyPair: await sharedTestKeyPair() }) },
  { name: 'v1 self-signed root fails', make: async () => createCa({ ...validity, version: 1, keyPair: await sharedTestKeyPair() }), expected: /X\.509 v1; a CA certificate must be v3/ },
  { name: 'v1 RSA root fails', make: async () => createCa({ ...validity, version: 1, keyPair: await sharedTestKeyPair('rsa2048') }), expected: /X\.509 v1/ },
  {
    name: 'v1 certificate issued by a CA fails',
    make: async () => issueCertificate(await createCa({ ...validity }), { ...validity, version: 1, keyPair: await sharedTestKeyPair() }),
    expected: /X\.509 v1/,
  },
];

describe(caMustBeV3.id, () => {
  test('cites RFC 5280', () => assert.match(caMustBeV3.citation, /RFC 5280 §4\.1\.2\.1/));

  for (const { name, make, expected } of cases) {
    test(name, async () => {
      const finding = caMustBeV3.check(parseCertificatePem((await make()).certificatePem), context);
      if (!expected) {
        assert.equal(finding, undefined);
        return;
      }
      assert.equal(finding?.code, 'caCertificate.notV3');
      assert.match(finding.message, expected);
      assert.match(finding.message, /openssl req -x509 \.\.\."|trustgate ca create/, 'tells how to make a v3 CA');
    });
  }
});
