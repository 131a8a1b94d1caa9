import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCa, sharedTestKeyPair, type TestHash, type TestKeyType } from '../../../../test/support/test-pki.ts';
import { parseCertificatePem } from '../../certificate.ts';
import type { LintContext } from '../lint-rule.ts';
import { caSignatureHashMustBeStrong } from './ca-signature-hash-must-be-strong.ts';

const context: LintContext = { now: new Date('2030-06-15T12:00:00.000Z'), clockSkewMs: 300_000 };
const HINT = /sign it with SHA-256 or stronger \(add "-sha256" to the openssl command\)/;

const cases: { keyType: TestKeyType; hash: TestHash; weakness?: RegExp }[] = [
  { keyType: 'rsa2048', hash: 'SHA-256' },
  { keyType: 'rsa2048', hash: 'SHA-384' },
  { keyType: 'rsa2048', hash: 'SHA-512' },
  { keyType: 'p256', hash: 'SHA-256' },
  { keyType: 'p384', hash: 'SHA-384' },
  { keyType: 'p521', hash: 'SHA-512' },
  { keyType: 'rsa2048', hash: 'SHA-1', weakness: /signed with SHA1;/ },
  { keyType: 'p256', hash: 'SHA-1', weakness: /signed with SHA1;/ },
  // Ed25519 has no separate hash; the key rule rejects it anyway, and this one names the OID.
  { keyType: 'ed25519', hash: 'SHA-256', weakness: /signed with an unsupported algorithm \(1\.3\.101\.112\);/ },
];

describe(caSignatureHashMustBeStrong.id, () => {
  test('cites its sources', () => assert.match(caSignatureHashMustBeStrong.citation, /NIST SP 800-131A/));

  for (const { keyType, hash, weakness } of cases) {
    test(`${keyType} with ${hash} ${weakness ? 'fails' : 'passes'}`, async () => {
      const certificate = await createCa({ keyPair: await sharedTestKeyPair(keyType), hash });
      const finding = caSignatureHashMustBeStrong.check(parseCertificatePem(certificate.certificatePem), context);
      if (!weakness) {
        assert.equal(finding, undefined);
        return;
      }
      assert.equal(finding?.code, 'caCertificate.weakSignature');
      assert.match(finding.message, weakness);
      assert.match(finding.message, HINT);
    });
  }
});
