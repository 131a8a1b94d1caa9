import type { AgentCertificateId, AgentId, CaCertificateId, Clock, TenantId } from '../shared/index.ts';
import type { CaCertificateRecord, NewCaCertificateRecord } from './ca-certificate.ts';
import type { AgentConnection, AgentListFilter, AgentRecord, RecordedConnection } from './agent.ts';
import type { AgentCertificateRecord, ManagedCaCertificate, ManagedCaRecord, NewAgentCertificateRecord } from './agent-certificate.ts';
import type { RegistryEvent, StoredRecord } from './events.ts';
import type { TrustIndex } from './trust-index.ts';
import type { CrlRecord, RevocationRecord } from './revocation.ts';
import type { AuditEntry, AuditRecorder } from './audit-trail.ts';
import type { AuditEventStore } from './audit-event-store.ts';

// What the registry needs from storage. Every method is atomic; adapters translate their driver's
// constraint errors into DomainErrors with the codes named here. A changing method's optional
// `audit` entry is written in the same transaction as the change, and only if it changed something
// (docs/decisions/0023-audit-trail.md).
export interface CaCertificateStore {
  /** Inserts unless the tenant already holds this certificate (same tbsCertificateSha256:
   *  caCertificate.duplicate) or
   *  `maxPerTenant` CA certificates (caCertificate.limitReached), also under concurrent calls. */
  insert(record: NewCaCertificateRecord, maxPerTenant: number, audit?: AuditEntry): Promise<CaCertificateRecord>;
  list(tenant: TenantId): Promise<CaCertificateRecord[]>;
  find(tenant: TenantId, id: CaCertificateId): Promise<CaCertificateRecord | undefined>;
  /** Removes the record and, if no other verified CA of the tenant has its key, the key's claim. */
  remove(tenant: TenantId, id: CaCertificateId, audit?: AuditEntry): Promise<CaCertificateRecord | undefined>;
  /** Marks verified and claims its public key for the tenant; another tenant's claim fails with
   *  verification.keyVerifiedByOtherTenant. Idempotent for an already verified record. */
  markVerified(tenant: TenantId, id: CaCertificateId, verifiedAt: Date, audit?: AuditEntry): Promise<CaCertificateRecord | undefined>;
  /** Every tenant's CA certificates: loads the broker's trust index at start. */
  listAll(): Promise<CaCertificateRecord[]>;
}

export interface AgentStore {
  /** Onboards (first connection) or updates the agent with this client id, atomically, unless it
   *  is disabled: then nothing changes and the answer is `{ isDisabled: true }`. An onboarding is
   *  durable when this resolves; a known agent's update may be written later (a store may batch
   *  them), but before any later read or write of the same store. A known agent's answer says
   *  which certificate and CA the record held before, when this connection brings others. */
  recordConnection(connection: AgentConnection): Promise<RecordedConnection | { readonly isDisabled: true }>;
  /** Marks offline only if `sessionId` is still the agent's current session (may be written later,
   *  like a known agent's connection). With `takenOverBy` (the session of the same agent that took
   *  this one over, maybe on another node) the agent, if enabled, stays online with that session
   *  instead: its own connection may have been written before this one's. */
  recordDisconnection(tenant: TenantId, agentId: AgentId, sessionId: string, at: Date, takenOverBy?: string): Promise<void>;
  /** After a restart no session of this node survives: with `nodeId`, only agents whose session id
   *  is `<nodeId>.…` (a cluster: other nodes' agents stay online); without, every agent. */
  markAllOffline(nodeId?: string): Promise<void>;
  findByClientId(tenant: TenantId, clientId: string): Promise<AgentRecord | undefined>;
  list(tenant: TenantId, filter?: AgentListFilter): Promise<AgentRecord[]>;
  find(tenant: TenantId, id: AgentId): Promise<AgentRecord | undefined>;
  setEnabled(tenant: TenantId, id: AgentId, isEnabled: boolean, audit?: AuditEntry): Promise<AgentRecord | undefined>;
  remove(tenant: TenantId, id: AgentId, audit?: AuditEntry): Promise<AgentRecord | undefined>;
}

export interface ManagedCaStore {
  /** The certificate only: what the trust index and the API need. */
  find(tenant: TenantId): Promise<ManagedCaCertificate | undefined>;
  /** With its private key, to issue an agent certificate. */
  findForSigning(tenant: TenantId): Promise<ManagedCaRecord | undefined>;
  /** Stores the tenant's managed CA unless it has one already, and answers the one it has: of
   *  concurrent first uses, exactly one CA wins and every caller gets that one. Claims its key for
   *  the tenant where the store keeps key claims (the CaCertificateStore's verification checks them). */
  insertIfAbsent(record: ManagedCaRecord): Promise<ManagedCaRecord>;
  /** The managed CA (of any tenant) with this public key, if any: such a key is trustgate's and is
   *  never registered or verified as an uploaded CA. */
  findByPublicKey(publicKeySha256: string): Promise<ManagedCaCertificate | undefined>;
  /** Every tenant's managed CA certificate, without keys: loads the broker's trust index at start. */
  listAll(): Promise<ManagedCaCertificate[]>;
}

