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
export { createRootCa, issueServerCertificate, normalizeHostname, subjectAltNames, type CreateRootCaOptions, type IssuedCertificate, type IssueServerCertificateOptions } from './issue-certificate.ts';
export {
  KEY_TYPES, createCaCertificate, generateKeyPair, importSigningKey, isKeyOfCertificate, issueAgentCertificate,
  issueVerificationCertificate, readCsr, type CheckedCsr, type CreateCaCertificateOptions, type IssueAgentCertificateOptions, type KeyType,
} from './issue-agent-certificate.ts';
