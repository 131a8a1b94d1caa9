import { createHash, X509Certificate, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  Name, SubjectPublicKeyInfo, id_ce_authorityKeyIdentifier, id_ce_basicConstraints, id_ce_keyUsage, id_ce_subjectKeyIdentifier,
} from '@peculiar/asn1-x509';
import { DomainError } from '../shared/index.ts';
import {
  decodeAuthorityKeyIdentifier, decodeBasicConstraints, decodeKeyUsage, decodeSubjectKeyIdentifier, findNonDerEncoding, normalizeSerialHex, readCommonNamesFast,
  splitCertificate, type CertificateExtension, type CertificateParts,
} from './der.ts';
import { derToPem, readSingleCertificatePem } from './pem.ts';
import { signatureHash, type HashName } from './signature-hash.ts';

export type { CertificateExtension } from './der.ts';

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
  /** Lowercase hex without leading zeros (normalizeSerialHex): with the issuer, what names a
   *  certificate for revocation (RFC 5280 §5.3), unlike a hash of its (malleable) bytes. */
  readonly serialNumber: string;
  /** The serial number's encoded content octets (sign and length are checked by the rules). */
  readonly serialNumberOctets: Buffer;
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
  /** Lowercase hex SHA-256 of the tbsCertificate as encoded: the certificate's identity where a
   *  hash is needed. Unlike fingerprintSha256 it survives re-encoding the signature ((r, s) as
   *  (r, n - s) is as valid) or the bytes outside the signed part; changing the signed part breaks
   *  the signature. docs/decisions/0013-certificate-identity.md */
  readonly tbsCertificateSha256: string;
  readonly publicKeySha256: string; // lowercase hex of the SubjectPublicKeyInfo DER
  readonly subjectKeyId: string | undefined;
  readonly authorityKeyId: string | undefined;
  /** extendedKeyUsage OIDs, undefined when the extension is absent (RFC 5280 §4.2.1.12). */
  readonly extendedKeyUsage: readonly string[] | undefined;
  /** Every extension as encoded, in order, duplicates included (the rules refuse them). */
  readonly extensions: readonly CertificateExtension[];
  /** Undefined for strict DER; else what is not DER (computed on first read). */
  readonly nonDerEncoding: string | undefined;
}

const COMMON_NAME = '2.5.4.3';
// RFC 5280 §4.2.1.3 named bits.
const KEY_USAGE_BIT = { digitalSignature: 0, keyCertSign: 5, cRLSign: 6 } as const;

// Spread first: Name is an Array subclass, and flatMap on it would return a Name, not a string[].
const commonNames = (name: Name): string[] =>
  [...name].flatMap((rdn) => rdn.filter((attribute) => attribute.type === COMMON_NAME).map((attribute) => attribute.value.toString()));

const sha256Hex = (data: Buffer | Uint8Array): string => createHash('sha256').update(data).digest('hex');

