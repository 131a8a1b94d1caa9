import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  BasicConstraints, CertificatePolicies, GeneralName, GeneralSubtree, GeneralSubtrees, KeyUsage, KeyUsageFlags, NameConstraints, PolicyInformation,
  id_ce_basicConstraints, id_ce_certificatePolicies, id_ce_keyUsage, id_ce_nameConstraints,
} from '@peculiar/asn1-x509';
import { createCa, issueCertificate, type TestCertificate } from '../../../test/support/test-pki.ts';
import { addExtension, extensionsPath, reissue } from '../../../test/support/hostile-certificate.ts';
import { decodeDer, encodeDer, nodeAt, type DerNode } from '../../../test/support/der-tree.ts';
import { parseCertificateDer } from '../certificate.ts';
import { firstProblem } from '../certificate-rule.ts';
import { caCertificateRules } from './ca-certificate-rules.ts';
import { certificateStructureRules } from './certificate-structure-rules.ts';
import { lintCertificate } from './lint-certificate.ts';

// RFC 5280 well-formedness (finding 10 of issue 10), table-tested with hostile certificates: each
// case is an attack or a sloppy CA tool's output that the old code accepted.

const context = { now: new Date(), clockSkewMs: 300_000 };
const bytes = (der: ArrayBuffer | Buffer): Buffer => Buffer.from(der instanceof ArrayBuffer ? new Uint8Array(der) : der);
const basicConstraints = (isCa: boolean): Buffer => bytes(AsnConvert.serialize(new BasicConstraints({ cA: isCa })));
const nameConstraints = (): Buffer => bytes(AsnConvert.serialize(new NameConstraints({
  permittedSubtrees: new GeneralSubtrees([new GeneralSubtree({ base: new GeneralName({ dNSName: 'plant.example' }) })]),
})));
const policies = (): Buffer => bytes(AsnConvert.serialize(new CertificatePolicies([new PolicyInformation({ policyIdentifier: '1.2.3.4.5' })])));

/** Rewrites the ECDSA signature's Ecdsa-Sig-Value (outside the signed part: no key needed). */
const changeEcdsaSignature = (change: (signature: DerNode) => void) => (certificate: DerNode): void => {
  const bitString = certificate.children![2]!;
  const signature = decodeDer(bitString.content!.subarray(1));
  change(signature);
  bitString.content = Buffer.concat([Buffer.from([0]), encodeDer(signature)]);
};

/** Rewrites the value of the first extension of a TBSCertificate (inside the signed part). */
const changeFirstExtensionValue = (change: (value: DerNode) => void) => (tbs: DerNode): void => {
  const extension = nodeAt(tbs, [...extensionsPath(tbs), 0]);
  const value = extension.children!.at(-1)!;
  const inner = decodeDer(value.content!);
  change(inner);
  value.content = encodeDer(inner);
};

