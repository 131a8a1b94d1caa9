import type { LintRule } from '../lint-rule.ts';
import { weakKeyDescription } from '../../strength.ts';

export const caKeyMustBeStrong: LintRule = {
  id: 'ca-key-must-be-strong',
  citation: 'NIST SP 800-57 Pt.1 Rev.5 §5.6 (112-bit security); trustgate: RSA >= 2048 or EC P-256/P-384/P-521',
  check: (certificate) => {
    const weakKey = weakKeyDescription(certificate);
    return weakKey === undefined ? undefined : {
      code: 'caCertificate.weakKey',
      message: `The CA key is ${weakKey}; use RSA with at least 2048 bits or EC P-256, P-384 or P-521 (e.g. "openssl genrsa -out ca.key 2048").`,
    };
  },
};
