import 'reflect-metadata'; // @peculiar/x509 throws at import without it
import { createPrivateKey, createPublicKey, KeyObject, randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import {
  AuthorityKeyIdentifierExtension, BasicConstraintsExtension, ExtendedKeyUsage, ExtendedKeyUsageExtension,
  KeyUsageFlags, KeyUsagesExtension, SubjectAlternativeNameExtension, SubjectKeyIdentifierExtension,
  X509Certificate, X509CertificateGenerator, type JsonGeneralName, type JsonName,
} from '@peculiar/x509';

// Issuance of the broker's own TLS identity: a self-signed root CA and a server certificate it
// signs. Pure: keys and certificates go in and out as PEM; reading and writing files is app's job.

type CryptoKey = webcrypto.CryptoKey;
type PeculiarCrypto = Parameters<typeof X509CertificateGenerator.create>[1];

export interface IssuedCertificate {
  readonly certificatePem: string;
  readonly privateKeyPem: string; // PKCS#8
}

export interface CreateRootCaOptions {
  readonly commonName: string;
  readonly validityDays: number;
  readonly now: Date;
  /** Certify this key (PKCS#8 or SEC1 PEM, EC P-256) instead of generating a new one. */
  readonly privateKeyPem?: string;
}

export interface IssueServerCertificateOptions {
  readonly issuer: IssuedCertificate;
  /** DNS names and IP addresses (DNS names are lowercased); the first one also becomes the CN. */
  readonly hostnames: readonly string[];
  readonly validityDays: number;
  readonly now: Date;
  /** Never issue past this instant (the issuer's notAfter); default: no cap. */
  readonly notAfterCap?: Date;
  /** Certify this key (PEM, EC P-256) instead of generating a new one. */
  readonly privateKeyPem?: string;
}

export const crypto = webcrypto as unknown as PeculiarCrypto;
const DAY_MS = 86_400_000;
// Tolerate clocks of relying parties that run a little behind ours.
const BACKDATE_MS = 5 * 60_000;
const EC_P256: webcrypto.EcKeyImportParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };

interface KeyPair {
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly privateKeyPem: string;
}

const generateKeyPair = async (): Promise<KeyPair> => {
  const pair = await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']) as webcrypto.CryptoKeyPair;
  return {
    privateKey: pair.privateKey,
    publicKey: pair.publicKey,
    privateKeyPem: KeyObject.from(pair.privateKey).export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
};

// Only EC P-256 is used for the broker identity: small, fast handshakes, and every TLS stack an
// agent might run supports it.
const importKeyPair = (privateKeyPem: string): KeyPair => {
  const privateKey = createPrivateKey(privateKeyPem);
  const curve = privateKey.asymmetricKeyDetails?.namedCurve;
  if (privateKey.asymmetricKeyType !== 'ec' || curve !== 'prime256v1') {
    throw new Error(`the key is ${privateKey.asymmetricKeyType}${curve ? ` ${curve}` : ''}, not EC P-256`);
  }
  return {
    privateKey: privateKey.toCryptoKey(EC_P256, true, ['sign']),
    publicKey: createPublicKey(privateKey).toCryptoKey(EC_P256, true, ['verify']),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
};

// RFC 5280 §4.1.2.2: positive, at most 20 octets; 128 random bits (CA/B Forum asks for ≥ 64).
export const randomSerialHex = (): string => {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01; // high bit clear (positive), never a leading zero octet
  return bytes.toString('hex');
};

export const validity = (now: Date, validityDays: number, cap?: Date) => {
  if (!Number.isFinite(validityDays) || validityDays <= 0) throw new Error(`validityDays must be positive, not ${validityDays}`);
  const notAfter = new Date(now.getTime() + validityDays * DAY_MS);
  return {
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: cap && cap.getTime() < notAfter.getTime() ? cap : notAfter,
  };
};

// @peculiar/x509 ends its PEM without a newline; files and chains are easier to handle with one.
export const pemOf = (certificate: X509Certificate): string => `${certificate.toString('pem').trimEnd()}\n`;

/** Canonical form of a host name for comparisons: DNS names lowercase, IPv6 compressed. */
export const normalizeHostname = (name: string): string => {
  if (isIP(name) === 6) return new URL(`http://[${name}]`).hostname.slice(1, -1);
  return name.toLowerCase();
};

// A structured name, not a DN string: a CN holding "," or "=" cannot turn into a second attribute.
export const commonNameDn = (commonName: string): JsonName => [{ CN: [commonName] }];

export const createRootCa = async ({ commonName, validityDays, now, privateKeyPem }: CreateRootCaOptions): Promise<IssuedCertificate> => {
  const keys = privateKeyPem === undefined ? await generateKeyPair() : importKeyPair(privateKeyPem);
  const certificate = await X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialHex(),
    name: commonNameDn(commonName),
    ...validity(now, validityDays),
    keys: { privateKey: keys.privateKey, publicKey: keys.publicKey },
    signingAlgorithm: SIGNING,
    extensions: [
      // RFC 5280 §4.2.1.9: critical CA:TRUE; pathLen 0 because it signs only end-entity certificates.
      new BasicConstraintsExtension(true, 0, true),
      // RFC 5280 §4.2.1.3: a CA key signs certificates and CRLs, nothing else.
      new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
      await SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
    ],
  }, crypto);
  return { certificatePem: pemOf(certificate), privateKeyPem: keys.privateKeyPem };
};

