import type { LintRule } from './lint-rule.ts';
import { certificateMustBeStrictDer } from './rules/certificate-must-be-strict-der.ts';
import { serialNumberMustBeValid } from './rules/serial-number-must-be-valid.ts';
import { extensionsMustBeUnique } from './rules/extensions-must-be-unique.ts';
import { caMustNotHaveNameConstraints } from './rules/ca-must-not-have-name-constraints.ts';
import { criticalExtensionsMustBeKnown } from './rules/critical-extensions-must-be-known.ts';
import { caMustBeV3 } from './rules/ca-must-be-v3.ts';
import { caMustHaveCaBasicConstraint } from './rules/ca-must-have-ca-basic-constraint.ts';
import { caKeyUsageMustAllowCertSign } from './rules/ca-key-usage-must-allow-cert-sign.ts';
import { caMustBeSelfSigned } from './rules/ca-must-be-self-signed.ts';
import { caMustBeValidNow } from './rules/ca-must-be-valid-now.ts';
import { caKeyMustBeStrong } from './rules/ca-key-must-be-strong.ts';
import { caSignatureHashMustBeStrong } from './rules/ca-signature-hash-must-be-strong.ts';

// Order matters only for which finding is reported first: whether the certificate is well formed
// at all (one encoding, one of each extension, nothing critical we would ignore), then what it
// *is* (v3, CA, root), then how well it is made (validity, key, hash). nameConstraints before the
// unknown-critical rule, for its clearer message. keyCertSign without CA:TRUE is caught by
// ca-must-have-ca-basic-constraint here.
export const caCertificateRules: readonly LintRule[] = [
  certificateMustBeStrictDer,
  serialNumberMustBeValid,
  extensionsMustBeUnique,
  caMustNotHaveNameConstraints,
  criticalExtensionsMustBeKnown,
  caMustBeV3,
  caMustHaveCaBasicConstraint,
  caKeyUsageMustAllowCertSign,
  caMustBeSelfSigned,
  caMustBeValidNow,
  caKeyMustBeStrong,
  caSignatureHashMustBeStrong,
];
