import { AsnConvert } from '@peculiar/asn1-schema';
import { RsaSaPssParams } from '@peculiar/asn1-rsa';

export type HashName = 'md2' | 'md5' | 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512';

// Signature algorithm OID → digest (RFC 4055, RFC 5758, RFC 8017). Unknown OIDs yield undefined.
const HASH_BY_SIGNATURE_OID: Readonly<Record<string, HashName>> = {
  '1.2.840.113549.1.1.2': 'md2',
  '1.2.840.113549.1.1.4': 'md5',
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.14': 'sha224',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10045.4.3.1': 'sha224',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.2.840.10040.4.3': 'sha1',
};

const HASH_BY_DIGEST_OID: Readonly<Record<string, HashName>> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

const RSASSA_PSS = '1.2.840.113549.1.1.10';

export const signatureHash = (oid: string, parameters: ArrayBuffer | ArrayBufferView | undefined): HashName | undefined => {
  if (oid !== RSASSA_PSS) return HASH_BY_SIGNATURE_OID[oid];
  // RFC 4055 §3.1: absent parameters mean SHA-1.
  if (!parameters) return 'sha1';
  try {
    return HASH_BY_DIGEST_OID[AsnConvert.parse(parameters, RsaSaPssParams).hashAlgorithm.algorithm];
  } catch {
    return undefined;
  }
};

export const isStrongHash = (hash: HashName | undefined): boolean =>
  hash === 'sha256' || hash === 'sha384' || hash === 'sha512';
