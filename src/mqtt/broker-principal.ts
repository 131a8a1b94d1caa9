import type { AgentId, CaCertificateId, TenantId } from '../shared/index.ts';

/** When what admitted a session stops being valid, and the code a new CONNECT would be refused
 *  with then (session-deadlines.ts closes the session at that instant). */
export interface SessionExpiry {
  readonly atMs: number;
  readonly code: 'auth.tokenExpired' | 'mqtt.certificateExpired' | 'mqtt.caExpired';
}

// Who holds an MQTT connection: an agent (by certificate) or a tenant application (by token).
export type BrokerPrincipal =
  | {
    readonly kind: 'agent';
    readonly tenant: TenantId;
    readonly clientId: string;
    readonly agentId: AgentId;
    readonly caCertificateId: CaCertificateId;
    /** Serial number (normalised hex) of the certificate this session presented: with
     *  caCertificateId, its issuer, a revocation closes exactly its sessions (RFC 5280 §5.3). */
    readonly certificateSerialNumber: string;
    readonly sessionId: string;
    readonly expiry?: SessionExpiry;
  }
  | {
    readonly kind: 'application'; readonly tenant: TenantId; readonly clientId: string; readonly mayPublish: boolean; readonly expiry?: SessionExpiry;
    /** The token's `sub`, for the logs. */
    readonly subject?: string;
  };
