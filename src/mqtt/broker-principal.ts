import type { TenantId } from '../shared/index.ts';

// Who holds an MQTT connection: an agent (by certificate) or a tenant application (by token).
export type BrokerPrincipal =
  | {
    readonly kind: 'agent';
    readonly tenant: TenantId;
    readonly clientId: string;
    readonly agentId: string;
    readonly caCertificateId: string;
    /** SHA-256 of the certificate this session presented: a revocation closes exactly its sessions. */
    readonly certificateFingerprintSha256: string;
    readonly sessionId: string;
  }
  | { readonly kind: 'application'; readonly tenant: TenantId; readonly clientId: string; readonly mayPublish: boolean };
