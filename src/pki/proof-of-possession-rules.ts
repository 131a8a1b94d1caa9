import type { Certificate } from './certificate.ts';
import { ruleOnCertificateOf, type CertificateRule, type RuleContext } from './certificate-rule.ts';
import { certificateStructureRules } from './lint/certificate-structure-rules.ts';
import { weakKeyDescription, weakSignatureDescription } from './strength.ts';
import { validityProblem } from './validity.ts';

export interface ProofOfPossessionInput {
  readonly caCertificate: Certificate;
  readonly verificationCertificate: Certificate;
  readonly registrationCode: string;
}

type ProofRule = CertificateRule<ProofOfPossessionInput>;

const oneLine = (name: string): string => name.replaceAll('\n', ', ');

// MindConnect's proof of possession: a certificate whose CN is the CA's registration code, issued
// and signed by the CA's private key, valid now, as strong and well formed as any certificate
// trustgate accepts. X.509 v1 is accepted on purpose: "openssl x509 -req" (OpenSSL 3.0) makes v1
// certificates, and the how-to uses exactly that command. Ordered from "is it from this CA at
// all" down to "is it fresh" and "is it well made".
const issuerMustBeTheCa: ProofRule = {
  id: 'verification-issuer-must-be-the-ca',
  citation: 'RFC 5280 §4.1.2.4; MindConnect proof of possession',
  check: ({ caCertificate: ca, verificationCertificate: proof }) => proof.issuer === ca.subject ? undefined : {
    code: 'verification.issuerMismatch',
    message: `The verification certificate was issued by "${oneLine(proof.issuer)}", but this CA certificate's subject is "${oneLine(ca.subject)}". Sign it with this CA: openssl x509 -req -in verificationCert.csr -CA <this CA>.pem -CAkey <this CA>.key ...`,
  },
};

const signatureMustVerifyWithTheCaKey: ProofRule = {
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

const commonNameMustBeTheRegistrationCode: ProofRule = {
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

const mustBeValidNow: ProofRule = {
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

const keyMustBeStrong: ProofRule = {
  id: 'verification-key-must-be-strong',
  citation: 'NIST SP 800-57 Pt.1 Rev.5 §5.6; SPEC: RSA >= 2048 or EC P-256/P-384/P-521',
  check: ({ verificationCertificate: proof }) => {
    const weakKey = weakKeyDescription(proof);
    return weakKey === undefined ? undefined : {
      code: 'verification.weakKey',
      message: `The verification certificate's key is ${weakKey}; create the CSR with RSA of at least 2048 bits or EC P-256, P-384 or P-521 (e.g. "openssl req -new -newkey rsa:2048 ...").`,
    };
  },
};

const signatureHashMustBeStrong: ProofRule = {
  id: 'verification-signature-hash-must-be-strong',
  citation: 'NIST SP 800-131A Rev.2 §9 (no SHA-1 signatures)',
  check: ({ verificationCertificate: proof }) => {
    const weakSignature = weakSignatureDescription(proof);
    return weakSignature === undefined ? undefined : {
      code: 'verification.weakSignature',
      message: `The verification certificate is signed with ${weakSignature}; sign it with SHA-256 or stronger (add "-sha256" to "openssl x509 -req").`,
    };
  },
};

export const proofOfPossessionRules: readonly ProofRule[] = [
  issuerMustBeTheCa,
  signatureMustVerifyWithTheCaKey,
  commonNameMustBeTheRegistrationCode,
  mustBeValidNow,
  keyMustBeStrong,
  signatureHashMustBeStrong,
  ...certificateStructureRules.map((rule) => ruleOnCertificateOf<ProofOfPossessionInput, RuleContext>(rule, (input) => input.verificationCertificate)),
];
