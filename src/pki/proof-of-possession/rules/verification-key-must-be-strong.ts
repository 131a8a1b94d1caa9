import { weakKeyDescription } from '../../strength.ts';
import type { ProofRule } from '../proof-rule.ts';

export const verificationKeyMustBeStrong: ProofRule = {
  id: 'verification-key-must-be-strong',
  citation: 'NIST SP 800-57 Pt.1 Rev.5 §5.6; trustgate: RSA >= 2048 or EC P-256/P-384/P-521',
  check: ({ verificationCertificate: proof }) => {
    const weakKey = weakKeyDescription(proof);
    return weakKey === undefined ? undefined : {
      code: 'verification.weakKey',
      message: `The verification certificate's key is ${weakKey}; create the CSR with RSA of at least 2048 bits or EC P-256, P-384 or P-521 (e.g. "openssl req -new -newkey rsa:2048 ...").`,
    };
  },
};
