import type { AgentId, CaCertificateId, TenantId } from '../shared/index.ts';

// An MQTT client authenticated by an agent certificate; created on its first accepted connection.
export interface AgentRecord {
  readonly id: AgentId;
  readonly tenant: TenantId;
  readonly clientId: string;
  readonly commonName: string;
  readonly caCertificateId: CaCertificateId;
  readonly certificateFingerprintSha256: string;
  readonly isEnabled: boolean;
  readonly isOnline: boolean;
  readonly firstConnectedAt: Date;
  readonly lastConnectedAt: Date;
}

export interface AgentConnection {
  readonly tenant: TenantId;
  readonly clientId: string;
  readonly commonName: string;
  readonly caCertificateId: CaCertificateId;
  readonly certificateFingerprintSha256: string;
  /** Identifies this connection, so that a taken-over session's disconnect does not mark the agent offline. */
  readonly sessionId: string;
  readonly at: Date;
}
