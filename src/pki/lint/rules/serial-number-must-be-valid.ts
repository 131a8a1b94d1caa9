import type { LintRule } from '../lint-rule.ts';

// RFC 5280 §4.1.2.2: a positive INTEGER of at most 20 octets. With issuer, the serial number is
// what names a certificate for revocation, so it must be one well-formed number.
export const serialNumberMustBeValid: LintRule = {
  id: 'serial-number-must-be-valid',
  citation: 'RFC 5280 §4.1.2.2',
  check: ({ serialNumberOctets }) => {
    if (serialNumberOctets.length > 0 && (serialNumberOctets[0]! & 0x80) !== 0) {
      return { code: 'certificate.serialNumberInvalid', message: 'The certificate\'s serial number is negative. Issue it again with a positive serial number (openssl does by default).' };
    }
    if (serialNumberOctets.length > 20) {
      return {
        code: 'certificate.serialNumberInvalid',
        message: `The certificate's serial number is ${serialNumberOctets.length} octets long; at most 20 are allowed. Issue it again with a shorter serial number (openssl uses at most 20).`,
      };
    }
    return undefined;
  },
};
