import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { AsnConvert } from '@peculiar/asn1-schema';
import { BasicConstraints, GeneralName, GeneralSubtree, GeneralSubtrees, NameConstraints, id_ce_basicConstraints, id_ce_nameConstraints } from '@peculiar/asn1-x509';
import { createCa, issueCertificate, sharedTestKeyPair, type TestCertificate } from '../../../test/support/test-pki.ts';
import { addExtension, reissue } from '../../../test/support/hostile-certificate.ts';
import { parseCertificateDer } from '../../pki/index.ts';
import type { CaCertificateId, TenantId } from '../../shared/index.ts';
import { admissionChecks, admitAgentCertificate, evaluateAgentCertificate } from '../agent-admission.ts';
import { TrustIndex } from '../trust-index.ts';
import { admissionRules } from './admission-rules.ts';

// The admission rule list (issue 10, findings 6, 9, 10, 11) with hostile agent certificates and
// hostile stored CAs. The broker (admitAgentCertificate) and the doctor (evaluateAgentCertificate)
// run the same list, so every case checks both say the same.

const acme = 'acme' as TenantId;
const SKEW_MS = 300_000;
const MINUTE_MS = 60_000;
const bytes = (der: ArrayBuffer): Buffer => Buffer.from(new Uint8Array(der));

