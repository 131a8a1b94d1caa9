import type { AdmissionRule } from '../admission-rule.ts';

export const agentCertificateMustNotBeRevoked: AdmissionRule = {
  id: 'agent-certificate-must-not-be-revoked',
  step: 'revocation',
  citation: 'RFC 5280 §6.3; SPEC "Certificate lifecycle"',
  // In memory like the CAs (loaded at start, kept current by events): no database query.
  check: ({ certificate }, { trustIndex }) => trustIndex.isRevoked(certificate.fingerprintSha256)
    ? { code: 'mqtt.certificateRevoked', message: `This agent certificate (SHA-256 ${certificate.fingerprintSha256}) was revoked. Issue a new one (POST /agentCertificates) and install it on the agent.` }
    : undefined,
  passed: () => 'Not revoked.',
};
