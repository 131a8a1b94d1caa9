import type { LintRule } from '../lint-rule.ts';
import { weakSignatureDescription } from '../../strength.ts';

export const caSignatureHashMustBeStrong: LintRule = {
  id: 'ca-signature-hash-must-be-strong',
  citation: 'CA/Browser Forum BR §7.1.3.2; NIST SP 800-131A Rev.2 §9 (no SHA-1 signatures)',
  check: (certificate) => {
    const weakSignature = weakSignatureDescription(certificate);
    return weakSignature === undefined ? undefined : {
      code: 'caCertificate.weakSignature',
      message: `The certificate is signed with ${weakSignature}; sign it with SHA-256 or stronger (add "-sha256" to the openssl command).`,
    };
  },
};
