import type { AuditEntry } from './audit-trail.ts';
import type { AgentId, CaCertificateId, TenantId } from '../shared/index.ts';

// An MQTT client authenticated by an agent certificate; created on its first accepted connection.
export interface AgentRecord {
  readonly id: AgentId;
  readonly tenant: TenantId;
  readonly clientId: string;
  readonly commonName: string;
  readonly caCertificateId: CaCertificateId;
  readonly certificateFingerprintSha256: string;
  /** The current certificate's serial and validity; undefined on a record written before they were
   *  kept (migration 0009) until the agent's next connection. */
  readonly certificateValidity: AgentCertificateValidity | undefined;
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
  readonly certificateValidity: AgentCertificateValidity;
  /** Identifies this connection, so that a taken-over session's disconnect does not mark the agent offline. */
  readonly sessionId: string;
  readonly at: Date;
  /** Written in the transaction that onboards the agent, if this connection does (never for a known agent). */
  readonly onboardingAudit?: AuditEntry | undefined;
}

/** What the agent record keeps of its current certificate besides the fingerprint (issue 15, part 3). */
export interface AgentCertificateValidity {
  /** Normalised lowercase hex without leading zeros (src/pki normalizeSerialHex). */
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** The part of a parsed certificate the agent record keeps: one place for the connect path and a renewal. */
export const agentCertificateValidityOf = (certificate: { readonly serialNumber: string; readonly notBefore: Date; readonly notAfter: Date }): AgentCertificateValidity =>
  ({ serialNumber: certificate.serialNumber, notBefore: certificate.notBefore, notAfter: certificate.notAfter });

/** Filters of GET /agents; both apply when both are given. */
export interface AgentListFilter {
  /** Only agents whose current certificate's notAfter is before this instant (agents whose record
   *  does not know its validity yet are left out). */
  readonly expiringBefore?: Date;
  /** Only agents whose current certificate this CA issued. */
  readonly caCertificateId?: CaCertificateId;
}

/** Whether `agent` passes `filter` (the in-memory store and tests; the Kysely store filters in SQL). */
export const matchesAgentListFilter = (agent: AgentRecord, { expiringBefore, caCertificateId }: AgentListFilter): boolean =>
  (caCertificateId === undefined || agent.caCertificateId === caCertificateId)
  && (expiringBefore === undefined || (agent.certificateValidity !== undefined && agent.certificateValidity.notAfter < expiringBefore));

/** A known agent connected with another certificate than its record held (a renewed or reissued
 *  certificate, or one from its tenant's other CA): the record now holds the new one. */
export interface AgentCertificateChange {
  readonly previousCaCertificateId: CaCertificateId;
  readonly previousFingerprintSha256: string;
}

/** The record after a connection, and what that connection replaced in it, if anything; `isOnboarded`
 *  when this connection created the record (its onboardingAudit was written). */
export type RecordedConnection = AgentRecord & { readonly certificateChange?: AgentCertificateChange; readonly isOnboarded?: boolean };

/** The change, when `connection` brings another certificate (or issuing CA) than `before` held. */
export const certificateChangeOf = (
  before: Pick<AgentRecord, 'caCertificateId' | 'certificateFingerprintSha256'>, connection: AgentConnection,
): AgentCertificateChange | undefined =>
  before.caCertificateId === connection.caCertificateId && before.certificateFingerprintSha256 === connection.certificateFingerprintSha256
    ? undefined
    : { previousCaCertificateId: before.caCertificateId, previousFingerprintSha256: before.certificateFingerprintSha256 };