const subjectAltName = (hostname: string): JsonGeneralName =>
  ({ type: isIP(hostname) === 0 ? 'dns' : 'ip', value: hostname });


export const issueServerCertificate = async (options: IssueServerCertificateOptions): Promise<IssuedCertificate> => {
  const { issuer, hostnames, validityDays, now, notAfterCap, privateKeyPem } = options;
  const names = [...new Set(hostnames.map(normalizeHostname))];
  const [commonName] = names;
  if (commonName === undefined) throw new Error('a server certificate needs at least one host name');
  const issuerCertificate = new X509Certificate(issuer.certificatePem);
  const issuerKeys = importKeyPair(issuer.privateKeyPem);
  const keys = privateKeyPem === undefined ? await generateKeyPair() : importKeyPair(privateKeyPem);
  // RFC 5280 §4.2.1.1: the AKI is the issuer's SKI, so chain builders pick the right root.
  const issuerKeyId = issuerCertificate.getExtension(SubjectKeyIdentifierExtension)?.keyId
    ?? (await SubjectKeyIdentifierExtension.create(issuerKeys.publicKey, false, crypto)).keyId;
  const certificate = await X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: commonNameDn(commonName),
    issuer: issuerCertificate.subjectName,
    ...validity(now, validityDays, notAfterCap),
    publicKey: keys.publicKey,
    signingKey: issuerKeys.privateKey,
    signingAlgorithm: SIGNING,
    extensions: [
      new BasicConstraintsExtension(false, undefined, true),
      // An ECDHE handshake needs only signatures from the server key.
      new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true),
      new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth], false),
      // RFC 6125 §6.4.4: clients match SANs, never the CN, once a SAN is present.
      new SubjectAlternativeNameExtension(names.map(subjectAltName), false),
      new AuthorityKeyIdentifierExtension(issuerKeyId, false),
      await SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
    ],
  }, crypto);
  return { certificatePem: pemOf(certificate), privateKeyPem: keys.privateKeyPem };
};

/** The DNS names and IP addresses in a certificate's subjectAltName, normalized, sorted, unique. */
export const subjectAltNames = (certificatePem: string): string[] => {
  const names = new X509Certificate(certificatePem).getExtension(SubjectAlternativeNameExtension)?.names.items ?? [];
  return [...new Set(names.filter((n) => n.type === 'dns' || n.type === 'ip').map((n) => normalizeHostname(n.value)))].sort();
};
