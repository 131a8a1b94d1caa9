import type { LintRule } from '../lint-rule.ts';

export const caKeyUsageMustAllowCertSign: LintRule = {
  id: 'ca-key-usage-must-allow-cert-sign',
  citation: 'RFC 5280 §4.2.1.3',
  check: (certificate) => !certificate.keyUsage || certificate.keyUsage.keyCertSign ? undefined : {
    code: 'caCertificate.keyCertSignMissing',
    message: 'The certificate has a keyUsage extension without keyCertSign, so it may not sign agent certificates. Issue the CA with "keyUsage = critical, keyCertSign, cRLSign" or without keyUsage.',
  },
};
