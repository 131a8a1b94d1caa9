import type { AgentCertificateId, CaCertificateId, TenantId } from '../shared/index.ts';

// The tenant's managed CA: created on first use by POST /agentCertificates, one per tenant, apart
// from (and not counted in) the uploaded CA certificates. Trusted like a verified CA from birth.
export interface ManagedCaCertificate {
  readonly id: CaCertificateId;
  readonly tenant: TenantId;
  readonly certificatePem: string;
  readonly subject: string;
  readonly fingerprintSha256: string;
  /** SHA-256 of its SubjectPublicKeyInfo: claimed for the tenant like a verified uploaded CA's key. */
  readonly publicKeySha256: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly createdAt: Date;
}

export interface ManagedCaRecord extends ManagedCaCertificate {
  /** PKCS#8 PEM. Stores may seal it at rest (docs/decisions/0010-managed-ca-keys.md); the registry sees it plain. */
  readonly privateKeyPem: string;
}

export type AgentCertificateStatus = 'READY' | 'REVOKED';

// An agent certificate the managed CA issued (MindConnect's auto-generated agent certificate).
// Its private key is never stored: it is returned once, or it never left the device (CSR).
export interface AgentCertificateRecord {
  readonly id: AgentCertificateId;
  readonly tenant: TenantId;
  /** The CN; unique among the tenant's certificates that are not revoked. */
  readonly name: string;
  readonly owner: string | undefined;
  /** `<tenant>_<name>`. */
  readonly clientId: string;
  readonly managedCaId: CaCertificateId;
  readonly certificatePem: string;
  readonly fingerprintSha256: string;
  readonly serialNumber: string;
  readonly keySource: 'generated' | 'csr';
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly createdAt: Date;
  readonly isRevoked: boolean;
  readonly revokedAt: Date | undefined;
}

export type NewAgentCertificateRecord = Omit<AgentCertificateRecord, 'isRevoked' | 'revokedAt'>;

export const statusOf = (record: AgentCertificateRecord): AgentCertificateStatus => record.isRevoked ? 'REVOKED' : 'READY';
