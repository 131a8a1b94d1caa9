import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, KeyObject, randomBytes } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AttributeTypeAndValue, AttributeValue, AuthorityKeyIdentifier, BasicConstraints, Certificate as AsnCertificate, KeyUsage, KeyUsageFlags, Name,
  RelativeDistinguishedName, SubjectKeyIdentifier, SubjectPublicKeyInfo, id_ce_authorityKeyIdentifier, id_ce_basicConstraints, id_ce_keyUsage,
  id_ce_subjectKeyIdentifier,
} from '@peculiar/asn1-x509';
import { DomainError } from '../shared/index.ts';
import { catchDomainError } from '../../test/support/catch-domain-error.ts';
import { createCa, issueCertificate, type TestCertificate } from '../../test/support/test-pki.ts';
import { parseCertificateAsTlsPeer, parseCertificateDer, parseCertificatePem } from './certificate.ts';
import { reissue } from '../../test/support/hostile-certificate.ts';
import { derToPem } from './pem.ts';
import { signatureHash } from './signature-hash.ts';

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');
// RFC 5280 §4.2.1.2 method (1), which is what test-pki (and openssl) put in the SKI.
const keyIdOf = (certificate: TestCertificate): string => {
  const spki = AsnConvert.parse(KeyObject.from(certificate.publicKey).export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo);
  return createHash('sha1').update(Buffer.from(spki.subjectPublicKey)).digest('hex');
};

// Re-encode a certificate after changing its ASN.1 (the signature no longer matters for parsing).
const tamper = (certificate: TestCertificate, change: (asn: AsnCertificate) => void): Buffer => {
  const asn = AsnConvert.parse(certificate.certificateDer, AsnCertificate);
  change(asn);
  return Buffer.from(AsnConvert.serialize(asn));
};

