import type { LintRule } from '../lint-rule.ts';
import { validityProblem } from '../../validity.ts';

export const caMustBeValidNow: LintRule = {
  id: 'ca-must-be-valid-now',
  citation: 'RFC 5280 §4.1.2.5',
  check: (certificate, context) => {
    switch (validityProblem(certificate, context)) {
      case 'expired':
        return {
          code: 'caCertificate.expired',
          message: `The CA certificate expired at ${certificate.notAfter.toISOString()}. Create a new CA certificate (e.g. "openssl req -x509 -days 1825 ...") and upload that.`,
        };
      case 'notYetValid':
        return {
          code: 'caCertificate.notYetValid',
          message: `The CA certificate is not valid before ${certificate.notBefore.toISOString()} (server time ${context.now.toISOString()}). Check the clock of the machine that created it, or wait until then.`,
        };
      default:
        return undefined;
    }
  },
};