describe('admission rules', () => {
  let index: TrustIndex;
  let ca: TestCertificate;
  let rsaCa: TestCertificate;
  let futureCa: TestCertificate;
  let tooFutureCa: TestCertificate;
  let constrainedCa: TestCertificate;
  let duplicateBcCa: TestCertificate;
  let id = 0;
  const store = (certificate: TestCertificate, tenant = acme): void => {
    // Straight into the index, as loadTrustIndex puts what an earlier version stored.
    index.upsert({ id: `ca${String(++id).padStart(22, '0')}` as CaCertificateId, tenant, isVerified: true, certificatePem: certificate.certificatePem });
  };

  before(async () => {
    index = new TrustIndex();
    ca = await createCa({ subject: 'CN=Admission CA' });
    rsaCa = await createCa({ subject: 'CN=Admission RSA CA', keyPair: await sharedTestKeyPair('rsa2048') });
    futureCa = await createCa({ subject: 'CN=Admission Future CA', notBefore: new Date(Date.now() + 2 * MINUTE_MS) });
    tooFutureCa = await createCa({ subject: 'CN=Admission Too Future CA', notBefore: new Date(Date.now() + 10 * MINUTE_MS) });
    const nameConstraints = AsnConvert.serialize(new NameConstraints({ permittedSubtrees: new GeneralSubtrees([new GeneralSubtree({ base: new GeneralName({ dNSName: 'plant.example' }) })]) }));
    // Self-signed again with the key it carries, as a real CA tool would have made it.
    const constrainedKey = await sharedTestKeyPair('p384');
    constrainedCa = reissue(await createCa({ subject: 'CN=Admission Constrained CA', keyPair: constrainedKey }), { signer: constrainedKey, tbs: (t) => addExtension(t, id_ce_nameConstraints, true, bytes(nameConstraints)) });
    const duplicateKey = await sharedTestKeyPair('p521');
    duplicateBcCa = reissue(await createCa({ subject: 'CN=Admission Duplicate BC CA', keyPair: duplicateKey }), {
      signer: duplicateKey,
      tbs: (t) => {
        t.extensions = t.extensions!.filter((e) => e.extnID !== id_ce_basicConstraints) as typeof t.extensions;
        addExtension(t, id_ce_basicConstraints, true, bytes(AsnConvert.serialize(new BasicConstraints({ cA: false }))));
        addExtension(t, id_ce_basicConstraints, true, bytes(AsnConvert.serialize(new BasicConstraints({ cA: true }))));
      },
    });
    for (const stored of [ca, rsaCa, futureCa, tooFutureCa, constrainedCa, duplicateBcCa]) store(stored);
  });

  const judge = (certificate: TestCertificate, clientId: string | undefined) => {
    const input = { certificate: parseCertificateDer(certificate.certificateDer), clientId, now: new Date(), clockSkewMs: SKEW_MS };
    const verdict = admitAgentCertificate(input, index);
    const diagnosis = evaluateAgentCertificate(input, index);
    assert.deepEqual(diagnosis.verdict, verdict, 'the doctor and the broker give the same verdict');
    assert.deepEqual(diagnosis.steps.map((s) => s.check), admissionChecks);
    const failed = diagnosis.steps.filter((s) => s.status === 'failed');
    if (verdict.isAccepted) assert.deepEqual(failed, []);
    else assert.deepEqual(failed.map((s) => s.message), [verdict.message], 'exactly the refusing step failed');
    return { verdict, steps: diagnosis.steps };
  };

  test('the rule list: unique ids and steps, each with a citation', () => {
    assert.equal(new Set(admissionRules.map((r) => r.id)).size, admissionRules.length);
    assert.equal(new Set(admissionChecks).size, admissionChecks.length);
    for (const rule of admissionRules) assert.ok(rule.citation.length > 0, rule.id);
  });

  test('a good agent certificate is admitted and every step passed', async () => {
    const { verdict } = judge(await issueCertificate(ca, { subject: 'CN=pump-1' }), 'acme_pump-1');
    assert.equal(verdict.isAccepted, true);
  });

  const refusals: { name: string; make: () => Promise<TestCertificate>; cn: string; code: string; step: string; message?: RegExp }[] = [
    // Finding 6: weak agent certificates got CONNACK 0.
    { name: 'weak agent: an RSA-1024 key', cn: 'rsa1024', make: async () => issueCertificate(ca, { subject: 'CN=rsa1024', keyPair: await sharedTestKeyPair('rsa1024') }), code: 'mqtt.certificateWeakKey', step: 'keyStrength', message: /RSA 1024 bits/ },
    { name: 'weak agent: an MD5 signature', cn: 'md5', make: async () => reissue(await issueCertificate(rsaCa, { subject: 'CN=md5' }), { signer: rsaCa, hash: 'MD5' }), code: 'mqtt.certificateWeakSignature', step: 'signatureStrength', message: /MD5/ },
    { name: 'weak agent: a SHA-1 signature', cn: 'sha1', make: () => issueCertificate(ca, { subject: 'CN=sha1', hash: 'SHA-1' }), code: 'mqtt.certificateWeakSignature', step: 'signatureStrength', message: /SHA1/ },
    { name: 'weak agent: a SHA-224 signature', cn: 'sha224', make: async () => reissue(await issueCertificate(ca, { subject: 'CN=sha224' }), { signer: ca, hash: 'SHA-224' }), code: 'mqtt.certificateWeakSignature', step: 'signatureStrength' },
    // Finding 9: beyond the skew the CA is still not valid yet.
    { name: 'a CA whose notBefore is 10 minutes ahead (beyond the skew)', cn: 'early', make: () => issueCertificate(tooFutureCa, { subject: 'CN=early' }), code: 'mqtt.caExpired', step: 'caValidity' },
    // Finding 10: RFC 5280 gaps.
    { name: 'duplicate extensions in the agent certificate', cn: 'dup', make: async () => reissue(await issueCertificate(ca, { subject: 'CN=dup' }), { signer: ca, tbs: (t) => { addExtension(t, '1.2.3.4', false, Buffer.from([5, 0])); addExtension(t, '1.2.3.4', false, Buffer.from([5, 0])); } }), code: 'certificate.duplicateExtension', step: 'structure' },
    { name: 'an unknown critical extension in the agent certificate', cn: 'crit', make: async () => reissue(await issueCertificate(ca, { subject: 'CN=crit' }), { signer: ca, tbs: (t) => addExtension(t, '1.2.3.4', true, Buffer.from([5, 0])) }), code: 'certificate.unknownCriticalExtension', step: 'structure' },
    { name: 'a second encoding of a good agent certificate (outer length re-encoded, no key needed)', cn: 'twin', make: async () => reissue(await issueCertificate(ca, { subject: 'CN=twin' }), { signer: ca, outerTree: (t) => { t.longLengthOctets = 3; } }), code: 'certificate.notDer', step: 'structure' },
    { name: 'a negative serial number', cn: 'neg', make: async () => reissue(await issueCertificate(ca, { subject: 'CN=neg' }), { signer: ca, tbs: (t) => { t.serialNumber = new Uint8Array([0xff, 0x01]).buffer; } }), code: 'certificate.serialNumberInvalid', step: 'structure' },
    { name: 'keyCertSign on an agent certificate without basicConstraints', cn: 'kcs', make: () => issueCertificate(ca, { subject: 'CN=kcs', keyUsage: ['digitalSignature', 'keyCertSign'] }), code: 'certificate.keyCertSignWithoutCa', step: 'structure' },
    { name: 'a stored CA with critical nameConstraints (uploaded by an earlier version): fail closed', cn: 'outside', make: () => issueCertificate(constrainedCa, { subject: 'CN=outside' }), code: 'mqtt.caInvalid', step: 'caRules', message: /nameConstraints/ },
    { name: 'a stored CA with basicConstraints CA:FALSE then CA:TRUE (uploaded by an earlier version): fail closed', cn: 'dupca', make: () => issueCertificate(duplicateBcCa, { subject: 'CN=dupca' }), code: 'mqtt.caInvalid', step: 'caRules', message: /duplicateExtension/ },
    // Finding 11: the CN as storage stores it.
    { name: 'a CN of 40 U+FFFF (80 characters once PostgreSQL-escaped)', cn: '\uFFFF'.repeat(40), make: () => issueCertificate(ca, { subject: `CN=${'\uFFFF'.repeat(40)}` }), code: 'mqtt.commonNameInvalid', step: 'commonName', message: /noncharacter U\+FFFF/ },
    { name: 'a CN with the noncharacter U+FDD0', cn: 'pump\uFDD0', make: () => issueCertificate(ca, { subject: 'CN=pump\uFDD0' }), code: 'mqtt.commonNameInvalid', step: 'commonName', message: /U\+FDD0/ },
    { name: 'a CN with the plane-1 noncharacter U+1FFFE', cn: 'pump\u{1FFFE}', make: () => issueCertificate(ca, { subject: 'CN=pump\u{1FFFE}' }), code: 'mqtt.commonNameInvalid', step: 'commonName', message: /U\+1FFFE/ },
    { name: 'a CN of 65 characters', cn: 'a'.repeat(65), make: () => issueCertificate(ca, { subject: `CN=${'a'.repeat(65)}` }), code: 'mqtt.commonNameInvalid', step: 'commonName', message: /65 characters/ },
  ];

  for (const { name, make, cn, code, step, message } of refusals) {
    test(`refused: ${name}`, async () => {
      const { verdict, steps } = judge(await make(), `acme_${cn}`);
      assert.equal(verdict.isAccepted, false);
      assert.equal(!verdict.isAccepted && verdict.code, code, JSON.stringify(verdict));
      assert.equal(steps.find((s) => s.status === 'failed')?.check, step);
      if (message && !verdict.isAccepted) assert.match(verdict.message, message);
    });
  }

  test('finding 9: a CA whose notBefore is 2 minutes ahead (within the skew, it uploads and verifies) admits its agents', async () => {
    const { verdict } = judge(await issueCertificate(futureCa, { subject: 'CN=early-ok' }), 'acme_early-ok');
    assert.equal(verdict.isAccepted, true, JSON.stringify(verdict));
  });

  test('finding 11: a CN of 64 emoji (128 UTF-16 units, 64 characters as PostgreSQL counts) is admitted', async () => {
    const cn = '\u{1F527}'.repeat(64);
    const { verdict } = judge(await issueCertificate(ca, { subject: `CN=${cn}` }), `acme_${cn}`);
    assert.equal(verdict.isAccepted, true, JSON.stringify(verdict));
  });
});
