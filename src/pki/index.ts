export { type Certificate, type KeyUsageBits, parseCertificateDer, parseCertificatePem } from './certificate.ts';
export { normalizeSerialHex } from './der.ts';
export { containsPrivateKey, derToPem, normalizePemText, parsePemBlocks, readSingleCertificatePem, type PemBlock } from './pem.ts';
export { type HashName, isStrongHash, signatureHash } from './signature-hash.ts';
export { ALLOWED_CURVES, MIN_RSA_BITS, describeKey, isAllowedCaKey } from './key-description.ts';
export type { LintContext, LintFinding, LintRule } from './lint/lint-rule.ts';
export { type LintReport, lintCertificate } from './lint/lint-certificate.ts';
export { caCertificateRules } from './lint/ca-certificate-rules.ts';
export { caMustBeValidNow } from './lint/rules/ca-must-be-valid-now.ts';
export { checkProofOfPossession, type ProofOfPossessionInput } from './check-proof-of-possession.ts';
export { createRootCa, issueServerCertificate, normalizeHostname, subjectAltNames, type CreateRootCaOptions, type IssuedCertificate, type IssueServerCertificateOptions } from './issue-certificate.ts';
export {
  KEY_TYPES, createCaCertificate, generateKeyPair, importSigningKey, isKeyOfCertificate, issueAgentCertificate,
  issueVerificationCertificate, readCsr, type CheckedCsr, type CreateCaCertificateOptions, type IssueAgentCertificateOptions, type KeyType,
} from './issue-agent-certificate.ts';
