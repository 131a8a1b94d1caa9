import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCa, sharedTestKeyPair, type TestCertificateOptions } from '../../../../test/support/test-pki.ts';
import { parseCertificatePem } from '../../certificate.ts';
import type { LintContext } from '../lint-rule.ts';
import { caKeyUsageMustAllowCertSign } from './ca-key-usage-must-allow-cert-sign.ts';

const context: LintContext = { now: new Date('2030-06-15T12:00:00.000Z'), clockSkewMs: 300_000 };
const validity = { notBefore: new Date('2030-06-01T00:00:00.000Z'), notAfter: new Date('2031-06-01T00:00:00.000Z') };

const cases: { name: string; options: TestCertificateOptions; isPassing: boolean }[] = [
  { name: 'keyCertSign + cRLSign passes', options: {}, isPassing: true },
  { name: 'keyCertSign alone passes', options: { keyUsage: ['keyCertSign'] }, isPassing: true },
  { name: 'keyCertSign among others passes', options: { keyUsage: ['digitalSignature', 'keyEncipherment', 'keyCertSign'] }, isPassing: true },
  { name: 'keyUsage absent is fine (RFC 5280 leaves it optional)', options: { keyUsage: null }, isPassing: true },
  { name: 'v1 root has no keyUsage: not this rule\'s business', options: { version: 1 }, isPassing: true },
  { name: 'digitalSignature only fails', options: { keyUsage: ['digitalSignature'] }, isPassing: false },
  { name: 'cRLSign without keyCertSign fails', options: { keyUsage: ['cRLSign'] }, isPassing: false },
  { name: 'digitalSignature + keyEncipherment (a TLS server cert) fails', options: { keyUsage: ['digitalSignature', 'keyEncipherment'] }, isPassing: false },
];

describe(caKeyUsageMustAllowCertSign.id, () => {
  test('cites RFC 5280', () => assert.match(caKeyUsageMustAllowCertSign.citation, /RFC 5280 §4\.2\.1\.3/));

  for (const { name, options, isPassing } of cases) {
    test(name, async () => {
      const certificate = await createCa({ ...validity, keyPair: await sharedTestKeyPair(), ...options });
      const finding = caKeyUsageMustAllowCertSign.check(parseCertificatePem(certificate.certificatePem), context);
      if (isPassing) {
        assert.equal(finding, undefined);
        return;
      }
      assert.equal(finding?.code, 'caCertificate.keyCertSignMissing');
      assert.match(finding.message, /keyUsage extension without keyCertSign/);
      assert.match(finding.message, /"keyUsage = critical, keyCertSign, cRLSign" or without keyUsage/);
    });
  }
});