describe('certificate structure rules (RFC 5280 §4.1, §4.2): hostile agent and verification certificates', () => {
  let ca: TestCertificate;
  let good: TestCertificate;
  before(async () => {
    ca = await createCa({ subject: 'CN=Structure CA' });
    good = await issueCertificate(ca, { subject: 'CN=pump-1' });
  });

  test('the rule list: unique ids, each with a citation', () => {
    const ids = certificateStructureRules.map((rule) => rule.id);
    assert.equal(new Set(ids).size, ids.length);
    for (const rule of certificateStructureRules) assert.match(rule.citation, /RFC 5280|X\.690/, rule.id);
  });

  test('a well-made agent certificate passes every structure rule', () => {
    assert.equal(firstProblem(certificateStructureRules, parseCertificateDer(good.certificateDer), context), undefined);
  });

  const cases: { name: string; make: () => TestCertificate | Promise<TestCertificate>; code?: string; message?: RegExp; signatureStillValid?: boolean }[] = [
    // Outside the signed part: anyone can do these to someone else's certificate.
    { name: 'second encoding: the outer length in 3 octets, same signature, new fingerprint', make: () => reissue(good, { signer: ca, outerTree: (t) => { t.longLengthOctets = 3; } }), code: 'certificate.notDer', message: /leading zero octet/, signatureStillValid: true },
    { name: 'second encoding: the signatureAlgorithm length in the long form', make: () => reissue(good, { signer: ca, outerTree: (t) => { t.children![1]!.longLengthOctets = 1; } }), code: 'certificate.notDer', message: /long form/, signatureStillValid: true },
    { name: 'second encoding: the ECDSA signature\'s r with a long-form length', make: () => reissue(good, { signer: ca, outerTree: changeEcdsaSignature((s) => { s.children![0]!.longLengthOctets = 1; }) }), code: 'certificate.notDer', message: /ECDSA signature value/ },
    {
      name: 'second encoding: the ECDSA signature\'s r with a redundant leading zero',
      make: () => reissue(good, { signer: ca, outerTree: changeEcdsaSignature((s) => { const r = s.children![0]!; r.content = Buffer.concat([Buffer.from([0]), r.content![0]! & 0x80 ? r.content! : Buffer.concat([Buffer.from([0]), r.content!])]).subarray(r.content![0]! & 0x80 ? 0 : 1); }) }),
      code: 'certificate.notDer', message: /INTEGER with a redundant leading octet/,
    },
    // Inside the signed part: needs the CA's key, still a second encoding of the same content.
    { name: 'a long-form length inside the TBSCertificate (subject), re-signed', make: () => reissue(good, { signer: ca, tbsTree: (t) => { t.children![5]!.longLengthOctets = 1; } }), code: 'certificate.notDer' },
    { name: 'an extension value with a long-form length, re-signed', make: () => reissue(good, { signer: ca, tbsTree: changeFirstExtensionValue((v) => { v.longLengthOctets = 2; }) }), code: 'certificate.notDer', message: /value of extension/ },
    {
      name: 'a BER TRUE (0x01) in an extension value (basicConstraints cA), re-signed',
      make: () => reissue(good, { signer: ca, tbs: (t) => addExtension(t, id_ce_basicConstraints, true, Buffer.from([0x30, 0x03, 0x01, 0x01, 0x01])) }),
      code: 'certificate.notDer', message: /BOOLEAN that is not 0x00 or 0xff/,
    },
    {
      name: 'a constructed (BER) OCTET STRING in an extension value, re-signed',
      make: () => reissue(good, { signer: ca, tbs: (t) => addExtension(t, '1.2.3.4', false, Buffer.from([0x24, 0x04, 0x04, 0x02, 0x61, 0x62])) }),
      code: 'certificate.notDer', message: /constructed string/,
    },
    // Serial numbers (§4.1.2.2).
    { name: 'a negative serial number', make: () => reissue(good, { signer: ca, tbs: (t) => { t.serialNumber = new Uint8Array([0x81, 0x02, 0x03]).buffer; } }), code: 'certificate.serialNumberInvalid', message: /negative/ },
    { name: 'a 21-octet serial number', make: () => reissue(good, { signer: ca, tbs: (t) => { t.serialNumber = new Uint8Array(21).fill(0x11).buffer; } }), code: 'certificate.serialNumberInvalid', message: /21 octets/ },
    { name: 'a 20-octet serial number passes', make: () => reissue(good, { signer: ca, tbs: (t) => { t.serialNumber = new Uint8Array(20).fill(0x7f).buffer; } }) },
    { name: 'a 20-octet serial number with its sign octet (21 encoded) is refused', make: () => reissue(good, { signer: ca, tbs: (t) => { t.serialNumber = new Uint8Array([0, ...new Uint8Array(20).fill(0x80)]).buffer; } }), code: 'certificate.serialNumberInvalid' },
    // Extensions (§4.2).
    {
      name: 'duplicate basicConstraints (CA:FALSE, then CA:FALSE)',
      make: () => reissue(good, { signer: ca, tbs: (t) => { addExtension(t, id_ce_basicConstraints, true, basicConstraints(false)); addExtension(t, id_ce_basicConstraints, true, basicConstraints(false)); } }),
      code: 'certificate.duplicateExtension', message: /basicConstraints \(2\.5\.29\.19\) more than once/,
    },
    { name: 'duplicate keyUsage', make: () => reissue(good, { signer: ca, tbs: (t) => addExtension(t, id_ce_keyUsage, true, bytes(AsnConvert.serialize(new KeyUsage(KeyUsageFlags.digitalSignature)))) }), code: 'certificate.duplicateExtension' },
    { name: 'a duplicate unknown non-critical extension', make: () => reissue(good, { signer: ca, tbs: (t) => { addExtension(t, '1.2.3.4', false, Buffer.from([5, 0])); addExtension(t, '1.2.3.4', false, Buffer.from([5, 0])); } }), code: 'certificate.duplicateExtension' },
    { name: 'an unknown critical extension', make: () => reissue(good, { signer: ca, tbs: (t) => addExtension(t, '1.2.3.4', true, Buffer.from([5, 0])) }), code: 'certificate.unknownCriticalExtension', message: /critical extension 1\.2\.3\.4/ },
    { name: 'critical certificatePolicies (not processed)', make: () => reissue(good, { signer: ca, tbs: (t) => addExtension(t, id_ce_certificatePolicies, true, policies()) }), code: 'certificate.unknownCriticalExtension', message: /certificatePolicies/ },
    { name: 'critical nameConstraints on an end entity', make: () => reissue(good, { signer: ca, tbs: (t) => addExtension(t, id_ce_nameConstraints, true, nameConstraints()) }), code: 'certificate.unknownCriticalExtension', message: /nameConstraints/ },
    { name: 'an unknown non-critical extension passes', make: () => reissue(good, { signer: ca, tbs: (t) => addExtension(t, '1.2.3.4', false, Buffer.from([5, 0])) }) },
    // keyCertSign (§4.2.1.3, §4.2.1.9).
    { name: 'keyCertSign without basicConstraints', make: () => issueCertificate(ca, { subject: 'CN=signer', keyUsage: ['digitalSignature', 'keyCertSign'] }), code: 'certificate.keyCertSignWithoutCa', message: /has no basicConstraints/ },
    { name: 'keyCertSign with basicConstraints CA:FALSE', make: () => issueCertificate(ca, { subject: 'CN=signer', keyUsage: ['keyCertSign'], basicConstraints: { ca: false } }), code: 'certificate.keyCertSignWithoutCa', message: /CA:FALSE/ },
  ];

  for (const { name, make, code, message, signatureStillValid } of cases) {
    test(name, async () => {
      const hostile = await make();
      const certificate = parseCertificateDer(hostile.certificateDer); // readable: only the rules refuse it
      if (signatureStillValid) {
        assert.equal(certificate.x509.verify(KeyObject.from(ca.publicKey)), true, 'the CA signature still verifies');
        assert.notEqual(certificate.fingerprintSha256, parseCertificateDer(good.certificateDer).fingerprintSha256, 'a second fingerprint');
      }
      const problem = firstProblem(certificateStructureRules, certificate, context);
      assert.equal(problem?.code, code, JSON.stringify(problem));
      if (problem && message) assert.match(problem.message, message);
      if (problem) assert.match(problem.message, /Issue it again|Export it again|issue an agent|Issue an agent/i, 'says how to fix it');
    });
  }
});

