import 'reflect-metadata'; // @peculiar/x509 throws at import without it
import { KeyObject, randomBytes } from 'node:crypto';
import { SubjectKeyIdentifierExtension, X509Certificate, X509CertificateGenerator, type Extension, type JsonName } from '@peculiar/x509';
import type { CertificateProfile, ExtensionContext } from './certificate-profiles.ts';
import {
  generateKeyPair, importKeyPair, requireKeyType, signingAlgorithmOf, x509Crypto, type CryptoKey, type KeyPair, type KeyType,
} from './key-pair.ts';

// The one issuer: builds any profile of certificate-profiles.ts, self-signed or signed by an
// issuer's key. Pure: keys and certificates go in and out as PEM; files are the caller's job.

export interface IssuedCertificate {
  readonly certificatePem: string;
  readonly privateKeyPem: string; // PKCS#8
}

/** A certificate for a key someone else holds (a device's CSR): no private key to return. */
export interface CertifiedPublicKey {
  readonly certificatePem: string;
  readonly privateKeyPem: undefined;
}

/** The key to certify: generate one of this type, import this one, or take a CSR's public key. */
export type SubjectKey = KeyType | { readonly privateKeyPem: string } | { readonly publicKey: CryptoKey };

export type Issued<K extends SubjectKey> = K extends { readonly publicKey: CryptoKey } ? CertifiedPublicKey : IssuedCertificate;

export interface CertificateRequest<K extends SubjectKey> {
  /** Subject attributes in order, one RDN each, e.g. { O: 'Acme', CN: 'acme CA' }. */
  readonly subject: Readonly<Record<string, string>>;
  readonly key: K;
  /** The CA and its key; none for a self-signed profile. */
  readonly issuer?: IssuedCertificate | undefined;
  /** For a profile with a subjectAltName: normalized, unique DNS names and IP addresses. */
  readonly hostnames?: readonly string[] | undefined;
  readonly validityDays: number;
  readonly now: Date;
  /** Never issue past this instant; default: no cap beyond the profile's. */
  readonly notAfterCap?: Date | undefined;
}

const DAY_MS = 86_400_000;
// Tolerate clocks of relying parties that run a little behind ours.
const BACKDATE_MS = 5 * 60_000;

// RFC 5280 §4.1.2.2: positive, at most 20 octets; 128 random bits (CA/B Forum asks for ≥ 64).
const randomSerialHex = (): string => {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01; // high bit clear (positive), never a leading zero octet
  return bytes.toString('hex');
};

const validityWindow = (now: Date, validityDays: number, caps: readonly (Date | undefined)[]) => {
  if (!Number.isFinite(validityDays) || validityDays <= 0) throw new Error(`validityDays must be positive, not ${validityDays}`);
  let notAfter = new Date(now.getTime() + validityDays * DAY_MS);
  for (const cap of caps) if (cap && cap.getTime() < notAfter.getTime()) notAfter = cap;
  return { notBefore: new Date(now.getTime() - BACKDATE_MS), notAfter };
};

// A structured name, not a DN string: a value holding "," or "=" cannot turn into a second attribute.
const nameOf = (subject: Readonly<Record<string, string>>): JsonName =>
  Object.entries(subject).map(([attribute, value]) => ({ [attribute]: [value] }));

// @peculiar/x509 ends its PEM without a newline; files and chains are easier to handle with one.
const pemOf = (certificate: X509Certificate): string => `${certificate.toString('pem').trimEnd()}\n`;

// The public key to certify, and its pair when we hold the private key (generated or imported).
const subjectKeyOf = async (key: SubjectKey, { id, onlyKeyType }: CertificateProfile): Promise<{ publicKey: CryptoKey; pair: KeyPair | undefined }> => {
  if (typeof key === 'string') {
    if (onlyKeyType !== undefined && key !== onlyKeyType) throw new Error(`a ${id} takes only ${onlyKeyType} keys, not ${key}`);
    const pair = await generateKeyPair(key);
    return { publicKey: pair.publicKey, pair };
  }
  if ('privateKeyPem' in key) {
    const pair = importKeyPair(key.privateKeyPem, { onlyKeyType, role: 'subject' });
    return { publicKey: pair.publicKey, pair };
  }
  requireKeyType(KeyObject.from(key.publicKey), onlyKeyType);
  return { publicKey: key.publicKey, pair: undefined };
};

// In the profile's order: the order of the extensions in the certificate.
const extensionsOf = async (profile: CertificateProfile, context: ExtensionContext): Promise<Extension[]> => {
  const extensions: Extension[] = [];
  for (const extension of profile.extensions) extensions.push(await extension.build(context));
  return extensions;
};

export const issueCertificate = async <K extends SubjectKey>(profile: CertificateProfile, request: CertificateRequest<K>): Promise<Issued<K>> => {
  const { subject, key, issuer, hostnames = [], validityDays, now, notAfterCap } = request;
  if (profile.isSelfSigned !== (issuer === undefined)) throw new Error(`a ${profile.id} is ${profile.isSelfSigned ? 'self-signed' : 'signed by an issuer'}`);
  const issuerCertificate = issuer && new X509Certificate(issuer.certificatePem);
  const issuerKeys = issuer && importKeyPair(issuer.privateKeyPem, { onlyKeyType: profile.onlyKeyType, role: 'issuer' });
  const { publicKey, pair: subjectKeys } = await subjectKeyOf(key, profile);
  const signingKey = (issuerKeys ?? subjectKeys)?.privateKey;
  if (signingKey === undefined) throw new Error(`a self-signed ${profile.id} needs its private key`);
  const issuerKeyId = issuerCertificate && issuerKeys && (issuerCertificate.getExtension(SubjectKeyIdentifierExtension)?.keyId
    ?? (await SubjectKeyIdentifierExtension.create(issuerKeys.publicKey, false, x509Crypto)).keyId);
  const name = nameOf(subject);
  const certificate = await X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: name,
    issuer: issuerCertificate?.subjectName ?? name,
    ...validityWindow(now, validityDays, [notAfterCap, profile.isCappedByIssuer ? issuerCertificate?.notAfter : undefined]),
    publicKey,
    signingKey,
    signingAlgorithm: signingAlgorithmOf(signingKey),
    extensions: await extensionsOf(profile, { subjectKey: publicKey, issuerKeyId, hostnames }),
  }, x509Crypto);
  return { certificatePem: pemOf(certificate), privateKeyPem: subjectKeys?.privateKeyPem } as Issued<K>;
};
