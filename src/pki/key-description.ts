import type { KeyObject } from 'node:crypto';

// Keys a CA may use: RSA >= 2048 bits or EC P-256/P-384/P-521 (README, "REST API"). Names are Node's.
export const MIN_RSA_BITS = 2048;
export const ALLOWED_CURVES: Readonly<Record<string, string>> = {
  prime256v1: 'P-256',
  secp384r1: 'P-384',
  secp521r1: 'P-521',
};

export const describeKey = (key: KeyObject): string => {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss':
      return `RSA ${details.modulusLength ?? '?'} bits`;
    case 'ec':
      return `EC ${ALLOWED_CURVES[details.namedCurve ?? ''] ?? details.namedCurve ?? 'unknown curve'}`;
    default:
      return key.asymmetricKeyType ?? 'unknown key type';
  }
};

export const isAllowedCaKey = (key: KeyObject): boolean => {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss':
      return (details.modulusLength ?? 0) >= MIN_RSA_BITS;
    case 'ec':
      return details.namedCurve !== undefined && details.namedCurve in ALLOWED_CURVES;
    default:
      return false;
  }
};