describe('parseCertificatePem', () => {
  const notBefore = new Date('2030-01-01T00:00:00.000Z');
  const notAfter = new Date('2035-01-01T00:00:00.000Z');
  let ca: TestCertificate;
  before(async () => {
    ca = await createCa({ subject: 'CN=acme-ca,O=Acme,C=DE', keyType: 'p256', notBefore, notAfter, serialNumber: '0a0b0c' });
  });

  test('reads a v3 CA', () => {
    const certificate = parseCertificatePem(ca.certificatePem);
    assert.equal(certificate.version, 3);
    assert.equal(certificate.serialNumber, 'a0b0c', 'lowercase hex without leading zeros');
    assert.deepEqual(certificate.serialNumberOctets, Buffer.from('0a0b0c', 'hex'));
    assert.equal(certificate.subject, 'CN=acme-ca\nO=Acme\nC=DE');
    assert.equal(certificate.issuer, certificate.subject);
    assert.deepEqual(certificate.subjectCommonNames, ['acme-ca']);
    assert.deepEqual(certificate.notBefore, notBefore);
    assert.deepEqual(certificate.notAfter, notAfter);
    assert.deepEqual(certificate.basicConstraints, { isCa: true, isCritical: true });
    assert.deepEqual(certificate.keyUsage, { digitalSignature: false, keyCertSign: true, cRLSign: true });
    assert.equal(certificate.signatureAlgorithmOid, '1.2.840.10045.4.3.2');
    assert.equal(certificate.signatureHash, 'sha256');
    assert.equal(certificate.publicKey.asymmetricKeyType, 'ec');
    assert.deepEqual(certificate.der, ca.certificateDer);
    assert.equal(certificate.pem, ca.certificatePem);
  });

  test('fingerprints: sha256 of the DER and of the SubjectPublicKeyInfo, lowercase hex', () => {
    const certificate = parseCertificatePem(ca.certificatePem);
    assert.equal(certificate.fingerprintSha256, sha256(ca.certificateDer));
    assert.equal(certificate.fingerprintSha256, certificate.x509.fingerprint256.replaceAll(':', '').toLowerCase());
    assert.equal(certificate.publicKeySha256, sha256(KeyObject.from(ca.publicKey).export({ type: 'spki', format: 'der' })));
    assert.match(certificate.fingerprintSha256, /^[0-9a-f]{64}$/);
  });

  test('SKI and AKI as lowercase hex; a leaf carries the CA SKI as AKI', async () => {
    const leaf = parseCertificatePem((await issueCertificate(ca, { subject: 'CN=agent' })).certificatePem);
    const root = parseCertificatePem(ca.certificatePem);
    assert.equal(root.subjectKeyId, keyIdOf(ca));
    assert.equal(root.authorityKeyId, root.subjectKeyId);
    assert.equal(leaf.authorityKeyId, root.subjectKeyId);
    assert.notEqual(leaf.subjectKeyId, root.subjectKeyId);
    assert.match(leaf.subjectKeyId ?? '', /^[0-9a-f]{40}$/);
  });

  test('reads a true X.509 v1 certificate: no extensions at all', async () => {
    const v1 = parseCertificatePem((await issueCertificate(ca, { version: 1, subject: 'CN=code' })).certificatePem);
    assert.equal(v1.version, 1);
    assert.equal(v1.basicConstraints, undefined);
    assert.equal(v1.keyUsage, undefined);
    assert.equal(v1.subjectKeyId, undefined);
    assert.equal(v1.authorityKeyId, undefined);
    assert.equal(v1.issuer, 'CN=acme-ca\nO=Acme\nC=DE');
  });

  const extensionCases = [
    { name: 'non-critical CA:FALSE', options: { basicConstraints: { ca: false, critical: false } }, basicConstraints: { isCa: false, isCritical: false } },
    { name: 'non-critical CA:TRUE', options: { basicConstraints: { ca: true, critical: false } }, basicConstraints: { isCa: true, isCritical: false } },
    { name: 'no basicConstraints', options: { basicConstraints: null }, basicConstraints: undefined },
  ] as const;
  for (const { name, options, basicConstraints } of extensionCases) {
    test(`basicConstraints: ${name}`, async () => {
      assert.deepEqual(parseCertificatePem((await createCa({ ...options, keyPair: ca })).certificatePem).basicConstraints, basicConstraints);
    });
  }

  const keyUsageCases = [
    { usages: ['digitalSignature'], bits: { digitalSignature: true, keyCertSign: false, cRLSign: false } },
    { usages: ['keyCertSign'], bits: { digitalSignature: false, keyCertSign: true, cRLSign: false } },
    { usages: ['cRLSign'], bits: { digitalSignature: false, keyCertSign: false, cRLSign: true } },
    { usages: ['digitalSignature', 'keyEncipherment', 'keyCertSign', 'cRLSign'], bits: { digitalSignature: true, keyCertSign: true, cRLSign: true } },
    { usages: ['keyEncipherment'], bits: { digitalSignature: false, keyCertSign: false, cRLSign: false } },
    { usages: null, bits: undefined },
  ] as const;
  for (const { usages, bits } of keyUsageCases) {
    test(`keyUsage bits: ${usages?.join(', ') ?? 'absent'}`, async () => {
      const certificate = await createCa({ keyUsage: usages === null ? null : [...usages], keyPair: ca });
      assert.deepEqual(parseCertificatePem(certificate.certificatePem).keyUsage, bits);
    });
  }

  const hashCases = [
    { keyType: 'rsa1024', hash: 'SHA-1', oid: '1.2.840.113549.1.1.5', expected: 'sha1' },
    { keyType: 'rsa1024', hash: 'SHA-512', oid: '1.2.840.113549.1.1.13', expected: 'sha512' },
    { keyType: 'p256', hash: 'SHA-1', oid: '1.2.840.10045.4.1', expected: 'sha1' },
    { keyType: 'p384', hash: 'SHA-384', oid: '1.2.840.10045.4.3.3', expected: 'sha384' },
    { keyType: 'p521', hash: 'SHA-512', oid: '1.2.840.10045.4.3.4', expected: 'sha512' },
    { keyType: 'ed25519', hash: 'SHA-256', oid: '1.3.101.112', expected: undefined },
  ] as const;
  for (const { keyType, hash, oid, expected } of hashCases) {
    test(`signatureHash: ${keyType} ${hash}`, async () => {
      const certificate = parseCertificatePem((await createCa({ keyType, hash })).certificatePem);
      assert.equal(certificate.signatureAlgorithmOid, oid);
      assert.equal(certificate.signatureHash, expected);
    });
  }

  const nameCases = [
    { subject: 'CN=a,CN=b,O=Acme', commonNames: ['a', 'b'] },
    { subject: 'O=Acme,OU=Devices', commonNames: [] },
    { subject: 'CN=Müller Gerät 1', commonNames: ['Müller Gerät 1'] },
  ];
  for (const { subject, commonNames } of nameCases) {
    test(`subjectCommonNames of ${subject}`, async () => {
      assert.deepEqual(parseCertificatePem((await issueCertificate(ca, { subject })).certificatePem).subjectCommonNames, commonNames);
    });
  }

  describe('garbage DER inside a valid PEM frame is pem.invalid, never another error', () => {
    const cases: { name: string; der: () => Buffer; message: RegExp }[] = [
      { name: 'random bytes', der: () => randomBytes(512), message: /not a readable X\.509 certificate/ },
      { name: 'a SEQUENCE that is not a certificate (SPKI)', der: () => KeyObject.from(ca.publicKey).export({ type: 'spki', format: 'der' }), message: /not a readable X\.509 certificate/ },
      { name: 'truncated DER', der: () => ca.certificateDer.subarray(0, ca.certificateDer.length - 10), message: /not a readable X\.509 certificate/ },
      // Both parsers ignore trailing bytes; accepting them would give one certificate many fingerprints.
      { name: 'a valid certificate followed by junk bytes', der: () => Buffer.concat([ca.certificateDer, Buffer.from('junk')]), message: /not a readable X\.509 certificate/ },
      { name: 'a valid certificate followed by a second one in the same block', der: () => Buffer.concat([ca.certificateDer, ca.certificateDer]), message: /not a readable X\.509 certificate/ },
      {
        name: 'a malformed basicConstraints extension',
        der: () => tamper(ca, (asn) => {
          const extension = asn.tbsCertificate.extensions?.find((e) => e.extnID === id_ce_basicConstraints);
          assert.ok(extension);
          extension.extnValue = new OctetString(new Uint8Array([0x04, 0x01, 0xff]));
        }),
        message: /malformed X\.509 extension/,
      },
      {
        name: 'a public key algorithm OpenSSL cannot read',
        der: () => tamper(ca, (asn) => {
          asn.tbsCertificate.subjectPublicKeyInfo.algorithm.algorithm = '1.2.3.4.5.6.7';
          asn.tbsCertificate.subjectPublicKeyInfo.algorithm.parameters = undefined;
        }),
        message: /public key of a type this server cannot read \(1\.2\.3\.4\.5\.6\.7\)/,
      },
    ];
    for (const { name, der, message } of cases) {
      test(name, () => {
        const error = catchDomainError(() => parseCertificatePem(derToPem(der()), 'verificationCertificate'));
        assert.equal(error.code, 'pem.invalid');
        assert.match(error.message, /^verificationCertificate /);
        assert.match(error.message, message);
      });
    }
  });

  test('parseCertificateDer and parseCertificatePem agree', () => {
    const fromDer = parseCertificateDer(ca.certificateDer);
    const fromPem = parseCertificatePem(ca.certificatePem);
    assert.equal(fromDer.fingerprintSha256, fromPem.fingerprintSha256);
    assert.equal(fromDer.pem, fromPem.pem);
  });
});

