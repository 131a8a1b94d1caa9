import 'reflect-metadata'; // @peculiar/x509 throws at import without it
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, KeyObject, webcrypto, X509Certificate } from 'node:crypto';
import { KeyUsageFlags, KeyUsagesExtension, X509Certificate as PeculiarCertificate } from '@peculiar/x509';
import { parseCertificatePem } from './certificate.ts';
import {
  agentCertificateProfile, brokerRootCaProfile, brokerServerCertificateProfile, caCertificateProfile, type CertificateProfile,
} from './certificate-profiles.ts';
import { caCertificateRules } from './lint/ca-certificate-rules.ts';
import { lintCertificate } from './lint/lint-certificate.ts';
import { issueCertificate, type IssuedCertificate } from './issue-certificate.ts';

const DAY_MS = 86_400_000;
const now = new Date('2026-11-27T10:00:00.000Z');
const keyUsageFlags = (pem: string): number => new PeculiarCertificate(pem).getExtension(KeyUsagesExtension)?.usages ?? 0;
const extensionOrder = (pem: string): string[] => [...new PeculiarCertificate(pem).extensions].map((extension) => extension.type);
const OID = { basicConstraints: '2.5.29.19', keyUsage: '2.5.29.15', extKeyUsage: '2.5.29.37', subjectAltName: '2.5.29.17', aki: '2.5.29.35', ski: '2.5.29.14' };

describe('issueCertificate: the broker root CA profile', () => {
  let root: IssuedCertificate;
  before(async () => {
    root = await issueCertificate(brokerRootCaProfile, { subject: { CN: 'trustgate broker root CA' }, key: 'p256', validityDays: 3650, now });
  });

  test('is a self-signed X.509 v3 CA with an EC P-256 key, SHA-256 and the expected validity', () => {
    const certificate = parseCertificatePem(root.certificatePem);
    assert.equal(certificate.version, 3);
    assert.equal(certificate.subject, 'CN=trustgate broker root CA');
    assert.equal(certificate.issuer, certificate.subject);
    assert.ok(certificate.x509.verify(certificate.publicKey), 'signed by its own key');
    assert.equal(certificate.publicKey.asymmetricKeyType, 'ec');
    assert.equal(certificate.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.equal(certificate.signatureHash, 'sha256');
    assert.equal(certificate.notBefore.getTime(), now.getTime() - 5 * 60_000, 'backdated 5 minutes');
    assert.equal(certificate.notAfter.getTime(), now.getTime() + 3650 * DAY_MS);
    assert.ok(certificate.x509.checkPrivateKey(createPrivateKey(root.privateKeyPem)), 'the key belongs to the certificate');
    assert.match(root.privateKeyPem, /^-----BEGIN PRIVATE KEY-----\n/, 'PKCS#8');
    assert.match(root.certificatePem, /-----END CERTIFICATE-----\n$/);
  });

  test('has critical CA:TRUE pathlen 0, critical keyCertSign + cRLSign and an SKI', () => {
    const certificate = parseCertificatePem(root.certificatePem);
    assert.deepEqual(certificate.basicConstraints, { isCa: true, isCritical: true });
    assert.deepEqual(certificate.keyUsage, { digitalSignature: false, keyCertSign: true, cRLSign: true });
    assert.match(certificate.subjectKeyId ?? '', /^[0-9a-f]{40}$/);
    assert.equal(certificate.x509.ca, true);
  });

  test('has a random, positive 16-byte serial number', async () => {
    const serial = new X509Certificate(root.certificatePem).serialNumber;
    assert.match(serial, /^[0-7][0-9A-F]{31}$/);
    assert.doesNotMatch(serial, /^00/);
    const other = await issueCertificate(brokerRootCaProfile, { subject: { CN: 'x' }, key: 'p256', validityDays: 1, now });
    assert.notEqual(new X509Certificate(other.certificatePem).serialNumber, serial);
  });

  test('would pass trustgate\'s own CA lint (valid at the time it was made)', () => {
    const report = lintCertificate(parseCertificatePem(root.certificatePem), caCertificateRules, { now, clockSkewMs: 0 });
    assert.deepEqual(report.findings, []);
  });

  test('certifies a given key instead of generating one', async () => {
    const again = await issueCertificate(brokerRootCaProfile, { subject: { CN: 'trustgate broker root CA' }, key: { privateKeyPem: root.privateKeyPem }, validityDays: 10, now });
    assert.ok(new X509Certificate(again.certificatePem).checkPrivateKey(createPrivateKey(root.privateKeyPem)));
    assert.notEqual(again.certificatePem, root.certificatePem);
  });

  test('refuses a key that is not EC P-256, and a validity that is not positive', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    await assert.rejects(issueCertificate(brokerRootCaProfile, { subject: { CN: 'x' }, key: { privateKeyPem: rsa }, validityDays: 1, now }), /rsa, not EC P-256/);
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    await assert.rejects(issueCertificate(brokerRootCaProfile, { subject: { CN: 'x' }, key: { privateKeyPem: p384 }, validityDays: 1, now }), /ec secp384r1, not EC P-256/);
    await assert.rejects(issueCertificate(brokerRootCaProfile, { subject: { CN: 'x' }, key: 'p256', validityDays: 0, now }), /validityDays must be positive/);
  });
});