export interface AgentCertificateStore {
  /** Inserts unless the tenant has a certificate with this name that is not revoked
   *  (agentCertificate.duplicate), also under concurrent calls. */
  insert(record: NewAgentCertificateRecord, audit?: AuditEntry): Promise<AgentCertificateRecord>;
  list(tenant: TenantId): Promise<AgentCertificateRecord[]>;
  find(tenant: TenantId, id: AgentCertificateId): Promise<AgentCertificateRecord | undefined>;
  /** The tenant's certificate with this name that is not revoked, if any. */
  findActiveByName(tenant: TenantId, name: string): Promise<AgentCertificateRecord | undefined>;
  /** Marks it revoked at `at`; one already revoked keeps its first `revokedAt`. */
  revoke(tenant: TenantId, id: AgentCertificateId, at: Date, audit?: AuditEntry): Promise<AgentCertificateRecord | undefined>;
  /** When the agent with this client id last renewed its certificate, if ever (the hourly limit). */
  lastRenewalAt(tenant: TenantId, clientId: string): Promise<Date | undefined>;
  /** Atomically, also across nodes: unless the agent (record.clientId) renewed after
   *  `notRenewedSince` (then nothing changes and the answer is that renewal's time), records this
   *  renewal at `record.createdAt`, retires the name's active certificate (no longer active, so
   *  its name is free for `record`, but not revoked: it stays valid until it expires) and inserts
   *  `record` as the name's active certificate. */
  insertRenewal(record: NewAgentCertificateRecord, notRenewedSince: Date, audit?: AuditEntry): Promise<{ readonly renewed: AgentCertificateRecord } | { readonly lastRenewalAt: Date }>;
  /** Issuer (managed CA id) and serial number of every tenant's revoked certificates still within
   *  validity at `now`: loads the broker's revocation list at start (expired ones are refused anyway). */
  listRevokedSerials(now: Date): Promise<RevokedSerial[]>;
}

/** RFC 5280 §5.3: what names a revoked certificate is its issuer and its serial number. */
export interface RevokedSerial {
  readonly caCertificateId: CaCertificateId;
  readonly serialNumber: string;
}

/** Revocations of certificates an uploaded CA issued (migration 0008). Every method is atomic. */
export interface RevocationStore {
  /** Stores an API-made revocation; false if the CA already has one for this serial (nothing changes). */
  insert(record: RevocationRecord, audit?: AuditEntry): Promise<boolean>;
  /** The API-made revocations of the CA, oldest first. */
  list(tenant: TenantId, caCertificateId: CaCertificateId): Promise<RevocationRecord[]>;
  find(tenant: TenantId, caCertificateId: CaCertificateId, serialNumber: string): Promise<RevocationRecord | undefined>;
  /** Removes an API-made revocation only if its reason is still `reason` (a hold being released). */
  remove(tenant: TenantId, caCertificateId: CaCertificateId, serialNumber: string, reason: string, audit?: AuditEntry): Promise<boolean>;
  /** Every serial revoked under the CA, API-made and CRL entries: what the trust index holds for it. */
  listSerials(caCertificateId: CaCertificateId): Promise<string[]>;
  /** Every CA's revoked serials (both sources): loads the trust index. */
  listAllSerials(): Promise<RevokedSerial[]>;
  /** Replaces the CA's CRL and its entries in one transaction, unless the stored CRL is newer
   *  (isNotOlderCrl, checked inside the transaction): then crl.replayed and nothing changes. */
  replaceCrl(crl: CrlRecord, entries: readonly Pick<RevocationRecord, 'serialNumber' | 'reason' | 'revokedAt'>[], audit?: AuditEntry): Promise<void>;
  findCrl(tenant: TenantId, caCertificateId: CaCertificateId): Promise<CrlRecord | undefined>;
}

export interface RegistryEventSink {
  /** Resolves once this node has applied the event (trust index, sessions), so an API answer
   *  that follows it describes a broker that already acts on it. `stored`, the record the use case
   *  has just written, is applied on this node only; other nodes get the event and read it back. */
  publish(event: RegistryEvent, stored?: StoredRecord): void | Promise<void>;
  /** Resolves true once every event other nodes published before this call has been applied on
   *  this node: asking the trust index again may now give another answer. False when there are no
   *  other nodes (nothing can be missing) or when that cannot be known within `boundMs`. */
  catchUp(boundMs: number): Promise<boolean>;
}

export interface RegistrySettings {
  readonly maxCaCertificatesPerTenant: number;
  readonly clockSkewMs: number;
}

export interface RegistryDependencies {
  readonly caCertificates: CaCertificateStore;
  readonly agents: AgentStore;
  readonly managedCas: ManagedCaStore;
  readonly agentCertificates: AgentCertificateStore;
  readonly revocations: RevocationStore;
  readonly trustIndex: TrustIndex;
  readonly events: RegistryEventSink;
  /** Where use cases record (and GET /auditEvents reads) the audit trail. */
  readonly audit: AuditRecorder & AuditEventStore;
  readonly clock: Clock;
  readonly settings: RegistrySettings;
}
