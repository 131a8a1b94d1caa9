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
