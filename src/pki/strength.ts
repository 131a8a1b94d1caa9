import type { KeyObject } from 'node:crypto';
import type { Certificate } from './certificate.ts';
import { describeKey, isAllowedCaKey } from './key-description.ts';
import { isStrongHash } from './signature-hash.ts';

// The one strength helper for every certificate trustgate trusts or admits (README, "REST API": key RSA >= 2048
// bits or EC P-256/P-384/P-521, NIST SP 800-57 Pt.1 Rev.5 §5.6; signature hash SHA-256 or
// stronger, NIST SP 800-131A Rev.2 §9). Each answers undefined when strong, else what is weak,
// in words a message can use.

export const weakKeyDescriptionOfKey = (key: KeyObject): string | undefined =>
  isAllowedCaKey(key) ? undefined : describeKey(key);

export const weakKeyDescription = (certificate: Certificate): string | undefined => weakKeyDescriptionOfKey(certificate.publicKey);

export const weakSignatureDescription = (certificate: Certificate): string | undefined =>
  isStrongHash(certificate.signatureHash)
    ? undefined
    : certificate.signatureHash?.toUpperCase() ?? `an unsupported algorithm (${certificate.signatureAlgorithmOid})`;
