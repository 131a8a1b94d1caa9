import type { ErrorCode } from '../../shared/index.ts';
import type { Certificate } from '../certificate.ts';

export interface LintContext {
  readonly now: Date;
  readonly clockSkewMs: number;
}

export interface LintFinding {
  readonly rule: string;
  readonly code: ErrorCode;
  readonly message: string;
}

// One rule: a name, the standard or product rule it implements, and a check that returns a
// problem (code + message telling how to fix it) or nothing.
export interface LintRule {
  readonly id: string;
  readonly citation: string;
  check(certificate: Certificate, context: LintContext): Omit<LintFinding, 'rule'> | undefined;
}
