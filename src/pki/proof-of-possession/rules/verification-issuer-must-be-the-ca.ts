import { oneLine, type ProofRule } from '../proof-rule.ts';

export const verificationIssuerMustBeTheCa: ProofRule = {
  id: 'verification-issuer-must-be-the-ca',
  citation: 'RFC 5280 §4.1.2.4; MindConnect proof of possession',
  check: ({ caCertificate: ca, verificationCertificate: proof }) => proof.issuer === ca.subject ? undefined : {
    code: 'verification.issuerMismatch',
    message: `The verification certificate was issued by "${oneLine(proof.issuer)}", but this CA certificate's subject is "${oneLine(ca.subject)}". Sign it with this CA: openssl x509 -req -in verificationCert.csr -CA <this CA>.pem -CAkey <this CA>.key ...`,
  },
};
