import type { LintRule } from '../lint-rule.ts';
import { isStrongHash } from '../../signature-hash.ts';

export const caSignatureHashMustBeStrong: LintRule = {
  id: 'ca-signature-hash-must-be-strong',
  citation: 'CA/Browser Forum BR §7.1.3.2; NIST SP 800-131A Rev.2 §9 (no SHA-1 signatures)',
  check: (certificate) => isStrongHash(certificate.signatureHash) ? undefined : {
    code: 'caCertificate.weakSignature',
    message: `The certificate is signed with ${certificate.signatureHash?.toUpperCase() ?? `an unsupported algorithm (${certificate.signatureAlgorithmOid})`}; sign it with SHA-256 or stronger (add "-sha256" to the openssl command).`,
  },
};
