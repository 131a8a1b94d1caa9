import 'reflect-metadata'; // @peculiar/x509 throws at import without it
import { isIP } from 'node:net';
import {
  AuthorityKeyIdentifierExtension, BasicConstraintsExtension, ExtendedKeyUsage, ExtendedKeyUsageExtension, KeyUsageFlags,
  KeyUsagesExtension, SubjectAlternativeNameExtension, SubjectKeyIdentifierExtension, type Extension, type JsonGeneralName,
} from '@peculiar/x509';
import { isRsaKey, x509Crypto, type CryptoKey, type KeyType } from './key-pair.ts';

// What each kind of certificate trustgate issues looks like, as data: an ordered list of small
// extension objects (the order is the order in the certificate), the keys it takes and how its
// validity is bounded. issue-certificate.ts builds any of them; nothing else makes extensions.

export interface ExtensionContext {
  /** The key being certified. */
  readonly subjectKey: CryptoKey;
  /** The issuer's key identifier (hex); undefined for a self-signed certificate. */
  readonly issuerKeyId: string | undefined;
  /** Normalized DNS names and IP addresses, for a profile with a subjectAltName. */
  readonly hostnames: readonly string[];
}

export interface ProfileExtension {
  readonly id: string;
  readonly citation: string;
  readonly build: (context: ExtensionContext) => Extension | Promise<Extension>;
}

export interface CertificateProfile {
  readonly id: 'caCertificate' | 'brokerRootCa' | 'brokerServerCertificate' | 'agentCertificate';
  readonly isSelfSigned: boolean;
  /** The only key this profile certifies or signs with; undefined: any key pki can import. */
  readonly onlyKeyType?: KeyType | undefined;
  /** Never valid past the issuer's notAfter (a relying party would refuse it from then on anyway). */
  readonly isCappedByIssuer: boolean;
  readonly extensions: readonly ProfileExtension[];
}

/** How long a proof-of-possession certificate (an agent certificate, CN = registration code) lives. */
export const VERIFICATION_CERTIFICATE_VALIDITY_DAYS = 7;

// pathLen 0: trustgate's CAs sign end-entity certificates only.
const caBasicConstraints: ProfileExtension = {
  id: 'basicConstraints', citation: 'RFC 5280 §4.2.1.9', build: () => new BasicConstraintsExtension(true, 0, true),
};
const endEntityBasicConstraints: ProfileExtension = {
  id: 'basicConstraints', citation: 'RFC 5280 §4.2.1.9', build: () => new BasicConstraintsExtension(false, undefined, true),
};
// A CA key signs certificates and CRLs, nothing else.
const caKeyUsage: ProfileExtension = {
  id: 'keyUsage', citation: 'RFC 5280 §4.2.1.3', build: () => new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
};
// An ECDHE handshake needs only signatures from the server key.
const serverKeyUsage: ProfileExtension = {
  id: 'keyUsage', citation: 'RFC 5280 §4.2.1.3', build: () => new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true),
};
// keyEncipherment for RSA: a device's TLS stack may still offer RSA key transport.
const clientKeyUsage: ProfileExtension = {
  id: 'keyUsage',
  citation: 'RFC 5280 §4.2.1.3',
  build: ({ subjectKey }) => new KeyUsagesExtension(KeyUsageFlags.digitalSignature | (isRsaKey(subjectKey) ? KeyUsageFlags.keyEncipherment : 0), true),
};
const serverAuth: ProfileExtension = {
  id: 'extKeyUsage', citation: 'RFC 5280 §4.2.1.12', build: () => new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth], false),
};
const clientAuth: ProfileExtension = {
  id: 'extKeyUsage', citation: 'RFC 5280 §4.2.1.12', build: () => new ExtendedKeyUsageExtension([ExtendedKeyUsage.clientAuth], false),
};
// Clients match SANs, never the CN, once a SAN is present (RFC 6125 §6.4.4).
const hostnameSubjectAltNames: ProfileExtension = {
  id: 'subjectAltName',
  citation: 'RFC 5280 §4.2.1.6',
  build: ({ hostnames }) => new SubjectAlternativeNameExtension(hostnames.map((name): JsonGeneralName => ({ type: isIP(name) === 0 ? 'dns' : 'ip', value: name })), false),
};
// The AKI is the issuer's SKI, so chain builders pick the right CA.
const authorityKeyIdentifier: ProfileExtension = {
  id: 'authorityKeyIdentifier',
  citation: 'RFC 5280 §4.2.1.1',
  build: ({ issuerKeyId }) => {
    if (issuerKeyId === undefined) throw new Error('an authority key identifier needs an issuer');
    return new AuthorityKeyIdentifierExtension(issuerKeyId, false);
  },
};
const subjectKeyIdentifier: ProfileExtension = {
  id: 'subjectKeyIdentifier', citation: 'RFC 5280 §4.2.1.2', build: ({ subjectKey }) => SubjectKeyIdentifierExtension.create(subjectKey, false, x509Crypto),
};

/** A tenant's CA (`trustgate ca create`, the managed CA): v3, critical CA:TRUE, keyCertSign, SKI, as MindConnect expects. */
export const caCertificateProfile: CertificateProfile = {
  id: 'caCertificate',
  isSelfSigned: true,
  isCappedByIssuer: false,
  extensions: [caBasicConstraints, caKeyUsage, subjectKeyIdentifier],
};

// The broker's own TLS identity is EC P-256 only: small, fast handshakes, and every TLS stack an
// agent might run supports it.
export const brokerRootCaProfile: CertificateProfile = { ...caCertificateProfile, id: 'brokerRootCa', onlyKeyType: 'p256' };

export const brokerServerCertificateProfile: CertificateProfile = {
  id: 'brokerServerCertificate',
  isSelfSigned: false,
  onlyKeyType: 'p256',
  // The caller caps it (at the root's notAfter) where it wants to.
  isCappedByIssuer: false,
  extensions: [endEntityBasicConstraints, serverKeyUsage, serverAuth, hostnameSubjectAltNames, authorityKeyIdentifier, subjectKeyIdentifier],
};

/** An agent certificate (`trustgate agent issue`, POST /agentCertificates) and a verification certificate: TLS client authentication. */
export const agentCertificateProfile: CertificateProfile = {
  id: 'agentCertificate',
  isSelfSigned: false,
  isCappedByIssuer: true,
  extensions: [endEntityBasicConstraints, clientKeyUsage, clientAuth, authorityKeyIdentifier, subjectKeyIdentifier],
};