describe('issueCertificate: a tenant\'s CA and its agent certificates', () => {
  const cas = new Map<string, IssuedCertificate>();
  before(async () => {
    for (const keyType of ['p256', 'p384', 'rsa2048'] as const) {
      cas.set(keyType, await issueCertificate(caCertificateProfile, { subject: { O: 'Acme', CN: 'acme CA' }, key: keyType, validityDays: 3650, now }));
    }
  });

  test('a CA keeps the subject\'s attribute order, and its hash follows its key (SHA-384 for P-384)', () => {
    for (const [keyType, hash] of [['p256', 'sha256'], ['p384', 'sha384'], ['rsa2048', 'sha256']] as const) {
      const certificate = parseCertificatePem(cas.get(keyType)!.certificatePem);
      assert.equal(certificate.x509.subject, 'O=Acme\nCN=acme CA', keyType);
      assert.equal(certificate.issuer, certificate.subject);
      assert.equal(certificate.signatureHash, hash, keyType);
      assert.deepEqual(certificate.basicConstraints, { isCa: true, isCritical: true });
      assert.equal(keyUsageFlags(certificate.pem), KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign);
      assert.deepEqual(extensionOrder(certificate.pem), [OID.basicConstraints, OID.keyUsage, OID.ski]);
      assert.ok(certificate.x509.checkPrivateKey(createPrivateKey(cas.get(keyType)!.privateKeyPem)));
      assert.deepEqual(lintCertificate(certificate, caCertificateRules, { now, clockSkewMs: 0 }).findings, [], keyType);
    }
  });

  test('an agent certificate: client authentication, AKI = the CA\'s SKI, signed with the CA\'s hash', async () => {
    for (const [caKey, hash] of [['p384', 'sha384'], ['rsa2048', 'sha256']] as const) {
      const ca = parseCertificatePem(cas.get(caKey)!.certificatePem);
      const issued = await issueCertificate(agentCertificateProfile, { subject: { CN: 'pump-1' }, key: 'p256', issuer: cas.get(caKey)!, validityDays: 365, now });
      const certificate = parseCertificatePem(issued.certificatePem);
      assert.equal(certificate.subject, 'CN=pump-1');
      assert.equal(certificate.issuer, ca.subject);
      assert.ok(certificate.x509.verify(ca.publicKey), 'signed by the CA');
      assert.equal(certificate.signatureHash, hash, caKey);
      assert.deepEqual(certificate.basicConstraints, { isCa: false, isCritical: true });
      assert.equal(keyUsageFlags(certificate.pem), KeyUsageFlags.digitalSignature);
      assert.deepEqual(certificate.x509.keyUsage, ['1.3.6.1.5.5.7.3.2'], 'EKU clientAuth');
      assert.equal(certificate.authorityKeyId, ca.subjectKeyId);
      assert.deepEqual(extensionOrder(certificate.pem), [OID.basicConstraints, OID.keyUsage, OID.extKeyUsage, OID.aki, OID.ski]);
      assert.equal(certificate.notBefore.getTime(), now.getTime() - 5 * 60_000);
      assert.equal(certificate.notAfter.getTime(), now.getTime() + 365 * DAY_MS);
      assert.ok(certificate.x509.checkPrivateKey(createPrivateKey(issued.privateKeyPem)));
    }
  });

  test('an RSA agent key may also encipher (RSA key transport)', async () => {
    const issued = await issueCertificate(agentCertificateProfile, { subject: { CN: 'rsa-1' }, key: 'rsa2048', issuer: cas.get('p256')!, validityDays: 1, now });
    assert.equal(keyUsageFlags(issued.certificatePem), KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment);
  });

  test('an agent certificate never outlives its CA', async () => {
    const issued = await issueCertificate(agentCertificateProfile, { subject: { CN: 'long' }, key: 'p256', issuer: cas.get('p256')!, validityDays: 99_999, now });
    assert.equal(new X509Certificate(issued.certificatePem).validToDate.getTime(), new X509Certificate(cas.get('p256')!.certificatePem).validToDate.getTime());
  });

  test('certifies a public key it is given (a CSR\'s), and then returns no private key', async () => {
    const device = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']) as webcrypto.CryptoKeyPair;
    const issued = await issueCertificate(agentCertificateProfile, { subject: { CN: 'device-1' }, key: { publicKey: device.publicKey }, issuer: cas.get('p256')!, validityDays: 1, now });
    assert.equal(issued.privateKeyPem, undefined);
    assert.ok(new X509Certificate(issued.certificatePem).checkPrivateKey(KeyObject.from(device.privateKey)));
  });

  test('refuses what a profile does not allow', async () => {
    const issuer = cas.get('p256')!;
    await assert.rejects(issueCertificate(agentCertificateProfile, { subject: { CN: 'x' }, key: 'p256', validityDays: 1, now }), /signed by an issuer/);
    await assert.rejects(issueCertificate(caCertificateProfile, { subject: { CN: 'x' }, key: 'p256', issuer, validityDays: 1, now }), /self-signed/);
    await assert.rejects(issueCertificate(brokerServerCertificateProfile, { subject: { CN: 'x' }, key: 'p384', issuer, validityDays: 1, now }), /only p256 keys, not p384/);
    await assert.rejects(issueCertificate(brokerServerCertificateProfile, { subject: { CN: 'x' }, key: 'p256', issuer: cas.get('p384')!, validityDays: 1, now }), /the key is ec secp384r1, not EC P-256/);
    const p384 = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, ['sign', 'verify']) as webcrypto.CryptoKeyPair;
    await assert.rejects(issueCertificate(brokerServerCertificateProfile, { subject: { CN: 'x' }, key: { publicKey: p384.publicKey }, issuer: cas.get('p256')!, validityDays: 1, now }),
      /the key is ec secp384r1, not EC P-256/);
    const ed25519 = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    await assert.rejects(issueCertificate(agentCertificateProfile, { subject: { CN: 'x' }, key: 'p256', issuer: { certificatePem: issuer.certificatePem, privateKeyPem: ed25519 }, validityDays: 1, now }),
      /unsupported issuer key: ed25519 \(use RSA or EC P-256\/P-384\)/);
  });
});

