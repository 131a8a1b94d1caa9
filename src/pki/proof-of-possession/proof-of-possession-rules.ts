import { ruleOnCertificateOf, type RuleContext } from '../certificate-rule.ts';
import { certificateStructureRules } from '../lint/certificate-structure-rules.ts';
import type { ProofOfPossessionInput, ProofRule } from './proof-rule.ts';
import { verificationIssuerMustBeTheCa } from './rules/verification-issuer-must-be-the-ca.ts';
import { verificationSignedByTheCaKey } from './rules/verification-signed-by-the-ca-key.ts';
import { verificationCnIsTheRegistrationCode } from './rules/verification-cn-is-the-registration-code.ts';
import { verificationMustBeValidNow } from './rules/verification-must-be-valid-now.ts';
import { verificationKeyMustBeStrong } from './rules/verification-key-must-be-strong.ts';
import { verificationSignatureHashMustBeStrong } from './rules/verification-signature-hash-must-be-strong.ts';

// MindConnect's proof of possession: a certificate whose CN is the CA's registration code, issued
// and signed by the CA's private key, valid now, as strong and well formed as any certificate
// trustgate accepts. X.509 v1 is accepted on purpose: "openssl x509 -req" (OpenSSL 3.0) makes v1
// certificates, and the how-to uses exactly that command. Ordered from "is it from this CA at
// all" down to "is it fresh" and "is it well made".
export const proofOfPossessionRules: readonly ProofRule[] = [
  verificationIssuerMustBeTheCa,
  verificationSignedByTheCaKey,
  verificationCnIsTheRegistrationCode,
  verificationMustBeValidNow,
  verificationKeyMustBeStrong,
  verificationSignatureHashMustBeStrong,
  ...certificateStructureRules.map((rule) => ruleOnCertificateOf<ProofOfPossessionInput, RuleContext>(rule, (input) => input.verificationCertificate)),
];
