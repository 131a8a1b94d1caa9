import type { AgentCertificateId, AgentId, CaCertificateId, TenantId } from '../shared/index.ts';

// Facts the registry announces after they are stored; the broker's trust index listens.
export type RegistryEvent =
  | { readonly type: 'caCertificateRegistered'; readonly tenant: TenantId; readonly caCertificateId: CaCertificateId }
  | { readonly type: 'caCertificateVerified'; readonly tenant: TenantId; readonly caCertificateId: CaCertificateId }
  | { readonly type: 'caCertificateDeleted'; readonly tenant: TenantId; readonly caCertificateId: CaCertificateId }
  | { readonly type: 'managedCaCreated'; readonly tenant: TenantId; readonly caCertificateId: CaCertificateId }
  // Issuer + serial number travel with the event (RFC 5280 §5.3): the broker closes exactly the
  // sessions of that certificate. Both are '' in a message from a node older than decision 0013,
  // which names only the agent certificate: the record is then read back.
  | { readonly type: 'agentCertificateRevoked'; readonly tenant: TenantId; readonly agentCertificateId: AgentCertificateId; readonly caCertificateId: CaCertificateId; readonly serialNumber: string }
  | { readonly type: 'agentDisabled'; readonly tenant: TenantId; readonly agentId: AgentId; readonly clientId: string }
  | { readonly type: 'agentDeleted'; readonly tenant: TenantId; readonly agentId: AgentId; readonly clientId: string };
