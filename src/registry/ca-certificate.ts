import type { CaCertificateId, TenantId } from '../shared/index.ts';

// A tenant's uploaded CA certificate as the registry keeps it.
export interface CaCertificateRecord {
  readonly id: CaCertificateId;
  readonly tenant: TenantId;
  readonly name: string;
  readonly description: string | undefined;
  readonly certificatePem: string;
  readonly subject: string;
  readonly commonName: string | undefined;
  readonly fingerprintSha256: string;
  /** SHA-256 of the signed part: what "the same certificate" means for the duplicate check, as it
   *  survives re-encoding the signature (decision 0013). Undefined only on the second copy of one
   *  certificate a tenant held before that rule (kept by the migration, never created again). */
  readonly tbsCertificateSha256: string | undefined;
  readonly publicKeySha256: string;
  readonly subjectKeyId: string | undefined;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly registrationCode: string;
  readonly isVerified: boolean;
  readonly createdAt: Date;
  readonly verifiedAt: Date | undefined;
}

export type NewCaCertificateRecord = Omit<CaCertificateRecord, 'isVerified' | 'verifiedAt'>;
