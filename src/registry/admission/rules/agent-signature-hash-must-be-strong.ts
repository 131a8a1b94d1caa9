import { weakSignatureDescription } from '../../../pki/index.ts';
import type { AdmissionRule } from '../admission-rule.ts';

export const agentSignatureHashMustBeStrong: AdmissionRule = {
  id: 'agent-signature-hash-must-be-strong',
  step: 'signatureStrength',
  citation: 'trustgate: as strong as an uploaded CA; NIST SP 800-131A Rev.2 §9 (no SHA-1 signatures)',
  check: ({ certificate }) => {
    const weakSignature = weakSignatureDescription(certificate);
    return weakSignature === undefined ? undefined : {
      code: 'mqtt.certificateWeakSignature',
      message: `The agent certificate is signed with ${weakSignature}; have the CA sign it with SHA-256 or stronger (add "-sha256" to the openssl command).`,
    };
  },
  passed: ({ certificate }) => `Signed with ${certificate.signatureHash?.toUpperCase() ?? 'a strong hash'}.`,
};