// parseCertificateDer decodes the fields the rules read itself (der.ts); the reference is what the
// schema parser reads from the whole certificate, as parseCertificateDer did before.
const referenceFields = (der: Buffer) => {
  const asn = AsnConvert.parse(der, AsnCertificate);
  const extension = (id: string) => asn.tbsCertificate.extensions?.find((e) => e.extnID === id);
  const basicConstraints = extension(id_ce_basicConstraints);
  const keyUsage = extension(id_ce_keyUsage);
  const flags = keyUsage && AsnConvert.parse(keyUsage.extnValue.buffer, KeyUsage).toNumber();
  const ski = extension(id_ce_subjectKeyIdentifier);
  const aki = extension(id_ce_authorityKeyIdentifier);
  const akiKeyId = aki && AsnConvert.parse(aki.extnValue.buffer, AuthorityKeyIdentifier).keyIdentifier;
  return {
    version: asn.tbsCertificate.version + 1,
    subjectCommonNames: [...asn.tbsCertificate.subject].flatMap((rdn) => rdn.filter((a) => a.type === '2.5.4.3').map((a) => a.value.toString())),
    basicConstraints: basicConstraints && { isCa: AsnConvert.parse(basicConstraints.extnValue.buffer, BasicConstraints).cA, isCritical: basicConstraints.critical },
    keyUsage: flags === undefined ? undefined : {
      digitalSignature: (flags & KeyUsageFlags.digitalSignature) !== 0, keyCertSign: (flags & KeyUsageFlags.keyCertSign) !== 0, cRLSign: (flags & KeyUsageFlags.cRLSign) !== 0,
    },
    subjectKeyId: ski && Buffer.from(AsnConvert.parse(ski.extnValue.buffer, SubjectKeyIdentifier).buffer).toString('hex'),
    authorityKeyId: akiKeyId && Buffer.from(akiKeyId.buffer).toString('hex'),
    signatureAlgorithmOid: asn.signatureAlgorithm.algorithm,
    signatureHash: signatureHash(asn.signatureAlgorithm.algorithm, asn.signatureAlgorithm.parameters ?? undefined),
  };
};

