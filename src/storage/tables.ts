import type { Generated } from 'kysely';

// Row types as stored. Timestamps are ISO 8601 UTC text and flags 0/1 integers on every dialect,
// so one adapter reads both SQLite and PostgreSQL (docs/decisions/0003-portable-column-types.md).
export interface CaCertificatesTable {
  id: string;
  tenant_id: string;
  slot: number;
  name: string;
  description: string | null;
  certificate_pem: string;
  subject: string;
  common_name: string | null;
  fingerprint_sha256: string;
  /** SHA-256 of the signed part: the duplicate check's identity (migration 0004); NULL only on a
   *  second copy of one certificate that a tenant held before it. */
  tbs_certificate_sha256: string | null;
  public_key_sha256: string;
  subject_key_id: string | null;
  not_before: string;
  not_after: string;
  registration_code: string;
  is_verified: number;
  created_at: string;
  verified_at: string | null;
}

export interface CaKeyClaimsTable {
  public_key_sha256: string;
  tenant_id: string;
  claimed_at: string;
}


export interface AgentsTable {
  id: string;
  tenant_id: string;
  client_id: string;
  common_name: string;
  ca_certificate_id: string;
  certificate_fingerprint_sha256: string;
  /** Migration 0009: NULL on rows written before it, until the agent's next connection. */
  certificate_serial_number: string | null;
  certificate_not_before: string | null;
  certificate_not_after: string | null;
  is_enabled: number;
  is_online: number;
  session_id: string | null;
  first_connected_at: string;
  last_connected_at: string;
}

export interface ManagedCaCertificatesTable {
  id: string;
  tenant_id: string;
  certificate_pem: string;
  /** AES-256-GCM sealed PKCS#8 PEM (private-key-sealer.ts), never the plain key. */
  private_key_sealed: string;
  subject: string;
  fingerprint_sha256: string;
  /** SHA-256 of the SubjectPublicKeyInfo, claimed in ca_key_claims (migration 0004). */
  public_key_sha256: string;
  not_before: string;
  not_after: string;
  created_at: string;
}

export interface AgentCertificatesTable {
  id: string;
  tenant_id: string;
  name: string;
  /** = name while active, NULL once revoked (unique with tenant_id). */
  active_name: string | null;
  owner: string | null;
  client_id: string;
  managed_ca_id: string;
  certificate_pem: string;
  fingerprint_sha256: string;
  serial_number: string;
  key_source: string;
  not_before: string;
  not_after: string;
  created_at: string;
  is_revoked: number;
  revoked_at: string | null;
}

/** One row per agent that renewed its certificate: the last renewal, for the hourly limit (migration 0010). */
export interface AgentCertificateRenewalsTable {
  tenant_id: string;
  client_id: string;
  renewed_at: string;
  agent_certificate_id: string;
}

/** One row (id 1): bumped by triggers in the transaction of every trust-relevant write (migration 0005). */
export interface TrustChangesTable {
  id: number;
  /** bigint: PostgreSQL returns it as a string. */
  changes: number | string;
}

/** One trust event, written by triggers in the transaction of its change (migration 0007); the
 *  relay deletes it once the cluster bus took it. The columns the event type carries are set. */
export interface TrustEventOutboxTable {
  /** bigint on PostgreSQL (returned as a string), integer on SQLite. */
  id: Generated<number | string>;
  event_type: string;
  tenant_id: string;
  ca_certificate_id: string | null;
  agent_certificate_id: string | null;
  agent_id: string | null;
  client_id: string | null;
  serial_number: string | null;
  created_at: string;
}

/** The ids of the data dir's keys that wrote this database (migration 0006). */
/** Agent access token signing keys (issue 19 part 1): the private key sealed, context `agent-token-key:<kid>`. */
export interface AgentTokenKeysTable {
  kid: string;
  public_jwk: string;
  sealed_private_key: string;
  created_at: string;
  signs_from: string;
}

export interface DataDirKeysTable {
  /** `devTokenIssuer` | `managedCaSealing`. */
  purpose: string;
  key_id: string;
  recorded_at: string;
}

/** Revocations by issuer + serial number of certificates an uploaded CA issued (migration 0008):
 *  `source` 'api' (POST …/revokedCertificates) or 'crl' (an entry of the CA's current CRL). */
export interface RevokedCertificatesTable {
  ca_certificate_id: string;
  source: string;
  /** Normalised: lowercase hex, no leading zeros. */
  serial_number: string;
  tenant_id: string;
  reason: string;
  revoked_at: string;
}

/** The current CRL of an uploaded CA (migration 0008); its entries are 'crl' revoked_certificates. */
export interface CertificateRevocationListsTable {
  ca_certificate_id: string;
  tenant_id: string;
  this_update: string;
  next_update: string | null;
  crl_number: string | null;
  entry_count: number;
  imported_at: string;
}

/** The audit trail (migration 0011): append-only, an UPDATE is refused by a trigger; rows leave
 *  only by retention pruning. */
export interface AuditEventsTable {
  id: string;
  time: string;
  tenant_id: string | null;
  actor_type: string;
  actor_id: string;
  action: string;
  target: string;
  outcome: string;
  reason: string | null;
  source_address: string | null;
  request_id: string | null;
  count: number;
}

/** Migration 0012: MindConnect commanding (issue 19 part 2). */
export interface DeliveryJobsTable {
  id: string;
  tenant_id: string;
  name: string;
  client_ids: string;
  data: string;
  status: string;
  created_by: string;
  created_at: string;
  updated_at: string;
}

export interface DeliveryCommandsTable {
  id: string;
  job_id: string;
  tenant_id: string;
  client_id: string;
  status: string;
  created_at: string;
  updated_at: string;
  expires_at: string;
  sent_at: string | null;
  delivered_at: string | null;
  response: string | null;
  agent_timestamp: string | null;
}

export interface Database {
  delivery_jobs: DeliveryJobsTable;
  delivery_commands: DeliveryCommandsTable;
  audit_events: AuditEventsTable;
  revoked_certificates: RevokedCertificatesTable;
  certificate_revocation_lists: CertificateRevocationListsTable;
  data_dir_keys: DataDirKeysTable;
  agent_token_keys: AgentTokenKeysTable;
  agents: AgentsTable;
  agent_certificates: AgentCertificatesTable;
  agent_certificate_renewals: AgentCertificateRenewalsTable;
  ca_certificates: CaCertificatesTable;
  ca_key_claims: CaKeyClaimsTable;
  managed_ca_certificates: ManagedCaCertificatesTable;
  trust_changes: TrustChangesTable;
  trust_event_outbox: TrustEventOutboxTable;
}
