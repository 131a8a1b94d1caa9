import type { LintRule } from './lint-rule.ts';
import { caMustBeV3 } from './rules/ca-must-be-v3.ts';
import { caMustHaveCaBasicConstraint } from './rules/ca-must-have-ca-basic-constraint.ts';
import { caKeyUsageMustAllowCertSign } from './rules/ca-key-usage-must-allow-cert-sign.ts';
import { caMustBeSelfSigned } from './rules/ca-must-be-self-signed.ts';
import { caMustBeValidNow } from './rules/ca-must-be-valid-now.ts';
import { caKeyMustBeStrong } from './rules/ca-key-must-be-strong.ts';
import { caSignatureHashMustBeStrong } from './rules/ca-signature-hash-must-be-strong.ts';

// Order matters only for which finding is reported first: what the certificate *is* (v3, CA,
// root) before how well it is made (validity, key, hash).
export const caCertificateRules: readonly LintRule[] = [
  caMustBeV3,
  caMustHaveCaBasicConstraint,
  caKeyUsageMustAllowCertSign,
  caMustBeSelfSigned,
  caMustBeValidNow,
  caKeyMustBeStrong,
  caSignatureHashMustBeStrong,
];
