import type { AdmissionRule } from './admission-rule.ts';
import { agentCertificateMustBeWellFormed } from './rules/agent-certificate-must-be-well-formed.ts';
import { agentIssuerMustBeAVerifiedCa } from './rules/agent-issuer-must-be-a-verified-ca.ts';
import { agentCertificateMustNotBeRevoked } from './rules/agent-certificate-must-not-be-revoked.ts';
import { issuingCaMustBeValidNow } from './rules/issuing-ca-must-be-valid-now.ts';
import { issuingCaMustPassTheCaRules } from './rules/issuing-ca-must-pass-the-ca-rules.ts';
import { agentCertificateMustBeValidNow } from './rules/agent-certificate-must-be-valid-now.ts';
import { agentKeyMustBeStrong } from './rules/agent-key-must-be-strong.ts';
import { agentSignatureHashMustBeStrong } from './rules/agent-signature-hash-must-be-strong.ts';
import { agentCertificateMustNotBeACa } from './rules/agent-certificate-must-not-be-a-ca.ts';
import { agentCertificateMustAllowClientAuth } from './rules/agent-certificate-must-allow-client-auth.ts';
import { agentCertificateMustHaveOneUsableCn } from './rules/agent-certificate-must-have-one-usable-cn.ts';
import { clientIdMustBeTenantAndCn } from './rules/client-id-must-be-tenant-and-cn.ts';

// Accepted iff signed directly by a CA certificate verified in some tenant T,
// both within validity, well formed and strong, client id = T_<CN>. In order; the first failure
// decides. Well-formedness first, as in the CA lint: a malformed certificate is refused for what it
// is (OpenSSL's signature check would call a non-DER ECDSA signature "unknown CA"), before any
// signature is checked; then the issuer and its facts, as the doctor has always listed them.
export const admissionRules: readonly AdmissionRule[] = [
  agentCertificateMustBeWellFormed,
  agentIssuerMustBeAVerifiedCa,
  agentCertificateMustNotBeRevoked,
  issuingCaMustBeValidNow,
  issuingCaMustPassTheCaRules,
  agentCertificateMustBeValidNow,
  agentKeyMustBeStrong,
  agentSignatureHashMustBeStrong,
  agentCertificateMustNotBeACa,
  agentCertificateMustAllowClientAuth,
  agentCertificateMustHaveOneUsableCn,
  clientIdMustBeTenantAndCn,
];
