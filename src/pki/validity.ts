import type { RuleContext } from './certificate-rule.ts';

export type ValidityProblem = 'expired' | 'notYetValid';

// The one validity helper (RFC 5280 §4.1.2.5, the period is inclusive), used for CA uploads,
// verification certificates, issuing CAs and agent certificates at admission alike. The clock skew
// forgives a fast clock on the machine that made the certificate (a notBefore slightly ahead of
// ours), never an expired certificate: notAfter is exact.
export const validityProblem = (
  certificate: { readonly notBefore: Date; readonly notAfter: Date }, { now, clockSkewMs }: RuleContext,
): ValidityProblem | undefined => {
  const at = now.getTime();
  if (certificate.notAfter.getTime() < at) return 'expired';
  if (certificate.notBefore.getTime() > at + clockSkewMs) return 'notYetValid';
  return undefined;
};
