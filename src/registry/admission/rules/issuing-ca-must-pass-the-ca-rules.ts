import { caCertificateRules, caMustBeSelfSigned, caMustBeValidNow, firstProblem, type Certificate, type RuleProblem } from '../../../pki/index.ts';
import { issuerOf, type AdmissionRule } from '../admission-rule.ts';

// The upload rules apply to a stored CA too (fail closed for one stored by an earlier version
// that today's rules refuse, e.g. critical nameConstraints); validity is the step above, and the
// self-signature was checked at upload on the very bytes stored (no second signature check per
// CA on the connect path). The answer cannot change for one certificate value, so it is computed
// once per CA, not per connect.
const caRulesAtAdmission = caCertificateRules.filter((rule) => rule.id !== caMustBeValidNow.id && rule.id !== caMustBeSelfSigned.id);
const caProblems = new WeakMap<Certificate, RuleProblem | null>();
const caProblemOf = (ca: Certificate): RuleProblem | undefined => {
  let problem = caProblems.get(ca);
  if (problem === undefined) {
    problem = firstProblem(caRulesAtAdmission, ca, { now: new Date(0), clockSkewMs: 0 }) ?? null;
    caProblems.set(ca, problem);
  }
  return problem ?? undefined;
};

export const issuingCaMustPassTheCaRules: AdmissionRule = {
  id: 'issuing-ca-must-pass-the-ca-rules',
  step: 'caRules',
  citation: 'trustgate: the rules for an uploaded CA certificate; RFC 5280 §4.2',
  check: (subject) => {
    const problem = caProblemOf(issuerOf(subject).certificate);
    return problem && {
      code: 'mqtt.caInvalid',
      message: `The issuing CA certificate ${issuerOf(subject).id} was stored by an earlier version but fails a CA rule now (${problem.code}): ${problem.message}`,
    };
  },
  passed: () => 'The CA certificate passes every CA rule.',
};
