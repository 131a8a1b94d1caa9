import { validityProblem } from '../../validity.ts';
import type { ProofRule } from '../proof-rule.ts';

export const verificationMustBeValidNow: ProofRule = {
  id: 'verification-must-be-valid-now',
  citation: 'RFC 5280 §4.1.2.5',
  check: ({ verificationCertificate: proof }, context) => {
    switch (validityProblem(proof, context)) {
      case 'expired':
        return { code: 'verification.expired', message: `The verification certificate expired at ${proof.notAfter.toISOString()}. Issue a new one (e.g. -days 7) and send it.` };
      case 'notYetValid':
        return {
          code: 'verification.notYetValid',
          message: `The verification certificate is not valid before ${proof.notBefore.toISOString()} (server time ${context.now.toISOString()}). Check the clock of the machine that signed it.`,
        };
      default:
        return undefined;
    }
  },
};
