import type { AdmissionRule } from '../admission-rule.ts';

export const agentCertificateMustNotBeACa: AdmissionRule = {
  id: 'agent-certificate-must-not-be-a-ca',
  step: 'notCa',
  // An agent certificate is an end entity; a CA certificate here would be an intermediate.
  citation: 'RFC 5280 §4.2.1.9',
  check: ({ certificate }) => certificate.basicConstraints?.isCa === true
    ? { code: 'mqtt.certificateIsCa', message: 'The certificate is a CA certificate (basicConstraints CA:TRUE). Agents need an end-entity certificate issued by the CA.' }
    : undefined,
  passed: () => 'An end-entity certificate.',
};