describe('parseCertificateDer reads what the schema parser reads from the whole certificate', () => {
  let ca: TestCertificate;
  before(async () => {
    ca = await createCa({ subject: 'CN=diff-ca,O=Acme' });
  });
  const cn = (value: ConstructorParameters<typeof AttributeValue>[0]) =>
    new RelativeDistinguishedName([new AttributeTypeAndValue({ type: '2.5.4.3', value: new AttributeValue(value) })]);
  const withSubject = (certificate: TestCertificate, name: Name | Buffer): Buffer => tamper(certificate, (asn) => {
    asn.tbsCertificate.subject = name instanceof Name ? name : AsnConvert.parse(name, Name);
  });
  // Name { RDN { CN = UTF8String(bytes) } }, bytes as given (possibly not UTF-8).
  const utf8CnName = (bytes: number[]): Buffer => {
    const atv = [0x30, 5 + 2 + bytes.length, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, bytes.length, ...bytes];
    return Buffer.from([0x30, atv.length + 2, 0x31, atv.length, ...atv]);
  };

  const cases: { name: string; der: () => Promise<Buffer> }[] = [
    { name: 'a CA', der: async () => ca.certificateDer },
    { name: 'an agent certificate (clientAuth)', der: async () => (await issueCertificate(ca, { subject: 'CN=pump-1,O=Acme', extendedKeyUsage: 'clientAuth' })).certificateDer },
    { name: 'a v1 certificate', der: async () => (await issueCertificate(ca, { subject: 'CN=v1', version: 1 })).certificateDer },
    { name: 'no keyUsage, no basicConstraints', der: async () => (await issueCertificate(ca, { subject: 'CN=bare', keyUsage: null, basicConstraints: null })).certificateDer },
    { name: 'every keyUsage bit the rules read', der: async () => (await createCa({ keyUsage: ['digitalSignature', 'keyEncipherment', 'keyCertSign', 'cRLSign'], keyPair: ca })).certificateDer },
    { name: 'non-critical CA:TRUE', der: async () => (await createCa({ basicConstraints: { ca: true, critical: false }, keyPair: ca })).certificateDer },
    { name: 'RSA with SHA-1', der: async () => (await createCa({ keyType: 'rsa1024', hash: 'SHA-1' })).certificateDer },
    { name: 'two CNs and UTF-8', der: async () => (await issueCertificate(ca, { subject: 'CN=Müller Gerät 1,CN=b,O=Acme' })).certificateDer },
    { name: 'a PrintableString CN', der: async () => withSubject(ca, new Name([cn({ printableString: 'printable-1' })])) },
    { name: 'a BMPString CN', der: async () => withSubject(ca, new Name([cn({ bmpString: 'Gerät-β' })])) },
    { name: 'a TeletexString CN', der: async () => withSubject(ca, new Name([cn({ teletexString: 'teletex' })])) },
    { name: 'an IA5String CN', der: async () => withSubject(ca, new Name([cn({ ia5String: 'ia5' })])) },
    { name: 'a UTF8String CN that is not UTF-8', der: async () => withSubject(ca, utf8CnName([0x61, 0xc3, 0x28])) },
    { name: 'a UTF8String CN with a byte order mark', der: async () => withSubject(ca, utf8CnName([0xef, 0xbb, 0xbf, 0x61])) },
    { name: 'an empty CN', der: async () => withSubject(ca, utf8CnName([])) },
  ];
  for (const { name, der } of cases) {
    test(name, async () => {
      const bytes = await der();
      const parsed = parseCertificateDer(bytes);
      const reference = referenceFields(bytes);
      assert.deepEqual({
        version: parsed.version, subjectCommonNames: parsed.subjectCommonNames, basicConstraints: parsed.basicConstraints, keyUsage: parsed.keyUsage,
        subjectKeyId: parsed.subjectKeyId, authorityKeyId: parsed.authorityKeyId, signatureAlgorithmOid: parsed.signatureAlgorithmOid, signatureHash: parsed.signatureHash,
      }, reference);
    });
  }
});

describe('parseCertificateAsTlsPeer: the certificate as OpenSSL hands it to the broker', () => {
  test('a non-minimal outer length is written again minimally (the doctor then judges what the broker sees); the signed part is kept', async () => {
    const ca = await createCa({ subject: 'CN=tls peer ca' });
    const leaf = await issueCertificate(ca, { subject: 'CN=pump-1' });
    const twin = reissue(leaf, { signer: ca, outerTree: (t) => { t.longLengthOctets = 3; } });
    assert.match(parseCertificateDer(twin.certificateDer).nonDerEncoding ?? '', /leading zero octet/, 'as sent: not DER');
    const peer = parseCertificateAsTlsPeer(twin.certificateDer);
    assert.equal(peer.nonDerEncoding, undefined, 'as OpenSSL re-encodes it: DER');
    assert.ok(peer.der.length < twin.certificateDer.length);
    const insideSigned = reissue(leaf, { signer: ca, tbsTree: (t) => { t.children![5]!.longLengthOctets = 2; } });
    assert.notEqual(parseCertificateAsTlsPeer(insideSigned.certificateDer).nonDerEncoding, undefined, 'the signed part stays as sent');
  });

  test('garbage: pem.invalid', () => {
    assert.equal(catchDomainError(() => parseCertificateAsTlsPeer(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]))).code, 'pem.invalid');
  });
});
