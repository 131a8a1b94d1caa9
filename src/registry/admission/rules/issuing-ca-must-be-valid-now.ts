import { validityProblem } from '../../../pki/index.ts';
import { issuerOf, type AdmissionRule } from '../admission-rule.ts';

export const issuingCaMustBeValidNow: AdmissionRule = {
  id: 'issuing-ca-must-be-valid-now',
  step: 'caValidity',
  citation: 'RFC 5280 §4.1.2.5, §6.1.3 (a)(2); the same clock skew as at upload',
  check: (subject, context) => {
    const { certificate: ca } = issuerOf(subject);
    return validityProblem(ca, context) === undefined ? undefined : {
      code: 'mqtt.caExpired',
      message: `The issuing CA certificate is valid only from ${ca.notBefore.toISOString()} to ${ca.notAfter.toISOString()} (server time ${context.now.toISOString()}). Register a current CA and reissue the agent certificate.`,
    };
  },
  passed: (subject) => `The CA certificate is valid until ${issuerOf(subject).certificate.notAfter.toISOString()}.`,
};
