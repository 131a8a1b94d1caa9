// The object identifiers the console reads and writes.
export const OID = {
  rsaEncryption: '1.2.840.113549.1.1.1',
  rsassaPss: '1.2.840.113549.1.1.10',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  ecPublicKey: '1.2.840.10045.2.1',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  ecdsaWithSha512: '1.2.840.10045.4.3.4',
  commonName: '2.5.4.3',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
};

/** Named curves WebCrypto supports, with the hash an ECDSA signature uses on each (RFC 5480 §4). */
export const CURVES = {
  '1.2.840.10045.3.1.7': { name: 'P-256', hash: 'SHA-256', signatureOid: OID.ecdsaWithSha256, size: 32 },
  '1.3.132.0.34': { name: 'P-384', hash: 'SHA-384', signatureOid: OID.ecdsaWithSha384, size: 48 },
  '1.3.132.0.35': { name: 'P-521', hash: 'SHA-512', signatureOid: OID.ecdsaWithSha512, size: 66 },
};

export const curveOidOf = (name) => Object.keys(CURVES).find((key) => CURVES[key].name === name);
