import 'reflect-metadata'; // @peculiar/x509 throws at import without it
import { isIP } from 'node:net';
import { SubjectAlternativeNameExtension, X509Certificate } from '@peculiar/x509';
import { brokerServerCertificateProfile } from './certificate-profiles.ts';
import { issueCertificate, type IssuedCertificate } from './issue-certificate.ts';

// The broker's TLS server certificate, issued by its root CA (brokerRootCaProfile) for the host
// names agents connect to. What it holds is the profile's business; this decides the names.

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

/** Canonical form of a host name for comparisons: DNS names lowercase, IPv6 compressed. */
export const normalizeHostname = (name: string): string => {
  if (isIP(name) === 6) return new URL(`http://[${name}]`).hostname.slice(1, -1);
  return name.toLowerCase();
};

export const issueServerCertificate = async (options: IssueServerCertificateOptions): Promise<IssuedCertificate> => {
  const { issuer, hostnames, validityDays, now, notAfterCap, privateKeyPem } = options;
  const names = [...new Set(hostnames.map(normalizeHostname))];
  const [commonName] = names;
  if (commonName === undefined) throw new Error('a server certificate needs at least one host name');
  return issueCertificate(brokerServerCertificateProfile, {
    subject: { CN: commonName },
    key: privateKeyPem === undefined ? 'p256' : { privateKeyPem },
    issuer,
    hostnames: names,
    validityDays,
    now,
    notAfterCap,
  });
};

/** The DNS names and IP addresses in a certificate's subjectAltName, normalized, sorted, unique. */
export const subjectAltNames = (certificatePem: string): string[] => {
  const names = new X509Certificate(certificatePem).getExtension(SubjectAlternativeNameExtension)?.names.items ?? [];
  return [...new Set(names.filter((n) => n.type === 'dns' || n.type === 'ip').map((n) => normalizeHostname(n.value)))].sort();
};
