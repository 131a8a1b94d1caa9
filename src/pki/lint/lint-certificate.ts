import type { Certificate } from '../certificate.ts';
import type { LintContext, LintFinding, LintRule } from './lint-rule.ts';

export interface LintReport {
  readonly isPassing: boolean;
  readonly findings: readonly LintFinding[];
}

// Runs every rule that applies and returns a report; deciding what a finding means is the caller's job.
export const lintCertificate = (certificate: Certificate, rules: readonly LintRule[], context: LintContext): LintReport => {
  const findings: LintFinding[] = [];
  for (const rule of rules) {
    if (rule.appliesTo && !rule.appliesTo(certificate, context)) continue;
    const problem = rule.check(certificate, context);
    if (problem) findings.push({ rule: rule.id, ...problem });
  }
  return { isPassing: findings.length === 0, findings };
};
