import { validityProblem } from '../../../pki/index.ts';
import type { AdmissionRule } from '../admission-rule.ts';

export const agentCertificateMustBeValidNow: AdmissionRule = {
  id: 'agent-certificate-must-be-valid-now',
  step: 'validity',
  citation: 'RFC 5280 §4.1.2.5',
  check: ({ certificate }, context) => {
    switch (validityProblem(certificate, context)) {
      case 'expired':
        return { code: 'mqtt.certificateExpired', message: `The agent certificate expired at ${certificate.notAfter.toISOString()}. Issue a new one.` };
      case 'notYetValid':
        return {
          code: 'mqtt.certificateNotYetValid',
          message: `The agent certificate is not valid before ${certificate.notBefore.toISOString()} (server time ${context.now.toISOString()}). Check the issuing machine's clock.`,
        };
      default:
        return undefined;
    }
  },
  passed: ({ certificate }) => `Valid until ${certificate.notAfter.toISOString()}.`,
};
