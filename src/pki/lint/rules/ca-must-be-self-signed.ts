import type { LintRule } from '../lint-rule.ts';

// MindConnect: intermediate CA certificates are not supported; the uploaded CA must be a root.
export const caMustBeSelfSigned: LintRule = {
  id: 'ca-must-be-self-signed',
  citation: 'RFC 5280 §6.1 (self-signed trust anchor); MindConnect: no intermediate CAs',
  check: (certificate) => {
    if (certificate.issuer !== certificate.subject) {
      return {
        code: 'caCertificate.intermediateNotSupported',
        message: `The certificate was issued by "${certificate.issuer.replaceAll('\n', ', ')}", not by itself: intermediate CA certificates are not supported. Upload the self-signed root CA that issues your agent certificates.`,
      };
    }
    let isSelfSignatureValid = false;
    try {
      isSelfSignatureValid = certificate.x509.verify(certificate.publicKey);
    } catch {
      isSelfSignatureValid = false;
    }
    return isSelfSignatureValid ? undefined : {
      code: 'caCertificate.intermediateNotSupported',
      message: 'The certificate names itself as issuer but its signature does not verify with its own public key, so it is not a self-signed root. Upload the self-signed root CA that issues your agent certificates.',
    };
  },
};
