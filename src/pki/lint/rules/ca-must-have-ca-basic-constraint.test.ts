import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCa, issueCertificate, sharedTestKeyPair, type TestCertificate } from '../../../../test/support/test-pki.ts';
import { parseCertificatePem } from '../../certificate.ts';
import type { LintContext } from '../lint-rule.ts';
import { caMustHaveCaBasicConstraint } from './ca-must-have-ca-basic-constraint.ts';

const context: LintContext = { now: new Date('2030-06-15T12:00:00.000Z'), clockSkewMs: 300_000 };
const validity = { notBefore: new Date('2030-06-01T00:00:00.000Z'), notAfter: new Date('2031-06-01T00:00:00.000Z') };

const CA_FALSE = /basicConstraints CA:FALSE, so it is not a CA certificate\. Upload your CA certificate \(basicConstraints = critical, CA:TRUE\)/;
const ABSENT = /no basicConstraints extension, so it is not a CA certificate\. Issue the CA with "basicConstraints = critical, CA:TRUE"/;

const ca = async (options: Parameters<typeof createCa>[0]) => createCa({ ...validity, keyPair: await sharedTestKeyPair(), ...options });

const cases: { name: string; make: () => Promise<TestCertificate>; expected?: RegExp }[] = [
  { name: 'critical CA:TRUE passes', make: () => ca({}) },
  // RFC 5280 wants it critical in CA certificates, but real-world roots are not always strict.
  { name: 'non-critical CA:TRUE passes', make: () => ca({ basicConstraints: { ca: true, critical: false } }) },
  { name: 'CA:FALSE fails', make: () => ca({ basicConstraints: { ca: false } }), expected: CA_FALSE },
  { name: 'non-critical CA:FALSE fails', make: () => ca({ basicConstraints: { ca: false, critical: false } }), expected: CA_FALSE },
  { name: 'no basicConstraints fails', make: () => ca({ basicConstraints: null }), expected: ABSENT },
  { name: 'v1 root (no extensions) fails', make: () => ca({ version: 1 }), expected: ABSENT },
  {
    name: 'an agent (leaf) certificate fails',
    make: async () => issueCertificate(await ca({}), { ...validity, extendedKeyUsage: 'clientAuth', keyPair: await sharedTestKeyPair() }),
    expected: ABSENT,
  },
];

describe(caMustHaveCaBasicConstraint.id, () => {
  test('cites RFC 5280', () => assert.match(caMustHaveCaBasicConstraint.citation, /RFC 5280 §4\.2\.1\.9/));

  for (const { name, make, expected } of cases) {
    test(name, async () => {
      const finding = caMustHaveCaBasicConstraint.check(parseCertificatePem((await make()).certificatePem), context);
      if (!expected) {
        assert.equal(finding, undefined);
        return;
      }
      assert.equal(finding?.code, 'caCertificate.notCa');
      assert.match(finding.message, expected);
    });
  }
});