describe('CA certificate rules: hostile CAs that uploaded before', () => {
  let ca: TestCertificate;
  before(async () => {
    ca = await createCa({ subject: 'CN=Hostile Upload CA' });
  });
  const firstCode = (certificate: TestCertificate) => lintCertificate(parseCertificateDer(certificate.certificateDer), caCertificateRules, context).findings[0]?.code;

  test('duplicate basicConstraints CA:FALSE then CA:TRUE (last one won: it uploaded as a CA) is refused', () => {
    const hostile = reissue(ca, {
      signer: ca,
      tbs: (t) => {
        t.extensions = t.extensions!.filter((e) => e.extnID !== id_ce_basicConstraints) as typeof t.extensions;
        addExtension(t, id_ce_basicConstraints, true, basicConstraints(false));
        addExtension(t, id_ce_basicConstraints, true, basicConstraints(true));
      },
    });
    assert.equal(parseCertificateDer(hostile.certificateDer).basicConstraints?.isCa, true, 'the parser alone would see a CA');
    assert.equal(firstCode(hostile), 'certificate.duplicateExtension');
  });

  test('critical nameConstraints (agents outside the subtree were admitted) is refused with its own code', () => {
    const hostile = reissue(ca, { signer: ca, tbs: (t) => addExtension(t, id_ce_nameConstraints, true, nameConstraints()) });
    const [finding] = lintCertificate(parseCertificateDer(hostile.certificateDer), caCertificateRules, context).findings;
    assert.equal(finding?.code, 'caCertificate.nameConstraintsNotSupported');
    assert.match(finding!.message, /does not enforce name constraints/);
  });

  test('non-critical nameConstraints is refused too (RFC 5280 says it MUST be critical; it is not enforced either way)', () => {
    assert.equal(firstCode(reissue(ca, { signer: ca, tbs: (t) => addExtension(t, id_ce_nameConstraints, false, nameConstraints()) })), 'caCertificate.nameConstraintsNotSupported');
  });

  test('an unknown critical extension on a CA is refused', () => {
    assert.equal(firstCode(reissue(ca, { signer: ca, tbs: (t) => addExtension(t, '1.3.6.1.4.1.99999.1', true, Buffer.from([5, 0])) })), 'certificate.unknownCriticalExtension');
  });

  test('the same CA with its outer length re-encoded (a second fingerprint for one CA) is refused', () => {
    const hostile = reissue(ca, { signer: ca, outerTree: (t) => { t.longLengthOctets = 4; } });
    assert.equal(firstCode(hostile), 'certificate.notDer');
    assert.equal(firstCode(ca), undefined, 'the original passes');
  });
});
