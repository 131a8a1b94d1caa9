import { issuerOf, type AdmissionRule } from '../admission-rule.ts';

export const agentCertificateMustNotBeRevoked: AdmissionRule = {
  id: 'agent-certificate-must-not-be-revoked',
  step: 'revocation',
  citation: 'RFC 5280 §6.3; trustgate: revoked by issuer + serial number',
  // In memory like the CAs (loaded at start, kept current by events): no database query.
  // By issuer + serial number (RFC 5280 §5.3), not by a hash of the bytes: those change when an
  // ECDSA signature (r, s) is rewritten as (r, n - s), which stays valid.
  check: (subject, { trustIndex }) => trustIndex.isRevoked(issuerOf(subject).id, subject.certificate.serialNumber)
    ? {
      code: 'mqtt.certificateRevoked',
      message: `This agent certificate (serial number ${subject.certificate.serialNumber}, issued by CA ${issuerOf(subject).id}) was revoked. `
        + (issuerOf(subject).isManaged
          ? 'Issue a new one (POST /agentCertificates) and install it on the agent.'
          : `Issue a new one with your CA and install it on the agent (revocations: GET /caCertificates/${issuerOf(subject).id}/revokedCertificates and …/crl).`),
    }
    : undefined,
  passed: () => 'Not revoked.',
};
