import type { LintRule } from '../lint-rule.ts';

export const caMustHaveCaBasicConstraint: LintRule = {
  id: 'ca-must-have-ca-basic-constraint',
  citation: 'RFC 5280 §4.2.1.9',
  check: (certificate) => certificate.basicConstraints?.isCa === true ? undefined : {
    code: 'caCertificate.notCa',
    message: certificate.basicConstraints
      ? 'The certificate has basicConstraints CA:FALSE, so it is not a CA certificate. Upload your CA certificate (basicConstraints = critical, CA:TRUE), not an agent or server certificate.'
      : 'The certificate has no basicConstraints extension, so it is not a CA certificate. Issue the CA with "basicConstraints = critical, CA:TRUE" (openssl req -x509 adds it).',
  },
};
