import type { Certificate } from './certificate.ts';
import type { LintContext, LintFinding } from './lint/lint-rule.ts';

export interface ProofOfPossessionInput {
  readonly caCertificate: Certificate;
  readonly verificationCertificate: Certificate;
  readonly registrationCode: string;
}

const oneLine = (name: string): string => name.replaceAll('\n', ', ');

// MindConnect's proof of possession: a certificate whose CN is the CA's registration code, issued
// and signed by the CA's private key, valid now. X.509 v1 is accepted on purpose: "openssl x509
// -req" (OpenSSL 3.0) makes v1 certificates, and the how-to uses exactly that command.
// Returns the first failure, checked from "is it from this CA at all" down to "is it fresh".
export const checkProofOfPossession = (
  { caCertificate: ca, verificationCertificate: proof, registrationCode }: ProofOfPossessionInput,
  { now, clockSkewMs }: LintContext,
): Omit<LintFinding, 'rule'> | undefined => {
  if (proof.issuer !== ca.subject) {
    return {
      code: 'verification.issuerMismatch',
      message: `The verification certificate was issued by "${oneLine(proof.issuer)}", but this CA certificate's subject is "${oneLine(ca.subject)}". Sign it with this CA: openssl x509 -req -in verificationCert.csr -CA <this CA>.pem -CAkey <this CA>.key ...`,
    };
  }
  let isSignedByCa = false;
  try {
    isSignedByCa = proof.x509.verify(ca.publicKey);
  } catch {
    isSignedByCa = false;
  }
  if (!isSignedByCa) {
    return {
      code: 'verification.signatureMismatch',
      message: 'The verification certificate names this CA as issuer but was signed by another key. Sign it with the private key of this CA certificate (-CAkey), which is what proves you hold it.',
    };
  }
  const commonNames = proof.subjectCommonNames;
  if (commonNames.length !== 1 || commonNames[0] !== registrationCode) {
    const found = commonNames.length === 0 ? 'no CN' : `CN "${commonNames.join('", "')}"`;
    return {
      code: 'verification.registrationCodeMismatch',
      message: `The verification certificate has ${found}, but this CA certificate's registration code is "${registrationCode}". Create the CSR with -subj "/CN=${registrationCode}" (GET .../registrationCode gives it).`,
    };
  }
  if (proof.notAfter.getTime() < now.getTime()) {
    return {
      code: 'verification.expired',
      message: `The verification certificate expired at ${proof.notAfter.toISOString()}. Issue a new one (e.g. -days 7) and send it.`,
    };
  }
  if (proof.notBefore.getTime() > now.getTime() + clockSkewMs) {
    return {
      code: 'verification.notYetValid',
      message: `The verification certificate is not valid before ${proof.notBefore.toISOString()} (server time ${now.toISOString()}). Check the clock of the machine that signed it.`,
    };
  }
  return undefined;
};
