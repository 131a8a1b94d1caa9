import type { ProofRule } from '../proof-rule.ts';

export const verificationCnIsTheRegistrationCode: ProofRule = {
  id: 'verification-cn-is-the-registration-code',
  citation: 'MindConnect proof of possession (CN = registration code)',
  check: ({ verificationCertificate: proof, registrationCode }) => {
    const commonNames = proof.subjectCommonNames;
    if (commonNames.length === 1 && commonNames[0] === registrationCode) return undefined;
    const found = commonNames.length === 0 ? 'no CN' : `CN "${commonNames.join('", "')}"`;
    return {
      code: 'verification.registrationCodeMismatch',
      message: `The verification certificate has ${found}, but this CA certificate's registration code is "${registrationCode}". Create the CSR with -subj "/CN=${registrationCode}" (GET .../registrationCode gives it).`,
    };
  },
};
