import type { CaCertificateId, TenantId } from '../shared/index.ts';

// Facts the registry announces after they are stored; the broker's trust index listens.
export type RegistryEvent =
  | { readonly type: 'caCertificateVerified'; readonly tenant: TenantId; readonly caCertificateId: CaCertificateId }
  | { readonly type: 'caCertificateDeleted'; readonly tenant: TenantId; readonly caCertificateId: CaCertificateId };
