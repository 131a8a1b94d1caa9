import type { LintRule } from '../lint-rule.ts';

// One certificate, one encoding: with non-minimal lengths accepted, the same CA or agent
// certificate (same signature) gets a second fingerprint, e.g. to be registered twice.
export const certificateMustBeStrictDer: LintRule = {
  id: 'certificate-must-be-strict-der',
  citation: 'RFC 5280 §4.1 (DER); X.690 §10-11',
  check: ({ nonDerEncoding }) => nonDerEncoding === undefined ? undefined : {
    code: 'certificate.notDer',
    message: `The certificate is not strict DER: ${nonDerEncoding}. Export it again with a standard tool (e.g. "openssl x509 -outform PEM"); a certificate has exactly one valid encoding.`,
  },
};
