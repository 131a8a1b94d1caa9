import type { CaCertificateId, TenantId } from '../shared/index.ts';

// Facts the registry announces after they are stored; the broker's trust index listens.
export type RegistryEvent =
  | { readonly type: 'caCertificateRegistered'; readonly tenant: TenantId; readonly caCertificateId: CaCertificateId }
  | { readonly type: 'caCertificateVerified'; readonly tenant: TenantId; readonly caCertificateId: CaCertificateId }
  | { readonly type: 'caCertificateDeleted'; readonly tenant: TenantId; readonly caCertificateId: CaCertificateId }
  | { readonly type: 'managedCaCreated'; readonly tenant: TenantId; readonly caCertificateId: CaCertificateId }
  // The fingerprint travels with the event: the broker closes exactly the sessions using it.
  | { readonly type: 'agentCertificateRevoked'; readonly tenant: TenantId; readonly agentCertificateId: string; readonly fingerprintSha256: string }
  | { readonly type: 'agentDisabled'; readonly tenant: TenantId; readonly agentId: string; readonly clientId: string }
  | { readonly type: 'agentDeleted'; readonly tenant: TenantId; readonly agentId: string; readonly clientId: string };
