import type { LintRule } from '../lint-rule.ts';

export const caMustBeV3: LintRule = {
  id: 'ca-must-be-v3',
  citation: 'RFC 5280 §4.1.2.1 (extensions, hence basicConstraints, need v3)',
  check: (certificate) => certificate.version === 3 ? undefined : {
    code: 'caCertificate.notV3',
    message: `The certificate is X.509 v${certificate.version}; a CA certificate must be v3 with basicConstraints CA:TRUE. Create it with "openssl req -x509 ..." (v3 by default) or "trustgate ca create".`,
  },
};
