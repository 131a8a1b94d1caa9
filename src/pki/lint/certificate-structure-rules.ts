import type { LintRule } from './lint-rule.ts';
import { certificateMustBeStrictDer } from './rules/certificate-must-be-strict-der.ts';
import { serialNumberMustBeValid } from './rules/serial-number-must-be-valid.ts';
import { extensionsMustBeUnique } from './rules/extensions-must-be-unique.ts';
import { criticalExtensionsMustBeKnown } from './rules/critical-extensions-must-be-known.ts';
import { keyCertSignRequiresCa } from './rules/key-cert-sign-requires-ca.ts';

// RFC 5280 well-formedness, the same for every certificate trustgate reads (CA upload, the
// verification certificate, the agent certificate at admission): codes certificate.*, shared by
// every door like pem.*. Encoding first (nothing else means anything in a second encoding).
export const certificateStructureRules: readonly LintRule[] = [
  certificateMustBeStrictDer,
  serialNumberMustBeValid,
  extensionsMustBeUnique,
  criticalExtensionsMustBeKnown,
  keyCertSignRequiresCa,
];
