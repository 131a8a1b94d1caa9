import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createCa, issueCertificate, sharedTestKeyPair, type TestCertificate } from '../../test/support/test-pki.ts';
import { reissue } from '../../test/support/hostile-certificate.ts';
import { parseCertificateDer } from './certificate.ts';
import { weakKeyDescription, weakSignatureDescription } from './strength.ts';

// The one strength helper, shared by CA uploads, verification certificates and admission.
describe('weakKeyDescription and weakSignatureDescription', () => {
  let ca: TestCertificate;
  let rsaCa: TestCertificate;
  before(async () => {
    ca = await createCa({ subject: 'CN=Strength CA' });
    rsaCa = await createCa({ subject: 'CN=Strength RSA CA', keyPair: await sharedTestKeyPair('rsa2048') });
  });

  test('strong keys and hashes: undefined', async () => {
    for (const keyType of ['p256', 'p384', 'p521', 'rsa2048'] as const) {
      const certificate = parseCertificateDer((await issueCertificate(ca, { keyPair: await sharedTestKeyPair(keyType) })).certificateDer);
      assert.equal(weakKeyDescription(certificate), undefined, keyType);
      assert.equal(weakSignatureDescription(certificate), undefined, keyType);
    }
  });

  test('RSA-1024 and Ed25519 keys are weak (not allowed)', async () => {
    assert.equal(weakKeyDescription(parseCertificateDer((await issueCertificate(ca, { keyPair: await sharedTestKeyPair('rsa1024') })).certificateDer)), 'RSA 1024 bits');
    assert.equal(weakKeyDescription(parseCertificateDer((await issueCertificate(ca, { keyPair: await sharedTestKeyPair('ed25519') })).certificateDer)), 'ed25519');
  });

  test('MD5, SHA-1 and SHA-224 signatures are weak', async () => {
    const leaf = await issueCertificate(rsaCa, { subject: 'CN=weak-hash' });
    for (const [hash, expected] of [['MD5', 'MD5'], ['SHA-1', 'SHA1'], ['SHA-224', 'SHA224']] as const) {
      assert.equal(weakSignatureDescription(parseCertificateDer(reissue(leaf, { signer: rsaCa, hash }).certificateDer)), expected);
    }
  });
});
