export { type Certificate, type CertificateExtension, type KeyUsageBits, parseCertificateAsTlsPeer, parseCertificateDer, parseCertificatePem } from './certificate.ts';
export { normalizeSerialHex } from './der.ts';
export { containsPrivateKey, derToPem, normalizePemText, parsePemBlocks, privateKeyIncluded, readSingleCertificatePem, type PemBlock } from './pem.ts';
export { type HashName, isStrongHash, signatureHash } from './signature-hash.ts';
export { ALLOWED_CURVES, MIN_RSA_BITS, describeKey, isAllowedCaKey } from './key-description.ts';
export { type CertificateRule, type RuleContext, type RuleProblem, firstProblem, ruleOnCertificateOf } from './certificate-rule.ts';
export { type ValidityProblem, validityProblem } from './validity.ts';
export { weakKeyDescription, weakSignatureDescription } from './strength.ts';
export type { LintContext, LintFinding, LintRule } from './lint/lint-rule.ts';
export { type LintReport, lintCertificate } from './lint/lint-certificate.ts';
export { caCertificateRules } from './lint/ca-certificate-rules.ts';
export { caMustBeValidNow } from './lint/rules/ca-must-be-valid-now.ts';
export { caMustBeSelfSigned } from './lint/rules/ca-must-be-self-signed.ts';
export { certificateStructureRules } from './lint/certificate-structure-rules.ts';
export { proofOfPossessionRules } from './proof-of-possession/proof-of-possession-rules.ts';
export { checkProofOfPossession, type ProofOfPossessionInput } from './check-proof-of-possession.ts';
export { KEY_TYPES, KEY_TYPE_NAMES, generateKeyPair, isKeyOfCertificate, type KeyType } from './key-pair.ts';
export {
  VERIFICATION_CERTIFICATE_VALIDITY_DAYS, agentCertificateProfile, brokerRootCaProfile, brokerServerCertificateProfile, caCertificateProfile,
  type CertificateProfile,
} from './certificate-profiles.ts';
export { issueCertificate, type CertificateRequest, type IssuedCertificate } from './issue-certificate.ts';
export { issueServerCertificate, normalizeHostname, subjectAltNames, type IssueServerCertificateOptions } from './issue-server-certificate.ts';
export { readCsr, type CheckedCsr } from './read-csr.ts';
export { createCsr } from './create-csr.ts';
