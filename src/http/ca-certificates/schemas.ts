import { Type, type Static } from 'typebox';
import type { CaCertificateRecord, CrlView, RevocationView } from '../../registry/index.ts';

// The CA resource of MindConnect MQTT v3 (id, name, expiration, commonName, isVerified) plus
// fields that save a client a round trip through OpenSSL.
export const CaCertificateResource = Type.Object({
  id: Type.String({ description: '24 lowercase hex characters' }),
  name: Type.String(),
  description: Type.Optional(Type.String()),
  commonName: Type.Union([Type.String(), Type.Null()], { description: 'Subject CN of the CA certificate' }),
  subject: Type.String({ description: 'Subject DN, RFC 2253 order as OpenSSL prints it' }),
  expiration: Type.String({ description: 'notAfter, ISO 8601 UTC with milliseconds' }),
  notBefore: Type.String(),
  fingerprint: Type.String({ description: 'SHA-256 of the DER certificate, lowercase hex' }),
  isVerified: Type.Boolean(),
  createdAt: Type.String(),
  verifiedAt: Type.Union([Type.String(), Type.Null()]),
  caCertificate: Type.String({ description: 'The certificate, PEM' }),
}, { $id: 'CaCertificate' });

export type CaCertificateResource = Static<typeof CaCertificateResource>;

export const toCaCertificateResource = (record: CaCertificateRecord): CaCertificateResource => ({
  id: record.id,
  name: record.name,
  ...(record.description === undefined ? {} : { description: record.description }),
  commonName: record.commonName ?? null,
  subject: record.subject.replaceAll('\n', ', '),
  expiration: record.notAfter.toISOString(),
  notBefore: record.notBefore.toISOString(),
  fingerprint: record.fingerprintSha256,
  isVerified: record.isVerified,
  createdAt: record.createdAt.toISOString(),
  verifiedAt: record.verifiedAt?.toISOString() ?? null,
  caCertificate: record.certificatePem,
});

// Limits here are generous envelopes; the PEM rules themselves live in pki.
export const UploadCaCertificateBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 128, description: 'A name for the CA certificate, 1-128 characters; surrounding white space is trimmed, and a name of only white space is refused like an empty one' }),
  description: Type.Optional(Type.String({ maxLength: 1024 })),
  caCertificate: Type.String({ minLength: 1, maxLength: 65536, description: 'One PEM certificate; newlines escaped as \\n in JSON' }),
});

export const VerifyCaCertificateBody = Type.Object({
  verificationCertificate: Type.String({ minLength: 1, maxLength: 65536, description: 'PEM certificate with CN = registration code, signed by the CA' }),
});

export const RegistrationCodeResponse = Type.Object({ registrationCode: Type.String() });

// Issue 15: revocation by issuer + serial number, CRL import.
export const SerialParams = Type.Object({
  id: Type.String(),
  serialNumber: Type.String({ maxLength: 128, description: 'Hex as OpenSSL prints it, with or without colons, any case' }),
});

export const RevokeCertificateBody = Type.Object({
  serialNumber: Type.String({ minLength: 1, maxLength: 128, description: 'Serial number as OpenSSL prints it: hex, any case, with or without colons (openssl x509 -noout -serial)' }),
  reason: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'RFC 5280 reason name, e.g. keyCompromise or certificateHold; default unspecified' })),
});

export const RevokedCertificateResource = Type.Object({
  serialNumber: Type.String({ description: 'Normalised: lowercase hex, no colons, no leading zeros' }),
  reason: Type.String(),
  revokedAt: Type.String({ description: 'ISO 8601 UTC' }),
}, { $id: 'RevokedCertificate' });

export const toRevokedCertificateResource = (view: RevocationView): Static<typeof RevokedCertificateResource> => ({
  serialNumber: view.serialNumber, reason: view.reason, revokedAt: view.revokedAt.toISOString(),
});

/** A CRL of 100,000 entries is about 4 MB of PEM. */
export const CRL_BODY_LIMIT_BYTES = 8 * 1024 * 1024;

export const ImportCrlBody = Type.Object({
  crl: Type.String({ minLength: 1, maxLength: CRL_BODY_LIMIT_BYTES, description: 'One PEM CRL (-----BEGIN X509 CRL-----) signed by this CA, e.g. from openssl ca -gencrl' }),
});

export const CrlResource = Type.Object({
  thisUpdate: Type.String(),
  nextUpdate: Type.Union([Type.String(), Type.Null()]),
  crlNumber: Type.Union([Type.String(), Type.Null()], { description: 'cRLNumber as lowercase hex without leading zeros; null when the CRL has none' }),
  entryCount: Type.Integer(),
  importedAt: Type.String(),
  stale: Type.Boolean({ description: 'Past nextUpdate: still enforced, but the CA should publish a newer CRL' }),
}, { $id: 'CertificateRevocationList' });

export const toCrlResource = (view: CrlView): Static<typeof CrlResource> => ({
  thisUpdate: view.thisUpdate.toISOString(),
  nextUpdate: view.nextUpdate?.toISOString() ?? null,
  crlNumber: view.crlNumber ?? null,
  entryCount: view.entryCount,
  importedAt: view.importedAt.toISOString(),
  stale: view.stale,
});
