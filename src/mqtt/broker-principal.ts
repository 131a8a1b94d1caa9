import type { TenantId } from '../shared/index.ts';

// Who holds an MQTT connection: an agent (by certificate) or a tenant application (by token).
export type BrokerPrincipal =
  | {
    readonly kind: 'agent';
    readonly tenant: TenantId;
    readonly clientId: string;
    readonly agentId: string;
    readonly caCertificateId: string;
    /** Serial number (normalised hex) of the certificate this session presented: with
     *  caCertificateId, its issuer, a revocation closes exactly its sessions (RFC 5280 §5.3). */
    readonly certificateSerialNumber: string;
    readonly sessionId: string;
  }
  | { readonly kind: 'application'; readonly tenant: TenantId; readonly clientId: string; readonly mayPublish: boolean };
