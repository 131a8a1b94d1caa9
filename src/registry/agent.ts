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

/** A known agent connected with another certificate than its record held (a renewed or reissued
 *  certificate, or one from its tenant's other CA): the record now holds the new one. */
export interface AgentCertificateChange {
  readonly previousCaCertificateId: CaCertificateId;
  readonly previousFingerprintSha256: string;
}

/** The record after a connection, and what that connection replaced in it, if anything. */
export type RecordedConnection = AgentRecord & { readonly certificateChange?: AgentCertificateChange };

/** The change, when `connection` brings another certificate (or issuing CA) than `before` held. */
export const certificateChangeOf = (
  before: Pick<AgentRecord, 'caCertificateId' | 'certificateFingerprintSha256'>, connection: AgentConnection,
): AgentCertificateChange | undefined =>
  before.caCertificateId === connection.caCertificateId && before.certificateFingerprintSha256 === connection.certificateFingerprintSha256
    ? undefined
    : { previousCaCertificateId: before.caCertificateId, previousFingerprintSha256: before.certificateFingerprintSha256 };
