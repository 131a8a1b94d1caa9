import type { ErrorCode } from '../shared/index.ts';
import type { Certificate } from './certificate.ts';

export interface RuleContext {
  readonly now: Date;
  readonly clockSkewMs: number;
}

/** What a failed rule reports: a stable code and a message that says how to fix it. */
export interface RuleProblem {
  readonly code: ErrorCode;
  readonly message: string;
}

// Every certificate check has this one shape, wherever it runs (CA upload lint, proof of
// possession, broker admission and its doctor): zlint's lints are the model. An id, the standard
// or product rule it implements, whether it speaks about this subject at all (zlint's
// CheckApplies; absent = always), and the check. Rules come in ordered lists; the first problem
// is what a caller reports. Shared facts (validity with the clock skew, key and hash strength)
// come from validity.ts and strength.ts, never re-derived in a rule.
export interface CertificateRule<Subject, Context = RuleContext> {
  readonly id: string;
  readonly citation: string;
  readonly appliesTo?: (subject: Subject, context: Context) => boolean;
  readonly check: (subject: Subject, context: Context) => RuleProblem | undefined;
}

/** The first problem of an ordered rule list, or undefined; allocates only on failure. */
export const firstProblem = <Subject, Context>(
  rules: readonly CertificateRule<Subject, Context>[], subject: Subject, context: Context,
): (RuleProblem & { readonly rule: string }) | undefined => {
  for (const rule of rules) {
    if (rule.appliesTo && !rule.appliesTo(subject, context)) continue;
    const problem = rule.check(subject, context);
    if (problem) return { rule: rule.id, ...problem };
  }
  return undefined;
};

/** A rule about one certificate, asked about the certificate a larger subject holds (the
 *  verification certificate of a proof of possession, the agent certificate at admission). */
export const ruleOnCertificateOf = <Subject, Context extends RuleContext>(
  rule: CertificateRule<Certificate>, certificateOf: (subject: Subject) => Certificate,
): CertificateRule<Subject, Context> => ({
  id: rule.id,
  citation: rule.citation,
  ...(rule.appliesTo ? { appliesTo: (subject: Subject, context: Context) => rule.appliesTo!(certificateOf(subject), context) } : {}),
  check: (subject, context) => rule.check(certificateOf(subject), context),
});
