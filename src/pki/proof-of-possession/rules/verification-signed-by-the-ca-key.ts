import type { ProofRule } from '../proof-rule.ts';

export const verificationSignedByTheCaKey: ProofRule = {
  id: 'verification-signed-by-the-ca-key',
  citation: 'RFC 5280 §6.1.3 (a)(1); MindConnect proof of possession',
  check: ({ caCertificate: ca, verificationCertificate: proof }) => {
    let isSignedByCa = false;
    try {
      isSignedByCa = proof.x509.verify(ca.publicKey);
    } catch {
      isSignedByCa = false;
    }
    return isSignedByCa ? undefined : {
      code: 'verification.signatureMismatch',
      message: 'The verification certificate names this CA as issuer but was signed by another key. Sign it with the private key of this CA certificate (-CAkey), which is what proves you hold it.',
    };
  },
};
