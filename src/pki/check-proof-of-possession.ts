import { firstProblem, type RuleContext, type RuleProblem } from './certificate-rule.ts';
import { proofOfPossessionRules } from './proof-of-possession/proof-of-possession-rules.ts';
import type { ProofOfPossessionInput } from './proof-of-possession/proof-rule.ts';

export type { ProofOfPossessionInput } from './proof-of-possession/proof-rule.ts';

// The proof of possession is the ordered rule list in proof-of-possession/proof-of-possession-rules.ts; the first
// problem is the answer.
export const checkProofOfPossession = (input: ProofOfPossessionInput, context: RuleContext): (RuleProblem & { readonly rule: string }) | undefined =>
  firstProblem(proofOfPossessionRules, input, context);
