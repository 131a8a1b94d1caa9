import type { LintRule } from '../lint-rule.ts';
import { extensionName } from './extension-names.ts';

// Two basicConstraints (CA:FALSE, then CA:TRUE) mean whatever the reader's "last one wins" or
// "first one wins" says: a certificate must not say two things. Compares in place (a handful of
// extensions): no set, no allocation on the connect path.
export const extensionsMustBeUnique: LintRule = {
  id: 'extensions-must-be-unique',
  citation: 'RFC 5280 §4.2 (a certificate MUST NOT include more than one instance of a particular extension)',
  check: ({ extensions }) => {
    for (let i = 1; i < extensions.length; i++) {
      for (let j = 0; j < i; j++) {
        if (extensions[i]!.oid === extensions[j]!.oid) {
          return {
            code: 'certificate.duplicateExtension',
            message: `The certificate has the extension ${extensionName(extensions[i]!.oid)} more than once. Issue it again with each extension once.`,
          };
        }
      }
    }
    return undefined;
  },
};
