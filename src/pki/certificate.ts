import { createHash, X509Certificate, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  AuthorityKeyIdentifier, BasicConstraints, Certificate as AsnCertificate, KeyUsage, KeyUsageFlags,
  SubjectKeyIdentifier, id_ce_authorityKeyIdentifier, id_ce_basicConstraints, id_ce_keyUsage,
  id_ce_subjectKeyIdentifier, type Name,
} from '@peculiar/asn1-x509';
import { DomainError } from '../shared/index.ts';
import { derToPem, readSingleCertificatePem } from './pem.ts';
import { signatureHash, type HashName } from './signature-hash.ts';

export interface KeyUsageBits {
  readonly digitalSignature: boolean;
  readonly keyCertSign: boolean;
  readonly cRLSign: boolean;
}

// Our own certificate value: parsed once at the edge, then passed around as plain data plus the
// Node X509Certificate for signature checks. Fields hold what the rules need, nothing more.
export interface Certificate {
  readonly der: Buffer;
  readonly pem: string;
  readonly x509: X509Certificate;
  readonly version: number; // 1, 2 or 3
  readonly subject: string;
  readonly issuer: string;
  readonly subjectCommonNames: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly basicConstraints: { readonly isCa: boolean; readonly isCritical: boolean } | undefined;
  readonly keyUsage: KeyUsageBits | undefined;
  readonly publicKey: KeyObject;
  readonly signatureAlgorithmOid: string;
  readonly signatureHash: HashName | undefined;
  readonly fingerprintSha256: string; // lowercase hex of the DER
  readonly publicKeySha256: string; // lowercase hex of the SubjectPublicKeyInfo DER
  readonly subjectKeyId: string | undefined;
  readonly authorityKeyId: string | undefined;
  /** extendedKeyUsage OIDs, undefined when the extension is absent (RFC 5280 §4.2.1.12). */
  readonly extendedKeyUsage: readonly string[] | undefined;
}

const COMMON_NAME = '2.5.4.3';

// Spread first: Name is an Array subclass, and flatMap on it would return a Name, not a string[].
const commonNames = (name: Name): string[] =>
  [...name].flatMap((rdn) => rdn.filter((attribute) => attribute.type === COMMON_NAME).map((attribute) => attribute.value.toString()));

const sha256Hex = (data: Buffer | Uint8Array): string => createHash('sha256').update(data).digest('hex');

// Length of the outer DER SEQUENCE (header + content), or undefined if the header is unreadable.
// Both parsers below silently ignore bytes after it, which would let the same certificate get a
// second fingerprint (and slip past the duplicate check) just by appending junk to the base64.
const outerDerLength = (der: Buffer): number | undefined => {
  const first = der[1];
  if (der[0] !== 0x30 || first === undefined) return undefined;
  if (first < 0x80) return 2 + first;
  const lengthBytes = first & 0x7f;
  if (lengthBytes === 0 || lengthBytes > 4 || der.length < 2 + lengthBytes) return undefined;
  return 2 + lengthBytes + der.readUIntBE(2, lengthBytes);
};

export const parseCertificateDer = (der: Buffer, field = 'certificate'): Certificate => {
  let x509: X509Certificate;
  let asn: AsnCertificate;
  try {
    if (outerDerLength(der) !== der.length) throw new Error('DER length does not match the data');
    x509 = new X509Certificate(der);
    asn = AsnConvert.parse(der, AsnCertificate);
  } catch (cause) {
    throw new DomainError('pem.invalid',
      `${field} is not a readable X.509 certificate (the DER inside the PEM does not parse). Export it again, e.g. with "openssl x509 -outform PEM".`,
      { cause });
  }
  const tbs = asn.tbsCertificate;
  let basicConstraints: Certificate['basicConstraints'];
  let keyUsage: KeyUsageBits | undefined;
  let subjectKeyId: string | undefined;
  let authorityKeyId: string | undefined;
  try {
    for (const extension of tbs.extensions ?? []) {
      const value = extension.extnValue.buffer;
      switch (extension.extnID) {
        case id_ce_basicConstraints: {
          const parsed = AsnConvert.parse(value, BasicConstraints);
          basicConstraints = { isCa: parsed.cA, isCritical: extension.critical };
          break;
        }
        case id_ce_keyUsage: {
          const flags = AsnConvert.parse(value, KeyUsage).toNumber();
          keyUsage = {
            digitalSignature: (flags & KeyUsageFlags.digitalSignature) !== 0,
            keyCertSign: (flags & KeyUsageFlags.keyCertSign) !== 0,
            cRLSign: (flags & KeyUsageFlags.cRLSign) !== 0,
          };
          break;
        }
        case id_ce_subjectKeyIdentifier:
          subjectKeyId = Buffer.from(AsnConvert.parse(value, SubjectKeyIdentifier).buffer).toString('hex');
          break;
        case id_ce_authorityKeyIdentifier: {
          const keyIdentifier = AsnConvert.parse(value, AuthorityKeyIdentifier).keyIdentifier;
          authorityKeyId = keyIdentifier ? Buffer.from(keyIdentifier.buffer).toString('hex') : undefined;
          break;
        }
      }
    }
  } catch (cause) {
    throw new DomainError('pem.invalid', `${field} has a malformed X.509 extension. Issue the certificate again with a standard tool.`, { cause });
  }
  let publicKey: KeyObject;
  try {
    publicKey = x509.publicKey; // throws for key algorithms OpenSSL cannot decode
  } catch (cause) {
    throw new DomainError('pem.invalid',
      `${field} has a public key of a type this server cannot read (${tbs.subjectPublicKeyInfo.algorithm.algorithm}). Use an RSA or EC P-256/P-384/P-521 key.`,
      { cause });
  }
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return {
    der,
    pem: derToPem(der),
    x509,
    version: tbs.version + 1,
    subject: x509.subject,
    issuer: x509.issuer,
    subjectCommonNames: commonNames(tbs.subject),
    notBefore: x509.validFromDate,
    notAfter: x509.validToDate,
    basicConstraints,
    keyUsage,
    publicKey,
    signatureAlgorithmOid: asn.signatureAlgorithm.algorithm,
    signatureHash: signatureHash(asn.signatureAlgorithm.algorithm, asn.signatureAlgorithm.parameters ?? undefined),
    fingerprintSha256: sha256Hex(der),
    publicKeySha256: sha256Hex(spki),
    subjectKeyId,
    authorityKeyId,
    // Node names the extendedKeyUsage extension "keyUsage".
    extendedKeyUsage: x509.keyUsage,
  };
};

export const parseCertificatePem = (text: string, field = 'certificate'): Certificate =>
  parseCertificateDer(readSingleCertificatePem(text, field), field);
