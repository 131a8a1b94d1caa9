import { describeKey, weakKeyDescription } from '../../../pki/index.ts';
import type { AdmissionRule } from '../admission-rule.ts';

export const agentKeyMustBeStrong: AdmissionRule = {
  id: 'agent-key-must-be-strong',
  step: 'keyStrength',
  citation: 'trustgate: as strong as an uploaded CA; NIST SP 800-57 Pt.1 Rev.5 §5.6',
  // Remembered per certificate DER once strong: reading the key's details is a public-key operation per connect.
  check: ({ certificate }, { trustIndex }) => {
    const weakKey = trustIndex.certificateChecks.weakKeyDescription(certificate, () => weakKeyDescription(certificate));
    return weakKey === undefined ? undefined : {
      code: 'mqtt.certificateWeakKey',
      message: `The agent certificate's key is ${weakKey}; issue it for an RSA key of at least 2048 bits or an EC P-256, P-384 or P-521 key.`,
    };
  },
  passed: ({ certificate }) => `Key ${describeKey(certificate.publicKey)}.`,
};
