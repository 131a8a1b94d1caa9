import type { LintRule } from '../lint-rule.ts';

// RFC 5280 §4.2.1.3: "If the keyCertSign bit is asserted, then the cA bit in the basic constraints
// extension MUST also be asserted"; a certificate allowed to sign certificates but not a CA is
// self-contradictory (and an end entity that can sign certificates should not be an agent).
export const keyCertSignRequiresCa: LintRule = {
  id: 'key-cert-sign-requires-ca',
  citation: 'RFC 5280 §4.2.1.3, §4.2.1.9',
  appliesTo: ({ keyUsage }) => keyUsage?.keyCertSign === true,
  check: ({ basicConstraints }) => basicConstraints?.isCa === true ? undefined : {
    code: 'certificate.keyCertSignWithoutCa',
    message: `The certificate's keyUsage allows keyCertSign (signing certificates) but it ${basicConstraints ? 'has basicConstraints CA:FALSE' : 'has no basicConstraints'}. Issue an agent or verification certificate without keyCertSign (e.g. "keyUsage = critical, digitalSignature").`,
  },
};
