import { weakSignatureDescription } from '../../strength.ts';
import type { ProofRule } from '../proof-rule.ts';

export const verificationSignatureHashMustBeStrong: ProofRule = {
  id: 'verification-signature-hash-must-be-strong',
  citation: 'NIST SP 800-131A Rev.2 §9 (no SHA-1 signatures)',
  check: ({ verificationCertificate: proof }) => {
    const weakSignature = weakSignatureDescription(proof);
    return weakSignature === undefined ? undefined : {
      code: 'verification.weakSignature',
      message: `The verification certificate is signed with ${weakSignature}; sign it with SHA-256 or stronger (add "-sha256" to "openssl x509 -req").`,
    };
  },
};
