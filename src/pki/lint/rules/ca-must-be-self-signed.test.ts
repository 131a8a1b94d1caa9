import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createCa, issueCertificate, sharedTestKeyPair, type TestCertificate } from '../../../../test/support/test-pki.ts';
import { parseCertificatePem } from '../../certificate.ts';
import type { LintContext } from '../lint-rule.ts';
import { caMustBeSelfSigned } from './ca-must-be-self-signed.ts';

const context: LintContext = { now: new Date('2030-06-15T12:00:00.000Z'), clockSkewMs: 300_000 };
const validity = { notBefore: new Date('2030-06-01T00:00:00.000Z'), notAfter: new Date('2031-06-01T00:00:00.000Z') };

const OTHER_ISSUER = /was issued by "CN=root-ca, O=Acme", not by itself: intermediate CA certificates are not supported\. Upload the self-signed root CA/;
const NOT_OWN_SIGNATURE = /names itself as issuer but its signature does not verify with its own public key.*Upload the self-signed root CA/;

describe(caMustBeSelfSigned.id, () => {
  let root: TestCertificate;
  let otherRoot: TestCertificate;
  before(async () => {
    [root, otherRoot] = await Promise.all([
      createCa({ ...validity, subject: 'CN=root-ca,O=Acme' }),
      createCa({ ...validity, subject: 'CN=other-root' }),
    ]);
  });

  const cases: { name: string; make: () => Promise<TestCertificate>; expected?: RegExp }[] = [
    { name: 'self-signed P-256 root passes', make: async () => root },
    { name: 'self-signed RSA-2048 root passes', make: async () => createCa({ ...validity, keyPair: await sharedTestKeyPair('rsa2048') }) },
    { name: 'self-signed Ed25519 root passes (its key is another rule\'s business)', make: async () => createCa({ ...validity, keyType: 'ed25519' }) },
    { name: 'self-signed v1 root passes (its version is another rule\'s business)', make: async () => createCa({ ...validity, version: 1 }) },
    {
      name: 'intermediate signed by another CA fails',
      make: async () => issueCertificate(root, { ...validity, subject: 'CN=intermediate-ca', basicConstraints: { ca: true }, keyUsage: ['keyCertSign', 'cRLSign'] }),
      expected: OTHER_ISSUER,
    },
    { name: 'agent certificate fails', make: async () => issueCertificate(root, { ...validity, subject: 'CN=agent-1' }), expected: OTHER_ISSUER },
    {
      name: 'issuer == subject but signed by a different key (signWith) fails',
      make: async () => issueCertificate(root, { ...validity, subject: 'CN=root-ca,O=Acme', basicConstraints: { ca: true }, signWith: otherRoot }),
      expected: NOT_OWN_SIGNATURE,
    },
    {
      // A re-keyed root cross-signed by its predecessor: same name, but the old key signed it.
      name: 'issuer == subject, new key, signed by the old root\'s key fails',
      make: async () => issueCertificate(root, { ...validity, subject: 'CN=root-ca,O=Acme', basicConstraints: { ca: true } }),
      expected: NOT_OWN_SIGNATURE,
    },
  ];

  test('cites RFC 5280 and the MindConnect limitation', () => assert.match(caMustBeSelfSigned.citation, /RFC 5280.*MindConnect/));

  for (const { name, make, expected } of cases) {
    test(name, async () => {
      const finding = caMustBeSelfSigned.check(parseCertificatePem((await make()).certificatePem), context);
      if (!expected) {
        assert.equal(finding, undefined);
        return;
      }
      assert.equal(finding?.code, 'caCertificate.intermediateNotSupported');
      assert.match(finding.message, expected);
    });
  }
});
