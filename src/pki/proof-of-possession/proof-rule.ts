import type { Certificate } from '../certificate.ts';
import type { CertificateRule } from '../certificate-rule.ts';

export interface ProofOfPossessionInput {
  readonly caCertificate: Certificate;
  readonly verificationCertificate: Certificate;
  readonly registrationCode: string;
}

// A proof-of-possession rule: the certificate-rule shape over the CA, the verification
// certificate and the CA's registration code.
export type ProofRule = CertificateRule<ProofOfPossessionInput>;

export const oneLine = (name: string): string => name.replaceAll('\n', ', ');
