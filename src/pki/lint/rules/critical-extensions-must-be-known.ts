import type { LintRule } from '../lint-rule.ts';
import { extensionName } from './extension-names.ts';

// The extensions trustgate processes; a critical one outside this list is a constraint the
// issuer wants enforced and trustgate would silently ignore. nameConstraints is deliberately not
// here: it is not enforced, so a CA using it is refused (ca-must-not-have-name-constraints).
const PROCESSED_EXTENSIONS = new Set([
  '2.5.29.19', // basicConstraints (§4.2.1.9)
  '2.5.29.15', // keyUsage (§4.2.1.3)
  '2.5.29.37', // extendedKeyUsage (§4.2.1.12)
  '2.5.29.14', // subjectKeyIdentifier (§4.2.1.2)
  '2.5.29.35', // authorityKeyIdentifier (§4.2.1.1)
]);

export const criticalExtensionsMustBeKnown: LintRule = {
  id: 'critical-extensions-must-be-known',
  citation: 'RFC 5280 §4.2 (a certificate-using system MUST reject the certificate if it encounters a critical extension it does not recognize)',
  check: ({ extensions }) => {
    for (const extension of extensions) {
      if (extension.isCritical && !PROCESSED_EXTENSIONS.has(extension.oid)) {
        return {
          code: 'certificate.unknownCriticalExtension',
          message: `The certificate has the critical extension ${extensionName(extension.oid)}, which trustgate does not process. Issue it again without it, or with it marked non-critical if the standard allows that.`,
        };
      }
    }
    return undefined;
  },
};