// Issue 11 review: the issuers were merged into one over profiles-as-data. Per profile, in one
// table, what a relying party decides on; a profile whose data drifts fails its row.
describe('issueCertificate: every profile, as a relying party sees it', () => {
  interface Row {
    readonly profile: CertificateProfile;
    readonly isCa: boolean;
    readonly keyUsage: number;
    readonly eku: readonly string[] | undefined;
    readonly hasSan: boolean;
    /** Issued for longer than its issuer lives: is it cut at the issuer's notAfter? */
    readonly isCappedByIssuer: boolean | undefined;
  }
  const rows: readonly Row[] = [
    { profile: caCertificateProfile, isCa: true, keyUsage: KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, eku: undefined, hasSan: false, isCappedByIssuer: undefined },
    { profile: brokerRootCaProfile, isCa: true, keyUsage: KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, eku: undefined, hasSan: false, isCappedByIssuer: undefined },
    { profile: brokerServerCertificateProfile, isCa: false, keyUsage: KeyUsageFlags.digitalSignature, eku: ['1.3.6.1.5.5.7.3.1'], hasSan: true, isCappedByIssuer: false },
    { profile: agentCertificateProfile, isCa: false, keyUsage: KeyUsageFlags.digitalSignature, eku: ['1.3.6.1.5.5.7.3.2'], hasSan: false, isCappedByIssuer: true },
  ];
  const issuerLife = 30;

  for (const row of rows) {
    test(`${row.profile.id}: CA ${row.isCa}, critical basicConstraints and keyUsage, its EKU, random positive serials of >= 64 bits${row.isCappedByIssuer === undefined ? '' : `, ${row.isCappedByIssuer ? '' : 'not '}capped by its issuer`}`, async () => {
      const issuer = row.profile.isSelfSigned ? undefined
        : await issueCertificate(brokerRootCaProfile, { subject: { CN: 'issuer' }, key: 'p256', validityDays: issuerLife, now });
      const issue = () => issueCertificate(row.profile, { subject: { CN: 'subject' }, key: 'p256', issuer, hostnames: row.hasSan ? ['localhost'] : [], validityDays: issuerLife * 10, now });
      const issued = await Promise.all(Array.from({ length: 24 }, issue));
      const certificate = parseCertificatePem(issued[0]!.certificatePem);
      assert.deepEqual(certificate.basicConstraints, { isCa: row.isCa, isCritical: true });
      assert.equal(certificate.x509.ca, row.isCa);
      assert.equal(keyUsageFlags(certificate.pem), row.keyUsage);
      assert.equal(new PeculiarCertificate(certificate.pem).getExtension(KeyUsagesExtension)?.critical, true);
      assert.deepEqual(certificate.x509.keyUsage, row.eku);
      assert.equal(extensionOrder(certificate.pem).includes(OID.subjectAltName), row.hasSan);
      if (issuer) {
        assert.ok(certificate.x509.verify(new X509Certificate(issuer.certificatePem).publicKey), 'signed by its issuer');
        const issuerEnd = new X509Certificate(issuer.certificatePem).validToDate.getTime();
        assert.equal(certificate.notAfter.getTime() === issuerEnd, row.isCappedByIssuer, 'notAfter cut at the issuer\'s');
        assert.ok(certificate.notAfter.getTime() <= now.getTime() + issuerLife * 10 * DAY_MS);
      }
      // RFC 5280 §4.1.2.2 positive, at most 20 octets; CA/B Forum >= 64 random bits.
      const serials = issued.map((one) => new X509Certificate(one.certificatePem).serialNumber);
      assert.equal(new Set(serials).size, serials.length, 'unique');
      for (const serial of serials) {
        assert.match(serial, /^[0-7][0-9A-F]{31}$/, 'positive, 16 octets, no leading zero octet');
        assert.doesNotMatch(serial, /^00/);
      }
      // Every octet after the first takes several values across the batch: random, not a counter or a clock.
      for (let octet = 1; octet < 16; octet += 1) {
        assert.ok(new Set(serials.map((serial) => serial.slice(octet * 2, octet * 2 + 2))).size > 4, `octet ${octet} varies`);
      }
    });
  }
});
