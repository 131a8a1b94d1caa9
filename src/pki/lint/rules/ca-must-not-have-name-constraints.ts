import type { LintRule } from '../lint-rule.ts';

const NAME_CONSTRAINTS = '2.5.29.30';

// trustgate admits agents by CN only and does not enforce name constraints (docs/decisions/
// 0016-certificate-rules.md): a CA that restricts its subtree would have agents outside it admitted.
// Refused at upload with a clear message, and at admission for a CA stored by an earlier version.
export const caMustNotHaveNameConstraints: LintRule = {
  id: 'ca-must-not-have-name-constraints',
  citation: 'RFC 5280 §4.2.1.10 (nameConstraints, MUST be critical and enforced)',
  check: ({ extensions }) => extensions.some((extension) => extension.oid === NAME_CONSTRAINTS) ? {
    code: 'caCertificate.nameConstraintsNotSupported',
    message: 'The CA certificate has a nameConstraints extension; trustgate does not enforce name constraints, so it cannot accept this CA. Use a CA certificate without nameConstraints.',
  } : undefined,
};