// Every agent connection parses its certificate, and a schema parser over all of it cost ~0.3 ms
// of CPU per connect. OpenSSL parses the whole certificate (X509Certificate); der.ts splits it,
// strictly (no bytes after it: both parsers would ignore them and give one certificate a second
// fingerprint that slips past the duplicate check), and decodes the four extensions the rules read
// and the subject's CNs (a CN in a rare string type still goes through the schema parser). The key
// fingerprint, which only CA registration reads, is computed on first use.
/** `parsed`: `der` as a Node X509Certificate already (the TLS peer certificate), to parse it once. */
export const parseCertificateDer = (der: Buffer, field = 'certificate', parsed?: X509Certificate): Certificate => {
  let x509: X509Certificate;
  let parts: CertificateParts;
  let subjectCommonNames: string[];
  try {
    parts = splitCertificate(der);
    x509 = parsed ?? new X509Certificate(der);
    subjectCommonNames = readCommonNamesFast(parts.subject) ?? commonNames(AsnConvert.parse(parts.subject, Name));
  } catch (cause) {
    throw new DomainError('pem.invalid',
      `${field} is not a readable X.509 certificate (the DER inside the PEM does not parse). Export it again, e.g. with "openssl x509 -outform PEM".`,
      { cause });
  }
  let basicConstraints: Certificate['basicConstraints'];
  let keyUsage: KeyUsageBits | undefined;
  let subjectKeyId: string | undefined;
  let authorityKeyId: string | undefined;
  try {
    for (const { oid, isCritical, value } of parts.extensions) {
      switch (oid) {
        case id_ce_basicConstraints:
          basicConstraints = { isCa: decodeBasicConstraints(value).isCa, isCritical };
          break;
        case id_ce_keyUsage: {
          const isSet = decodeKeyUsage(value);
          keyUsage = { digitalSignature: isSet(KEY_USAGE_BIT.digitalSignature), keyCertSign: isSet(KEY_USAGE_BIT.keyCertSign), cRLSign: isSet(KEY_USAGE_BIT.cRLSign) };
          break;
        }
        case id_ce_subjectKeyIdentifier:
          subjectKeyId = decodeSubjectKeyIdentifier(value).toString('hex');
          break;
        case id_ce_authorityKeyIdentifier:
          authorityKeyId = decodeAuthorityKeyIdentifier(value)?.toString('hex');
          break;
      }
    }
  } catch (cause) {
    throw new DomainError('pem.invalid', `${field} has a malformed X.509 extension. Issue the certificate again with a standard tool.`, { cause });
  }
  let publicKey: KeyObject;
  try {
    publicKey = x509.publicKey; // throws for key algorithms OpenSSL cannot decode
  } catch (cause) {
    let algorithm = 'unknown';
    try {
      algorithm = AsnConvert.parse(parts.subjectPublicKeyInfo, SubjectPublicKeyInfo).algorithm.algorithm;
    } catch {
      // keep 'unknown'
    }
    throw new DomainError('pem.invalid',
      `${field} has a public key of a type this server cannot read (${algorithm}). Use an RSA or EC P-256/P-384/P-521 key.`,
      { cause });
  }
  let publicKeySha256: string | undefined;
  let tbsCertificateSha256: string | undefined;
  let nonDerEncoding: string | undefined | null = null;
  return {
    der,
    pem: derToPem(der),
    x509,
    version: parts.versionNumber + 1,
    serialNumber: normalizeSerialHex(parts.serialNumber.toString('hex')),
    serialNumberOctets: parts.serialNumber,
    subject: x509.subject,
    issuer: x509.issuer,
    subjectCommonNames,
    notBefore: x509.validFromDate,
    notAfter: x509.validToDate,
    basicConstraints,
    keyUsage,
    publicKey,
    signatureAlgorithmOid: parts.signatureAlgorithm.oid,
    signatureHash: signatureHash(parts.signatureAlgorithm.oid, parts.signatureAlgorithm.parameters),
    fingerprintSha256: sha256Hex(der),
    get tbsCertificateSha256() {
      return tbsCertificateSha256 ??= sha256Hex(parts.tbsCertificate);
    },
    get publicKeySha256() {
      return publicKeySha256 ??= sha256Hex(publicKey.export({ type: 'spki', format: 'der' }));
    },
    subjectKeyId,
    authorityKeyId,
    // Node names the extendedKeyUsage extension "keyUsage".
    extendedKeyUsage: x509.keyUsage,
    extensions: parts.extensions,
    get nonDerEncoding() {
      if (nonDerEncoding === null) nonDerEncoding = findNonDerEncoding(der, parts);
      return nonDerEncoding;
    },
  };
};

export const parseCertificatePem = (text: string, field = 'certificate'): Certificate =>
  parseCertificateDer(readSingleCertificatePem(text, field), field);

// What the broker judges is not the client's bytes but OpenSSL's re-encoding of them
// (getPeerX509Certificate().raw): OpenSSL keeps the signed part and the signature bits as sent
// but writes the outer SEQUENCE and the signatureAlgorithm again, minimally. The doctor judges
// the same re-encoding, so it says what the broker will do (a certificate whose only flaw is a
// non-minimal outer length reaches the broker as its DER original).
export const parseCertificateAsTlsPeer = (der: Buffer, field = 'certificate'): Certificate => {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(der);
  } catch (cause) {
    throw new DomainError('pem.invalid',
      `${field} is not a readable X.509 certificate (the DER inside the PEM does not parse). Export it again, e.g. with "openssl x509 -outform PEM".`,
      { cause });
  }
  return parseCertificateDer(x509.raw, field, x509);
};
