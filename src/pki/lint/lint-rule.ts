import type { Certificate } from '../certificate.ts';
import type { CertificateRule, RuleContext, RuleProblem } from '../certificate-rule.ts';

// The upload lint is the certificate-rule shape over one certificate (certificate-rule.ts).
export type LintContext = RuleContext;

export interface LintFinding extends RuleProblem {
  readonly rule: string;
}

export type LintRule = CertificateRule<Certificate>;
