import { certificateStructureRules, firstProblem } from '../../../pki/index.ts';
import type { AdmissionRule } from '../admission-rule.ts';

// RFC 5280 well-formedness (strict DER, serial number, unique extensions, no unprocessed critical
// extension, keyCertSign only with CA:TRUE): the same list as for uploads and verification.
export const agentCertificateMustBeWellFormed: AdmissionRule = {
  id: 'agent-certificate-must-be-well-formed',
  step: 'structure',
  citation: 'RFC 5280 §4.1, §4.1.2.2, §4.2, §4.2.1.3',
  check: ({ certificate }, context) => firstProblem(certificateStructureRules, certificate, context),
  passed: () => 'Strict DER, a valid serial number, each extension once, no critical extension trustgate ignores.',
};
